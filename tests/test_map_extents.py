"""Maps limited to where there is data, as MapProxy limits them: a source with a
coverage is asked only for the covered part, a cache draws only inside its (or its
sources') coverage, a WMS ``bbox_srs`` extent bounds every GetMap, and where no
source delivers, tiles are answered empty and nothing is stored."""

from __future__ import annotations

from pathlib import Path

from support.configs import cache, layer, wms_source
from support.source_server import COLORS
from support.wms import getmap
from support.wsgi import call

CONFIG = {
    "services": {
        "tms": None,
        "wms": {
            "srs": ["EPSG:4326", "EPSG:3857"],
            "bbox_srs": [{"bbox": [0.0, 0.0, 1000000.0, 2000000.0], "srs": "EPSG:3857"}],
        },
    },
    "layers": [
        layer("covered", "Covered cache", "covered_cache"),
        layer("direct", "Direct", "plain"),
        layer("offline", "Seed only", "offline_cache"),
    ],
    "caches": {
        "covered_cache": cache("covered", grid="GLOBAL_GEODETIC"),
        "offline_cache": cache("offline", meta_size=None, format="image/jpeg"),
    },
    "sources": {
        "covered": wms_source(layers="c", coverage={"bbox": [10, 15, 30, 31], "srs": "EPSG:4326"}),
        "plain": wms_source(layers="p"),
        "offline": wms_source(layers="o", seed_only=True),
    },
    "globals": {"cache": {"base_dir": "./cache_data"}, "image": {"paletted": False}},
}


def test_source_is_asked_for_the_covered_part_of_a_tile(make_app, source) -> None:
    app = make_app(CONFIG)
    answer = call(app, getmap("covered", "0,0,40,40", "EPSG:4326", size=(200, 200), transparent="true"))
    assert answer.status == 200, answer.body
    # the level-3 tile (0, 0, 45, 45) of GLOBAL_GEODETIC, cut to the coverage: the
    # coverage's numbers as configured, pixel edges truncated (56.9 -> 56, 170.7 -> 170)
    assert len(source.requests) == 1
    params = source.params()
    assert params["BBOX"] == "10,15,30,31"
    assert (params["WIDTH"], params["HEIGHT"]) == ("114", "91")
    img = answer.image.convert("RGBA")
    assert img.getpixel((5, 5))[3] == 0  # outside the coverage: transparent
    assert img.getpixel((100, 80))[3] == 255


def test_cache_map_outside_the_source_coverage_is_background(make_app, source) -> None:
    app = make_app(CONFIG)
    answer = call(app, getmap("covered", "-90,0,0,90", "EPSG:4326", size=(50, 50), bgcolor="0xff0005"))
    assert answer.status == 200, answer.body
    assert answer.image.mode == "RGB" and answer.image.getcolors() == [(2500, (255, 0, 5))]
    assert source.requests == []


def test_capabilities_extent_of_a_cache_is_its_source_coverage(make_app) -> None:
    app = make_app(CONFIG)
    caps = call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1").text
    layer = caps[caps.index("<Name>covered</Name>"):]
    assert '<LatLonBoundingBox minx="10" miny="15" maxx="30" maxy="31"' in layer


def test_bbox_srs_extent_bounds_the_map(make_app, source) -> None:
    app = make_app(CONFIG)
    answer = call(app, getmap("direct", "-500000,0,500000,1000000", "EPSG:3857", size=(100, 100),
                              bgcolor="0x00ff00"))
    assert answer.status == 200, answer.body
    params = source.params()
    assert params["BBOX"] == "0.0,0.0,500000.0,1000000.0" and params["WIDTH"] == "50"
    img = answer.image.convert("RGB")
    assert img.getpixel((10, 50)) == (0, 255, 0)  # outside the extent: background
    assert img.getpixel((90, 50)) in COLORS


def test_no_source_delivers_tiles_are_empty_and_not_stored(make_app, source, tmp_path: Path) -> None:
    app = make_app(CONFIG)
    answer = call(app, "/tms/1.0.0/offline/EPSG3857/1/0/0.jpeg")
    assert answer.status == 200
    # a transparent PNG, whatever the cache format, as MapProxy answers
    assert answer.content_type == "image/png"
    assert answer.image.getcolors() == [(256 * 256, (255, 255, 255, 0))]
    assert "detail=no-data" in answer.headers["Cache-Status"]
    assert source.requests == []
    assert not list((tmp_path / "cache_data").rglob("*.jpeg"))
    # and a map from such tiles is transparent, not black or white
    answer = call(app, getmap("offline", "10,10,20,20", "EPSG:4326", size=(40, 40), transparent="true"))
    assert answer.image.getcolors() == [(1600, (255, 255, 255, 0))]
