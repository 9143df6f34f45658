"""Caches as sources of other caches and layers: pass-through, reprojection
between grids, tile_sources, use_direct_from_level/res."""

from __future__ import annotations

import pytest
from support.configs import cache, layer, wms_cache_config, wms_source
from support.source_server import CELL, COLORS, expected_color
from support.wsgi import call

from tileproxy.config.errors import ConfigError
from tileproxy.grid import predefined_grid
from tileproxy.image.formats import ImageFormat
from tileproxy.sources.base import MapQuery
from tileproxy.sources.cache import cache_map_source
from tileproxy.srs import get_srs

CONFIG = {
    "services": {"tms": None, "wmts": None},
    "layers": [
        layer("merc", "Mercator", "merc_cache"), layer("geo", "Geodetic from the mercator cache", "geo_cache"),
        layer("copy", "Same grid copy", "copy_cache"),
        {
            "name": "both",
            "title": "Direct source, two tile sets",
            "sources": ["wms"],
            "tile_sources": ["merc_cache", "geo_cache"],
        },
    ],
    "caches": {
        "merc_cache": cache("wms", meta_size=(2, 2)),
        "geo_cache": cache("merc_cache", grid="GLOBAL_GEODETIC", meta_size=(2, 2)),
        "copy_cache": cache("merc_cache", meta_size=None),
    },
    "sources": {"wms": wms_source()},
}


def _nearest(pixel) -> tuple[int, int, int]:
    """The checkerboard colour closest to ``pixel`` (resampling and PNG palettes shift colours a little)."""
    assert pixel[3] == 255
    best = min(COLORS, key=lambda c: sum((a - b) ** 2 for a, b in zip(c, pixel)))
    assert sum(abs(a - b) for a, b in zip(best, pixel)) < 100, pixel
    return best


def _samples(bbox, size, srs):
    """Pixel centres well inside a checkerboard cell (3 px from any cell edge)."""
    w, h = size
    rx, ry = (bbox[2] - bbox[0]) / w, (bbox[3] - bbox[1]) / h
    to_merc = get_srs(srs)
    merc = get_srs("EPSG:3857")
    for j in range(4, h, 9):
        for i in range(4, w, 9):
            pts = [(bbox[0] + (i + 0.5 + di) * rx, bbox[3] - (j + 0.5 + dj) * ry) for di in (-3, 0, 3) for dj in (-3, 0, 3)]
            mpts = to_merc.transform_to(merc, pts)
            cells = {(int(x // CELL), int(y // CELL)) for x, y in mpts}
            if len(cells) == 1 and abs(mpts[4][1]) < 19_000_000:
                yield i, j, pts[4]


def test_geodetic_cache_over_mercator_cache_lands_content_in_place(make_app, source) -> None:
    app = make_app(CONFIG)
    grid = predefined_grid("GLOBAL_GEODETIC")
    for coord in ((4, 2, 3), (5, 1, 3), (9, 4, 4)):
        x, y, z = coord
        answer = call(app, f"/tiles/geo/EPSG4326/{z}/{x}/{y}.png")
        assert answer.status == 200, answer.body
        img = answer.image.convert("RGBA")
        bbox = grid.tile_bbox(coord)
        checked = 0
        for i, j, (lon, lat) in _samples(bbox, (256, 256), "EPSG:4326"):
            assert _nearest(img.getpixel((i, j))) == expected_color(lon, lat, "EPSG:4326"), (coord, i, j, lon, lat)
            checked += 1
        assert checked > 100
    # the WMS was only asked in the mercator cache's SRS
    assert all("EPSG%3A3857" in r or "EPSG:3857" in r for r in source.requests)


def test_geodetic_tile_beyond_mercator_latitudes_is_transparent(make_app) -> None:
    app = make_app(CONFIG)
    img = call(app, "/tiles/geo/EPSG4326/2/1/1.png").image.convert("RGBA")
    # the tile spans 0..90 N; its top rows lie north of 85.05 N where mercator has no data
    assert img.getpixel((128, 2))[3] == 0
    assert img.getpixel((128, 200))[3] == 255


def test_same_grid_cache_source_passes_tiles_through(make_app, source, tmp_path) -> None:
    app = make_app(CONFIG)
    first = call(app, "/tiles/copy/EPSG3857/3/2/2.png?origin=nw")
    assert first.status == 200
    merc = call(app, "/tiles/merc/EPSG3857/3/2/2.png?origin=nw")
    assert merc.body == first.body
    assert source.count("wms") == 1  # one meta tile of merc_cache, copied tile by tile
    assert (tmp_path / "cache_data/copy_cache_EPSG3857/03/000/000/002/000/000/002.png").read_bytes() == merc.body


def test_tile_sources_publish_several_tile_sets(make_app) -> None:
    app = make_app(CONFIG)
    caps = call(app, "/tms/1.0.0/").text
    assert "/tms/1.0.0/both/EPSG3857" in caps and "/tms/1.0.0/both/EPSG4326" in caps
    wmts = call(app, "/wmts/1.0.0/WMTSCapabilities.xml").text
    layer = wmts.split("<ows:Identifier>both</ows:Identifier>")[1].split("</Layer>")[0]
    assert "<TileMatrixSet>GLOBAL_WEBMERCATOR</TileMatrixSet>" in layer
    assert call(app, "/tms/1.0.0/both/EPSG4326/1/1/0.png").status == 200


def direct(services: dict | None = None, **cache_options: object) -> dict:
    """Layer ``l`` over cache ``c`` (``cache_options``: more keys of it) over the WMS
    ``wms``, next to a second WMS ``wms2``; no services unless ``services``."""
    config = wms_cache_config(services=services or {}, cache_options=cache_options)
    if services is None:
        del config["services"]
    config["sources"]["wms2"] = wms_source(layers="other")
    return config


def _query(level: int, srs: str = "EPSG:3857") -> MapQuery:
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    bbox = grid.tile_bbox((0, 0, level))
    if srs != "EPSG:3857":
        bbox = get_srs("EPSG:3857").transform_bbox_to(get_srs(srs), bbox)
    return MapQuery(bbox, (256, 256), get_srs(srs), ImageFormat("image/png"))


@pytest.mark.parametrize("option", [{"use_direct_from_level": 3}, {"use_direct_from_res": 20000}])
def test_use_direct_from_level_sends_fine_maps_to_the_source(make_app, source, tmp_path, option) -> None:
    app = make_app(direct(**option))
    mapper = cache_map_source(app.config.caches["c"])
    mapper.get_map(_query(2))
    mapper.get_map(_query(2))
    assert source.count("wms") == 1  # cached at level 2
    mapper.get_map(_query(3))
    mapper.get_map(_query(3))
    assert source.count("wms") == 3  # level 3 goes to the source every time
    stored = [p.parts[-7] for p in (tmp_path / "cache_data").rglob("*.png")]
    assert stored == ["02"]


def test_use_direct_from_errors(make_app) -> None:
    with pytest.raises(ConfigError, match="caches.c: use either"):
        make_app(direct(use_direct_from_level=3, use_direct_from_res=10))
    with pytest.raises(ConfigError, match="caches.c.use_direct_from_level: needs a cache with exactly one source"):
        config = direct(use_direct_from_level=3)
        config["caches"]["c"]["sources"] = ["wms", "wms2"]
        make_app(config)
    with pytest.raises(ConfigError, match="use_direct_from_level: level 40 is not in the grid"):
        make_app(direct(use_direct_from_level=40))


def test_wms_getmap_below_direct_level_goes_to_the_source(make_app, source, tmp_path) -> None:
    app = make_app(direct({"wms": None}, use_direct_from_level=3))
    grid = predefined_grid("GLOBAL_WEBMERCATOR")

    def getmap(level: int) -> None:
        bbox = ",".join(repr(v) for v in grid.tile_bbox((1, 1, level)))
        answer = call(app, f"/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=l&STYLES=&SRS=EPSG:3857"
                           f"&BBOX={bbox}&WIDTH=256&HEIGHT=256&FORMAT=image/png")
        assert answer.status == 200 and answer.content_type == "image/png", answer.body

    getmap(2)
    getmap(2)
    assert source.count("wms") == 1  # a cached level-2 tile
    getmap(3)
    getmap(3)
    assert source.count("wms") == 3
    assert sorted({p.relative_to(tmp_path / "cache_data").parts[1] for p in (tmp_path / "cache_data").rglob("*.png")}) == ["02"]


UTM_CONFIG = {
    "services": {"tms": None},
    "layers": [layer("utm", "UTM from mercator tiles", "utm_cache"), layer("copy", "Copy", "copy_cache")],
    "caches": {
        "utm_cache": cache("merc_cache", grid="utm32n", meta_size=(2, 2)),
        "merc_cache": cache("tiles", meta_size=None, disable_storage=True),
        "copy_cache": cache("stored_cache", meta_size=None),
        "stored_cache": cache("tiles", meta_size=None),
    },
    "sources": {
        "tiles": {"type": "tile", "grid": "GLOBAL_WEBMERCATOR", "url": "{source}/tiles/%(z)s/%(x)s/%(y)s.png"},
    },
    "grids": {
        "utm32n": {"srs": "EPSG:25832", "bbox": [4, 46, 16, 56], "bbox_srs": "EPSG:4326", "min_res": 5700},
    },
    "globals": {"cache": {"base_dir": "./cache_data"}},
}


def test_cache_source_draws_only_within_the_grid_it_fills(make_app, source) -> None:
    app = make_app(UTM_CONFIG)
    answer = call(app, "/tiles/utm/EPSG25832/0/0/0.png")
    assert answer.status == 200, answer.body
    # the one level-0 tile reaches far beyond the grid bbox (4..16 E); as MapProxy,
    # only the part inside the grid is drawn: one column of level-4 tiles, not two
    asked = sorted(path.split("/")[-3:-1] for path in source.requests)
    assert asked == [["4", "8"], ["4", "8"]]
    img = answer.image.convert("RGBA")
    assert img.getpixel((250, 5))[3] == 0  # beyond the grid's east edge: transparent


def test_cache_source_tiles_pass_undecoded(make_app, source, tmp_path) -> None:
    app = make_app(UTM_CONFIG)
    tile = tmp_path / "cache_data/stored_cache_EPSG3857/03/000/000/002/000/000/005.png"
    tile.parent.mkdir(parents=True)
    tile.write_bytes(b"not decoded")  # a cache's tiles are taken to be in its format
    answer = call(app, "/tiles/copy/EPSG3857/3/2/5.png")
    assert answer.status == 200
    assert answer.body == b"not decoded"
    assert source.requests == []


def test_empty_tile_source_answer_is_a_transparent_tile(make_app, source) -> None:
    source.reset("empty")
    app = make_app(UTM_CONFIG)
    answer = call(app, "/tiles/utm/EPSG25832/0/0/0.png")
    assert answer.status == 200, answer.body
    assert answer.image.convert("RGBA").getchannel("A").getextrema() == (0, 0)
