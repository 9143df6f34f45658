"""Tile matrix sets of the OGC API service: MapProxy's default grids and the
configured ones; a grid that is an OGC registered tile matrix set (WebMercatorQuad,
WorldCRS84Quad) is announced under the registered id with its URI and
well-known scale set, whatever its name in mapproxy.yaml."""

from __future__ import annotations

import json

import pytest
from support.configs import merge
from support.ogcapi import CONFIG, HALF
from support.wsgi import call

TMS = "http://www.opengis.net/def/tilematrixset/OGC/1.0/"


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def test_the_list_names_registered_sets_by_their_ids(app):
    doc = json.loads(call(app, "/ogcapi/tileMatrixSets").body)
    ids = [(entry["id"], entry.get("uri")) for entry in doc["tileMatrixSets"]]
    assert ids == [("GLOBAL_GEODETIC", None), ("GLOBAL_MERCATOR", None),
                   ("WebMercatorQuad", TMS + "WebMercatorQuad"), ("WorldCRS84Quad", TMS + "WorldCRS84Quad")]


def test_web_mercator_quad_is_the_registered_definition(app):
    doc = json.loads(call(app, "/ogcapi/tileMatrixSets/WebMercatorQuad").body)
    assert doc["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    assert doc["wellKnownScaleSet"] == "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible"
    first = doc["tileMatrices"][0]
    assert first == {"id": "0", "cellSize": pytest.approx(156543.03392804097),
                     "scaleDenominator": pytest.approx(559082264.0287178), "cornerOfOrigin": "topLeft",
                     "pointOfOrigin": [-HALF, HALF], "matrixWidth": 1, "matrixHeight": 1,
                     "tileWidth": 256, "tileHeight": 256}
    assert [m["matrixWidth"] for m in doc["tileMatrices"][:4]] == [1, 2, 4, 8]


def test_world_crs84_quad_is_the_registered_definition(app):
    doc = json.loads(call(app, "/ogcapi/tileMatrixSets/WorldCRS84Quad").body)
    assert doc["crs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert doc["uri"] == TMS + "WorldCRS84Quad"
    assert doc["wellKnownScaleSet"] == "http://www.opengis.net/def/wkss/OGC/1.0/GoogleCRS84Quad"
    first = doc["tileMatrices"][0]
    assert (first["matrixWidth"], first["matrixHeight"], first["cellSize"]) == (2, 1, 0.703125)
    assert first["pointOfOrigin"] == [-180, 90]  # CRS84: longitude first
    # the scale of a degree-based grid in metres on the equator (OGC 17-083r4 annex)
    assert first["scaleDenominator"] == pytest.approx(279541132.0143589)
    assert len(doc["tileMatrices"]) == 10


def test_tiles_of_the_registered_ids_come_from_the_configured_grids(app, source):
    answer = call(app, "/ogcapi/collections/checker/map/tiles/WorldCRS84Quad/0/0/1.png")
    assert answer.status == 200
    assert answer.headers["Content-Bbox"] == "0,-90,180,90"  # without Content-Crs: lon/lat, as MapProxy says
    assert call(app, "/ogcapi/collections/checker/map/tiles/crs84/0/0/0.png").status == 404


def test_a_grid_that_differs_keeps_its_name(make_app):
    config = merge(CONFIG, {"grids": {"crs84": {"tile_size": [512, 512], "min_res": 0.3515625}}})
    doc = json.loads(call(make_app(config), "/ogcapi/tileMatrixSets").body)
    ids = [entry["id"] for entry in doc["tileMatrixSets"]]
    assert ids == ["GLOBAL_GEODETIC", "GLOBAL_MERCATOR", "WebMercatorQuad", "crs84"]


def test_tilesets_of_a_collection_are_on_its_celestial_body(make_app):
    moon = {"services": {"ogcapi": {"map_srs": ["IAU_2015:30100"]}},
            "layers": [{"name": "moon", "title": "Moon", "sources": ["moon_wms"]}],
            "sources": {"moon_wms": {"type": "wms", "req": {"url": "{source}/wms", "layers": "m"},
                                     "coverage": {"srs": "IAU_2015:30100", "bbox": [-180, -90, 180, 90]}}},
            "grids": {"moon_grid": {"srs": "IAU_2015:30100", "bbox": [-180, -90, 180, 90], "origin": "ul"}}}
    app = make_app(moon)
    doc = json.loads(call(app, "/ogcapi/collections/moon/map/tiles").body)
    assert [ts["crs"] for ts in doc["tilesets"]] == ["http://www.opengis.net/def/crs/IAU/2015/30100"]
    collection = json.loads(call(app, "/ogcapi/collections/moon").body)
    assert collection["extent"]["spatial"]["crs"] == "http://www.opengis.net/def/crs/IAU/2015/30100"
    assert collection["crs"] == ["http://www.opengis.net/def/crs/IAU/2015/30100"]
