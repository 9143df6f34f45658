"""The words of WMS service exceptions are MapProxy's: clients, scripts and
monitoring written against MapProxy match on them."""

from __future__ import annotations

import pytest
from lxml import etree
from support.wms import getmap, wms_config
from support.wsgi import call

OGC = "{http://www.opengis.net/ogc}"


@pytest.fixture
def app(make_app):
    return make_app(_with_gauss_krueger(wms_config()))


def _with_gauss_krueger(config: dict) -> dict:
    """``config`` whose WMS also offers EPSG:31468 (after EPSG:25832)."""
    srs = config["services"]["wms"]["srs"]
    srs.insert(srs.index("EPSG:25832") + 1, "EPSG:31468")
    return config


def exception_text(body: bytes) -> tuple[str, str | None]:
    """(message, code) of the first ServiceException of any version."""
    doc = etree.fromstring(body, etree.XMLParser(load_dtd=False, no_network=True))
    node = doc if doc.tag == "WMTException" else doc.find("ServiceException")
    if node is None:
        node = doc.find(f"{OGC}ServiceException")
    return node.text.strip(), node.get("code")


@pytest.mark.parametrize(
    "overrides, message, code",
    [
        ({"layers": "nope"}, "unknown layer: nope", "LayerNotDefined"),
        ({"srs": "EPSG:1234"}, "unsupported srs: EPSG:1234", "InvalidSRS"),
        ({"srs": "EPSG:31467"}, "unsupported srs: EPSG:31467", "InvalidSRS"),
        ({"fmt": "image/ascii"}, "unsupported image format: image/ascii", "InvalidFormat"),
        ({"styles": "fancy"}, "unsupported styles: fancy", "StyleNotDefined"),
        ({"bbox": "7,2,-9,10"}, "invalid bbox 7,2,-9,10", "InvalidParameterValue"),
        ({"size": (5000, 5000)}, "image size too large", "InvalidParameterValue"),
    ],
)
def test_getmap_exception_texts(app, overrides, message, code) -> None:
    params = {"layers": "direct", "bbox": "0,40,30,60", "srs": "EPSG:4326", "size": (64, 64), **overrides}
    answer = call(app, getmap(params.pop("layers"), params.pop("bbox"), params.pop("srs"), "1.1.1",
                              params.pop("size"), params.pop("fmt", "image/png"), **params))
    assert answer.status == 500
    assert exception_text(answer.body) == (message, code)


def test_130_names_the_crs(app) -> None:
    answer = call(app, getmap("direct", "40,0,60,30", "EPSG:1234", "1.3.0", (64, 64)))
    assert exception_text(answer.body) == ("unsupported crs: EPSG:1234", "InvalidCRS")


def test_missing_parameters_are_listed_together(app) -> None:
    answer = call(app, "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=direct&STYLES=&FORMAT=image/png")
    assert exception_text(answer.body)[0] == "missing parameters ['srs', 'bbox', 'width', 'height']"


def test_unknown_request_type(app) -> None:
    answer = call(app, "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=Invalid")
    assert exception_text(answer.body)[0] == "unknown WMS request type 'invalid'"
    # GetLegendGraphic is no request of WMS 1.0.0/1.1.0
    answer = call(app, "/service?SERVICE=WMS&VERSION=1.1.0&REQUEST=GetLegendGraphic&LAYER=direct")
    assert exception_text(answer.body)[0] == "unknown WMS request type 'legendgraphic'"


def test_the_first_fault_is_reported_in_mapproxys_order(app) -> None:
    # bad bbox and unknown layer: the bbox is checked first; unknown layer before format
    answer = call(app, getmap("nope", "7,2,-9,10", "EPSG:4326", size=(64, 64), fmt="image/ascii"))
    assert exception_text(answer.body)[0] == "invalid bbox 7,2,-9,10"
    answer = call(app, getmap("nope", "0,40,30,60", "EPSG:1234", size=(64, 64), fmt="image/ascii"))
    assert exception_text(answer.body)[0] == "unknown layer: nope"


def test_a_bbox_that_cannot_be_transformed(make_app, source) -> None:
    config = _with_gauss_krueger(wms_config())
    config["sources"]["cb_wms"]["supported_srs"] = ["EPSG:3857"]
    app = make_app(config)
    # far west of the Gauss-Krueger zone: no point of it exists in web mercator
    bbox = "-20000855.0573254,2847125.18913603,-19329367.42767611,4239924.78564583"
    answer = call(app, getmap("direct", bbox, "EPSG:31468", size=(130, 62)))
    assert exception_text(answer.body) == ("Could not transform BBOX: Invalid result.", None)


@pytest.mark.parametrize("layer, words", [("direct", "error while processing image file: "),
                                          ("cached", "unable to transform image: ")])
def test_source_answering_no_image(app, source, layer, words) -> None:
    source.reset("html")
    answer = call(app, getmap(layer, "0,40,30,60", "EPSG:4326", size=(64, 64)))
    message, code = exception_text(answer.body)
    assert answer.status == 500 and code is None
    assert message.startswith("Could not get any sources:\n" + words + "cannot identify image file")


def test_sizes_with_decimals_are_cut_off(app, source) -> None:
    url = getmap("direct", "0,40,30,60", "EPSG:4326", size=(64, 64)).replace("WIDTH=64", "WIDTH=64.9")
    answer = call(app, url)
    assert answer.status == 200 and answer.image.size == (64, 64)
