"""WMTS GetTile as MapProxy clients use it: TileMatrix identifiers with or without
leading zeros, exception codes and HTTP statuses of bad requests and failing sources."""

from __future__ import annotations

import pytest
from lxml import etree
from support.configs import cache, layer, wms_source
from support.wsgi import call

from tileproxy.grid import predefined_grid

OWS = "{http://www.opengis.net/ows/1.1}"

CONFIG = {
    "services": {
        "wmts": {
            "restful_template": "/rest/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.{Format}",
        },
    },
    "layers": [layer("map", "Map", "map_cache")],
    "caches": {"map_cache": cache("wms", grid="GLOBAL_MERCATOR", format="image/jpeg")},
    "sources": {"wms": wms_source()},
    "globals": {"cache": {"base_dir": "./cache_data"}},
}

KVP = ("/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=map&STYLE=default"
       "&TILEMATRIXSET=GLOBAL_MERCATOR&FORMAT=image/jpeg")


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def exception_code(answer, status: int) -> str:
    assert answer.status == status, answer.body
    assert answer.content_type.startswith("text/xml")
    doc = etree.fromstring(answer.body)
    assert doc.tag == f"{OWS}ExceptionReport"
    return doc.find(f"{OWS}Exception").get("exceptionCode")


def source_bbox(source) -> list[float]:
    return [float(v) for v in source.params()["BBOX"].split(",")]


@pytest.mark.parametrize("matrix", ["02", "2", "002"])
def test_matrix_identifiers_with_and_without_leading_zeros(app, source, matrix) -> None:
    # capabilities name the level 02; clients that drop the zero (or URLs built from integers) work too
    kvp = call(app, f"{KVP}&TILEMATRIX={matrix}&TILEROW=0&TILECOL=1")
    assert kvp.status == 200 and kvp.content_type == "image/jpeg"
    assert source_bbox(source) == pytest.approx(predefined_grid("GLOBAL_MERCATOR").tile_bbox((1, 3, 2)))
    rest = call(app, f"/wmts/rest/map/GLOBAL_MERCATOR/{matrix}/1/0.jpeg")
    assert rest.status == 200 and rest.body == kvp.body


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/wmts/rest/map/GLOBAL_MERCATOR/01/-1/0.jpeg", "TileOutOfRange"),
        ("/wmts/rest/map/GLOBAL_MERCATOR/01/0/2.jpeg", "TileOutOfRange"),
        ("/wmts/rest/map/GLOBAL_MERCATOR/40/0/0.jpeg", "TileOutOfRange"),
        ("/wmts/rest/map/GLOBAL_MERCATOR/01/0/0.png", "InvalidParameterValue"),
        ("/wmts/rest/nosuchlayer/GLOBAL_MERCATOR/01/0/0.jpeg", "InvalidParameterValue"),
        ("/wmts/rest/map/nosuchset/01/0/0.jpeg", "InvalidParameterValue"),
    ],
)
def test_bad_values_in_restful_urls_are_400(app, source, path, code) -> None:
    assert exception_code(call(app, path), 400) == code
    assert source.count("wms") == 0


def test_bad_kvp_values_are_400(app, source) -> None:
    tile = "&TILEMATRIX=01&TILEROW=0&TILECOL=0"
    assert exception_code(call(app, KVP.replace("LAYER=map", "LAYER=x") + tile), 400) == "InvalidParameterValue"
    assert exception_code(call(app, KVP.replace("image/jpeg", "image/png") + tile), 400) == "InvalidParameterValue"
    assert exception_code(call(app, KVP.replace("=GLOBAL_MERCATOR", "=x") + tile), 400) == "InvalidParameterValue"
    assert exception_code(call(app, KVP + "&TILEMATRIX=01&TILEROW=0&TILECOL=-1"), 400) == "TileOutOfRange"
    assert exception_code(call(app, KVP + "&TILEMATRIX=x1&TILEROW=0&TILECOL=0"), 400) == "InvalidParameterValue"
    assert exception_code(call(app, KVP + "&TILEMATRIX=01&TILEROW=0"), 400) == "MissingParameterValue"
    assert source.count("wms") == 0


def test_a_failing_source_is_a_500(app, source) -> None:
    source.reset("error")
    answer = call(app, "/wmts/rest/map/GLOBAL_MERCATOR/01/0/0.jpeg")
    assert exception_code(answer, 500) == "NoApplicableCode"
    assert exception_code(call(app, KVP + "&TILEMATRIX=01&TILEROW=1&TILECOL=1"), 500) == "NoApplicableCode"


def test_urls_off_the_template_are_not_found(app) -> None:
    answer = call(app, "/wmts/rest/map/GLOBAL_MERCATOR/01/0/zero.jpeg")
    assert answer.status == 404 and b"ExceptionReport" in answer.body
