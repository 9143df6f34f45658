"""Property-style fuzzing of every route: generated bad (and good) requests against
a rich configuration never get a 500, a traceback, a response without a
Content-Type, malformed XML or a header with control characters, and write no
file outside the cache directory.

Bounded and reproducible: hypothesis runs derandomized with a fixed number of
examples (``TILEPROXY_FUZZ_EXAMPLES`` raises it for a longer local run)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import Answer, call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

EXAMPLES = int(os.environ.get("TILEPROXY_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=not os.environ.get("TILEPROXY_FUZZ_RANDOM"), deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

CONFIG = """
services:
  demo:
  kml:
  tms:
  wmts:
    kvp: true
    restful: true
  wms:
    srs: ['EPSG:3857', 'EPSG:4326', 'EPSG:900913', 'EPSG:25832']
    versions: ['1.0.0', '1.1.0', '1.1.1', '1.3.0']
    featureinfo_types: [text, html, xml, json]
    md:
      title: Fuzz
layers:
  - title: Root group without name
    layers:
      - name: map
        title: Map from WMS
        sources: [map_cache]
        legendurl: "{source}/wms?REQUEST=GetLegendGraphic&LAYER=map"
      - name: tiles
        title: Tiles in MBTiles
        sources: [tile_cache]
      - name: shared
        title: Same cache as map
        sources: [map_cache]
      - name: dup
        title: First dup
        sources: [debug_cache]
      - name: dup
        title: Second dup
        sources: [map_cache]
      - name: direct
        title: Uncached WMS
        sources: [wms]
      - name: down
        title: Source down
        sources: [down_cache]
      - name: onerr
        title: on_error tiles
        sources: [onerr_cache]
      - name: grp
        title: Group
        layers:
          - name: g1
            title: G1
            sources: [debug_cache]
          - title: nameless
            sources: [debug_cache]
caches:
  map_cache:
    grids: [GLOBAL_WEBMERCATOR, GLOBAL_GEODETIC]
    sources: [wms]
    meta_size: [2, 2]
    meta_buffer: 0
  tile_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [tile_server]
    cache:
      type: mbtiles
      filename: cache_data/tiles.mbtiles
  debug_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [dbg]
    format: image/jpeg
  down_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [down]
  onerr_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [down_onerr]
sources:
  wms:
    type: wms
    req: {url: "{source}/wms", layers: base}
    wms_opts: {featureinfo: true, legendgraphic: true}
  tile_server:
    type: tile
    grid: GLOBAL_WEBMERCATOR
    url: "{source}/tiles/%(z)s/%(x)s/%(y)s.png"
  dbg:
    type: debug
  down:
    type: wms
    req: {url: "http://127.0.0.1:9/wms", layers: x}
    wms_opts: {featureinfo: true}
  down_onerr:
    type: tile
    grid: GLOBAL_WEBMERCATOR
    url: "http://127.0.0.1:9/%(z)s/%(x)s/%(y)s.png"
    on_error:
      other: {response: transparent, cache: false}
globals:
  http:
    client_timeout: 0.5
  cache:
    base_dir: ./cache_data
"""

LAYERS = ["map", "tiles", "shared", "dup", "direct", "down", "onerr", "g1", "grp", "nameless", "", "nope",
          "map,tiles", "map,,", "Ünïcødé", "<b>&'\"", "a" * 300]
GRIDS = ["GLOBAL_WEBMERCATOR", "GLOBAL_GEODETIC", "EPSG3857", "EPSG900913", "EPSG4326", "nogrid", ""]
# characters and strings known to trip parsers; mixed with generated text
NASTY = ["", " ", "%", "%ff", "%zz", "%00", "%0d%0a", "\r\nX-Evil: 1", "..", "../..", "\\", "\x00", "\x01",
         "\x7f", "\ufffe", "\ud800", "é", "日本", "😀", "-1", "0", "1", "1e309", "nan", "inf", "-inf",
         "99999999999999999999", "0x10", "1.5", ",", ",,,", "1,2,3", "1,2,3,4", "-180,-90,180,90",
         "0,0,0,0", "a=b", "&", "=", "<x>", "]]>", "'\"", "true", "TRUE", "false", "image/png",
         "image/jpeg", "image/gif", "png", "text/html", "application/json", "text/xml", "EPSG:4326",
         "EPSG:3857", "CRS:84", "EPSG:25832", "EPSG:0", "EPSG:abc", "x" * 5000, "9" * 5000,
         "%b2", "%b9", "%e9", "%c0%af", "%ed%a0%80", "\u00b2", "\u0663", "1_0", " 1 ", "x\r\nSet-Cookie: a/xml",
         "text/xml\r\nX: 1", "application/json; subtype=geojson", "-1e308,-1e308,1e308,1e308", "1e-300"]
PARAMS = ["SERVICE", "REQUEST", "VERSION", "WMTVER", "LAYERS", "LAYER", "QUERY_LAYERS", "STYLES", "STYLE",
          "SRS", "CRS", "BBOX", "WIDTH", "HEIGHT", "FORMAT", "INFO_FORMAT", "TRANSPARENT", "BGCOLOR",
          "EXCEPTIONS", "TILED", "X", "Y", "I", "J", "FEATURE_COUNT", "SCALE", "SLD_VERSION",
          "TILEMATRIXSET", "TILEMATRIX", "TILEROW", "TILECOL", "INFOFORMAT", "TIME", "ELEVATION",
          "origin", "grid", "srs", "wmts_layer", "tms_layer", "wmts_capabilities", "tms_capabilities",
          "type", "layer", "format", "service", "request", "version"]

# well-formed requests that the mutations start from
SEEDS = [
    "/", "/demo", "/demo/", "/demo/static/viewer.js", "/demo/static/demo.css",
    "/demo/?wmts_layer=map&grid=GLOBAL_WEBMERCATOR", "/demo/?tms_layer=tiles&srs=EPSG:3857",
    "/demo/?wmts_capabilities&type=kvp", "/demo/?tms_capabilities&layer=map&grid=GLOBAL_GEODETIC",
    "/tms", "/tms/1.0.0/", "/tms/1.0.0/map/EPSG3857", "/tms/1.0.0/map/EPSG3857/1/0/0.png",
    "/tms/1.0.0/tiles_EPSG3857/1/1/1.png", "/tms/1.0.0/dup/EPSG3857/0/0/0.jpeg",
    "/tiles/map/EPSG3857/1/0/0.png?origin=nw", "/tiles/g1/1/0/0.jpeg",
    "/kml/map/EPSG3857", "/kml/map_EPSG3857", "/kml/map/EPSG3857/1/0/0.kml", "/kml/tiles/EPSG3857/1/1/1.png",
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
    "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=down&STYLES=&SRS=EPSG:3857"
    "&BBOX=0,0,1000000,1000000&WIDTH=32&HEIGHT=32&FORMAT=image/png&EXCEPTIONS=application/vnd.ogc.se_blank",
]

HEADERS = ["X-Forwarded-Host", "X-Forwarded-Proto", "X-Script-Name", "Host", "If-None-Match",
           "If-Modified-Since", "Accept", "Accept-Encoding", "Range", "Cookie"]
HEADER_VALUES = ["", "example.org", "example.org:8080, other", "https", "/prefix", "/prefix/", "/tms",
                 "*", '"abc", W/"def"', "W/", '"', "Sun, 06 Nov 1994 08:49:37 GMT", "yesterday",
                 "Mon, 99 Foo 9999 99:99:99 GMT", "-1", "0", "evil.org\r\nSet-Cookie: x=1",
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
    raw = draw(st.sampled_from(["", "&", "&&", "=", "%ff=%ff", "a=%", "&=x", ";", "a=1;b=2"]))
    return "&".join(pairs) + raw


@st.composite
def mutated_url(draw) -> str:
    url = draw(st.sampled_from(SEEDS))
    path, _, query = url.partition("?")
    parts = path.split("/")
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["replace", "insert", "drop", "long"]))
        pos = draw(st.integers(1, max(1, len(parts) - 1))) if len(parts) > 1 else 1
        if how == "replace" and pos < len(parts):
            parts[pos] = _q(draw(segment), "%")
        elif how == "insert":
            parts.insert(pos, _q(draw(segment), "%"))
        elif how == "drop" and pos < len(parts) and len(parts) > 2:
            del parts[pos]
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


def files_outside_cache(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if not p.relative_to(root).parts[0] == "cache_data"}


def check_answer(answer: Answer, url: str, method: str, failing: bool = False) -> None:
    """The rules every answer keeps, whatever the request."""
    where = f"{method} {url[:300]!r} -> {answer.status} {answer.body[:300]!r}"
    assert answer.status != 500, where
    assert 200 <= answer.status < 600, where
    if answer.status in (502, 503, 504):
        assert failing or "down" in url, where
    assert b"Traceback" not in answer.body, where
    for name, value in answer.header_list:
        assert not CONTROL.search(name) and not CONTROL.search(value), (where, name, value)
    ctype = answer.content_type
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
    (root / "mapproxy.yaml").write_text(CONFIG.replace("{source}", _source_server.url))
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


# -- what the fuzzer found, as plain examples ---------------------------------

FI = ("/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetFeatureInfo&LAYERS=map&QUERY_LAYERS=map&STYLES="
      "&SRS=EPSG:3857&BBOX=0,0,10,10&WIDTH=10&HEIGHT=10&X=5&Y=5")


def test_wms_exception_with_control_characters_is_well_formed(fuzz_app) -> None:
    """Was: the request name was put into the exception unfiltered, so a %1F made the XML malformed."""
    app, _ = fuzz_app
    for version in ("1.0.0", "1.1.1", "1.3.0"):
        answer = call(app, f"/service?SERVICE=WMS&VERSION={version}&REQUEST=Get%1FMap%00")
        assert answer.status == 200
        doc = etree.fromstring(answer.body)
        assert "Get\ufffdMap\ufffd" in "".join(doc.itertext())


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
    assert b"<b>" not in caps.body and b"Set-Cookie" not in caps.body or header == "X-Script-Name"


def test_proxy_headers_still_honoured(fuzz_app) -> None:
    app, _ = fuzz_app
    proxy = {"X-Forwarded-Host": "maps.example.org:8443, inner", "X-Forwarded-Proto": "HTTPS",
             "X-Script-Name": "/my maps"}
    assert call(app, "/demo", headers=proxy).headers["Location"] == "https://maps.example.org:8443/my%20maps/demo/"
    ipv6 = call(app, "/demo", headers={"Host": "[::1]:8080"}).headers["Location"]
    assert ipv6 == "http://[::1]:8080/demo/"


@pytest.mark.parametrize("coord", ["%B2/0/0.kml", "1/%B9/0.kml", "1/0/%B2.png",
                                   pytest.param("9" * 5000 + "/0/0.kml", id="5000-digits")])
def test_kml_non_ascii_digits_are_not_found(fuzz_app, coord) -> None:
    """Was: '²'.isdigit() is true but int('²') raises: a 500."""
    app, _ = fuzz_app
    answer = call(app, "/kml/map/EPSG3857/" + coord)
    assert answer.status == 404 and answer.content_type.startswith("text/plain")


def test_featureinfo_format_cannot_inject_headers(fuzz_app) -> None:
    """Was: an INFO_FORMAT ending in 'xml' was echoed as Content-Type, CR/LF included."""
    app, _ = fuzz_app
    answer = call(app, FI + "&INFO_FORMAT=x%0D%0ASet-Cookie:%20a/xml")
    assert answer.status == 200 and "InvalidFormat" in answer.text
    assert answer.content_type.startswith("application/vnd.ogc.se_xml")
    # plain mime types with parameters still pass
    ok = call(app, FI + "&INFO_FORMAT=application/json;%20subtype=geojson")
    assert ok.status == 200 and ok.content_type == "application/json; subtype=geojson"
