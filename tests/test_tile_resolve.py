"""Which tile a tile URL names: ``TMSService.resolve`` and ``WMTSService.resolve``,
asked by the services' own handlers and by the cached-tile fast path alike, and
``tile_headers``, which writes the headers of a tile answer for both paths."""

from __future__ import annotations

import pytest
import yaml
from support.fast_path import assert_same_answers, general_answer
from support.wsgi import call, environ

from tileproxy.http import VARY
from tileproxy.services.client_input import bounded_int, bounded_ints
from tileproxy.services.tile_response import TileRequestError, tile_headers
from tileproxy.services.tms import OUTSIDE
from tileproxy.services.wmts.errors import WMTSError
from tileproxy.services.wmts.template import INFO_FIELDS, URLTemplate
from tileproxy.stores.base import Tile


def _cache(fmt: str = "image/png", grids: tuple[str, ...] = ("GLOBAL_WEBMERCATOR",)) -> dict:
    cache = {"grids": list(grids), "sources": ["wms"], "format": fmt, "meta_size": [1, 1], "meta_buffer": 0}
    if fmt == "mixed":
        cache["request_format"] = "image/png"
    return cache


def _config(wmts: dict | None = None) -> str:
    conf = {
        "services": {"tms": None, "wmts": wmts},
        "globals": {"cache": {"base_dir": "./cache_data"}},
        "layers": [
            {"name": "osm", "title": "OSM", "sources": ["osm_cache"]},
            {"name": "photo", "title": "Photo", "sources": ["photo_cache"]},
            {"name": "both", "title": "Both", "sources": ["both_cache"]},
            {"name": "weather", "title": "Weather", "sources": ["weather_cache"],
             "dimensions": {"time": {"values": ["2024-01-01", "2024-01-02"], "default": "2024-01-02"}}},
        ],
        "caches": {
            "osm_cache": _cache(grids=("GLOBAL_WEBMERCATOR", "GLOBAL_GEODETIC")),
            "photo_cache": _cache("image/jpeg"),
            "both_cache": _cache("mixed"),
            "weather_cache": _cache(),
        },
        "sources": {"wms": {"type": "wms", "req": {"url": "{source}/wms", "layers": "base"}}},
    }
    return yaml.safe_dump(conf, sort_keys=False)


@pytest.fixture
def app(make_app):
    return make_app(_config())


# -- TMS and /tiles ------------------------------------------------------------------


@pytest.mark.parametrize("path, origin, coord", [
    # TMS: the global profile starts one level down, rows count from the south
    ("/tms/1.0.0/osm/EPSG3857/0/0/0.png", None, (0, 1, 1)),
    ("/tms/1.0.0/osm/EPSG3857/1/3/0.png", None, (3, 3, 2)),
    ("/tms/osm/EPSG3857/0/0/0.png", None, (0, 1, 1)),  # without the version
    ("/tms/1.0.0/osm_EPSG3857/0/1/1.png", None, (1, 0, 1)),  # layer and grid joined
    ("/tms/1.0.0/osm/EPSG3857/0/0/0.png/ignored", None, (0, 1, 1)),  # MapProxy reads no further
    ("/tms/1.0.0/osm/EPSG4326/0/1/0.png", None, (1, 0, 1)),  # the geodetic grid counts from the south
    # /tiles: grid levels, rows as the grid counts them, or from the origin asked for
    ("/tiles/osm/EPSG3857/1/0/0.png", None, (0, 0, 1)),
    ("/tiles/1.0.0/osm/EPSG3857/1/0/0.png", "sw", (0, 1, 1)),
    ("/tiles/osm/EPSG3857/1/0/0.png", "nw", (0, 0, 1)),
])
def test_tms_resolve_names_layer_and_grid_coordinates(app, path, origin, coord):
    layer, got = app.tms.resolve(path, origin)
    assert (layer.name, got) == ("osm", coord)
    assert layer.grid.srs.code == ("EPSG:4326" if "EPSG4326" in path else "EPSG:3857")


@pytest.mark.parametrize("path", [
    "/tms", "/tms/1.0.0/", "/tms/1.0.0/osm/EPSG3857", "/tms/1.0.0/osm/EPSG3857/0/0/0",
    "/tms/1.0.0/osm/EPSG3857/0/0/+0.png", "/tms/1.0.0/osm/EPSG3857/0/0/1234567890.png",
    "/kml/osm/EPSG3857/0/0/0.png", "/wmts/osm/GLOBAL_WEBMERCATOR/0/0/0.png",
])
def test_tms_resolve_is_none_for_what_is_no_tile_url(app, path):
    assert app.tms.resolve(path) is None


@pytest.mark.parametrize("path, origin, status, message", [
    ("/tms/1.0.0/nothere/EPSG3857/0/0/0.png", None, 404, "unknown layer: nothere"),
    # the format is checked before the coordinates, as MapProxy does
    ("/tms/1.0.0/osm/EPSG3857/0/0/99.gif", None, 404, "invalid format (gif). this tile set only supports (png)"),
    ("/tms/1.0.0/osm/EPSG3857/0/0/2.png", None, 404, OUTSIDE),
    ("/tms/1.0.0/osm/EPSG3857/-1/0/0.png", None, 404, OUTSIDE),
    ("/tiles/osm/EPSG4326/1/0/0.png", "nw", 400, "this grid cannot be accessed with origin nw"),
])
def test_tms_resolve_says_why_a_tile_url_names_no_tile(app, path, origin, status, message):
    with pytest.raises(TileRequestError) as raised:
        app.tms.resolve(path, origin)
    assert (raised.value.status, str(raised.value)) == (status, message)
    # the handler answers with that status and message
    answer = call(app, path + (f"?origin={origin}" if origin else ""))
    assert answer.status == status and message in answer.text


def test_geodetic_grid_with_an_origin_it_cannot_be_read_from(app):
    """EPSG:4326's first level is 2x1 tiles: read from the top it would need a row
    count of a power of two at every level; /tiles refuses, TMS does not ask."""
    assert app.tms.resolve("/tiles/osm/EPSG4326/1/0/0.png", "sw") == (app.tms.resolve(
        "/tms/1.0.0/osm/EPSG4326/0/0/0.png")[0], (0, 0, 1))


# -- WMTS RESTful ----------------------------------------------------------------------


def test_wmts_resolve_names_layer_and_grid_coordinates(app):
    layer, coord = app.wmts.resolve("/osm/GLOBAL_WEBMERCATOR/2/3/1.png")
    assert (layer.name, layer.grid_name, coord) == ("osm", "GLOBAL_WEBMERCATOR", (3, 1, 2))
    assert app.wmts.resolve("/osm/GLOBAL_WEBMERCATOR/002/3/01.png")[1] == (3, 1, 2)  # matrix 002 is 02
    assert app.wmts.resolve("/photo/GLOBAL_WEBMERCATOR/0/0/0.jpg")[0].name == "photo"


def test_wmts_resolve_gives_the_tile_layer_of_the_dimension_values(app):
    """Without dimensions in the template, a layer's tiles are those of its defaults:
    another tile layer than the layer's own (whose tiles keep no values apart)."""
    layer, _ = app.wmts.resolve("/weather/GLOBAL_WEBMERCATOR/0/0/0.png")
    assert layer is app.wmts.wmts_layers["weather"].tile_layer("GLOBAL_WEBMERCATOR", {"time": "2024-01-02"})
    assert layer is not app.wmts.wmts_layers["weather"].by_set["GLOBAL_WEBMERCATOR"]


@pytest.mark.parametrize("path", [
    "/1.0.0/WMTSCapabilities.xml", "/osm/GLOBAL_WEBMERCATOR/0/0/0", "/osm/GLOBAL_WEBMERCATOR/0/0/0.png/",
    "/osm/GLOBAL_WEBMERCATOR/0/0/0/1/2.xml",  # a feature info URL
])
def test_wmts_resolve_is_none_for_what_is_no_tile_url(app, path):
    assert app.wmts.resolve(path) is None


@pytest.mark.parametrize("path, code, locator", [
    ("/nothere/GLOBAL_WEBMERCATOR/0/0/0.png", "InvalidParameterValue", "layer"),
    ("/osm/nothere/0/0/0.png", "InvalidParameterValue", "tilematrixset"),
    ("/osm/GLOBAL_GEODETIC/0/0/0.png", "InvalidParameterValue", "tilematrixset"),  # not readable from the top
    ("/osm/GLOBAL_WEBMERCATOR/0/0/0.gif", "InvalidParameterValue", "format"),
    ("/osm/GLOBAL_WEBMERCATOR/1/2/0.png", "TileOutOfRange", "tilecol"),
    ("/osm/GLOBAL_WEBMERCATOR/1/0/-1.png", "TileOutOfRange", "tilerow"),
    ("/osm/GLOBAL_WEBMERCATOR/99/0/0.png", "TileOutOfRange", "tilematrix"),
])
def test_wmts_resolve_says_why_a_tile_url_names_no_tile(app, path, code, locator):
    with pytest.raises(WMTSError) as raised:
        app.wmts.resolve(path)
    assert (raised.value.code, raised.value.locator) == (code, locator)
    answer = call(app, "/wmts" + path)
    assert answer.status == 400 and f'exceptionCode="{code}" locator="{locator}"' in answer.text


def test_wmts_resolve_is_none_without_restful_wmts(make_app):
    app = make_app(_config({"restful": False}))
    assert app.wmts.resolve("/osm/GLOBAL_WEBMERCATOR/0/0/0.png") is None
    assert call(app, "/wmts/osm/GLOBAL_WEBMERCATOR/0/0/0.png").status == 404


def test_a_template_that_matches_the_capabilities_url_leaves_it_to_the_capabilities(make_app):
    app = make_app(_config({"restful_template": "/{TileMatrix}.{TileCol}.{TileRow}/{Layer}.{Format}"}))
    assert app.wmts.tile_template.match("/1.0.0/WMTSCapabilities.xml") is not None
    assert app.wmts.resolve("/1.0.0/WMTSCapabilities.xml") is None
    assert app.wmts.resolve("/1.0.0/osm.png")[1] == (0, 0, 1)
    answer = call(app, "/wmts/1.0.0/WMTSCapabilities.xml")
    assert answer.status == 200 and "<Capabilities" in answer.text


def test_url_template_fields_in_order_with_none_for_those_it_lacks():
    default = URLTemplate("/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.{Format}")
    assert default.match("/osm/GLOBAL/3/-1/07.png") == (("osm", "GLOBAL", "3", "-1", "07", "png"), {})
    assert default.match("/osm/GLOBAL/3/1/7.png/") is None
    shuffled = URLTemplate("/{Style}/{TileMatrixSet}/{Time}/{TileMatrix}/{TileRow}/{TileCol}/{time}.png")
    assert shuffled.match("/default/GLOBAL/2024/3/7/1/2024.png") == (
        (None, "GLOBAL", "3", "1", "7", None), {"time": "2024"})
    assert shuffled.match("/default/GLOBAL/2024/3/7/1/2025.png") is None  # a repeated dimension repeats its value
    info = URLTemplate("/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}/{I}/{J}.{InfoFormat}", INFO_FIELDS)
    assert info.match("/osm/GLOBAL/3/1/7/10/20.xml") == (("osm", "GLOBAL", "3", "1", "7", "10", "20", "xml"), {})
    picked = URLTemplate("/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.png/{I}/{J}", INFO_FIELDS)
    assert picked.match("/osm/GLOBAL/3/1/7.png/10/20") == (("osm", "GLOBAL", "3", "1", "7", "10", "20", None), {})


@pytest.mark.parametrize("texts", [
    ("1", "2", "3"), ("0001", "-2", "+3"), (" 4 ", "5", "6"), ("1.5", "2", "3"), ("", "1", "2"),
    ("9" * 18, "1", "2"), ("9" * 16, "12", "3"), ("-" + "9" * 30, "1", "2"), ("1", "x", "2"), ("٣", "1", "2"),
])
def test_bounded_ints_reads_as_bounded_int_does(texts):
    assert bounded_ints(*texts) == tuple(bounded_int(t) for t in texts)


# -- the fast path: the same answers as the general path -----------------------------


@pytest.mark.parametrize("path", [
    "/tms/osm/EPSG3857/0/0/0.png",  # TMS without the version
    "/tms/1.0.0/osm/EPSG3857/0/0/0.png/ignored",
    "/tms/1.0.0/osm/EPSG4326/0/1/0.png",
    "/tms/1.0.0/photo/EPSG3857/0/0/0.jpg",
    "/wmts/photo/GLOBAL_WEBMERCATOR/1/0/0.jpeg",
    "/wmts/both/GLOBAL_WEBMERCATOR/1/1/1.png",  # mixed: the stored tile says which type it is
    "/wmts/weather/GLOBAL_WEBMERCATOR/1/0/1.png",  # the tiles of the dimensions' defaults
])
def test_fast_path_answers_as_the_general_path(app, path):
    assert app.fast.answer(environ(path)) is None  # not stored yet
    first = call(app, path)
    assert first.status == 200 and app.fast.answer(environ(path)) is not None
    fast = call(app, path)
    fast_h = assert_same_answers(fast, general_answer(app, path))
    assert fast.body == first.body
    assert fast_h["Cache-Status"] == "tileproxy; hit"


def test_fast_path_keeps_dimension_values_apart(app):
    """The default values' tile is not the tile of the layer's own store."""
    call(app, "/wmts/weather/GLOBAL_WEBMERCATOR/0/0/0.png")
    layer, coord = app.wmts.resolve("/weather/GLOBAL_WEBMERCATOR/0/0/0.png")
    assert layer.manager.stored_hit(coord) is not None
    assert app.wmts.wmts_layers["weather"].by_set["GLOBAL_WEBMERCATOR"].manager.stored_hit(coord) is None


# -- tile_headers ------------------------------------------------------------------------


def test_tile_headers_of_fresh_stale_and_stand_in_tiles(app):
    layer = app.tms.names.find("osm", "EPSG3857")
    tile = Tile((0, 0, 1), data=b"\x89PNG...", timestamp=1700000000.5)
    fresh = dict(tile_headers(layer, tile, 600, "tileproxy; hit"))
    assert fresh["Content-Type"] == "image/png" and fresh["Cache-Status"] == "tileproxy; hit"
    assert fresh["Cache-Control"] == "public, max-age=600, s-maxage=600"
    assert fresh["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT" and "Vary" not in fresh
    stale = dict(tile_headers(layer, tile, 600, "x", stale=True))
    assert stale["Cache-Control"] == "public, no-cache" and stale["ETag"] == fresh["ETag"]
    stand_in = dict(tile_headers(layer, tile, 600, "x", cacheable=False))
    assert stand_in["Cache-Control"] == "no-cache, no-store" and "ETag" not in stand_in
    document = tile_headers(layer, Tile((0, 0, 1), data=b"{}", mime="application/json"), 600, "x")
    assert ("Content-Type", "application/json") in document and VARY in document
