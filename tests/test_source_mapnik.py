"""Mapnik sources rendered in-process (skipped where the bindings are missing)."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.configs import NO_PALETTE, cache, layer, merge
from support.http_stub import pixel_at
from support.wsgi import call

from tileproxy.config.errors import ConfigError
from tileproxy.grid import predefined_grid
from tileproxy.image.formats import ImageFormat
from tileproxy.sources.base import MapQuery
from tileproxy.srs import get_srs

DATA = Path(__file__).parent / "data" / "mapnik"
GRID = predefined_grid("GLOBAL_WEBMERCATOR")

CONFIG = {
    "services": {"tms": None},
    "globals": NO_PALETTE,
    "layers": [layer("squares", "Squares", "squares_cache"), layer("blue", "Blue", "blue_cache"),
               layer("geo", "Geodetic", "geo_cache"), layer("broken", "Broken", "broken_cache")],
    "caches": {
        "squares_cache": cache("squares", meta_size=(2, 2), meta_buffer=16),
        "blue_cache": cache("blue"),
        "geo_cache": cache("squares", grid="GLOBAL_GEODETIC"),
        "broken_cache": cache("broken", meta_size=None),
    },
    "sources": {
        "squares": {"type": "mapnik", "mapfile": f"{DATA}/squares.xml", "transparent": True, "scale_factor": 1.0},
        "blue": {"type": "mapnik", "mapfile": f"{DATA}/squares.xml", "layers": ["blue"], "multithreaded": True},
        "broken": {"type": "mapnik", "mapfile": f"{DATA}/broken.xml"},
    },
}


def _need_mapnik() -> None:
    # find, don't import: importing the bindings here would change PROJ_LIB for every later test
    if importlib.util.find_spec("mapnik") is None:
        pytest.skip("the Mapnik Python bindings are not installed (pip install mapnik)")


@pytest.fixture
def app(make_app):
    _need_mapnik()
    return make_app(CONFIG)



def test_renders_the_map_transparent(app) -> None:
    img = call(app, "/tiles/squares/EPSG3857/2/2/1.png?origin=nw").image.convert("RGBA")
    assert pixel_at(img, GRID, (2, 1, 2), 2.5e6, 2.5e6) == (255, 0, 0, 255)
    assert pixel_at(img, GRID, (2, 1, 2), 7.5e6, 7.5e6)[3] == 0


def test_layers_pick_and_opaque_background(app) -> None:
    answer = call(app, "/tiles/blue/EPSG3857/2/2/1.png?origin=nw")
    img = answer.image
    assert img.mode == "RGB"
    assert pixel_at(img, GRID, (2, 1, 2), 2.5e6, 2.5e6) == (255, 255, 255)  # red layer switched off
    img = call(app, "/tiles/blue/EPSG3857/2/1/2.png?origin=nw").image
    assert pixel_at(img, GRID, (1, 2, 2), -2.5e6, -2.5e6) == (0, 0, 255)


def test_reprojects_to_the_query_srs(app) -> None:
    geo = predefined_grid("GLOBAL_GEODETIC")
    # level 2: 90 degree tiles; tile (2, 1) spans lon 0..90, lat 0..90 (sw origin)
    img = call(app, "/tiles/geo/EPSG4326/2/2/1.png").image.convert("RGBA")
    assert pixel_at(img, geo, (2, 1, 2), 20, 20) == (255, 0, 0, 255)  # 20 deg is inside 5000 km
    assert pixel_at(img, geo, (2, 1, 2), 60, 60)[3] == 0


def test_multithreaded_renders_in_parallel(app) -> None:
    source = app.config.sources["blue"]
    query = MapQuery(GRID.tile_bbox((1, 2, 2)), (256, 256), get_srs("EPSG:3857"), ImageFormat("image/png"))
    with ThreadPoolExecutor(4) as pool:
        images = list(pool.map(lambda _: source.get_map(query).image, range(8)))
    assert all(img.getpixel((200, 60)) == (0, 0, 255) for img in images)


def test_broken_xml_is_an_error_for_that_layer_only(app, caplog) -> None:
    with caplog.at_level(logging.ERROR):
        answer = call(app, "/tiles/broken/EPSG3857/1/0/0.png?origin=nw")
    assert answer.status == 500
    assert b"mapnik source 'broken': cannot load the map" in answer.body
    assert "no-such-plugin" in caplog.text and "broken.xml" in caplog.text
    assert call(app, "/tiles/squares/EPSG3857/1/0/0.png?origin=nw").status == 200


def test_missing_mapfile_is_a_config_error(make_app) -> None:
    _need_mapnik()
    with pytest.raises(ConfigError, match=r"sources.squares.mapfile: Mapnik XML .*/nope.xml does not exist"):
        make_app(merge(CONFIG, {"sources": {"squares": {"mapfile": f"{DATA}/nope.xml"}}}))


def test_missing_bindings_are_a_clear_config_error(make_app, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mapnik", None)  # import mapnik now raises ImportError
    with pytest.raises(ConfigError, match=r"sources.squares: the Mapnik Python bindings are not installed.*pip install mapnik"):
        make_app(CONFIG)


def test_importing_the_bindings_leaves_proj_settings_alone(app) -> None:
    # the PyPI wheel points PROJ_LIB/GDAL_DATA at its own copies; subprocesses (mapserv, gdalinfo) need the system's
    assert app.config.sources["squares"].mapnik is sys.modules["mapnik"]
    assert "site-packages/mapnik" not in os.environ.get("PROJ_LIB", "")
    assert "site-packages/mapnik" not in os.environ.get("GDAL_DATA", "")
