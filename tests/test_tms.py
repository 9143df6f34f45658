"""TMS 1.0.0 documents and tiles (with the global profiles' level shift) and /tiles."""

from __future__ import annotations

import pytest
from lxml import etree
from support.configs import cache, layer, merge, wms_source
from support.wsgi import call

from tileproxy.grid import predefined_grid

CONFIG = {
    "services": {"tms": None},
    "layers": [layer("merc", "Mercator", "merc_cache"), layer("geo", "Geodetic", "geo_cache"),
               layer("utm", "UTM", "utm_cache"), layer("web", "Web", "web_cache"), layer("fine", "Fine", "sqrt2_cache")],
    "caches": {
        "merc_cache": cache("wms", grid="GLOBAL_MERCATOR", meta_size=None),
        "geo_cache": cache("wms", grid="GLOBAL_GEODETIC", meta_size=None),
        "utm_cache": cache("wms", grid="utm32", meta_size=None, format="image/jpeg"),
        "web_cache": cache("wms", meta_size=None),
        "sqrt2_cache": cache("wms", grid="sqrt2", meta_size=None),
    },
    "grids": {
        "utm32": {"srs": "EPSG:25832", "bbox": [280000, 5200000, 920000, 6100000], "res": [1000, 500, 250]},
        "sqrt2": {"base": "GLOBAL_WEBMERCATOR", "res_factor": "sqrt2", "num_levels": 7},
    },
    "sources": {"wms": wms_source()},
    "globals": {"cache": {"base_dir": "./cache_data", "meta_size": [1, 1], "meta_buffer": 0}},
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def xml(answer) -> etree._Element:
    assert answer.status == 200, answer.body
    assert answer.content_type.startswith(("text/xml", "application/xml"))
    return etree.fromstring(answer.body)


def source_bbox(source) -> list[float]:
    return [float(v) for v in source.params()["BBOX"].split(",")]


def test_root_and_capabilities(app) -> None:
    root = xml(call(app, "/tms"))
    assert root.tag == "Services"
    assert root[0].get("href") == "http://localhost/tms/1.0.0/"
    caps = xml(call(app, "/tms/1.0.0/"))
    maps = {m.get("href").rsplit("/1.0.0/", 1)[1]: (m.get("srs"), m.get("profile"), m.get("title"))
            for m in caps.iter("TileMap")}
    assert maps == {
        "merc/EPSG900913": ("OSGEO:41001", "global-mercator", "Mercator"),
        "geo/EPSG4326": ("EPSG:4326", "global-geodetic", "Geodetic"),
        "utm/EPSG25832": ("EPSG:25832", "local", "UTM"),
        "web/EPSG3857": ("OSGEO:41001", "global-mercator", "Web"),
    } | {k: v for k, v in maps.items() if k not in ("merc/EPSG900913", "geo/EPSG4326", "utm/EPSG25832", "web/EPSG3857")}
    assert len(maps) >= 4


def test_tile_map_documents(app) -> None:
    doc = xml(call(app, "/tms/1.0.0/merc/EPSG900913"))
    assert doc.findtext("SRS") == "OSGEO:41001"
    sets = doc.find("TileSets")
    assert sets.get("profile") == "global-mercator"
    tilesets = sets.findall("TileSet")
    assert len(tilesets) == 19  # internal levels 1..19
    assert [int(t.get("order")) for t in tilesets] == list(range(19))
    assert float(tilesets[0].get("units-per-pixel")) == pytest.approx(78271.51696402048)
    assert tilesets[3].get("href") == "http://localhost/tms/1.0.0/merc/EPSG900913/3"
    fmt = doc.find("TileFormat")
    assert (fmt.get("width"), fmt.get("height"), fmt.get("mime-type"), fmt.get("extension")) == ("256", "256", "image/png", "png")
    origin = doc.find("Origin")
    assert float(origin.get("x")) == pytest.approx(-20037508.342789244)
    assert float(origin.get("y")) == pytest.approx(-20037508.342789244)

    geo = xml(call(app, "/tms/1.0.0/geo/EPSG4326"))
    sets = geo.find("TileSets").findall("TileSet")
    assert float(sets[0].get("units-per-pixel")) == 0.703125
    assert len(sets) == 19

    utm = xml(call(app, "/tms/1.0.0/utm/EPSG25832"))
    sets = utm.find("TileSets").findall("TileSet")
    assert [float(s.get("units-per-pixel")) for s in sets] == [1000, 500, 250]
    assert utm.find("TileFormat").get("extension") == "jpeg"

    # sqrt2 grids publish every second level; the global profile starts at grid
    # level 2, the 2x2 tiles level
    sqrt2 = xml(call(app, "/tms/1.0.0/fine/EPSG3857"))
    grid_res = predefined_grid("GLOBAL_WEBMERCATOR").resolutions
    sets = sqrt2.find("TileSets").findall("TileSet")
    assert [float(s.get("units-per-pixel")) for s in sets] == pytest.approx(grid_res[1:4])


def test_global_profiles_start_one_level_down(app, source) -> None:
    assert call(app, "/tms/1.0.0/merc/EPSG900913/0/0/0.png").status == 200
    assert source_bbox(source) == pytest.approx([-20037508.342789244, -20037508.342789244, 0, 0])
    assert call(app, "/tms/1.0.0/geo/EPSG4326/0/1/0.png").status == 200
    assert source_bbox(source) == pytest.approx([0, -90, 180, 90])
    # a nw grid: TMS rows still count from the south
    assert call(app, "/tms/1.0.0/web/EPSG3857/1/0/3.png").status == 200
    bbox = predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((0, 0, 2))
    assert source_bbox(source) == pytest.approx(bbox)
    assert call(app, "/tms/1.0.0/web/EPSG3857/18/0/0.png").status == 200  # internal level 19
    assert call(app, "/tms/1.0.0/web/EPSG3857/19/0/0.png").status == 404


def test_local_grid_has_no_level_shift(app, source) -> None:
    answer = call(app, "/tms/1.0.0/utm/EPSG25832/0/0/0.jpeg")
    assert answer.status == 200 and answer.content_type == "image/jpeg"
    assert source_bbox(source) == pytest.approx([280000, 5200000, 280000 + 256000, 5200000 + 256000])


def test_layer_underscore_grid_form_and_grid_names(make_app, source) -> None:
    app = make_app(merge(CONFIG, {"services": {"tms": {"use_grid_names": True}}}))
    assert call(app, "/tms/1.0.0/merc/GLOBAL_MERCATOR/0/0/0.png").status == 200
    # with grid names, layer and grid are two path segments, both required
    for path in ("/tms/1.0.0/merc_GLOBAL_MERCATOR/0/0/0.png", "/tms/1.0.0/merc/0/0/0.png"):
        answer = call(app, path)
        assert answer.status == 404 and b"unknown layer: merc" in answer.body
    caps = xml(call(app, "/tms/1.0.0/"))
    hrefs = {m.get("href") for m in caps.iter("TileMap")}
    assert "http://localhost/tms/1.0.0/utm/utm32" in hrefs
    plain = make_app(CONFIG)
    assert call(plain, "/tms/1.0.0/merc_EPSG900913/0/0/0.png").status == 200


def test_tiles_service_origin(app, source) -> None:
    sw = call(app, "/tiles/web/EPSG3857/2/1/0.png?origin=sw")
    nw = call(app, "/tiles/web/EPSG3857/2/1/3.png")  # default: rows as the grid counts them
    assert sw.status == nw.status == 200
    assert sw.body == nw.body
    assert source.count("wms") == 1
    assert source_bbox(source) == pytest.approx(predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((1, 3, 2)))
    # no profile shift on /tiles: z is the grid level
    assert call(app, "/tiles/merc/EPSG900913/0/0/0.png").status == 200
    assert source_bbox(source) == pytest.approx(predefined_grid("GLOBAL_MERCATOR").bbox)
    assert call(app, "/tiles/web/EPSG3857/2/1/3.png?origin=ul").body == sw.body  # ul is nw
    assert call(app, "/tiles/web/EPSG3857/2/1/0.png?origin=ll").body == sw.body  # ll is sw
    # an origin that is none is no choice, as in MapProxy: the default applies
    assert call(app, "/tiles/web/EPSG3857/2/1/3.png?origin=middle").body == sw.body


def test_tms_origin_option_changes_the_tiles_default(make_app, source) -> None:
    app = make_app(merge(CONFIG, {"services": {"tms": {"origin": "nw"}}}))
    nw = call(app, "/tiles/web/EPSG3857/2/1/0.png")
    assert nw.status == 200
    assert source_bbox(source) == pytest.approx(predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((1, 0, 2)))
    # /tms keeps rows from the south
    assert call(app, "/tms/1.0.0/web/EPSG3857/1/1/3.png").body == nw.body


EXTENTS = {
    "services": {"tms": None},
    "layers": [layer("covered", "Cache coverage", "covered_cache"), layer("from_source", "Source coverage", "source_cache"),
               layer("two_sources", "Two source coverages", "two_cache"), layer("world", "No coverage", "world_cache")],
    "caches": {
        "covered_cache": cache(
            "wms",
            grid="GLOBAL_GEODETIC",
            meta_size=None,
            cache={"type": "file", "coverage": {"bbox": [5, 50, 10, 55], "srs": "EPSG:4326"}},
        ),
        "source_cache": cache("west", meta_size=None),
        "two_cache": cache("west", "east", grid="GLOBAL_GEODETIC", meta_size=None),
        "world_cache": cache("wms", meta_size=None),
    },
    "sources": {
        "wms": wms_source(),
        "west": wms_source(coverage={"bbox": [-10, 40, 0, 50], "srs": "EPSG:4326"}),
        "east": wms_source(coverage={"bbox": [20, 30, 30, 45.5], "srs": "EPSG:4326"}),
    },
}


def _bbox_and_origin(app, path: str) -> tuple[list[str], list[str]]:
    doc = xml(call(app, path))
    box, origin = doc.find("BoundingBox"), doc.find("Origin")
    return [box.get(k) for k in ("minx", "miny", "maxx", "maxy")], [origin.get("x"), origin.get("y")]


def test_tile_map_bbox_is_the_layer_extent(make_app) -> None:
    """BoundingBox and Origin of a TileMap show what the tiles cover (coverages),
    in the grid's SRS, not the grid's bbox; numbers as configured."""
    app = make_app(EXTENTS)
    assert _bbox_and_origin(app, "/tms/1.0.0/covered/EPSG4326") == (["5", "50", "10", "55"], ["5", "50"])
    box, origin = _bbox_and_origin(app, "/tms/1.0.0/from_source/EPSG3857")
    assert [float(v) for v in box] == pytest.approx([-1113194.9, 4865942.3, 0.0, 6446275.8], abs=1)
    assert origin == box[:2]
    # several sources: the box around all of them
    box, _ = _bbox_and_origin(app, "/tms/1.0.0/two_sources/EPSG4326")
    assert [float(v) for v in box] == pytest.approx([-10, 30, 30, 50])
    # no coverage anywhere: the grid's bbox
    box, _ = _bbox_and_origin(app, "/tms/1.0.0/world/EPSG3857")
    assert box == ["-20037508.342789244", "-20037508.342789244", "20037508.342789244", "20037508.342789244"]
