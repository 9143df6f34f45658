"""HTTP response headers of tiles and documents: types, caching, conditional
requests, HEAD and CORS."""

from __future__ import annotations

import os
import time
from email.utils import formatdate, parsedate_to_datetime

import pytest
from support.configs import CACHE_DATA, wms_cache_config
from support.wsgi import call, fetch


def config(**globals_options: object) -> dict:
    return wms_cache_config(layer_name="map", title="Map", cache_name="map_cache", services={"tms": None, "wmts": None},
                            globals={**CACHE_DATA, **globals_options})

TILE = "/wmts/map/GLOBAL_WEBMERCATOR/1/0/0.png"
TILE_FILE = "cache_data/map_cache_EPSG3857/01/000/000/000/000/000/000.png"


def app_with(make_app, **globals_options: object):
    return make_app(config(**globals_options))


def test_tile_headers(make_app, source, tmp_path) -> None:
    app = app_with(make_app, tiles={"expires_hours": 2})
    first = call(app, TILE)
    assert first.status == 200
    assert first.content_type == "image/png"
    assert first.headers["Cache-Control"] == "public, max-age=7200, s-maxage=7200"
    expires = parsedate_to_datetime(first.headers["Expires"]).timestamp()
    assert abs(expires - (time.time() + 7200)) < 60
    mtime = os.stat(tmp_path / TILE_FILE).st_mtime
    assert first.headers["Last-Modified"] == formatdate(mtime, usegmt=True)
    assert first.headers["Content-Length"] == str(len(first.body))
    # a later hit from the cache has the same validators as the fresh tile
    second = call(app, TILE)
    assert second.body == first.body
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Last-Modified"] == first.headers["Last-Modified"]
    assert source.count("wms") == 1


def test_conditional_requests_get_304(make_app, source) -> None:
    app = app_with(make_app)
    first = call(app, TILE)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert not etag.startswith('"')  # bare, as MapProxy sends it; quoted or weak forms match too
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"other", "{etag}"'}, {"If-None-Match": f'W/"{etag}"'},
                    {"If-None-Match": "*"},
                    {"If-Modified-Since": modified}, {"If-Modified-Since": formatdate(time.time() + 60, usegmt=True)}):
        answer = call(app, TILE, headers=headers)
        assert answer.status == 304, headers
        assert answer.body == b""
        assert "Content-Type" not in answer.headers
        assert answer.headers["ETag"] == etag
        assert "Cache-Control" in answer.headers
    for headers in ({"If-None-Match": '"stale"'}, {"If-Modified-Since": formatdate(time.time() - 3600, usegmt=True)},
                    {"If-Modified-Since": "not a date"}):
        assert call(app, TILE, headers=headers).status == 200, headers
    # If-None-Match wins over If-Modified-Since
    assert call(app, TILE, headers={"If-None-Match": '"stale"', "If-Modified-Since": modified}).status == 200


def test_head_has_headers_and_no_body(make_app, source, serve) -> None:
    app = app_with(make_app)
    base = serve(app)
    get = fetch(base + TILE, timeout=10)
    head = fetch(base + TILE, method="HEAD", timeout=10)
    assert head.status == 200 and head.body == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control", "Access-Control-Allow-Origin"):
        assert head.headers[name] == get.headers[name], name
    assert head.headers["Content-Length"] == str(len(get.body))
    caps = fetch(base + "/wmts/1.0.0/WMTSCapabilities.xml", method="HEAD", timeout=10)
    assert caps.status == 200 and caps.body == b"" and int(caps.headers["Content-Length"]) > 1000


def test_expires_hours_zero_means_no_caching(make_app, source) -> None:
    app = app_with(make_app, tiles={"expires_hours": 0})
    answer = call(app, TILE)
    assert answer.headers["Cache-Control"] == "no-cache, no-store"
    assert answer.headers["Expires"] == "-1"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [({}, "*"), ({"http": {"access_control_allow_origin": "https://maps.example"}}, "https://maps.example"),
     ({"http": {"access_control_allow_origin": ""}}, None)],
)
def test_cors_header(make_app, source, setting, expected) -> None:
    app = app_with(make_app, **setting)
    for url in (TILE, "/wmts/1.0.0/WMTSCapabilities.xml", "/tms/1.0.0/", "/tms/1.0.0/nolayer/EPSG3857/0/0/0.png"):
        answer = call(app, url)
        assert answer.headers.get("Access-Control-Allow-Origin") == expected, url


def test_document_content_types(make_app, source) -> None:
    app = app_with(make_app)
    assert call(app, "/tms/1.0.0/").content_type == "text/xml"
    assert call(app, "/wmts/1.0.0/WMTSCapabilities.xml").content_type == "application/xml"
    assert call(app, "/service?SERVICE=WMTS&REQUEST=GetCapabilities").content_type == "application/xml"
    assert call(app, "/").content_type.startswith("text/html")


def test_proxy_headers_and_vary(make_app, source) -> None:
    app = app_with(make_app)
    proxy = {"X-Forwarded-Host": "maps.example.org, inner", "X-Forwarded-Proto": "https", "X-Script-Name": "/mapproxy"}
    # the proxy may pass the prefix on in the path or strip it
    for path in ("/wmts/1.0.0/WMTSCapabilities.xml", "/mapproxy/wmts/1.0.0/WMTSCapabilities.xml"):
        caps = call(app, path, headers=proxy)
        assert caps.status == 200
        assert 'template="https://maps.example.org/mapproxy/wmts/map/{TileMatrixSet}' in caps.text
        assert caps.headers["Vary"] == "X-Script-Name, X-Forwarded-Host, X-Forwarded-Proto"
    tile = call(app, "/mapproxy" + TILE, headers=proxy)
    assert tile.status == 200 and "Vary" not in tile.headers
    assert call(app, "/tms/1.0.0/", headers={"Host": "tiles.example:8080"}).text.count("http://tiles.example:8080/tms/1.0.0/map/") == 1


@pytest.mark.parametrize(("headers", "base"), [
    ({"Host": "localhost:80"}, "http://localhost/"),
    ({"Host": "localhost:8080"}, "http://localhost:8080/"),
    ({"Host": "maps.example:443"}, "http://maps.example:443/"),
    ({"Host": "maps.example:443", "X-Forwarded-Proto": "https", "X-Script-Name": "/foo"},
     "https://maps.example/foo/"),
    ({"X-Forwarded-Host": "maps.example:80, inner"}, "http://maps.example/"),
])
def test_public_url_leaves_out_the_default_port(make_app, source, headers, base) -> None:
    """Documents name the service without the scheme's default port (http :80, https :443)."""
    app = app_with(make_app)
    tms = call(app, "/tms/1.0.0/", headers=headers)
    assert f'href="{base}tms/1.0.0/map/' in tms.text
    wmts = call(app, "/wmts/1.0.0/WMTSCapabilities.xml", headers=headers)
    assert f'template="{base}wmts/map/' in wmts.text
