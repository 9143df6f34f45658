"""Layer dimensions: advertised in capabilities, checked in GetMap and forwarded
to sources that list them in forward_req_params."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import call
from lxml import etree
from wms_helpers import getmap

from tileproxy.config.dimensions import expand_interval

SCHEMAS = Path(__file__).parent / "schemas"

CONFIG = """
services:
  wms:
layers:
  - name: timed
    title: With time and elevation
    sources: [timed_wms]
    dimensions:
      time:
        values: ["2020-01-01/2020-01-03/P1D"]
        default: "2020-01-03"
      elevation:
        values: [0, 500]
sources:
  timed_wms:
    type: wms
    forward_req_params: [time, elevation]
    req: {url: "{source}/wms", layers: base}
"""


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def sent_params(source) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(source.requests[-1]).query))


def test_defaults_and_values_are_forwarded(app, source) -> None:
    assert call(app, getmap("timed", size=(32, 32))).content_type == "image/png"
    assert sent_params(source)["TIME"] == "2020-01-03" and sent_params(source)["ELEVATION"] == "500"
    call(app, getmap("timed", size=(32, 32), time="2020-01-02", elevation="0"))
    assert sent_params(source)["TIME"] == "2020-01-02" and sent_params(source)["ELEVATION"] == "0"


def test_invalid_dimension_value(app, source) -> None:
    answer = call(app, getmap("timed", size=(32, 32), time="1999-01-01"))
    assert answer.status == 500 and b'code="InvalidDimensionValue"' in answer.body
    assert source.count("wms") == 0


def test_dimensions_in_capabilities(app) -> None:
    body = call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0").body
    doc = etree.fromstring(body)
    assert etree.XMLSchema(etree.parse(str(SCHEMAS / "wms/1.3.0/capabilities_1_3_0.xsd"))).validate(doc)
    dims = {d.get("name"): d for d in doc.iter("{http://www.opengis.net/wms}Dimension")}
    assert dims["time"].text == "2020-01-01,2020-01-02,2020-01-03" and dims["time"].get("units") == "ISO8601"
    assert dims["time"].get("default") == "2020-01-03" and dims["elevation"].get("default") == "500"
    doc111 = etree.fromstring(call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1").body,
                              etree.XMLParser(load_dtd=False, no_network=True))
    assert etree.DTD(str(SCHEMAS / "wms/1.1.1/WMS_MS_Capabilities.dtd")).validate(doc111)
    assert doc111.find(".//Extent[@name='time']").text == "2020-01-01,2020-01-02,2020-01-03"


def test_interval_expansion() -> None:
    assert expand_interval("2020-01-01T00:00:00Z/2020-01-01T02:00:00Z/PT1H") == [
        "2020-01-01T00:00:00Z", "2020-01-01T01:00:00Z", "2020-01-01T02:00:00Z"]
    assert expand_interval("42") == ["42"]
    with pytest.raises(ValueError):
        expand_interval("2020-01-01/2020-12-01/P1M")


def test_bad_dimension_config_names_the_key(make_app) -> None:
    from tileproxy.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"layers\[0\]\.dimensions\.time"):
        make_app(CONFIG.replace('values: ["2020-01-01/2020-01-03/P1D"]', 'values: ["2020-01-01/2020-01-03/PXD"]'))
