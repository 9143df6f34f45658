"""The demo shows every collection of the OGC API service on a map: over OGC API
Maps and over its map tiles in each tile matrix set."""

from __future__ import annotations

import json
import re

import pytest
from support.configs import merge
from support.ogcapi import CONFIG
from support.wsgi import call


@pytest.fixture
def app(make_app):
    return make_app(merge(CONFIG, {"services": {"demo": None}}))


def _viewer_config(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="viewer-config">(.*?)</script>', page)
    assert found, page
    return json.loads(found.group(1))


def test_the_index_lists_the_collections_with_their_views(app):
    page = call(app, "/demo/").text
    assert "<h2>OGC API</h2>" in page
    assert '<a href="../ogcapi?f=html">HTML</a>' in page
    assert '<a href="../demo/?ogcapi_layer=checker">Maps</a>' in page
    assert '<a href="../demo/?ogcapi_layer=checker&tms=WebMercatorQuad">WebMercatorQuad</a>' in page
    assert '<a href="../demo/?ogcapi_layer=cached&tms=WorldCRS84Quad">WorldCRS84Quad</a>' in page


def test_the_tiles_view_reads_ogc_api_map_tiles(app, source):
    page = call(app, "/demo/?ogcapi_layer=checker&tms=WebMercatorQuad")
    assert page.status == 200
    conf = _viewer_config(page.text)
    assert conf["url"] == "http://localhost/ogcapi/collections/checker/map/tiles/WebMercatorQuad/{z}/{y}/{x}.png"
    assert conf["yAxis"] == "down"
    assert conf["matrices"][0]["width"] == 1
    tile = conf["url"].removeprefix("http://localhost").format(z=1, y=0, x=1)
    assert call(app, tile).content_type == "image/png"
    bottom_up = _viewer_config(call(app, "/demo/?ogcapi_layer=checker&tms=GLOBAL_MERCATOR").text)
    assert bottom_up["yAxis"] == "up"


def test_the_maps_view_reads_ogc_api_maps(app, source):
    conf = _viewer_config(call(app, "/demo/?ogcapi_layer=checker").text)
    assert conf["url"].startswith("http://localhost/ogcapi/collections/checker/map.png?crs=")
    assert "bbox={bbox}" in conf["url"] and "width=256&height=256" in conf["url"]
    url = conf["url"].removeprefix("http://localhost").replace("{bbox}", "0,0,1000000,1000000")
    answer = call(app, url)
    assert answer.status == 200, answer.text
    assert answer.image.size == (256, 256)


@pytest.mark.parametrize("query", ["ogcapi_layer=nowhere", "ogcapi_layer=checker&tms=nowhere",
                                   "ogcapi_layer=checker&tms=%3Cscript%3E"])
def test_unknown_views_are_404(app, query):
    answer = call(app, "/demo/?" + query)
    assert answer.status == 404
    assert "<script>" not in answer.text


def test_without_the_ogc_api_the_demo_has_no_such_section(make_app):
    config = merge(CONFIG, {"services": {"demo": None}})
    del config["services"]["ogcapi"]
    config["services"]["wms"] = None
    assert "OGC API" not in call(make_app(config), "/demo/").text
