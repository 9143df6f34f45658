"""Bad WMS requests get an OGC service exception in the requested format, never
a traceback. As in MapProxy, an XML exception answers 500 and an INIMAGE/BLANK
exception 200; none of them may be cached."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from support.wms import getmap, wms_config
from support.wsgi import call

SCHEMAS = Path(__file__).parent / "schemas"
OGC = "{http://www.opengis.net/ogc}"


@pytest.fixture
def app(make_app):
    return make_app(wms_config())


def _exception_130(body: bytes) -> etree._Element:
    doc = etree.fromstring(body)
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "wms/1.3.0/exceptions_1_3_0.xsd")))
    assert schema.validate(doc), schema.error_log
    return doc.find(f"{OGC}ServiceException")


def _exception_111(body: bytes) -> etree._Element:
    doc = etree.fromstring(body, etree.XMLParser(no_network=True, load_dtd=False))
    dtd = etree.DTD(str(SCHEMAS / "wms/1.1.1/exception_1_1_1.dtd"))
    assert dtd.validate(doc), dtd.error_log
    return doc.find("ServiceException")


GOOD = {"layers": "direct", "bbox": "0,40,30,60", "srs": "EPSG:4326"}

BAD_GETMAP = [
    # (parameter overrides, expected code in 1.1.1, expected code in 1.3.0)
    ({"layers": "nope"}, "LayerNotDefined", "LayerNotDefined"),
    ({"layers": ""}, "MissingParameterValue", "MissingParameterValue"),
    ({"srs": "EPSG:31467"}, "InvalidSRS", "InvalidCRS"),  # known to pyproj, not offered
    ({"srs": "EPSG:999999"}, "InvalidSRS", "InvalidCRS"),
    ({"srs": ""}, "MissingParameterValue", "MissingParameterValue"),
    ({"fmt": "image/webp"}, "InvalidFormat", "InvalidFormat"),
    ({"fmt": "nonsense"}, "InvalidFormat", "InvalidFormat"),
    ({"styles": "fancy"}, "StyleNotDefined", "StyleNotDefined"),
    ({"bbox": "30,40,0,60"}, "InvalidParameterValue", "InvalidParameterValue"),  # min > max
    ({"bbox": "0,40,0,60"}, "InvalidParameterValue", "InvalidParameterValue"),  # empty
    ({"bbox": "0,40,30"}, "InvalidParameterValue", "InvalidParameterValue"),
    ({"bbox": "0,40,30,nan"}, "InvalidParameterValue", "InvalidParameterValue"),
    ({"bbox": "0,40,inf,60"}, "InvalidParameterValue", "InvalidParameterValue"),
    ({"bbox": "a,b,c,d"}, "InvalidParameterValue", "InvalidParameterValue"),
    ({"bbox": ""}, "MissingParameterValue", "MissingParameterValue"),
    ({"width": "0"}, "InvalidParameterValue", "InvalidParameterValue"),
    ({"width": "-5"}, "InvalidParameterValue", "InvalidParameterValue"),
    ({"height": "12x"}, "InvalidParameterValue", "InvalidParameterValue"),
    ({"height": "NaN"}, "InvalidParameterValue", "InvalidParameterValue"),
    ({"width": "5000", "height": "5000"}, "InvalidParameterValue", "InvalidParameterValue"),  # > max_output_pixels
    ({"width": "99999999999999999999"}, "InvalidParameterValue", "InvalidParameterValue"),
    ({"bgcolor": "0xZZZZZZ"}, "InvalidParameterValue", "InvalidParameterValue"),
]


def _url(version: str, overrides: dict[str, str]) -> str:
    params = dict(GOOD)
    params.update(overrides)
    size = (params.pop("width", "256"), params.pop("height", "256"))
    fmt = params.pop("fmt", "image/png")
    bbox = params.pop("bbox")
    if version == "1.3.0" and bbox.count(",") == 3 and overrides.get("bbox") is None:
        b = bbox.split(",")
        bbox = ",".join([b[1], b[0], b[3], b[2]])
    url = getmap(params.pop("layers"), bbox, params.pop("srs"), version, (1, 1), fmt, **params)
    return url.replace("WIDTH=1", f"WIDTH={size[0]}").replace("HEIGHT=1", f"HEIGHT={size[1]}")


@pytest.mark.parametrize("overrides, code111, code130", BAD_GETMAP)
def test_bad_getmap_gives_service_exception(app, overrides, code111, code130) -> None:
    answer = call(app, _url("1.1.1", overrides))
    assert answer.status == 500
    assert answer.content_type.startswith("application/vnd.ogc.se_xml")
    assert answer.headers["Cache-Control"] == "no-cache, no-store"
    assert _exception_111(answer.body).get("code") == code111
    answer = call(app, _url("1.3.0", overrides))
    assert answer.status == 500 and answer.content_type.startswith("text/xml")
    assert _exception_130(answer.body).get("code") == code130


def test_130_bbox_swapped_by_mistake_is_rejected_or_drawn_not_crashed(app) -> None:
    # a lon/lat bbox sent to 1.3.0 EPSG:4326 is a valid lat/lon bbox of another place
    answer = call(app, getmap("direct", "0,40,30,60", "EPSG:4326", "1.3.0", (64, 64)))
    assert answer.status == 200 and answer.content_type == "image/png"


def test_inimage_and_blank_exceptions(app) -> None:
    inimage = call(app, _url("1.1.1", {"layers": "nope", "exceptions": "application/vnd.ogc.se_inimage"}))
    assert inimage.status == 200 and inimage.content_type == "image/png"
    assert inimage.image.size == (256, 256)
    colors = inimage.image.convert("RGB").getcolors(65536)
    assert len(colors) > 1  # the message is written into the image
    blank = call(app, _url("1.3.0", {"layers": "nope", "exceptions": "BLANK", "bgcolor": "0xFF0000"}))
    assert blank.content_type == "image/png"
    assert blank.image.convert("RGB").getcolors() == [(256 * 256, (255, 0, 0))]
    transparent = call(app, _url("1.3.0", {"layers": "nope", "exceptions": "BLANK", "transparent": "true"}))
    assert transparent.image.convert("RGBA").getextrema()[3] == (0, 0)
    jpeg = call(app, _url("1.3.0", {"layers": "nope", "exceptions": "INIMAGE", "fmt": "image/jpeg"}))
    assert jpeg.content_type == "image/jpeg"
    assert jpeg.headers["Cache-Control"] == "no-cache, no-store"
    # an unusable size or format gets a 256x256 PNG; a too large size gets XML
    fallback = call(app, _url("1.3.0", {"width": "0", "fmt": "image/nope", "exceptions": "INIMAGE"}))
    assert fallback.content_type == "image/png" and fallback.image.size == (256, 256)
    too_large = call(app, _url("1.3.0", {"width": "5000", "height": "5000", "exceptions": "INIMAGE"}))
    assert too_large.status == 500 and too_large.content_type.startswith("text/xml")
    assert b"image size too large" in too_large.body


def test_other_versions_exception_formats(app) -> None:
    answer = call(app, "/service?WMTVER=1.0.0&REQUEST=map&LAYERS=nope&SRS=EPSG:4326&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&FORMAT=PNG")
    assert answer.status == 500 and answer.content_type.startswith("text/xml")
    assert etree.fromstring(answer.body).tag == "WMTException"
    answer = call(app, _url("1.1.0", {"layers": "nope"}))
    assert answer.content_type.startswith("application/vnd.ogc.se_xml")
    assert etree.fromstring(answer.body, etree.XMLParser(load_dtd=False, no_network=True)).get("version") == "1.1.0"


@pytest.mark.parametrize(
    "query, code",
    [
        ("SERVICE=WMS&VERSION=1.1.1", "MissingParameterValue"),
        ("SERVICE=WMS&VERSION=1.1.1&REQUEST=DoSomething", "OperationNotSupported"),
        ("SERVICE=WMS&VERSION=1.1.0&REQUEST=GetLegendGraphic&LAYER=direct", "OperationNotSupported"),
    ],
)
def test_bad_requests(app, query, code) -> None:
    answer = call(app, "/service?" + query)
    assert answer.status == 500
    assert etree.fromstring(answer.body, etree.XMLParser(load_dtd=False, no_network=True)).find(".//ServiceException").get("code") == code


def test_missing_service_without_map_request_is_an_ows_exception(app) -> None:
    answer = call(app, "/service?REQUEST=GetCapabilities")
    assert answer.status == 400 and b"MissingParameterValue" in answer.body
    answer = call(app, "/service?SERVICE=WFS&REQUEST=GetCapabilities")
    assert answer.status == 400 and b"InvalidParameterValue" in answer.body


def test_strict_mode_requires_format_and_styles(make_app) -> None:
    lenient = make_app(wms_config(), "lenient.yaml")
    url = "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=direct&SRS=EPSG:4326&BBOX=0,40,30,60&WIDTH=64&HEIGHT=64"
    assert call(lenient, url).content_type == "image/png"
    strict = make_app(wms_config(strict=True), "strict.yaml")
    answer = call(strict, url)
    assert b"MissingParameterValue" in answer.body


def test_unreachable_source_is_a_service_exception(make_app, source) -> None:
    app = make_app(wms_config())
    for mode in ("error", "exception", "html", "truncated"):
        source.reset(mode)
        answer = call(app, getmap("direct", "0,40,30,60", "EPSG:4326", size=(64, 64)))
        assert answer.status == 500, mode
        assert b"ServiceException" in answer.body, mode
        assert b"Traceback" not in answer.body
