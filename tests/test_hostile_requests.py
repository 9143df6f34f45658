"""Requests built to cost or to reflect (issue 13): a URL cannot multiply source
work, numbers of any length in tile URLs are a 4xx, and error answers quote the
request cut short, escaped where they are markup, with ``nosniff``."""

from __future__ import annotations

import time

import pytest
from lxml import etree
from support.configs import cache, layer, wms_source, write_config
from support.wms import getmap, wms_config
from support.wsgi import call, fetch

from tileproxy.config.build import load_proxy_config
from tileproxy.config.errors import ConfigError

NOSNIFF = ("X-Content-Type-Options", "nosniff")

TILE_CONFIG = {
    "services": {
        "tms": None,
        "kml": None,
        "wmts": {"kvp": True, "restful": True},
        "wms": {"featureinfo_types": ["text"]},
    },
    "layers": [layer("map", "Map", "map_cache")],
    "caches": {"map_cache": cache("wms", meta_size=None)},
    "sources": {"wms": wms_source(wms_opts={"featureinfo": True})},
    "globals": {"cache": {"base_dir": "./cache_data"}},
}


# -- bounded work per request ---------------------------------------------------


@pytest.mark.parametrize("layer", ["direct", "cached"])
def test_repeated_layer_makes_one_source_request(make_app, source, layer) -> None:
    """Was: LAYERS=l,l,l,... (430 times, a URL that fits gunicorn's request line)
    made 430 source requests for the direct layer; as in MapProxy a layer named
    again is drawn once."""
    app = make_app(wms_config())
    bbox = "0,0,1000000,1000000"
    once = call(app, getmap(layer, bbox, "EPSG:3857", size=(256, 256)))
    assert once.status == 200
    source.reset()
    started = time.monotonic()
    repeated = call(app, getmap(",".join([layer] * 430), bbox, "EPSG:3857", size=(256, 256)))
    elapsed = time.monotonic() - started
    assert repeated.status == 200 and repeated.content_type == "image/png"
    assert source.count("wms") == (1 if layer == "direct" else 0)  # the cached tiles are stored already
    assert repeated.body == once.body
    assert elapsed < 5, elapsed  # was about 1.4 s for the direct layer on an idle machine, 0.02 s now


def test_layer_named_alone_and_in_its_group_is_drawn_once(make_app, source) -> None:
    app = make_app(wms_config())
    url = getmap("group,coarse_only,group", "0,0,10000000,10000000", "EPSG:3857", size=(256, 256))
    source.reset()
    answer = call(app, url)
    assert answer.status == 200
    assert source.count("wms") == 1  # coarse_only; fine_only draws nothing at this scale


def test_max_layers_caps_distinct_layers(make_app, source) -> None:
    app = make_app(wms_config(max_layers=2))
    bbox = "0,0,1000000,1000000"
    source.reset()
    ok = call(app, getmap("direct,cached,direct,cached", bbox, "EPSG:3857", size=(64, 64)))
    assert ok.status == 200 and ok.content_type == "image/png"  # two distinct layers
    source.reset()
    refused = call(app, getmap("direct,cached,coarse_only", bbox, "EPSG:3857", size=(64, 64)))
    # a WMS exception, with HTTP 500 as every WMS exception of tileproxy and MapProxy
    assert refused.status == 500
    doc = etree.fromstring(refused.body)
    exc = doc.find("ServiceException")
    assert exc.get("code") == "InvalidParameterValue"
    assert exc.text == "too many layers in LAYERS: 3 (at most 2)"
    assert source.count("wms") == 0
    # GetFeatureInfo: LAYERS and QUERY_LAYERS alike
    info = ("/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetFeatureInfo&STYLES=&SRS=EPSG:3857"
            "&BBOX=0,0,1000,1000&WIDTH=10&HEIGHT=10&X=5&Y=5&INFO_FORMAT=text/plain")
    for layers, query_layers in (("direct,cached,coarse_only", "direct"), ("direct", "direct,cached,coarse_only")):
        answer = call(app, f"{info}&LAYERS={layers}&QUERY_LAYERS={query_layers}")
        assert answer.status == 500 and b"too many layers in" in answer.body and b"(at most 2)" in answer.body


def test_max_layers_default_is_50(make_app, source) -> None:
    app = make_app(wms_config())
    names = ",".join(f"layer{i}" for i in range(51))
    answer = call(app, getmap(names, "0,0,1,1", "EPSG:3857", size=(8, 8)))
    assert answer.status == 500 and b"too many layers in LAYERS: 51 (at most 50)" in answer.body
    # up to 50 names it is the first unknown layer that is wrong
    answer = call(app, getmap(",".join(f"layer{i}" for i in range(50)), "0,0,1,1", "EPSG:3857", size=(8, 8)))
    assert b"unknown layer: layer0" in answer.body


@pytest.mark.parametrize("value", ["0", "-3"])
def test_max_layers_below_one_is_a_config_error(tmp_path, value) -> None:
    path = tmp_path / "mapproxy.yaml"
    write_config(path, wms_config(max_layers=int(value)), "http://127.0.0.1:9")
    with pytest.raises(ConfigError) as info:
        load_proxy_config(path)
    assert "services.wms.max_layers" in str(info.value)


# -- numbers of any length in tile URLs -----------------------------------------

HUGE = "9" * 5000  # more than the 4,300 digits int() converts


def _tile_urls(z: str, x: str, y: str) -> list[tuple[str, int]]:
    """Every tile URL form with these coordinates, and the status other bad numbers get."""
    wmts_kvp = ("/service?SERVICE=WMTS&VERSION=1.0.0&LAYER=map&STYLE=default&TILEMATRIXSET=GLOBAL_WEBMERCATOR"
                f"&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}")
    return [
        (f"/tms/1.0.0/map/EPSG3857/{z}/{x}/{y}.png", 404),
        (f"/tms/1.0.0/map_EPSG3857/{z}/{x}/{y}.png", 404),
        (f"/tms/1.0.0/map/{z}/{x}/{y}.png", 404),
        (f"/tiles/map/EPSG3857/{z}/{x}/{y}.png", 404),
        (f"/tiles/1.0.0/map_EPSG3857/{z}/{x}/{y}.png?origin=nw", 404),
        (f"/kml/map/EPSG3857/{z}/{x}/{y}.kml", 404),
        (f"/kml/map/EPSG3857/{z}/{x}/{y}.png", 404),
        (f"/wmts/map/GLOBAL_WEBMERCATOR/{z}/{x}/{y}.png", 400),
        (f"/wmts/map/GLOBAL_WEBMERCATOR/{z}/{x}/{y}/1/1.text", 400),
        (f"{wmts_kvp}&REQUEST=GetTile&FORMAT=image/png", 400),
        (f"{wmts_kvp}&REQUEST=GetFeatureInfo&I=1&J=1&INFOFORMAT=text/plain", 400),
    ]


HUGE_URLS = [case for i in range(3) for case in _tile_urls(*[HUGE if j == i else "1" for j in range(3)])]


@pytest.fixture(scope="module")
def tile_app(tmp_path_factory, _source_server):
    from tileproxy.wsgi import make_wsgi_app

    root = tmp_path_factory.mktemp("hostile")
    write_config(root / "mapproxy.yaml", TILE_CONFIG, _source_server.url)
    app = make_wsgi_app(root / "mapproxy.yaml")
    assert call(app, "/tms/1.0.0/map/EPSG3857/1/1/1.png").status == 200  # stored: the fast path answers it
    return app


@pytest.mark.parametrize(("url", "status"), HUGE_URLS, ids=lambda v: v.replace(HUGE, "N")[:60] if isinstance(v, str) else None)
def test_huge_numbers_in_tile_urls(tile_app, url, status) -> None:
    """Was: TMS and WMTS REST raised ValueError from int() in the fast path, outside
    the error handling: a traceback and no answer."""
    for method in ("GET", "HEAD"):  # HEAD skips the fast path
        answer = call(tile_app, url, method=method)
        assert answer.status == status, (method, answer.body[:300])
        assert NOSNIFF in answer.header_list
    answer = call(tile_app, url)
    assert len(answer.body) < 1000 and b"Traceback" not in answer.body
    if "xml" in answer.content_type:
        etree.fromstring(answer.body)


@pytest.mark.parametrize("number", ["-" + HUGE, "+" + HUGE, "1" + "0" * 30, " 1", HUGE + "x"])
def test_long_numbers_in_wmts_are_outside_or_invalid(tile_app, number) -> None:
    """An integer of any length is outside the matrix; only what is no integer is invalid."""
    base = "/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=map&STYLE=default&FORMAT=image/png" \
           "&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILECOL=0&TILEROW="
    answer = call(tile_app, base + number.replace("+", "%2B").replace(" ", "%20"))
    if number == " 1":  # int() reads it, short as it is
        assert answer.status == 200
        return
    assert answer.status == 400
    code = etree.fromstring(answer.body).find("{http://www.opengis.net/ows/1.1}Exception").get("exceptionCode")
    assert code == ("InvalidParameterValue" if number.endswith("x") else "TileOutOfRange")


def test_huge_numbers_through_a_real_server(tile_app, serve) -> None:
    base = serve(tile_app)
    for url in (f"/tms/1.0.0/map/EPSG3857/1/{HUGE}/0.png", f"/wmts/map/GLOBAL_WEBMERCATOR/1/0/{HUGE}.png"):
        answer = fetch(base + url)
        assert answer.status in (400, 404), answer
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


# -- reflected input --------------------------------------------------------------

SCRIPT = "<script>alert(1)<"  # no '/' so that it stays one path segment


@pytest.mark.parametrize("url", [
    f"/tiles/{SCRIPT}/EPSG3857/1/0/0.png",
    f"/tiles/{SCRIPT}" + "x" * 5000 + "/EPSG3857/1/0/0.png",
    f"/kml/{SCRIPT}/EPSG3857/1/0/0.kml",
    f"/kml/{SCRIPT}" + "x" * 5000 + "/EPSG3857/1/0/0.kml",
    f"/kml/{SCRIPT}",
    f"/tms/1.0.0/{SCRIPT}/EPSG3857/1/0/0.png",
    f"/wmts/{SCRIPT}/GLOBAL_WEBMERCATOR/1/0/0.png",
    f"/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={SCRIPT}&STYLE=&FORMAT=image/png"
    "&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=0&TILECOL=0",
    f"/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS={SCRIPT}&STYLES=&SRS=EPSG:3857"
    "&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&FORMAT=image/png",
])
def test_unknown_layer_names_are_quoted_short_and_escaped(tile_app, url) -> None:
    """Was: /tiles/<script>... and /kml/<payload>... echoed the input whole in
    text/plain 404s without nosniff."""
    answer = call(tile_app, url)
    assert 400 <= answer.status < 600 and NOSNIFF in answer.header_list
    text = answer.body.decode("utf-8")
    assert "unknown layer: " in text and "alert(1)" in text  # MapProxy's message, naming the layer
    assert len(answer.body) < 1200
    if answer.content_type.startswith("text/plain"):
        assert text.startswith("unknown layer: <script>alert(1)<")
    else:  # markup: escaped
        assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;" in text
        etree.fromstring(answer.body)


@pytest.mark.parametrize("url", [
    "/tiles/map/EPSG3857/1/0/0.{}",
    "/tms/1.0.0/map/EPSG3857/1/0/0.{}",
    "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=map&STYLES=&SRS=EPSG:3857"
    "&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&FORMAT=image/{}",
    "/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=map&STYLES=&CRS=EPSG:3857"
    "&BBOX={},0,1,1&WIDTH=1&HEIGHT=1&FORMAT=image/png",
    "/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=map&STYLE=&FORMAT=image/{}"
    "&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=0&TILECOL=0",
    "/service?SERVICE={}",
])
def test_long_input_is_cut_in_error_messages(tile_app, url) -> None:
    long_value = "q" * 20000
    answer = call(tile_app, url.format(long_value))
    assert 400 <= answer.status < 600 and NOSNIFF in answer.header_list
    text = answer.body.decode("utf-8")
    assert len(answer.body) < 1500 and "q" * 60 in text and "q" * 81 not in text and "q..." in text


def test_every_answer_says_nosniff(tile_app) -> None:
    for url in ("/tms/1.0.0/map/EPSG3857/1/1/1.png", "/tms/1.0.0/", "/wmts/1.0.0/WMTSCapabilities.xml", "/nope"):
        assert NOSNIFF in call(tile_app, url).header_list, url



def test_demo_static_name_too_long_is_not_found(make_app, source) -> None:
    """Was: a static file name longer than the file system allows raised OSError: a 500."""
    app = make_app({**TILE_CONFIG, "services": {"demo": None, **TILE_CONFIG["services"]}})
    for name in ("x" * 300 + ".css", "y" * 5000 + ".js"):
        answer = call(app, "/demo/static/" + name)
        assert answer.status == 404 and NOSNIFF in answer.header_list
    assert call(app, "/demo/static/viewer.js").status == 200
