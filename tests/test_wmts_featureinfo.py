"""WMTS GetFeatureInfo, KVP and RESTful: the point of a tile asked of the layer's
feature info sources, their answers merged, capabilities announcing it."""

from __future__ import annotations

import json

import pytest
from lxml import etree
from support.configs import cache, layer, wms_source
from support.wsgi import call

from tileproxy.grid import predefined_grid

NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}

CONFIG = {
    "services": {
        "wmts": {
            "featureinfo_formats": [
                {"mimetype": "application/json", "suffix": "geojson"},
                {"mimetype": "application/gml+xml; version=3.1", "suffix": "gml"},
            ],
            "restful_featureinfo_template": "/info/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}/{I}/{J}.{InfoFormat}",
        },
    },
    "layers": [
        layer("roads", "Roads", "roads_cache", "borders"),
        layer("plain", "Not queryable", "plain_cache"),
    ],
    "caches": {"roads_cache": cache("roads", meta_size=None), "plain_cache": cache("plain", meta_size=None)},
    "sources": {
        "roads": wms_source(layers="roads", wms_opts={"featureinfo": True}),
        "borders": wms_source(
            layers="borders",
            wms_opts={"featureinfo": True, "map": False},
            coverage={"bbox": [-180, -85, 0, 85], "srs": "EPSG:4326"},
        ),
        "plain": wms_source(layers="plain"),
    },
    "globals": {"cache": {"base_dir": "./cache_data"}},
}

KVP = ("/service?SERVICE=WMTS&REQUEST=GetFeatureInfo&VERSION=1.0.0&LAYER=roads&STYLE=default"
       "&TILEMATRIXSET=GLOBAL_WEBMERCATOR&FORMAT=image/png&TILEMATRIX=01&TILEROW=0&TILECOL={col}"
       "&I=10&J=20&INFOFORMAT={fmt}")


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def layers_asked(source) -> list[str]:
    return [source.params(i)["QUERY_LAYERS"] for i in range(len(source.requests))]


def test_kvp_asks_the_sources_whose_coverage_holds_the_point(app, source) -> None:
    west = call(app, KVP.format(col=0, fmt="application/json"))
    assert west.status == 200 and west.content_type == "application/json"
    features = json.loads(west.body)["features"]
    assert [f["properties"]["layer"] for f in features] == ["roads", "borders"]
    params = source.params(0)
    assert params["REQUEST"] == "GetFeatureInfo" and (params["X"], params["Y"]) == ("10", "20")
    assert [float(v) for v in params["BBOX"].split(",")] == pytest.approx(
        predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((0, 0, 1)))
    source.reset()
    east = call(app, KVP.format(col=1, fmt="application/json"))
    assert [f["properties"]["layer"] for f in json.loads(east.body)["features"]] == ["roads"]
    assert layers_asked(source) == ["roads"]


def test_restful_feature_info_by_suffix(app, source) -> None:
    answer = call(app, "/wmts/info/roads/GLOBAL_WEBMERCATOR/01/1/0/10/20.gml")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/gml+xml; version=3.1"
    assert etree.fromstring(answer.body).find("feature").get("layer") == "roads"
    assert source.params()["INFO_FORMAT"] == "application/gml+xml; version=3.1"


def test_feature_count_is_passed_on(app, source) -> None:
    assert call(app, KVP.format(col=1, fmt="application/json") + "&FEATURE_COUNT=5").status == 200
    assert source.params()["FEATURE_COUNT"] == "5"


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        (KVP.format(col=0, fmt="text/html"), 400, "InvalidParameterValue"),  # not in featureinfo_formats
        (KVP.format(col=0, fmt="application/json").replace("LAYER=roads", "LAYER=plain"), 400, "OperationNotSupported"),
        (KVP.format(col=0, fmt="application/json").replace("I=10", "I=256"), 400, "PointIJOutOfRange"),
        (KVP.format(col=2, fmt="application/json"), 400, "TileOutOfRange"),
        ("/wmts/info/roads/GLOBAL_WEBMERCATOR/01/1/0/10/20.html", 400, "InvalidParameterValue"),
    ],
)
def test_bad_feature_info_requests(app, source, url, status, code) -> None:
    answer = call(app, url)
    assert answer.status == status
    assert etree.fromstring(answer.body).find("ows:Exception", NS).get("exceptionCode") == code
    assert source.count("wms") == 0


def test_capabilities_announce_info_formats_of_queryable_layers(app) -> None:
    doc = etree.fromstring(call(app, "/wmts/1.0.0/WMTSCapabilities.xml").body)
    layers = {lyr.findtext("ows:Identifier", namespaces=NS): lyr for lyr in doc.iterfind("w:Contents/w:Layer", NS)}
    roads = layers["roads"]
    assert [e.text for e in roads.iterfind("w:InfoFormat", NS)] == ["application/json", "application/gml+xml; version=3.1"]
    urls = [(r.get("resourceType"), r.get("format"), r.get("template")) for r in roads.iterfind("w:ResourceURL", NS)]
    assert urls[1:] == [
        ("FeatureInfo", "application/json",
         "http://localhost/wmts/info/roads/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}/{I}/{J}.geojson"),
        ("FeatureInfo", "application/gml+xml; version=3.1",
         "http://localhost/wmts/info/roads/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}/{I}/{J}.gml"),
    ]
    assert layers["plain"].find("w:InfoFormat", NS) is None
    assert [r.get("resourceType") for r in layers["plain"].iterfind("w:ResourceURL", NS)] == ["tile"]
    ops = [op.get("name") for op in doc.iterfind("ows:OperationsMetadata/ows:Operation", NS)]
    assert ops == ["GetCapabilities", "GetTile", "GetFeatureInfo"]
