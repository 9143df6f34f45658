"""Seed configurations whose plans are compared with MapProxy's (test_seed_reference.py):
coverages in another SRS than the grid. Each case is a directory's worth of files;
``mapproxy_seed_reference.py`` records what MapProxy 7 seeds for them."""

from __future__ import annotations

SOURCE = """\
sources:
  s:
    type: wms
    req: {url: 'http://127.0.0.1:1/wms', layers: a}
layers:
  - name: l
    title: L
    sources: [c]
"""

# the Dutch grid (EPSG:28992), as PDOK publishes it
RD = SOURCE + """\
caches:
  c:
    grids: [rd]
    sources: [s]
grids:
  rd:
    srs: 'EPSG:28992'
    bbox: [-285401.92, 22598.08, 595401.92, 903401.92]
    res: [3440.640, 1720.320, 860.160, 430.080, 215.040, 107.520, 53.760, 26.880, 13.440, 6.720, 3.360]
    origin: nw
"""

# UTM 32 over Germany (EPSG:25832)
UTM = SOURCE + """\
caches:
  c:
    grids: [utm]
    sources: [s]
    meta_size: [3, 2]
grids:
  utm:
    srs: 'EPSG:25832'
    bbox: [280000, 5200000, 920000, 6100000]
    min_res: 3515.625
    num_levels: 10
    origin: nw
"""

WEB = SOURCE + """\
caches:
  c:
    grids: [GLOBAL_WEBMERCATOR, GLOBAL_GEODETIC]
    sources: [s]
"""

CASES: dict[str, dict[str, str]] = {
    "rd": {
        "mapproxy.yaml": RD,
        "utrecht.wkt": "POLYGON((4.79 52.30, 5.42 52.27, 5.63 52.04, 5.61 51.85, 5.16 51.96, 4.80 51.97, 4.79 52.30))\n",
        "seed.yaml": """\
seeds:
  nl_lonlat_bbox:
    caches: [c]
    levels: {to: 9}
    coverages: [nl]
  utrecht_lonlat_polygon:
    caches: [c]
    levels: {to: 10}
    coverages: [utrecht]
  mercator_bbox:
    caches: [c]
    levels: {to: 9}
    coverages: [merc]
coverages:
  nl:
    bbox: [3.3, 50.7, 7.3, 53.6]
    srs: 'EPSG:4326'
  utrecht:
    datasource: utrecht.wkt
    srs: 'EPSG:4326'
  merc:
    bbox: [500000, 6600000, 700000, 6800000]
    srs: 'EPSG:3857'
""",
    },
    "utm": {
        "mapproxy.yaml": UTM,
        "bavaria.geojson": '{"type": "Polygon", "coordinates": [[[9.0, 47.6], [10.5, 47.3], [13.0, 47.5], '
                           '[13.8, 48.6], [12.2, 50.3], [10.0, 50.5], [9.0, 49.6], [9.0, 47.6]]]}\n',
        "seed.yaml": """\
seeds:
  lonlat_bbox:
    caches: [c]
    levels: {to: 8}
    coverages: [bavaria_box]
  lonlat_polygon:
    caches: [c]
    levels: {to: 8}
    coverages: [bavaria]
  two_coverages:
    caches: [c]
    levels: {to: 7}
    coverages: [bavaria_box, north]
  union:
    caches: [c]
    levels: {to: 7}
    coverages: [west_and_east]
coverages:
  bavaria_box:
    bbox: [9.0, 47.2, 13.9, 50.6]
    srs: 'EPSG:4326'
  bavaria:
    datasource: bavaria.geojson
    srs: 'EPSG:4326'
  north:
    bbox: [1000000, 7000000, 1300000, 7300000]
    srs: 'EPSG:3857'
  west_and_east:
    union:
      - {bbox: [6.0, 50.0, 8.0, 52.0], srs: 'EPSG:4326'}
      - {bbox: [800000, 5300000, 900000, 5500000], srs: 'EPSG:25832'}
""",
    },
    "web": {
        "mapproxy.yaml": WEB,
        "seed.yaml": """\
seeds:
  difference:
    caches: [c]
    levels: {to: 9}
    coverages: [holed]
  intersection:
    caches: [c]
    levels: {to: 9}
    coverages: [overlap]
coverages:
  holed:
    difference:
      - {bbox: [5.0, 45.0, 15.0, 55.0], srs: 'EPSG:4326'}
      - {bbox: [1000000, 6000000, 1300000, 6500000], srs: 'EPSG:3857'}
  overlap:
    intersection:
      - {bbox: [500000, 5000000, 2000000, 7000000], srs: 'EPSG:3857'}
      - {bbox: [5.0, 46.0, 16.0, 52.0], srs: 'EPSG:4326'}
""",
    },
}
