"""GetFeatureInfo: forwarded to queryable sources, merged as MapProxy merges,
with the point translated when the source works in another SRS."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from lxml import etree, html
from support.configs import layer, merge, wms_source
from support.source_server import COLORS, expected_color
from support.wsgi import call

CONFIG = {
    "services": {
        "wms": {
            "srs": ["EPSG:4326", "EPSG:3857", "EPSG:25832"],
            "featureinfo_types": ["text", "html", "xml", "json"],
        },
    },
    "layers": [
        layer("both", "Two queryable sources", "info_a", "info_b"),
        layer("projected", "Source only in web mercator", "info_merc"),
        layer("plain", "Not queryable", "info_plain"),
    ],
    "sources": {
        "info_a": wms_source(layers="alpha", wms_opts={"featureinfo": True}),
        "info_b": wms_source(layers="beta", wms_opts={"featureinfo": True, "version": "1.3.0"}),
        "info_merc": wms_source(layers="merc", wms_opts={"featureinfo": True}, supported_srs=["EPSG:3857"]),
        "info_plain": wms_source(layers="plain"),
    },
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def fi_url(layer: str, info_format: str, version: str = "1.1.1", srs: str = "EPSG:4326",
           bbox: str = "0,40,30,60", x: int = 10, y: int = 10, size: int = 100, **extra: str) -> str:
    params = {"SERVICE": "WMS", "REQUEST": "GetFeatureInfo", "VERSION": version, "LAYERS": layer,
              "QUERY_LAYERS": layer, "STYLES": "", "BBOX": bbox, "WIDTH": str(size), "HEIGHT": str(size),
              "FORMAT": "image/png", "INFO_FORMAT": info_format, "CRS" if version == "1.3.0" else "SRS": srs}
    params["I" if version == "1.3.0" else "X"] = str(x)
    params["J" if version == "1.3.0" else "Y"] = str(y)
    params.update({k.upper(): v for k, v in extra.items()})
    return "/service?" + urlencode(params)


def test_html_documents_merge_into_one_body(app) -> None:
    answer = call(app, fi_url("both", "text/html"))
    assert answer.status == 200 and answer.content_type.startswith("text/html")
    doc = html.document_fromstring(answer.body)
    assert len(doc.findall("body")) == 1
    assert [p.text.split(":")[0] for p in doc.find("body").findall("p")] == ["alpha", "beta"]


def test_xml_documents_merge_into_the_first_root(app) -> None:
    for version, mime in (("1.1.1", "application/vnd.ogc.gml"), ("1.3.0", "text/xml")):
        answer = call(app, fi_url("both", mime, version=version, bbox="40,0,60,30" if version == "1.3.0" else "0,40,30,60"))
        assert answer.content_type.startswith(mime)
        root = etree.fromstring(answer.body)
        assert root.tag == "features"
        assert [f.get("layer") for f in root] == ["alpha", "beta"]


def test_json_features_are_collected(app) -> None:
    answer = call(app, fi_url("both", "application/json"))
    assert answer.content_type == "application/json"
    doc = json.loads(answer.body)
    assert doc["type"] == "FeatureCollection"
    assert [f["properties"]["layer"] for f in doc["features"]] == ["alpha", "beta"]


def test_text_is_concatenated(app, source) -> None:
    answer = call(app, fi_url("both", "text/plain"))
    assert answer.content_type.startswith("text/plain")
    lines = [line for line in answer.text.splitlines() if line]  # answers joined by a newline, each as sent
    assert [line.split(":")[0] for line in lines] == ["alpha", "beta"]
    sent = [r for r in source.requests if "GetFeatureInfo" in r]
    assert any("X=10" in r for r in sent) and any("I=10" in r for r in sent)  # 1.1.1 and 1.3.0 sources


@pytest.mark.parametrize("srs, bbox", [("EPSG:4326", (-60.0, -75.0, 60.0, 75.0)), ("EPSG:25832", (0.0, 4.5e6, 1.2e6, 6.5e6))])
def test_point_is_translated_to_the_source_srs(app, source, srs, bbox) -> None:
    size = 100
    checked = 0
    for x, y in [(x, y) for x in range(3, 100, 11) for y in range(3, 100, 11)]:
        wx = bbox[0] + (x + 0.5) * (bbox[2] - bbox[0]) / size
        wy = bbox[3] - (y + 0.5) * (bbox[3] - bbox[1]) / size
        want = "red" if expected_color(wx, wy, srs) == COLORS[0] else "blue"
        # skip points close to a checkerboard edge (one pixel of rounding)
        d = (bbox[2] - bbox[0]) / size
        if len({expected_color(wx + dx, wy + dy, srs) for dx in (-d, d) for dy in (-d, d)}) > 1:
            continue
        answer = call(app, fi_url("projected", "text/plain", srs=srs, bbox=",".join(map(repr, bbox)), x=x, y=y, size=size))
        assert answer.text.strip() == f"merc: {want}", (x, y)
        checked += 1
    assert checked >= 15
    assert all("SRS=EPSG%3A3857" in r for r in source.requests if "GetFeatureInfo" in r)


@pytest.mark.parametrize(
    "overrides, code",
    [
        ({"query_layers": "plain"}, None),  # no code before WMS 1.3.0, as in MapProxy
        ({"query_layers": "nope"}, "LayerNotDefined"),
        ({"x": "100"}, "InvalidPoint"),
        ({"y": "-1"}, "InvalidPoint"),
        ({"x": "nan"}, "InvalidParameterValue"),
        ({"info_format": "text/plain%0D%0AX-Injected:%201"}, "InvalidFormat"),
        ({"srs": "EPSG:31467"}, "InvalidSRS"),
    ],
)
def test_bad_feature_info_requests(app, overrides, code) -> None:
    url = fi_url("both", "text/plain")
    for key, value in overrides.items():
        upper = key.upper()
        url = "&".join(f"{upper}={value}" if part.startswith(upper + "=") else part for part in url.split("&"))
    answer = call(app, url)
    assert answer.status == 500  # as MapProxy answers every XML exception
    doc = etree.fromstring(answer.body, etree.XMLParser(load_dtd=False, no_network=True))
    assert doc.find("ServiceException").get("code") == code


def test_featureinfo_xslt(make_app, tmp_path) -> None:
    xslt = tmp_path / "count.xsl"
    xslt.write_text(
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:template match="/"><count><xsl:value-of select="count(//feature)"/></count></xsl:template>'
        "</xsl:stylesheet>"
    )
    app = make_app(merge(CONFIG, {"services": {"wms": {"featureinfo_xslt": {"xml": str(xslt)}}}}))
    answer = call(app, fi_url("both", "application/vnd.ogc.gml"))
    assert etree.fromstring(answer.body).text == "2"


def test_source_featureinfo_xslt_rewrites_incoming_documents(make_app, tmp_path) -> None:
    xslt = tmp_path / "rename.xsl"
    xslt.write_text(
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:template match="/features"><renamed><xsl:for-each select="feature">'
        '<item name="{@layer}"/></xsl:for-each></renamed></xsl:template></xsl:stylesheet>'
    )
    wms_opts = {"featureinfo": True, "featureinfo_xslt": str(xslt), "featureinfo_format": "text/xml"}
    config = merge(CONFIG, {"sources": {"info_a": {"wms_opts": wms_opts}}})
    assert config != CONFIG
    app = make_app(config)
    answer = call(app, fi_url("both", "application/vnd.ogc.gml"))
    root = etree.fromstring(answer.body)
    assert root.tag == "renamed"  # the first (transformed) document is the root
    assert [(c.tag, c.get("name") or c.get("layer")) for c in root] == [("item", "alpha"), ("feature", "beta")]
