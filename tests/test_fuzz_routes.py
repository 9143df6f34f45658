"""Property-style fuzzing of every route (WMS, WMTS KVP and RESTful, TMS, /tiles,
KML, demo): generated bad (and good) requests against a rich configuration never
get an internal error (a 500 is an OGC exception document or names a failing
source), a traceback, a response without a Content-Type or without
``X-Content-Type-Options: nosniff``, malformed XML, a header with control
characters, markup from the request unescaped or long input quoted whole, and
write no file outside the cache directory.

Bounded and reproducible: hypothesis runs derandomized with a fixed number of
examples (``TILEPROXY_FUZZ_EXAMPLES`` raises it for a longer local run)."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.configs import cache, layer, wms_source, write_config
from support.wms import DIMENSIONS
from support.wsgi import Answer, call

EXAMPLES = int(os.environ.get("TILEPROXY_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=not os.environ.get("TILEPROXY_FUZZ_RANDOM"), deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

CONFIG = {
    "services": {
        "demo": None,
        "kml": None,
        "tms": None,
        "wmts": {"kvp": True, "restful": True},
        "wms": {
            "srs": ["EPSG:3857", "EPSG:4326", "EPSG:900913", "EPSG:25832", "CRS:84"],
            "versions": ["1.0.0", "1.1.0", "1.1.1", "1.3.0"],
            "featureinfo_types": ["text", "html", "xml", "json"],
            "md": {"title": "Fuzz"},
        },
    },
    "layers": [
        {
            "title": "Root group without name",
            "layers": [
                {
                    "name": "map",
                    "title": "Map from WMS",
                    "sources": ["map_cache"],
                    "legendurl": "{source}/wms?REQUEST=GetLegendGraphic&LAYER=map",
                },
                {"name": "tiles", "title": "Tiles in MBTiles", "sources": ["tile_cache"]},
                {"name": "shared", "title": "Same cache as map", "sources": ["map_cache"]},
                {"name": "dup", "title": "First dup", "sources": ["debug_cache"]},
                {"name": "dup", "title": "Second dup", "sources": ["map_cache"]},
                {"name": "direct", "title": "Uncached WMS", "sources": ["wms"]},
                {"name": "down", "title": "Source down", "sources": ["down_cache"]},
                {"name": "onerr", "title": "on_error tiles", "sources": ["onerr_cache"]},
                {"name": "straße", "title": "Ünïcødé <&> title", "sources": ["debug_cache"]},
                {**layer("timed", "With dimensions", "timed_wms"), "dimensions": DIMENSIONS},
                {
                    "name": "grp",
                    "title": "Group",
                    "layers": [
                        {"name": "g1", "title": "G1", "sources": ["debug_cache"]},
                        {"title": "nameless", "sources": ["debug_cache"]},
                    ],
                },
            ],
        },
    ],
    "caches": {
        "map_cache": {
            "grids": ["GLOBAL_WEBMERCATOR", "GLOBAL_GEODETIC"],
            "sources": ["wms"],
            "meta_size": [2, 2],
            "meta_buffer": 0,
        },
        "tile_cache": cache(
            "tile_server",
            meta_size=None,
            cache={"type": "mbtiles", "filename": "tiles.mbtiles"},
        ),
        "debug_cache": cache("dbg", meta_size=None, format="image/jpeg"),
        "down_cache": cache("down", meta_size=None),
        "onerr_cache": cache("down_onerr", meta_size=None),
    },
    "sources": {
        "wms": wms_source(wms_opts={"featureinfo": True, "legendgraphic": True}),
        "tile_server": {
            "type": "tile",
            "grid": "GLOBAL_WEBMERCATOR",
            "url": "{source}/tiles/%(z)s/%(x)s/%(y)s.png",
        },
        "timed_wms": wms_source(forward_req_params=["time", "elevation"]),
        "dbg": {"type": "debug"},
        "down": {
            "type": "wms",
            "req": {"url": "http://127.0.0.1:9/wms", "layers": "x"},
            "wms_opts": {"featureinfo": True},
        },
        "down_onerr": {
            "type": "tile",
            "grid": "GLOBAL_WEBMERCATOR",
            "url": "http://127.0.0.1:9/%(z)s/%(x)s/%(y)s.png",
            "on_error": {"other": {"response": "transparent", "cache": False}},
        },
    },
    "globals": {"http": {"client_timeout": 0.5}, "cache": {"base_dir": "./cache_data"}},
}

# a tag no answer may carry unescaped in markup, wherever the request puts it
MARKUP = "<fz a='1'>\"&"
LAYERS = ["map", "tiles", "timed", "timed,map", "straße", "stra%C3%9Fe", "stra%DFe", "shared", "dup", "direct", "down", "onerr", "g1", "grp", "nameless", "", "nope",
          "map,tiles", "map,,", "Ünïcødé", "<b>&'\"", "a" * 300, MARKUP, ",".join(["direct"] * 430), ",".join(["map", "shared"] * 200),
          "grp,g1,grp", ",".join(f"l{i}" for i in range(60)), "direct," + "x" * 4000]
GRIDS = ["GLOBAL_WEBMERCATOR", "GLOBAL_GEODETIC", "EPSG3857", "EPSG900913", "EPSG4326", "nogrid", ""]
# characters and strings known to trip parsers; mixed with generated text
NASTY = [MARKUP, "", " ", "%", "%ff", "%zz", "%00", "%0d%0a", "\r\nX-Evil: 1", "..", "../..", "\\", "\x00", "\x01",
         "\x7f", "\ufffe", "\ud800", "é", "日本", "😀", "-1", "0", "1", "1e309", "nan", "inf", "-inf",
         "99999999999999999999", "0x10", "1.5", ",", ",,,", "1,2,3", "1,2,3,4", "-180,-90,180,90",
         "0,0,0,0", "a=b", "&", "=", "<x>", "]]>", "'\"", "true", "TRUE", "false", "image/png",
         "image/jpeg", "image/gif", "png", "text/html", "application/json", "text/xml", "EPSG:4326",
         "EPSG:3857", "CRS:84", "EPSG:25832", "EPSG:0", "EPSG:abc", "x" * 5000, "9" * 5000,
         "%b2", "%b9", "%e9", "%c0%af", "%ed%a0%80", "\u00b2", "\u0663", "1_0", " 1 ", "x\r\nSet-Cookie: a/xml",
         "text/xml\r\nX: 1", "2020-01-02", "2020-01-02T00:00:00Z", "500", "current", "application/json; subtype=geojson", "-1e308,-1e308,1e308,1e308", "1e-300"]
PARAMS = ["SERVICE", "REQUEST", "VERSION", "WMTVER", "LAYERS", "LAYER", "QUERY_LAYERS", "STYLES", "STYLE",
          "SRS", "CRS", "BBOX", "WIDTH", "HEIGHT", "FORMAT", "INFO_FORMAT", "TRANSPARENT", "BGCOLOR",
          "EXCEPTIONS", "TILED", "X", "Y", "I", "J", "FEATURE_COUNT", "SCALE", "SLD_VERSION",
          "TILEMATRIXSET", "TILEMATRIX", "TILEROW", "TILECOL", "INFOFORMAT", "TIME", "ELEVATION",
          "origin", "grid", "srs", "wmts_layer", "tms_layer", "wms_layer", "wms_capabilities", "wmts_capabilities", "tms_capabilities",
          "type", "layer", "format", "service", "request", "version"]

# well-formed requests that the mutations start from
SEEDS = [
    "/", "/demo", "/demo/", "/demo/static/viewer.js", "/demo/static/demo.css",
    "/demo/?wmts_layer=map&grid=GLOBAL_WEBMERCATOR", "/demo/?tms_layer=tiles&srs=EPSG:3857",
    "/demo/?wmts_capabilities&type=kvp", "/demo/?wms_capabilities", "/demo/?wms_layer=map&srs=EPSG:25832",
    "/demo/?wms_layer=grp&srs=EPSG:4326&format=image/jpeg", "/demo/?wms_layer=stra%C3%9Fe&srs=CRS:84", "/demo/?tms_capabilities&layer=map&grid=GLOBAL_GEODETIC",
    "/tms", "/tms/1.0.0/", "/tms/1.0.0/map/EPSG3857", "/tms/1.0.0/map/EPSG3857/1/0/0.png",
    "/tms/1.0.0/tiles_EPSG3857/1/1/1.png", "/tms/1.0.0/dup/EPSG3857/0/0/0.jpeg",
    "/tiles/map/EPSG3857/1/0/0.png?origin=nw", "/tiles/g1/1/0/0.jpeg",
    "/kml/map/EPSG3857", "/kml/map_EPSG3857", "/kml/stra%C3%9Fe/EPSG3857/1/0/0.kml",
    "/tms/1.0.0/stra%C3%9Fe/EPSG3857/1/0/0.jpeg", "/wmts/stra%C3%9Fe/GLOBAL_WEBMERCATOR/1/0/0.jpeg",
    "/demo/?wmts_layer=stra%C3%9Fe", "/service?REQUEST=GetLegendGraphic&SERVICE=WMS&LAYER=stra%C3%9Fe&VERSION=1.1.1",
    "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=stra%C3%9Fe,tiles&STYLES=&SRS=EPSG:4326"
    "&BBOX=0,0,90,90&WIDTH=64&HEIGHT=64&FORMAT=image/png",
    "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=tiles&STYLES=&SRS=EPSG:3857"
    "&BBOX=0,0,20037508.342789244,20037508.342789244&WIDTH=256&HEIGHT=256&FORMAT=image/png&TILED=true",
    "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=dup&STYLES=&SRS=EPSG:4326"
    "&BBOX=-180,-90,0,90&WIDTH=256&HEIGHT=256&FORMAT=image/png&TILED=true", "/kml/map/EPSG3857/1/0/0.kml", "/kml/tiles/EPSG3857/1/1/1.png",
    "/wmts/1.0.0/WMTSCapabilities.xml", "/wmts/map/GLOBAL_WEBMERCATOR/1/0/0.png",
    "/wmts/tiles/GLOBAL_WEBMERCATOR/2/1/1.png", "/wmts/onerr/GLOBAL_WEBMERCATOR/1/0/0.png",
    "/service?SERVICE=WMTS&REQUEST=GetCapabilities",
    "/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=map&STYLE=default&FORMAT=image/png"
    "&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=0&TILECOL=1",
    "/service?SERVICE=WMTS&REQUEST=GetFeatureInfo&VERSION=1.0.0&LAYER=map&STYLE=default&FORMAT=image/png"
    "&TILEMATRIXSET=GLOBAL_WEBMERCATOR&TILEMATRIX=1&TILEROW=0&TILECOL=1&I=1&J=1&INFOFORMAT=application/json",
    "/service?SERVICE=WMS&REQUEST=GetCapabilities", "/wms?SERVICE=WMS&REQUEST=GetCapabilities&tiled=true",
    "/ows?WMTVER=1.0.0&REQUEST=capabilities",
    "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=map&STYLES=&SRS=EPSG:3857"
    "&BBOX=-20037508,-20037508,20037508,20037508&WIDTH=64&HEIGHT=64&FORMAT=image/png",
    "/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=direct,g1&STYLES=&CRS=EPSG:4326"
    "&BBOX=-90,-180,90,180&WIDTH=40&HEIGHT=20&FORMAT=image/jpeg&EXCEPTIONS=INIMAGE",
    "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=map&STYLES=&SRS=EPSG:900913"
    "&BBOX=-20037508.342789244,-20037508.342789244,0,0&WIDTH=256&HEIGHT=256&FORMAT=image/png&tiled=true",
    "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetFeatureInfo&LAYERS=map&QUERY_LAYERS=map,direct&STYLES="
    "&SRS=EPSG:3857&BBOX=-1000,-1000,1000,1000&WIDTH=10&HEIGHT=10&X=5&Y=5&INFO_FORMAT=text/html",
    "/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=map&FORMAT=image/png",
    "/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=timed&STYLES=&CRS=CRS:84&BBOX=-180,-90,180,90"
    "&WIDTH=32&HEIGHT=16&FORMAT=image/png&TIME=2020-01-02&ELEVATION=500",
    "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=down&STYLES=&SRS=EPSG:3857"
    "&BBOX=0,0,1000000,1000000&WIDTH=32&HEIGHT=32&FORMAT=image/png&EXCEPTIONS=application/vnd.ogc.se_blank",
]

# almost numbers, percent-encoded as in a URL path ('²' and '٣' are digits to str.isdigit)
NUMBERS = ["%C2%B2", "%D9%A3", "%C2%B9", "%EF%BC%91", "%B2", "-1", "+1", "1_0", "%201", "0x1", "1e3", "01",
           "9" * 5000, "99999999999999999999", "%00", ""]

HEADERS = ["X-Forwarded-Host", "X-Forwarded-Proto", "X-Script-Name", "Host", "If-None-Match",
           "If-Modified-Since", "Accept", "Accept-Encoding", "Range", "Cookie"]
HEADER_VALUES = ["", "example.org", "example.org:8080, other", "https", "/prefix", "/prefix/", "/tms",
                 "*", '"abc", W/"def"', "W/", '"', "Sun, 06 Nov 1994 08:49:37 GMT", "yesterday",
                 "Mon, 99 Foo 9999 99:99:99 GMT", "Sun, 06 Nov 99999999999 08:49:37 GMT",
                 "1 Jan 10000 00:00:00 GMT", "06 Nov 1994 08:49:37 +9999", "-1", "0", "evil.org\r\nSet-Cookie: x=1",
                 "a\nb", "\x00", "\x7f", "é", "<script>", "'\"><x>"]

text = st.one_of(st.sampled_from(NASTY), st.text(max_size=12), st.integers(-5, 40).map(str))
layer = st.one_of(st.sampled_from(LAYERS), text)
segment = st.one_of(text, layer, st.sampled_from(GRIDS), st.sampled_from(["1.0.0", "static", "1", "0.png", "x.kml"]))


def _q(value: str, safe: str) -> str:
    """Percent-encode as UTF-8; lone surrogates become invalid UTF-8 bytes (fuzz input too)."""
    return quote(value, safe=safe, errors="surrogatepass")


def _escape_query(value: str) -> str:
    """Keep raw percent-escapes (``%ff``, ``%zz``) as they are, quote the rest."""
    return _q(value, "%,:/=&") if value.startswith("%") else _q(value, ",:/")


@st.composite
def query_string(draw) -> str:
    pairs = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.one_of(st.sampled_from(PARAMS), st.sampled_from(PARAMS).map(str.lower), text))
        value = draw(st.one_of(text, layer, st.sampled_from(GRIDS)))
        pairs.append(f"{_escape_query(name)}={_escape_query(value)}")
    raw = draw(st.sampled_from(["", "&", "&&", "=", "%ff=%ff", "a=%", "&=x", ";", "a=1;b=2", "&x=1" * 2000,
                                "&LAYERS=map" * 300, "&" + "%41" * 20000]))
    return "&".join(pairs) + raw


@st.composite
def mutated_url(draw) -> str:
    url = draw(st.sampled_from(SEEDS))
    path, _, query = url.partition("?")
    parts = path.split("/")
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["number", "replace", "insert", "number", "drop", "long"]))
        pos = draw(st.integers(1, max(1, len(parts) - 1))) if len(parts) > 1 else 1
        if how == "replace" and pos < len(parts):
            parts[pos] = _q(draw(segment), "%")
        elif how == "insert":
            parts.insert(pos, _q(draw(segment), "%"))
        elif how == "drop" and pos < len(parts) and len(parts) > 2:
            del parts[pos]
        elif how == "number":  # a tile coordinate that is almost a number
            digits = [i for i, p in enumerate(parts) if p.partition(".")[0].isdigit()]
            if digits:
                i = draw(st.sampled_from(digits))
                head, dot, ext = parts[i].partition(".")
                parts[i] = draw(st.sampled_from(NUMBERS)) + dot + ext
        elif how == "long":
            parts.insert(pos, "a" * draw(st.sampled_from([255, 4096, 20000])))
    path = "/".join(parts) or "/"
    if query:  # change, drop, repeat parameters
        pairs = query.split("&")
        for _ in range(draw(st.integers(0, 3))):
            i = draw(st.integers(0, len(pairs) - 1))
            how = draw(st.sampled_from(["value", "drop", "repeat", "case"]))
            name, _, _ = pairs[i].partition("=")
            if how == "value":
                pairs[i] = f"{name}={_escape_query(draw(st.one_of(text, layer)))}"
            elif how == "drop" and len(pairs) > 1:
                del pairs[i]
            elif how == "repeat":
                pairs.append(f"{name}={_escape_query(draw(text))}")
            elif how == "case":
                pairs[i] = pairs[i].swapcase()
        query = "&".join(pairs)
    extra = draw(st.one_of(st.just(""), query_string()))
    query = "&".join(q for q in (query, extra) if q)
    return path + ("?" + query if query else "")


# WSGI servers hand header values over as latin-1 text
latin1 = st.text(st.characters(max_codepoint=255), max_size=20)
request_headers = st.dictionaries(st.sampled_from(HEADERS), st.one_of(st.sampled_from(HEADER_VALUES), latin1),
                                  max_size=3)
methods = st.sampled_from(["GET"] * 6 + ["HEAD", "OPTIONS", "POST", "PUT", "DELETE", "get", "BREW", ""])

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# the long runs of one character that requests carry ('a' * 300, '9' * 5000, ...): error
# answers quote input cut short
LONG_RUN = re.compile(rb"([0-9A-Za-z])\1{150}")
NOSNIFF = ("X-Content-Type-Options", "nosniff")


# what may appear in cache_data: cache directories, the MBTiles file, legends and locks
CACHE_ENTRY = re.compile(r"(map|debug|down|onerr|tile)_cache_EPSG\d+|tiles\.mbtiles(-wal|-shm|-journal)?|legends|tile_locks")


def files_outside_cache(root: Path) -> set[str]:
    """Files outside cache_data, and any entry in cache_data that is no cache's."""
    out = {str(p.relative_to(root)) for p in root.rglob("*") if p.relative_to(root).parts[0] != "cache_data"}
    cache = root / "cache_data"
    if cache.is_dir():
        out |= {"cache_data/" + p.name for p in cache.iterdir() if not CACHE_ENTRY.fullmatch(p.name)}
    return out


def is_wms_exception(body: bytes) -> bool:
    """A WMS service exception document (MapProxy answers them with 500)."""
    return b"<ServiceExceptionReport" in body[:400] or b"<WMTException" in body[:200]


def check_answer(answer: Answer, url: str, method: str, failing: bool = False) -> None:
    """The rules every answer keeps, whatever the request."""
    where = f"{method} {url[:300]!r} -> {answer.status} {answer.body[:300]!r}"
    # a failing source answers 500 as in MapProxy, and so does every WMS XML
    # exception; an internal error never shows
    assert not (answer.status == 500 and answer.body.startswith(b"internal error")), where
    assert 200 <= answer.status < 600, where
    # HEAD answers carry no body: their type tells an exception document from 'internal error'
    exception_doc = is_wms_exception(answer.body) or (method.upper() == "HEAD" and "xml" in answer.content_type)
    if answer.status in (500, 503, 504) and not exception_doc:
        assert failing or "down" in url, where
    assert b"Traceback" not in answer.body, where
    for name, value in answer.header_list:
        assert not CONTROL.search(name) and not CONTROL.search(value), (where, name, value)
    assert NOSNIFF in answer.header_list, where
    ctype = answer.content_type
    if answer.status >= 400 and not ctype.startswith("image/"):
        assert not LONG_RUN.search(answer.body), where
    if "xml" in ctype or "html" in ctype or ctype.startswith("application/vnd.google-earth"):
        assert b"<fz" not in answer.body, where  # escaped wherever it is quoted
    if answer.status not in (204, 304) and not (300 <= answer.status < 400 and not answer.body):
        assert ctype, where
    if answer.body and ("xml" in ctype or ctype.startswith("application/vnd.google-earth")):
        try:
            etree.fromstring(answer.body)
        except etree.XMLSyntaxError as ex:
            raise AssertionError(f"malformed XML ({ex}): {where}") from None
    if method.upper() == "HEAD":
        assert answer.body == b"", where
    else:
        length = dict((k.lower(), v) for k, v in answer.header_list).get("content-length")
        assert length == str(len(answer.body)), where


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, _source_server):
    from tileproxy.wsgi import make_wsgi_app

    root = tmp_path_factory.mktemp("fuzz")
    write_config(root / "mapproxy.yaml", CONFIG, _source_server.url)
    _source_server.reset()
    return make_wsgi_app(root / "mapproxy.yaml"), root


@FUZZ
@given(url=mutated_url(), method=methods, headers=request_headers)
def test_fuzz_routes(fuzz_app, url: str, method: str, headers: dict[str, str]) -> None:
    app, root = fuzz_app
    before = files_outside_cache(root)
    answer = call(app, url, method=method, headers=headers)
    check_answer(answer, url, method)
    assert files_outside_cache(root) == before


SOURCE_MODES = ["error", "notfound", "html", "truncated", "exception", "wrongsize"]


@settings(FUZZ, max_examples=max(20, EXAMPLES // 3))
@given(url=mutated_url(), mode=st.sampled_from(SOURCE_MODES), z=st.integers(0, 18), x=st.integers(0, 2**18),
       y=st.integers(0, 2**18))
def test_fuzz_failing_source(fuzz_app, _source_server, url: str, mode: str, z: int, x: int, y: int) -> None:
    """With the source failing in every way but hanging, answers are 500/504 (or on_error
    tiles), never 500; the new tile coordinates make cache misses likely."""
    app, root = fuzz_app
    url = re.sub(r"/\d+/\d+/\d+\.", f"/{z}/{x % 2 ** z}/{y % 2 ** z}.", url)
    before = files_outside_cache(root)
    _source_server.reset(mode)
    try:
        answer = call(app, url)
    finally:
        _source_server.reset()
    check_answer(answer, url, "GET", failing=True)
    assert files_outside_cache(root) == before


# what a hostile client puts in one place of an otherwise good request: markup to
# be reflected, input too long to quote whole, numbers too long for int()
PAYLOADS = [MARKUP, MARKUP + "x" * 300, "y" * 5000 + MARKUP, "9" * 5000, "-" + "9" * 5000, "1" + "0" * 30,
            MARKUP * 200, "%" + "41" * 3000]


@st.composite
def injected_url(draw) -> str:
    """A good request with one path segment (its extension kept or not) or one
    query value replaced by a payload."""
    path, _, query = draw(st.sampled_from(SEEDS)).partition("?")
    parts = path.split("/")
    pairs = query.split("&") if query else []
    payload = draw(st.sampled_from(PAYLOADS))
    value = payload if payload.startswith("%") else _q(payload, "")
    slot = draw(st.integers(1, max(1, len(parts) - 1 + len(pairs))))
    if slot < len(parts):
        _, dot, ext = parts[slot].partition(".")
        parts[slot] = value + (dot + ext if draw(st.booleans()) else "")
    elif pairs:
        i = slot - len(parts)
        pairs[i] = pairs[i].partition("=")[0] + "=" + value
    return "/".join(parts) + ("?" + "&".join(pairs) if pairs else "")


@settings(FUZZ, max_examples=max(100, EXAMPLES))
@given(url=injected_url(), method=st.sampled_from(["GET", "GET", "HEAD"]))
def test_fuzz_injected_values(fuzz_app, url: str, method: str) -> None:
    """Every route quotes what it refuses cut short and escaped, and reads numbers
    of any length without an internal error."""
    app, root = fuzz_app
    before = files_outside_cache(root)
    answer = call(app, url, method=method)
    check_answer(answer, url, method)
    assert files_outside_cache(root) == before


# -- a real gunicorn under malformed raw HTTP -----------------------------------

RAW_REQUESTS = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data``, half-close, and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close early on what it refuses
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def malformed_request(rng: random.Random) -> bytes:
    """One broken (or oddly built) HTTP request."""
    path = rng.choice(SEEDS).encode()
    kind = rng.randrange(14)
    if kind == 0:  # garbage bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 1:  # bad request lines
        return rng.choice([b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /\r\n\r\n", b" / HTTP/1.1\r\n\r\n",
                           b"GET / HTTP/1.1 extra\r\n\r\n", b"G\x00T / HTTP/1.1\r\n\r\n", b"\r\n\r\n\r\n",
                           b"CONNECT 127.0.0.1:9 HTTP/1.1\r\n\r\n", b"GET http://evil.org/tms HTTP/1.1\r\n\r\n",
                           b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", b"GET //tms/../../etc/passwd HTTP/1.0\r\n\r\n"])
    if kind == 2:  # raw bytes that are no UTF-8 in path and query
        junk = bytes(rng.randrange(128, 256) for _ in range(rng.randrange(1, 20)))
        return b"GET " + path + rng.choice([b"/", b"?LAYERS=", b"&x="]) + junk + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    if kind == 3:  # a huge request line
        return b"GET /" + b"a" * rng.choice([5000, 9000, 100_000]) + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    if kind == 4:  # a huge header or very many headers
        if rng.random() < 0.5:
            return b"GET " + path + b" HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * rng.choice([9000, 200_000]) + b"\r\n\r\n"
        return b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(300)) + b"\r\n"
    if kind == 5:  # headers without colon, folded, with NUL or bare CR
        bad = rng.choice([b"NoColon", b"X-A: 1\r\n  folded", b"X-A: a\x00b", b"X-A: a\rb", b": empty-name",
                          b"X A: space", b"X-Forwarded-Host: a\rSet-Cookie: x"])
        return b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n" + bad + b"\r\n\r\n"
    if kind == 6:  # broken bodies
        return rng.choice([
            b"POST " + path + b" HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\nxyz",
            b"POST " + path + b" HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            b"POST " + path + b" HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nshort",
            b"POST " + path + b" HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbad\r\n",
            b"POST " + path + b" HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            b"PUT " + path + b" HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody",
        ])
    if kind == 7:  # cut off in the middle
        full = b"GET " + path + b" HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n\r\n"
        return full[: rng.randrange(1, len(full))]
    if kind == 8:  # pipelined, the second one broken
        return b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\nGET \xff\xfe HTTP/1.1\r\n\r\n"
    if kind == 9:  # odd methods
        method = rng.choice([b"HEAD", b"OPTIONS", b"TRACE", b"BREW", b"get", b"DELETE", b"X" * 300])
        return method + b" " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    if kind == 10:  # proxy header tricks
        value = rng.choice([b"evil.org\xff", b"a b c", b"<script>", b"\"q\"", b"/../..", b"%0d%0aX: y", b"\t"])
        name = rng.choice([b"X-Forwarded-Host", b"X-Forwarded-Proto", b"X-Script-Name", b"Host"])
        return b"GET /demo HTTP/1.1\r\nHost: a\r\n" + name + b": " + value + b"\r\n\r\n"
    if kind == 11:  # conditional request garbage
        value = rng.choice([b"*", b"W/", b"\"", b"Sun, 99 Xyz 99999", b"\xff\xfe", b",,,", b"-1"])
        name = rng.choice([b"If-None-Match", b"If-Modified-Since"])
        return b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n" + name + b": " + value + b"\r\n\r\n"
    if kind == 12:  # percent-escapes that decode to nothing sensible
        esc = rng.choice([b"%ff", b"%zz", b"%", b"%00", b"%c0%af", b"%ed%a0%80", b"%2e%2e", b"%0d%0a", b"%b2"])
        slashes = [i for i, ch in enumerate(path) if ch == ord("/")]
        at = rng.choice(slashes) + 1
        path = path[:at] + esc + path[at:]
        return b"GET " + path + b"&" + esc + b"=" + esc + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    return b"GET " + path + b" HTTP/1.0\r\n\r\n"  # a good one now and then


def _worker_pids(master: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == master:
                out.add(int(entry.name))
    return out


def _good_request(port: int) -> bytes:
    return _exchange(port, b"GET /tms/1.0.0/map/EPSG3857/0/0/0.png HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")


def test_gunicorn_survives_malformed_requests(tmp_path, _source_server) -> None:
    pytest.importorskip("gunicorn", reason="gunicorn is a test dependency (pip install -e '.[test]')")
    write_config(tmp_path / "mapproxy.yaml", CONFIG, _source_server.url)
    _source_server.reset()
    port = _free_port()
    env = dict(os.environ, TILEPROXY_CONFIG=str(tmp_path / "mapproxy.yaml"), TILEPROXY_LOG_LEVEL="ERROR",
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                                 "--timeout", "20", "tileproxy.deploy:application"],
                                env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:  # until the server answers (or gives up)
            assert proc.poll() is None, log.read_text()
            try:
                if _good_request(port).startswith(b"HTTP/1.1 200"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        workers = _worker_pids(proc.pid)
        assert len(workers) == 2
        rng = random.Random(20261124)
        statuses = []
        for _ in range(RAW_REQUESTS):
            data = malformed_request(rng)
            answer = _exchange(port, data)
            head = answer.split(b"\r\n", 1)[0]
            statuses.append(head[9:12])
            body = answer.partition(b"\r\n\r\n")[2]
            assert b" 500 " not in head or is_wms_exception(body), (data[:200], answer[:500])
            assert b"Traceback" not in answer, (data[:200], answer[:500])
            assert b"Set-Cookie" not in answer.partition(b"\r\n\r\n")[0], (data[:200], answer[:500])
        assert b"400" in statuses and b"200" in statuses  # both sides were reached
        # still the same two workers, and they answer the next good request
        assert proc.poll() is None
        assert _worker_pids(proc.pid) == workers
        for _ in range(4):
            assert _good_request(port).startswith(b"HTTP/1.1 200")
        # neither the app nor gunicorn logged an error with a traceback
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "Error handling request" not in text, text[-3000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- what the fuzzer found, as plain examples ---------------------------------

FI = ("/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetFeatureInfo&LAYERS=map&QUERY_LAYERS=map&STYLES="
      "&SRS=EPSG:3857&BBOX=0,0,10,10&WIDTH=10&HEIGHT=10&X=5&Y=5")


def test_wms_exception_with_control_characters_is_well_formed(fuzz_app) -> None:
    """Was: the request name was put into the exception unfiltered, so a %1F made the XML malformed."""
    app, _ = fuzz_app
    for version in ("1.0.0", "1.1.1", "1.3.0"):
        answer = call(app, f"/service?SERVICE=WMS&VERSION={version}&REQUEST=Get%1FMap%00")
        assert answer.status == 500
        doc = etree.fromstring(answer.body)
        assert "get\ufffdmap\ufffd" in "".join(doc.itertext())  # lower case, as MapProxy names it


@pytest.mark.parametrize("header", ["X-Forwarded-Host", "X-Forwarded-Proto", "X-Script-Name", "Host"])
def test_proxy_headers_cannot_inject_headers_or_markup(fuzz_app, header) -> None:
    """Was: X-Forwarded-Host with CR/LF went into the /demo redirect's Location header."""
    app, _ = fuzz_app
    evil = "evil.org\r\nSet-Cookie: x=1\x00\"'<b>"
    redirect = call(app, "/demo", headers={header: evil})
    assert redirect.status == 301
    location = redirect.headers["Location"]
    assert not CONTROL.search(location) and "<" not in location and '"' not in location
    assert location.endswith("/demo/")
    caps = call(app, "/wmts/1.0.0/WMTSCapabilities.xml", headers={header: evil})
    etree.fromstring(caps.body)
    assert b"<b>" not in caps.body
    if header == "X-Script-Name":  # a path: it goes into the service URLs, every odd character percent-encoded
        assert b"http://localhost/evil.org%0D%0ASet-Cookie:%20x=1%00%22%27%3Cb%3E/wmts/" in caps.body
    else:  # no host name (or scheme): ignored
        assert b"evil" not in caps.body and b"Set-Cookie" not in caps.body


def test_proxy_headers_still_honoured(fuzz_app) -> None:
    app, _ = fuzz_app
    proxy = {"X-Forwarded-Host": "maps.example.org:8443, inner", "X-Forwarded-Proto": "HTTPS",
             "X-Script-Name": "/my maps"}
    assert call(app, "/demo", headers=proxy).headers["Location"] == "https://maps.example.org:8443/my%20maps/demo/"
    ipv6 = call(app, "/demo", headers={"Host": "[::1]:8080"}).headers["Location"]
    assert ipv6 == "http://[::1]:8080/demo/"
    # a script name is a path: it cannot move the URL to another host
    assert call(app, "/demo", headers={"X-Script-Name": "@evil.org"}).headers["Location"] == "http://localhost/@evil.org/demo/"


@pytest.mark.parametrize("coord", ["%C2%B2/0/0.kml", "1/%C2%B9/0.kml", "1/0/%C2%B2.png", "%B2/0/0.kml",
                                   pytest.param("9" * 5000 + "/0/0.kml", id="5000-digits")])
def test_kml_non_ascii_digits_are_not_found(fuzz_app, coord) -> None:
    """Was: '²'.isdigit() is true but int('²') raises: a 500."""
    app, _ = fuzz_app
    answer = call(app, "/kml/map/EPSG3857/" + coord)
    assert answer.status == 404 and answer.content_type.startswith("text/plain")


@pytest.mark.parametrize("since", ["Sun, 06 Nov 99999999999 08:49:37 GMT", "1 Jan 10000 00:00:00 GMT",
                                   "06 Nov 1994 08:49:37 +9999", "\xff\xfe", ""])
def test_if_modified_since_garbage_is_ignored(fuzz_app, since) -> None:
    """Was: a year beyond the C integer range raised OverflowError: a 500 for a cached tile."""
    app, _ = fuzz_app
    url = "/tms/1.0.0/map/EPSG3857/0/0/0.png"
    assert call(app, url).status == 200  # cached now, with a time
    answer = call(app, url, headers={"If-Modified-Since": since})
    assert answer.status == 200 and answer.content_type == "image/png"
    assert call(app, url, headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}).status == 304


def test_featureinfo_format_cannot_inject_headers(fuzz_app) -> None:
    """Was: an INFO_FORMAT ending in 'xml' was echoed as Content-Type, CR/LF included."""
    app, _ = fuzz_app
    answer = call(app, FI + "&INFO_FORMAT=x%0D%0ASet-Cookie:%20a/xml")
    assert answer.status == 500 and "InvalidFormat" in answer.text
    assert answer.content_type.startswith("application/vnd.ogc.se_xml")
    # plain mime types with parameters still pass (the answer is labelled by what the sources sent)
    ok = call(app, FI + "&INFO_FORMAT=application/json;%20subtype=geojson")
    assert ok.status == 200 and "ServiceException" not in ok.text


@pytest.mark.parametrize("path", ["/tms/1.0.0/stra%C3%9Fe/EPSG3857/1/0/0.jpeg", "/tiles/stra%C3%9Fe/EPSG3857/1/0/0.jpeg",
                                  "/wmts/stra%C3%9Fe/GLOBAL_WEBMERCATOR/1/0/0.jpeg", "/kml/stra%C3%9Fe/EPSG3857/1/0/0.jpeg"])
def test_unicode_layer_names_in_paths(fuzz_app, path) -> None:
    """Was: PATH_INFO (latin-1 text of the UTF-8 bytes) never matched a layer named 'straße': 404."""
    app, _ = fuzz_app
    answer = call(app, path)
    assert answer.status == 200 and answer.content_type == "image/jpeg"
    # bytes that are no UTF-8 are an unknown layer, not an error (WMTS: a bad LAYER value, as in MapProxy)
    bad = call(app, path.replace("%C3%9F", "%FF"))
    assert bad.status == (400 if path.startswith("/wmts/") else 404) and "\ufffd" in bad.body.decode("utf-8")


def test_demo_links_to_unicode_layer_work(fuzz_app) -> None:
    app, _ = fuzz_app
    page = call(app, "/demo/?wmts_layer=stra%C3%9Fe&grid=GLOBAL_WEBMERCATOR")
    assert page.status == 200
    template = re.search(r'"url":"([^"]+)"', page.text).group(1)
    url = template.replace("{z}", "1").replace("{x}", "0").replace("{y}", "0").removeprefix("http://localhost")
    assert "stra%C3%9Fe" in url
    assert call(app, url).status == 200
