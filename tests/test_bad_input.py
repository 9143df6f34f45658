"""Bad requests and failing sources: clear 4xx/5xx answers in the protocol's error
format, never a 500 or a traceback, nothing read or written outside the cache."""

from __future__ import annotations

import time

import pytest
from lxml import etree
from support.configs import cache, layer, wms_source
from support.wsgi import call

OWS = "{http://www.opengis.net/ows/1.1}"

CONFIG = {
    "services": {"tms": None, "wmts": None},
    "layers": [layer("map", "Map", "map_cache"), layer("tiles", "Tiles", "tile_cache")],
    "caches": {
        "map_cache": cache("wms", meta_size=(2, 2)),
        "tile_cache": cache("tile_server", meta_size=None),
    },
    "sources": {
        "wms": wms_source(),
        "tile_server": {
            "type": "tile",
            "grid": "GLOBAL_WEBMERCATOR",
            "url": "{source}/tiles/%(z)s/%(x)s/%(y)s.png",
        },
    },
    "globals": {"http": {"client_timeout": 1.5}, "cache": {"base_dir": "./cache_data"}},
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def files(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def ows_exception(answer, status: int, code: str, locator: str | None = None) -> str:
    assert answer.status == status, answer.body
    assert answer.content_type.startswith("text/xml")
    doc = etree.fromstring(answer.body)
    assert doc.tag == OWS + "ExceptionReport"
    exc = doc.find(OWS + "Exception")
    assert exc.get("exceptionCode") == code
    if locator is not None:
        assert exc.get("locator") == locator
    return exc.findtext(OWS + "ExceptionText")


KVP = "/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=map&STYLE=default&FORMAT=image/png"


@pytest.mark.parametrize(
    ("query", "status", "code", "locator"),
    [
        ("&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=0&TILECOL=2", 400, "TileOutOfRange", "tilecol"),
        ("&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=2&TILECOL=0", 400, "TileOutOfRange", "tilerow"),
        ("&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=20&TILEROW=0&TILECOL=0", 400, "TileOutOfRange", "tilematrix"),
        ("&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=-1&TILECOL=0", 400, "TileOutOfRange", "tilerow"),
        ("&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=abc&TILECOL=0", 400, "InvalidParameterValue", None),
        ("&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=0.5&TILECOL=0", 400, "InvalidParameterValue", None),
        ("&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=99999999999999999999999&TILECOL=0", 400, "TileOutOfRange", None),
        ("&TILEMATRIXSET=nogrid&TILEMATRIX=1&TILEROW=0&TILECOL=0", 400, "InvalidParameterValue", "tilematrixset"),
        ("&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=0", 400, "MissingParameterValue", "tilecol"),
    ],
)
def test_wmts_kvp_bad_tiles(app, source, query, status, code, locator) -> None:
    ows_exception(call(app, KVP + query), status, code, locator)
    assert source.count("wms") == 0


def test_wmts_kvp_malformed(app) -> None:
    ows_exception(call(app, "/service?SERVICE=WMTS"), 400, "MissingParameterValue", "request")
    ows_exception(call(app, "/service?SERVICE=WMTS&REQUEST=GetSomething"), 400, "OperationNotSupported", "request")
    ows_exception(call(app, "/service?REQUEST=GetTile"), 400, "MissingParameterValue", "service")
    ows_exception(call(app, "/service?SERVICE=XYZ&REQUEST=GetTile"), 400, "InvalidParameterValue", "service")
    text = ows_exception(call(app, KVP.replace("LAYER=map", "LAYER=nolayer") + "&TILEMATRIXSET=GLOBAL_WEBMERCATOR"
                              "&TILEMATRIX=0&TILEROW=0&TILECOL=0"), 400, "InvalidParameterValue", "layer")
    assert "nolayer" in text
    for fmt in ("image/gif", "image/", "xyz", "image/x-unknown"):
        ows_exception(call(app, KVP.replace("image/png", fmt) + "&TILEMATRIXSET=GLOBAL_WEBMERCATOR"
                           "&TILEMATRIX=0&TILEROW=0&TILECOL=0"), 400, "InvalidParameterValue", "format")
    ows_exception(call(app, KVP.replace("1.0.0", "2.0.0") + "&TILEMATRIXSET=GLOBAL_WEBMERCATOR"
                       "&TILEMATRIX=0&TILEROW=0&TILECOL=0"), 400, "VersionNegotiationFailed", "version")
    # percent-escapes and odd characters in values do not break the parser
    ows_exception(call(app, "/service?SERVICE=WMTS&REQUEST=GetTile&LAYER=%ZZ%00&TILEMATRIXSET=a&TILEMATRIX=0"
                       "&TILEROW=0&TILECOL=0&FORMAT=image/png"), 400, "InvalidParameterValue", "layer")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/wmts/map/GLOBAL_WEBMERCATOR/1/2/0.png", "TileOutOfRange"),
        ("/wmts/map/GLOBAL_WEBMERCATOR/1/-1/0.png", "TileOutOfRange"),
        ("/wmts/map/GLOBAL_WEBMERCATOR/30/0/0.png", "TileOutOfRange"),
        ("/wmts/map/GLOBAL_WEBMERCATOR/1/a/0.png", "InvalidParameterValue"),
        ("/wmts/map/nogrid/1/0/0.png", "InvalidParameterValue"),
        ("/wmts/nolayer/GLOBAL_WEBMERCATOR/1/0/0.png", "InvalidParameterValue"),
        ("/wmts/map/GLOBAL_WEBMERCATOR/1/0/0.gif", "InvalidParameterValue"),
        ("/wmts/map/GLOBAL_WEBMERCATOR/1/0/0.xyz", "InvalidParameterValue"),
    ],
)
def test_wmts_rest_bad_tiles(app, source, path, code) -> None:
    # as in MapProxy: a bad value in a URL of the template is a 400; a URL off the template a 404
    ows_exception(call(app, path), 404 if "/a/" in path else 400, code)
    assert source.count("wms") == 0


@pytest.mark.parametrize(
    "path",
    [
        "/tms/1.0.0/map/EPSG3857/0/2/0.png",  # outside the grid
        "/tms/1.0.0/map/EPSG3857/19/0/0.png",  # beyond the last level
        "/tms/1.0.0/map/EPSG3857/0/-1/0.png",
        "/tms/1.0.0/map/EPSG3857/0/x/0.png",
        "/tms/1.0.0/map/EPSG3857/0/0/0",
        "/tms/1.0.0/map/EPSG3857/0/0/0.gif",
        "/tms/1.0.0/map/EPSG3857/0/0/0.xyz",
        "/tms/1.0.0/map/EPSG3857/0/0/0.",
        "/tms/1.0.0/map/EPSG3857/0/0/0/1.png",
        "/tms/1.0.0/map/EPSG3857/99999999999999999999/0/0.png",
        "/tms/1.0.0/nolayer/EPSG3857/0/0/0.png",
        "/tms/1.0.0/map/EPSG4326/0/0/0.png",
        "/tms/2.0.0/",
    ],
)
def test_tms_bad_tiles(app, source, path) -> None:
    answer = call(app, path)
    assert answer.status == 404, (path, answer.body)
    doc = etree.fromstring(answer.body)
    assert doc.tag == "TileMapServerError" and doc.findtext("Message")
    assert source.count("wms") == 0


@pytest.mark.parametrize(
    "path",
    ["/tiles/map/EPSG3857/1/2/0.png", "/tiles/map/EPSG3857/-1/0/0.png", "/tiles/map/EPSG3857/1/0",
     "/tiles/map/EPSG3857/1/0/0.xyz", "/tiles/nolayer/EPSG3857/1/0/0.png", "/tiles/map"],
)
def test_tiles_service_bad_tiles(app, source, path) -> None:
    answer = call(app, path)
    assert 400 <= answer.status < 500, (path, answer.status)
    assert answer.content_type.startswith("text/plain")
    assert source.count("wms") == 0


TRICKS = [
    "/tms/1.0.0/../../secret.png",
    "/tms/1.0.0/map/EPSG3857/0/0/..%2F..%2F..%2F..%2Fsecret.png",
    "/tms/1.0.0/map/EPSG3857/%2e%2e/%2e%2e/secret.png",
    "/tms/1.0.0/map%2F..%2F..%2F/EPSG3857/0/0/0.png",
    "/tms/1.0.0/map/EPSG3857/0/0/0.png%00.txt",
    "/tms/1.0.0/map\\..\\..\\secret/EPSG3857/0/0/0.png",
    "/tiles/map/EPSG3857/0/0/..%5c..%5csecret.png",
    "/tiles/..%2F..%2Fsecret.png/EPSG3857/0/0/0.png",
    "/wmts/map/GLOBAL_WEBMERCATOR/0/0/..%2F..%2Fsecret.png",
    "/wmts/%2e%2e/%2e%2e/secret.png/GLOBAL_WEBMERCATOR/0/0/0.png",
    "/wmts/map/..%2F..%2Fcache_data/0/0/0.png",
    "/wmts/map/GLOBAL_WEBMERCATOR/0/0/0.png%00",
    "/wmts/1.0.0/..%2F..%2Fsecret.png",
    "/demo/..%2F..%2Fsecret.png",
    "/%2e%2e/%2e%2e/secret.png",
    "/service/../../secret.png?SERVICE=WMTS",
]


@pytest.mark.parametrize("path", TRICKS)
def test_path_tricks_touch_no_files(app, source, tmp_path, path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nSECRET-CONTENT")
    before = files(tmp_path)
    answer = call(app, path)
    assert 400 <= answer.status < 500, (path, answer.status, answer.body)
    assert b"SECRET-CONTENT" not in answer.body
    assert b"Traceback" not in answer.body
    assert files(tmp_path) == before
    assert source.count("wms") == 0


SOURCE_FAILURES = [
    ("hang", 504, "timeout"),
    ("error", 500, "HTTP 500"),
    ("notfound", 500, "HTTP 404"),
    ("html", 500, "not an image"),
    ("truncated", 500, "truncated"),
    ("exception", 500, "service exception"),
    ("wrongsize", 500, "10x10 pixels, expected"),
]


@pytest.mark.parametrize(("mode", "status", "reason"), SOURCE_FAILURES)
def test_wms_source_failures(app, source, tmp_path, mode, status, reason) -> None:
    source.reset(mode)
    start = time.monotonic()
    rest = call(app, "/wmts/map/GLOBAL_WEBMERCATOR/2/1/1.png")
    assert time.monotonic() - start < 5
    assert reason in ows_exception(rest, status, "NoApplicableCode")
    tms = call(app, "/tms/1.0.0/map/EPSG3857/1/1/1.png")
    assert tms.status == status and reason in etree.fromstring(tms.body).findtext("Message")
    tiles = call(app, "/tiles/map/EPSG3857/2/1/1.png")
    assert tiles.status == status and reason in tiles.text
    # no client or proxy keeps a tile error: the next request may succeed
    for answer in (rest, tms, tiles):
        assert answer.headers["Pragma"] == "no-cache" and "no-store" in answer.headers["Cache-Control"]
    assert not [p for p in (tmp_path / "cache_data").rglob("*") if p.is_file()]
    # the source recovers: the tile is created and cached
    source.reset("ok")
    assert call(app, "/wmts/map/GLOBAL_WEBMERCATOR/2/1/1.png").status == 200
    assert len([p for p in (tmp_path / "cache_data").rglob("*.png")]) == 4


# a tile source's tiles pass through unchanged, once they are whole tiles of the grid's tile size
@pytest.mark.parametrize(("mode", "status", "reason"), [f for f in SOURCE_FAILURES if f[0] != "exception"])
def test_tile_source_failures(app, source, tmp_path, mode, status, reason) -> None:
    source.reset(mode)
    answer = call(app, "/wmts/tiles/GLOBAL_WEBMERCATOR/3/1/1.png")
    assert reason in ows_exception(answer, status, "NoApplicableCode")
    assert not [p for p in (tmp_path / "cache_data").rglob("*") if p.is_file()]
