"""Layer dimensions on WMTS: announced in capabilities, taken from RESTful URLs and
KVP parameters, checked against the layer's values, sent to the sources, and kept
apart in file caches (MapProxy's ``<name>-<value>`` directories)."""

from __future__ import annotations

import pytest
from lxml import etree
from support.configs import cache, layer, wms_source
from support.wsgi import call

NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}

CONFIG = {
    "services": {
        "wmts": {
            "restful_template": "/{Layer}/{TileMatrixSet}/{Time}/{Elevation}/{TileMatrix}/{TileCol}/{TileRow}.{Format}",
        },
    },
    "globals": {"cache": {"base_dir": "./cache_data"}},
    "layers": [
        {
            "name": "weather",
            "title": "Weather",
            "sources": ["weather_cache"],
            "dimensions": {
                "Time": {"values": ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]},
                "elevation": {"values": [0, 500, 1000], "default": 500},
            },
        },
        {
            "name": "stored",
            "title": "Weather, cached",
            "sources": ["stored_cache"],
            "dimensions": {"time": {"values": ["2024-01-01", "2024-01-02"]}},
        },
        layer("plain", "No dimensions", "plain_cache"),
    ],
    "caches": {
        "weather_cache": cache("weather_wms", disable_storage=True),
        "stored_cache": cache("weather_wms"),
        "plain_cache": cache("plain_wms", disable_storage=True),
    },
    "sources": {
        "weather_wms": wms_source(layers="weather", forward_req_params=["time", "elevation"]),
        "plain_wms": wms_source(layers="plain", forward_req_params=["time", "elevation"]),
    },
}

KVP = ("/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&STYLE=default&TILEMATRIXSET=GLOBAL_WEBMERCATOR"
       "&TILEMATRIX=01&TILEROW=0&TILECOL=0&FORMAT=image/png")


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def forwarded(source) -> tuple[str | None, str | None]:
    params = source.params()
    return params.get("TIME"), params.get("ELEVATION")


def test_restful_values_reach_the_source(app, source) -> None:
    answer = call(app, "/wmts/weather/GLOBAL_WEBMERCATOR/2024-01-01T00:00:00Z/1000/01/0/0.png")
    assert answer.status == 200 and answer.content_type == "image/png"
    assert forwarded(source) == ("2024-01-01T00:00:00Z", "1000")
    # 'default' stands for the configured default (the last value without one)
    assert call(app, "/wmts/weather/GLOBAL_WEBMERCATOR/default/default/01/0/0.png").status == 200
    assert forwarded(source) == ("2024-01-02T00:00:00Z", "500")


def test_kvp_values_reach_the_source(app, source) -> None:
    assert call(app, KVP + "&LAYER=weather&time=2024-01-01T00:00:00Z&ELEVATION=0").status == 200
    assert forwarded(source) == ("2024-01-01T00:00:00Z", "0")
    assert call(app, KVP + "&LAYER=weather").status == 200
    assert forwarded(source) == ("2024-01-02T00:00:00Z", "500")
    # a layer without dimensions ignores dimension parameters in KVP requests
    assert call(app, KVP + "&LAYER=plain&TIME=2024-01-01T00:00:00Z").status == 200
    assert forwarded(source) == (None, None)


@pytest.mark.parametrize("url", [
    "/wmts/weather/GLOBAL_WEBMERCATOR/2030-01-01T00:00:00Z/default/01/0/0.png",  # not a value of the layer
    "/wmts/plain/GLOBAL_WEBMERCATOR/2024-01-01T00:00:00Z/default/01/0/0.png",  # the layer has no time
    KVP + "&LAYER=weather&ELEVATION=250",
])
def test_invalid_values_are_400(app, source, url) -> None:
    answer = call(app, url)
    assert answer.status == 400 and b'exceptionCode="InvalidParameterValue"' in answer.body
    assert source.count("wms") == 0


def test_file_cache_keeps_values_apart(app, source, tmp_path) -> None:
    for day in ("2024-01-01", "2024-01-02", "2024-01-01"):
        answer = call(app, f"/wmts/stored/GLOBAL_WEBMERCATOR/{day}/default/01/1/0.png")
        assert answer.status == 200
    assert source.count("wms") == 2  # the third request was a cache hit
    cache = tmp_path / "cache_data" / "stored_cache_EPSG3857"
    days = sorted(p.name for p in cache.iterdir() if p.is_dir())
    assert days == ["time-2024-01-01", "time-2024-01-02"]
    assert (cache / "time-2024-01-02" / "01" / "000" / "000" / "001" / "000" / "000" / "000.png").is_file()


def test_capabilities_list_values_and_defaults(app) -> None:
    doc = etree.fromstring(call(app, "/wmts/1.0.0/WMTSCapabilities.xml").body)
    layer = next(lyr for lyr in doc.iterfind("w:Contents/w:Layer", NS)
                 if lyr.findtext("ows:Identifier", namespaces=NS) == "weather")
    dims = {d.findtext("ows:Identifier", namespaces=NS): (d.findtext("w:Default", namespaces=NS),
                                                          [v.text for v in d.iterfind("w:Value", NS)])
            for d in layer.iterfind("w:Dimension", NS)}
    # named as the RESTful template writes them
    assert dims == {"Time": ("2024-01-02T00:00:00Z", ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]),
                    "Elevation": ("500", ["0", "500", "1000"])}
    template = layer.find("w:ResourceURL", NS).get("template")
    assert template == ("http://localhost/wmts/weather/{TileMatrixSet}/{Time}/{Elevation}/"
                        "{TileMatrix}/{TileCol}/{TileRow}.png")
    # the KVP document has them too
    kvp = etree.fromstring(call(app, "/service?SERVICE=WMTS&REQUEST=GetCapabilities").body)
    assert len(kvp.findall("w:Contents/w:Layer/w:Dimension", NS)) == 3
