"""Layer dimensions: advertised in capabilities, checked in GetMap and forwarded
to sources that list them in forward_req_params."""

from __future__ import annotations

import copy
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from lxml import etree
from support.configs import cache, layer, merge, put, wms_source
from support.wms import DIMENSIONS, getmap
from support.wsgi import call

from tileproxy.config.dimensions import dimension_values, expand_interval

SCHEMAS = Path(__file__).parent / "schemas"

CONFIG = {
    "services": {"wms": None},
    "layers": [
        {**layer("timed", "With time and elevation", "timed_wms"), "dimensions": DIMENSIONS},
    ],
    "sources": {"timed_wms": wms_source(forward_req_params=["time", "elevation"])},
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def sent_params(source) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(source.requests[-1]).query))


def test_given_values_are_forwarded(app, source) -> None:
    call(app, getmap("timed", size=(32, 32), time="2020-01-02", elevation="0"))
    assert sent_params(source)["TIME"] == "2020-01-02" and sent_params(source)["ELEVATION"] == "0"
    # as in MapProxy, a dimension the request leaves out is not filled in: the source applies its default
    assert call(app, getmap("timed", size=(32, 32))).content_type == "image/png"
    assert "TIME" not in sent_params(source) and "ELEVATION" not in sent_params(source)


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
    # WMS 1.1: the values in the Extent element (the standard's place) and, as
    # MapProxy writes them, in the Dimension element with its default
    for version in ("1.1.1", "1.1.0"):
        doc11 = etree.fromstring(call(app, f"/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION={version}").body,
                                 etree.XMLParser(load_dtd=False, no_network=True))
        assert doc11.find(".//Extent[@name='time']").text == "2020-01-01,2020-01-02,2020-01-03"
        assert doc11.find(".//Extent[@name='time']").get("default") == "2020-01-03"
        assert doc11.find(".//Dimension[@name='time']").text == "2020-01-01,2020-01-02,2020-01-03"
        assert doc11.find(".//Dimension[@name='elevation']").get("default") == "500"
    doc100 = etree.fromstring(call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&WMTVER=1.0.0").body,
                              etree.XMLParser(load_dtd=False, no_network=True))
    assert doc100.find(".//Dimension[@name='elevation']").text == "0,500"


def test_interval_expansion() -> None:
    assert expand_interval("2020-01-01T00:00:00Z/2020-01-01T02:00:00Z/PT1H") == [
        "2020-01-01T00:00:00Z", "2020-01-01T01:00:00Z", "2020-01-01T02:00:00Z"]
    assert expand_interval("42") == ["42"]
    # as MapProxy: steps continue while they come before end + period, so the last may pass the end
    assert expand_interval("2020-09-22T11:20:00Z/2020-09-22T14:20:00Z/PT2H") == [
        "2020-09-22T11:20:00Z", "2020-09-22T13:20:00Z", "2020-09-22T15:20:00Z"]
    assert expand_interval("2020-01-31T00:00:00/P1M") == ["2020-01-31T00:00:00", "2020-02-29T00:00:00"]
    assert expand_interval("P1D/2020-01-03T00:00:00Z") == ["2020-01-02T00:00:00Z", "2020-01-03T00:00:00Z"]
    assert expand_interval("2020-09-22T11:20Z") == ["2020-09-22T11:20:00Z"]
    with pytest.raises(ValueError):
        expand_interval("2020-01-01/2020-12-01/P0D")


def test_dimension_values_as_mapproxy_reads_them() -> None:
    assert dimension_values("elevation", ["0/500/1000"]) == ["0", "500", "1000"]
    assert dimension_values("dim_reference_time", ["2020-01-01T00:00:00Z/2020-01-01T01:00:00Z/PT1H"]) == [
        "2020-01-01T00:00:00Z", "2020-01-01T01:00:00Z"]
    assert dimension_values("time", ["2020-01-01/P1D", 7]) == ["2020-01-01/P1D", "7"]  # several: as written


def test_bad_dimension_config_names_the_key(make_app) -> None:
    from tileproxy.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"layers\[0\]\.dimensions\.time"):
        make_app(put(copy.deepcopy(CONFIG), "layers.0.dimensions.time.values", ["2020-01-01/2020-01-03/PXD"]))


CACHED = {
    "services": {"wms": None},
    "layers": [
        {
            **layer("timed", "Cached with time", "timed_cache"),
            "dimensions": {
                "time": {
                    "values": ["2020-01-01T00:00:00Z/2020-01-01T02:00:00Z/PT1H"],
                    "default": "2020-01-01T02:00:00Z",
                },
            },
        },
    ],
    "caches": {"timed_cache": cache("timed_wms")},
    "sources": {"timed_wms": wms_source(forward_req_params=["time"])},
    "globals": {"cache": {"base_dir": "./cache_data"}},
}
TILE_BBOX = "0.0,0.0,20037508.342789244,20037508.342789244"  # tile (1, 0, 1)


def test_cache_keeps_tiles_per_dimension_value(make_app, source, tmp_path) -> None:
    app = make_app(CACHED)
    for time in ("2020-01-01T01:00:00Z", "2020-01-01T02:00:00Z", None):
        extra = {"time": time} if time else {}
        answer = call(app, getmap("timed", TILE_BBOX, "EPSG:3857", size=(256, 256), **extra))
        assert answer.status == 200 and answer.content_type == "image/png"
        assert sent_params(source).get("TIME") == time
    base = tmp_path / "cache_data" / "timed_cache_EPSG3857"
    # MapProxy's layout: a directory per value set in front of the tile path
    assert (base / "time-2020-01-01T01:00:00Z" / "01/000/000/001/000/000/000.png").is_file()
    assert (base / "time-2020-01-01T02:00:00Z" / "01/000/000/001/000/000/000.png").is_file()
    assert (base / "01/000/000/001/000/000/000.png").is_file()
    # a cached value is served from its own directory
    requests = len(source.requests)
    call(app, getmap("timed", TILE_BBOX, "EPSG:3857", size=(256, 256), time="2020-01-01T01:00:00Z"))
    assert len(source.requests) == requests
    refused = call(app, getmap("timed", TILE_BBOX, "EPSG:3857", size=(256, 256), time="../../etc"))
    assert b'code="InvalidDimensionValue"' in refused.body and len(source.requests) == requests


def test_cache_that_cannot_keep_values_apart_ignores_them(make_app, source, tmp_path) -> None:
    app = make_app(merge(CACHED, {"caches": {"timed_cache": {"cache": {"type": "mbtiles", "filename": "timed.mbtiles"}}}}))
    assert any("cannot keep tiles of different dimension values apart" in w for w in app.config.warnings)
    for _ in range(2):
        answer = call(app, getmap("timed", TILE_BBOX, "EPSG:3857", size=(256, 256), time="2020-01-01T01:00:00Z"))
        assert answer.status == 200 and answer.content_type == "image/png"
    assert source.count("wms") == 1  # one tile for all values, made without them
    assert "TIME" not in sent_params(source)
