"""WMTS 1.0.0: KVP and RESTful capabilities and tiles, schema-valid capabilities,
and real clients (OWSLib, GDAL) reading them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from support.configs import cache, layer, merge, wms_source
from support.wsgi import call

from tileproxy.grid import predefined_grid

SCHEMAS = Path(__file__).parent / "schemas"
NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1",
      "xlink": "http://www.w3.org/1999/xlink"}

CONFIG = {
    "services": {"wmts": None},
    "layers": [
        {"name": "web", "title": "Web map", "md": {"abstract": "Tiles & more"}, "sources": ["web_cache"]},
        layer("merc", "Mercator", "merc_cache"),
        layer("wgs", "WGS84", "wgs_cache"),
    ],
    "caches": {
        "web_cache": cache("wms", meta_size=None),
        "merc_cache": cache("wms", grid="GLOBAL_MERCATOR", meta_size=None, format="image/jpeg"),
        "wgs_cache": {"grids": ["wgs_nw", "GLOBAL_GEODETIC"], "sources": ["wms"]},
    },
    "grids": {
        "wgs_nw": {
            "srs": "EPSG:4326",
            "bbox": [-180, -90, 180, 90],
            "origin": "nw",
            "min_res": 0.703125,
            "num_levels": 5,
        },
    },
    "sources": {"wms": wms_source()},
    "globals": {"cache": {"base_dir": "./cache_data", "meta_size": [1, 1], "meta_buffer": 0}},
}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "wmts/1.0/wmtsGetCapabilities_response.xsd"), parser))


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def valid_xml(answer, schema: etree.XMLSchema) -> etree._Element:
    assert answer.status == 200, answer.body
    doc = etree.fromstring(answer.body)
    assert schema.validate(doc), schema.error_log
    return doc


def source_bbox(source) -> list[float]:
    return [float(v) for v in source.params()["BBOX"].split(",")]


def test_kvp_capabilities_are_schema_valid(app, schema) -> None:
    answer = call(app, "/service?SERVICE=WMTS&REQUEST=GetCapabilities")
    assert answer.content_type.startswith("application/xml")
    doc = valid_xml(answer, schema)
    layers = doc.findall("w:Contents/w:Layer", NS)
    assert [lyr.findtext("ows:Identifier", namespaces=NS) for lyr in layers] == ["web", "merc", "wgs"]
    assert layers[0].findtext("ows:Abstract", namespaces=NS) == "Tiles & more"
    assert layers[1].findtext("w:Format", namespaces=NS) == "image/jpeg"
    # GLOBAL_GEODETIC cannot be read from the north-west corner: left out
    wgs_sets = [e.text for e in layers[2].findall("w:TileMatrixSetLink/w:TileMatrixSet", NS)]
    assert wgs_sets == ["wgs_nw"]
    ops = {op.get("name"): op.find(".//ows:Get", NS).get("{http://www.w3.org/1999/xlink}href")
           for op in doc.findall("ows:OperationsMetadata/ows:Operation", NS)}
    assert ops == {"GetCapabilities": "http://localhost/service?", "GetTile": "http://localhost/service?",
                   "GetFeatureInfo": "http://localhost/service?"}
    assert doc.find("w:Contents/w:Layer/w:ResourceURL", NS) is None


def test_tile_matrix_sets(app, schema) -> None:
    doc = valid_xml(call(app, "/wmts/1.0.0/WMTSCapabilities.xml"), schema)
    sets = {s.findtext("ows:Identifier", namespaces=NS): s for s in doc.findall("w:Contents/w:TileMatrixSet", NS)}
    assert set(sets) == {"GLOBAL_WEBMERCATOR", "GLOBAL_MERCATOR", "wgs_nw"}

    web = sets["GLOBAL_WEBMERCATOR"]
    # MapProxy's form of the URN: the grid's SRS code as configured
    assert web.findtext("ows:SupportedCRS", namespaces=NS) == "urn:ogc:def:crs:EPSG:3857"
    matrices = web.findall("w:TileMatrix", NS)
    assert len(matrices) == 20
    m0 = matrices[0]
    # matrix identifiers are MapProxy's two-digit level names
    assert [m.findtext("ows:Identifier", namespaces=NS) for m in matrices[:11:5]] == ["00", "05", "10"]
    assert float(m0.findtext("w:ScaleDenominator", namespaces=NS)) == pytest.approx(559082264.0287178)
    assert [float(v) for v in m0.findtext("w:TopLeftCorner", namespaces=NS).split()] == pytest.approx(
        [-20037508.342789244, 20037508.342789244])
    m5 = matrices[5]
    assert (m5.findtext("w:MatrixWidth", namespaces=NS), m5.findtext("w:MatrixHeight", namespaces=NS)) == ("32", "32")
    assert sets["GLOBAL_MERCATOR"].findtext("ows:SupportedCRS", namespaces=NS) == "urn:ogc:def:crs:EPSG:900913"

    wgs = sets["wgs_nw"]
    assert wgs.findtext("ows:SupportedCRS", namespaces=NS) == "urn:ogc:def:crs:EPSG:4326"
    w0 = wgs.find("w:TileMatrix", NS)
    # EPSG:4326 is latitude first
    assert [float(v) for v in w0.findtext("w:TopLeftCorner", namespaces=NS).split()] == [90.0, -180.0]
    assert float(w0.findtext("w:ScaleDenominator", namespaces=NS)) == pytest.approx(279541132.0143589)
    assert (w0.findtext("w:MatrixWidth", namespaces=NS), w0.findtext("w:MatrixHeight", namespaces=NS)) == ("2", "1")


def test_rest_capabilities_resource_urls(app, schema) -> None:
    doc = valid_xml(call(app, "/wmts/1.0.0/WMTSCapabilities.xml"), schema)
    urls = {lyr.findtext("ows:Identifier", namespaces=NS): lyr.find("w:ResourceURL", NS)
            for lyr in doc.findall("w:Contents/w:Layer", NS)}
    assert urls["web"].get("template") == "http://localhost/wmts/web/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.png"
    assert urls["merc"].get("template").endswith("/wmts/merc/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.jpeg")
    assert urls["merc"].get("format") == "image/jpeg" and urls["merc"].get("resourceType") == "tile"
    meta_url = doc.find("w:ServiceMetadataURL", NS).get("{http://www.w3.org/1999/xlink}href")
    assert meta_url == "http://localhost/wmts/1.0.0/WMTSCapabilities.xml"


def test_kvp_and_rest_tiles_address_rows_from_the_top(app, source) -> None:
    kvp = call(app, "/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=merc&STYLE=default"
                    "&TILEMATRIXSET=GLOBAL_MERCATOR&TILEMATRIX=2&TILEROW=0&TILECOL=1&FORMAT=image/jpeg")
    assert kvp.status == 200 and kvp.content_type == "image/jpeg"
    # row 0 from the top is y=3 in the sw grid
    assert source_bbox(source) == pytest.approx(predefined_grid("GLOBAL_MERCATOR").tile_bbox((1, 3, 2)))
    rest = call(app, "/wmts/merc/GLOBAL_MERCATOR/2/1/0.jpeg")
    assert rest.body == kvp.body and source.count("wms") == 1
    web = call(app, "/wmts/web/GLOBAL_WEBMERCATOR/2/1/0.png")
    assert web.status == 200 and web.content_type == "image/png"
    assert source_bbox(source) == pytest.approx(predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((1, 0, 2)))
    lower = call(app, "/service?service=wmts&request=gettile&layer=wgs&tilematrixset=wgs_nw&tilematrix=0"
                      "&tilerow=0&tilecol=1&format=image/png")
    assert lower.status == 200
    assert source_bbox(source) == pytest.approx([0, -90, 180, 90])


def test_custom_restful_template(make_app, source, schema) -> None:
    template = "/tiles/{Layer}/{Style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.{Format}"
    app = make_app(merge(CONFIG, {"services": {"wmts": {"restful_template": template}}}))
    doc = valid_xml(call(app, "/wmts/1.0.0/WMTSCapabilities.xml"), schema)
    url = doc.find("w:Contents/w:Layer/w:ResourceURL", NS).get("template")
    # {Style} stays for the client to fill, as in MapProxy
    assert url == "http://localhost/wmts/tiles/web/{Style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.png"
    answer = call(app, "/wmts/tiles/web/default/GLOBAL_WEBMERCATOR/3/2/5.png")  # row 2, col 5
    assert answer.status == 200
    assert source_bbox(source) == pytest.approx(predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((5, 2, 3)))
    assert call(app, "/wmts/web/GLOBAL_WEBMERCATOR/3/5/2.png").status == 404  # the default template is off


def test_kvp_disabled_and_rest_disabled(make_app) -> None:
    app = make_app(merge(CONFIG, {"services": {"wmts": {"kvp": False, "restful": False}}}))
    kvp = call(app, "/service?SERVICE=WMTS&REQUEST=GetCapabilities")
    assert 400 <= kvp.status < 600 and kvp.status != 500 and b"ExceptionReport" in kvp.body
    assert call(app, "/wmts/1.0.0/WMTSCapabilities.xml").status == 404


def test_owslib_reads_capabilities_and_fetches_a_tile(app, serve, source) -> None:
    owslib_wmts = pytest.importorskip("owslib.wmts")
    base = serve(app)
    caps = call(app, "/service?SERVICE=WMTS&REQUEST=GetCapabilities").body.replace(b"http://localhost", base.encode())
    wmts = owslib_wmts.WebMapTileService(base + "/service", xml=caps)
    assert set(wmts.contents) == {"web", "merc", "wgs"}
    assert wmts.contents["web"].title == "Web map"
    tms = wmts.tilematrixsets["GLOBAL_WEBMERCATOR"]
    assert tms.crs == "urn:ogc:def:crs:EPSG:3857"
    assert tms.tilematrix["03"].matrixwidth == 8
    assert tms.tilematrix["00"].topleftcorner == pytest.approx((-20037508.342789244, 20037508.342789244))
    tile = wmts.gettile(layer="web", tilematrixset="GLOBAL_WEBMERCATOR", tilematrix="01", row=0, column=1,
                        format="image/png")
    data = tile.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert source.count("wms") == 1


def gdal_env(tmp_path: Path) -> dict[str, str]:
    # GDAL's own tile cache goes to the test's directory, not the working directory
    return {"PATH": "/usr/bin:/bin", "GDAL_HTTP_TIMEOUT": "20", "GDAL_DEFAULT_WMS_CACHE_PATH": str(tmp_path / "gdal_cache")}


@pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="gdalinfo (Debian gdal-bin) is not installed")
def test_gdal_opens_the_wmts(app, serve, source, tmp_path) -> None:
    base = serve(app)
    proc = subprocess.run(["gdalinfo", f"WMTS:{base}/wmts/1.0.0/WMTSCapabilities.xml,layer=web"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=gdal_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Driver: WMTS" in proc.stdout
    # 2^19 tiles of 256 px at level 19 (one row more: the WGS84BoundingBox, at full
    # precision as MapProxy writes it, reaches a hair beyond 85.0511 degrees)
    assert re.search(r"Size is 134217728, 13421772[89]\n", proc.stdout)
    assert "3857" in proc.stdout
    # fetch a downsampled image: GDAL reads the coarsest level through our tiles
    out = tmp_path / "out.png"
    proc = subprocess.run(["gdal_translate", "-q", "-of", "PNG", "-outsize", "256", "256",
                           f"WMTS:{base}/wmts/1.0.0/WMTSCapabilities.xml,layer=web", str(out)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=gdal_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert source.count("wms") >= 1
