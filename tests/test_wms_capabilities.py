"""WMS GetCapabilities: valid against the OGC schemas (offline), read by OWSLib
and GDAL, with bounding boxes, scale hints, legends and query flags."""

from __future__ import annotations

import math
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image
from support.configs import wms_source
from support.wms import check_checkerboard, wms_config
from support.wsgi import call

from tileproxy.services.wms.request import negotiate_version

SCHEMAS = Path(__file__).parent / "schemas"
NS = {"wms": "http://www.opengis.net/wms", "xlink": "http://www.w3.org/1999/xlink"}

INFO_SOURCE = wms_source(layers="a,bb", wms_opts={"featureinfo": True, "legendgraphic": True})
INFO_LAYER = {
    "name": "info",
    "title": "Queryable with legend",
    "sources": ["info_wms"],
    "md": {
        "abstract": "A layer with feature info",
        "attribution": {"title": "Test data", "url": "http://example.org/data",
                        "logo": {"url": "http://example.org/logo.png", "width": 40, "height": 20}},
        "identifier": [{"url": "http://example.org/authority", "name": "example", "value": "id-17"}],
        "metadata": [{"url": "http://example.org/md.xml", "type": "ISO19115:2003", "format": "text/xml"}],
        "data": [{"url": "http://example.org/data.zip", "format": "application/zip"}],
        "feature_list": [{"url": "http://example.org/features.csv", "format": "text/csv"}],
        "keyword_list": [{"keywords": ["info"]}],
    },
}


def config(**wms_options: object) -> dict:
    """``wms_config`` with the queryable layer ``info`` (and its source) first."""
    conf = wms_config(**wms_options)
    conf["layers"].insert(0, INFO_LAYER)
    conf["sources"] = {"info_wms": INFO_SOURCE, **conf["sources"]}
    return conf


@pytest.fixture
def app(make_app):
    return make_app(config())


def caps(app, version: str, **extra: str) -> etree._Element:
    query = "&".join(f"{k}={v}" for k, v in extra.items())
    answer = call(app, f"/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION={version}&{query}")
    assert answer.status == 200, answer.body[:300]
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    return etree.fromstring(answer.body, parser)


def test_130_is_valid_against_the_schema(app) -> None:
    doc = caps(app, "1.3.0")
    # the SLD schema imports the WMS schema, so it validates sld:GetLegendGraphic as well
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "sld/1.1.0/sld_capabilities.xsd")))
    assert schema.validate(doc), schema.error_log
    assert doc.get("version") == "1.3.0"
    assert doc.find(".//wms:Request/{http://www.opengis.net/sld}GetLegendGraphic", NS) is not None


def test_111_and_tiled_are_valid_against_the_dtd(app) -> None:
    dtd = etree.DTD(str(SCHEMAS / "wms/1.1.1/WMS_MS_Capabilities.dtd"))
    for extra in ({}, {"tiled": "true"}):
        doc = caps(app, "1.1.1", **extra)
        assert dtd.validate(doc), dtd.error_log
        assert doc.get("version") == "1.1.1"
    tilesets = doc.findall(".//VendorSpecificCapabilities/TileSet")
    assert [t.findtext("Layers") for t in tilesets] == ["cached"]
    tileset = tilesets[0]
    assert tileset.findtext("SRS") == "EPSG:3857"
    assert tileset.findtext("Width") == "256" and tileset.findtext("Format") == "image/png"
    resolutions = [float(r) for r in tileset.findtext("Resolutions").split()]
    # as MapProxy (and TMS): a global grid is listed from its 2x2 tile level on
    assert resolutions[0] == pytest.approx(156543.03392804097 / 2) and len(resolutions) == 19


def test_layer_tree_bboxes_and_axis_order(app) -> None:
    doc = caps(app, "1.3.0")
    root = doc.find("wms:Capability/wms:Layer", NS)
    assert root.find("wms:Name", NS) is None  # several top-level layers: unnamed root
    assert [c.text for c in root.findall("wms:CRS", NS)] == ["EPSG:4326", "EPSG:3857", "EPSG:25832", "CRS:84", "EPSG:900913"]
    layers = {lyr.findtext("wms:Name", namespaces=NS): lyr for lyr in doc.iter("{http://www.opengis.net/wms}Layer")}
    assert set(layers) == {None, "info", "cached", "direct", "group", "coarse_only", "fine_only"}
    cached = layers["cached"]
    geo = cached.find("wms:EX_GeographicBoundingBox", NS)
    assert float(geo.findtext("wms:northBoundLatitude", namespaces=NS)) == pytest.approx(85.0511287798)
    boxes = {b.get("CRS"): b for b in cached.findall("wms:BoundingBox", NS)}
    # without bbox_srs: MapProxy's default SRS (a local SRS needs a bbox_srs entry)
    assert list(boxes) == ["EPSG:3857", "EPSG:4326", "EPSG:900913"]
    # EPSG:4326 in 1.3.0 is latitude first
    assert float(boxes["EPSG:4326"].get("minx")) == pytest.approx(-85.0511287798)
    assert float(boxes["EPSG:4326"].get("miny")) == pytest.approx(-180)
    assert float(boxes["EPSG:3857"].get("maxx")) == pytest.approx(20037508.342789244)
    doc111 = caps(app, "1.1.1")
    cached111 = [lyr for lyr in doc111.iter("Layer") if lyr.findtext("Name") == "cached"][0]
    box = [b for b in cached111.findall("BoundingBox") if b.get("SRS") == "EPSG:4326"][0]
    assert float(box.get("minx")) == pytest.approx(-180)  # 1.1.1: always x/y
    assert float(cached111.find("LatLonBoundingBox").get("maxy")) == pytest.approx(85.0511287798)


def test_scale_hints(app) -> None:
    doc = caps(app, "1.3.0")
    layers = {lyr.findtext("wms:Name", namespaces=NS): lyr for lyr in doc.iter("{http://www.opengis.net/wms}Layer")}
    assert float(layers["coarse_only"].findtext("wms:MinScaleDenominator", namespaces=NS)) == pytest.approx(1000 / 0.00028)
    assert layers["coarse_only"].find("wms:MaxScaleDenominator", NS) is None
    assert float(layers["fine_only"].findtext("wms:MaxScaleDenominator", namespaces=NS)) == pytest.approx(1000 / 0.00028)
    doc111 = caps(app, "1.1.1")
    hint = [lyr for lyr in doc111.iter("Layer") if lyr.findtext("Name") == "coarse_only"][0].find("ScaleHint")
    assert float(hint.get("min")) == pytest.approx(1000 * math.sqrt(2))


def test_metadata_queryable_and_legend(app, source) -> None:
    doc = caps(app, "1.3.0")
    service = doc.find("wms:Service", NS)
    assert service.findtext("wms:Title", namespaces=NS) == "Test WMS"
    assert service.findtext("wms:ContactInformation/wms:ContactPersonPrimary/wms:ContactOrganization", namespaces=NS) == "Tests Inc."
    assert service.find("wms:KeywordList/wms:Keyword", NS).get("vocabulary") == "test"
    assert service.findtext("wms:MaxWidth", namespaces=NS) == "4000"
    layers = {lyr.findtext("wms:Name", namespaces=NS): lyr for lyr in doc.iter("{http://www.opengis.net/wms}Layer")}
    info = layers["info"]
    assert info.get("queryable") == "1" and layers["cached"].get("queryable") is None
    assert info.findtext("wms:Attribution/wms:Title", namespaces=NS) == "Test data"
    assert info.find("wms:Attribution/wms:LogoURL", NS).get("width") == "40"
    assert info.find("wms:AuthorityURL", NS).get("name") == "example"
    assert info.find("wms:Identifier", NS).text == "id-17"
    assert info.find("wms:MetadataURL", NS).get("type") == "ISO19115:2003"
    assert info.findtext("wms:DataURL/wms:Format", namespaces=NS) == "application/zip"
    assert info.findtext("wms:FeatureListURL/wms:Format", namespaces=NS) == "text/csv"
    legend = info.find("wms:Style/wms:LegendURL", NS)
    # two source layers 'a' and 'bb': legends 10 and 20 px wide, 12 px high, stacked
    assert (legend.get("width"), legend.get("height")) == ("20", "24")
    href = legend.find("wms:OnlineResource", NS).get("{http://www.w3.org/1999/xlink}href")
    assert "request=GetLegendGraphic" in href and "layer=info" in href
    assert "GetFeatureInfo" in [op.tag.split("}")[1] for op in doc.find("wms:Capability/wms:Request", NS)]


def test_older_versions(app) -> None:
    doc110 = caps(app, "1.1.0")
    assert doc110.tag == "WMT_MS_Capabilities" and doc110.get("version") == "1.1.0"
    # the 1.1.0 DTD allows one SRS element per layer: the codes go in one list
    srs = doc110.findall("Capability/Layer/SRS")
    assert len(srs) == 1 and srs[0].text.split()[:2] == ["EPSG:4326", "EPSG:3857"]
    doc100 = caps(app, "1.0.0")
    assert doc100.get("version") == "1.0.0"
    assert doc100.find("Capability/Request/Map/Format/PNG") is not None
    answer = call(app, "/wms?WMTVER=1.0.0&REQUEST=capabilities")
    assert b'version="1.0.0"' in answer.body


@pytest.mark.parametrize(
    "requested, expected",
    [(None, "1.3.0"), ("0.9.0", "1.0.0"), ("1.0.0", "1.0.0"), ("1.1.0", "1.1.0"), ("1.2.0", "1.1.1"),
     ("1.3.0", "1.3.0"), ("2.0.0", "1.3.0"), ("junk", "1.3.0")],
)
def test_version_negotiation(app, requested, expected) -> None:
    assert negotiate_version(requested, ["1.0.0", "1.1.0", "1.1.1", "1.3.0"]) == expected
    query = "SERVICE=WMS&REQUEST=GetCapabilities" + (f"&VERSION={requested}" if requested else "")
    assert f'version="{expected}"'.encode() in call(app, "/service?" + query).body


def test_configured_versions_limit_negotiation(make_app) -> None:
    app = make_app(config(versions=["1.1.1"]))
    for requested in ("1.0.0", "1.3.0"):
        assert b'version="1.1.1"' in call(app, f"/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION={requested}").body
    assert negotiate_version("1.2.0", ["1.0.0", "1.3.0"]) == "1.0.0"


def test_owslib_reads_111_and_130(app) -> None:
    owslib_wms = pytest.importorskip("owslib.wms", reason="OWSLib is not installed")
    for version in ("1.1.1", "1.3.0"):
        body = call(app, f"/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION={version}").body
        wms = owslib_wms.WebMapService("http://localhost/service", version=version, xml=body)
        assert wms.identification.title == "Test WMS"
        assert {"cached", "direct", "info", "group", "coarse_only", "fine_only"} <= set(wms.contents)
        cached = wms["cached"]
        assert cached.boundingBoxWGS84[3] == pytest.approx(85.0511287798)
        assert "EPSG:25832" in cached.crsOptions
        assert wms["info"].queryable == 1 and wms["cached"].queryable == 0
        assert "image/png" in wms.getOperationByName("GetMap").formatOptions


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_gdal_reads_capabilities_and_maps(app, serve, tmp_path, version) -> None:
    if shutil.which("gdalinfo") is None or shutil.which("gdal_translate") is None:
        pytest.skip("GDAL tools are not installed (apt-get install gdal-bin)")
    base = serve(app)
    out = subprocess.run(["gdalinfo", f"WMS:{base}/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION={version}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LAYERS=cached" in out.stdout and "LAYERS=direct" in out.stdout
    sub = next(line.split("=", 1)[1] for line in out.stdout.splitlines()
               if "SUBDATASET" in line and "_NAME=" in line and "LAYERS=direct" in line)
    # GDAL takes the first BoundingBox (EPSG:3857, the first of the default bbox_srs
    # as in MapProxy), fetches the map through GetMap and cuts a window
    assert "SRS=EPSG:3857" in sub or "CRS=EPSG:3857" in sub
    bbox = (0.0, 4865942.279503176, 3339584.723798207, 8399737.889818357)  # 0..30°E, 40..60°N
    png = tmp_path / "window.png"
    cut = subprocess.run(["gdal_translate", "-of", "PNG", "-outsize", "300", "200", "-projwin", str(bbox[0]), str(bbox[3]),
                          str(bbox[2]), str(bbox[1]), sub, str(png)], capture_output=True, text=True, timeout=120)
    assert cut.returncode == 0, cut.stderr
    assert check_checkerboard(Image.open(png), bbox, "EPSG:3857", margin=6, tolerance=60) >= 40


def test_minimal_config_is_valid(make_app) -> None:
    app = make_app("""
services:
  wms:
layers:
  - name: only
    title: The only layer
    sources: [src]
sources:
  src:
    type: wms
    req: {url: "{source}/wms", layers: base}
""")
    doc = caps(app, "1.3.0")
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "wms/1.3.0/capabilities_1_3_0.xsd")))
    assert schema.validate(doc), schema.error_log
    root = doc.find("wms:Capability/wms:Layer", NS)
    assert root.findtext("wms:Name", namespaces=NS) == "only"  # one top-level layer is the root
    assert etree.DTD(str(SCHEMAS / "wms/1.1.1/WMS_MS_Capabilities.dtd")).validate(caps(app, "1.1.1"))


INSPIRE_NS = {"wms": "http://www.opengis.net/wms", "ic": "http://inspire.ec.europa.eu/schemas/common/1.0",
              "iv": "http://inspire.ec.europa.eu/schemas/inspire_vs/1.0"}


def test_inspire_linked_metadata(make_app) -> None:
    app = make_app(config(inspire_md={
        "type": "linked",
        "languages": {"default": "ger"},
        "metadata_url": {"url": "http://example.org/csw?id=1&x=2", "media_type": "application/vnd.iso.19139+xml"},
    }))
    doc = caps(app, "1.3.0")
    ext = doc.find("wms:Capability/iv:ExtendedCapabilities", INSPIRE_NS)
    assert ext is not None and ext.getprevious().tag == "{http://www.opengis.net/wms}Exception"
    assert ext.findtext("ic:MetadataUrl/ic:URL", namespaces=INSPIRE_NS) == "http://example.org/csw?id=1&x=2"
    assert ext.findtext("ic:SupportedLanguages/ic:DefaultLanguage/ic:Language", namespaces=INSPIRE_NS) == "ger"
    assert ext.findtext("ic:ResponseLanguage/ic:Language", namespaces=INSPIRE_NS) == "ger"
    assert "inspire_vs.xsd" in doc.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation")
    assert doc.find(".//wms:Style/wms:Name", NS).text == "inspire_common:DEFAULT"
    assert caps(app, "1.1.1").find(".//Style/Name").text == "default"  # INSPIRE is WMS 1.3.0 only


def test_inspire_embedded_metadata(make_app) -> None:
    app = make_app(config(inspire_md={
        "type": "embedded",
        "languages": {"default": "eng"},
        "resource_locators": [{"url": "http://example.org/md", "media_type": "text/html"}],
        "temporal_reference": {"date_of_creation": date(2015, 5, 1)},
        "metadata_points_of_contact": [{"organisation_name": "Example", "email": "md@example.org"}],
        "conformities": [{"title": "Regulation", "date_of_publication": date(2010, 12, 8),
                          "uris": ["http://example.org/reg"], "degree": "notEvaluated"}],
        "mandatory_keywords": ["infoMapAccessService"],
        "keywords": [{"title": "GEMET", "date_of_publication": date(2008, 6, 1), "keyword_value": "Orthoimagery"}],
        "metadata_date": date(2015, 7, 23),
    }))
    ext = caps(app, "1.3.0").find("wms:Capability/iv:ExtendedCapabilities", INSPIRE_NS)
    tags = [etree.QName(e).localname for e in ext]
    assert tags == ["ResourceLocator", "ResourceType", "TemporalReference", "Conformity", "MetadataPointOfContact",
                    "MetadataDate", "SpatialDataServiceType", "MandatoryKeyword", "Keyword", "SupportedLanguages",
                    "ResponseLanguage"]
    assert ext.findtext("ic:TemporalReference/ic:DateOfCreation", namespaces=INSPIRE_NS) == "2015-05-01"
    assert ext.findtext("ic:MetadataDate", namespaces=INSPIRE_NS) == "2015-07-23"
    assert ext.findtext("ic:Conformity/ic:Specification/ic:URI", namespaces=INSPIRE_NS) == "http://example.org/reg"
    assert ext.findtext("ic:Keyword/ic:OriginatingControlledVocabulary/ic:Title", namespaces=INSPIRE_NS) == "GEMET"
