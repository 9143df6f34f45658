"""WMTS capabilities details MapProxy configurations rely on: service metadata
(the WMS metadata beneath the WMTS one), LegendURLs, layer extents from coverages,
grid names as TileMatrixSet identifiers, and which layers are published."""

from __future__ import annotations

import pytest
from lxml import etree
from support.configs import cache, layer, wms_source
from support.wsgi import call

NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1",
      "xlink": "http://www.w3.org/1999/xlink"}
HREF = "{http://www.w3.org/1999/xlink}href"

CONFIG = {
    "services": {
        "wms": {
            "versions": ["1.1.1", "1.3.0"],
            "md": {
                "title": "Our maps",
                "abstract": "Maps of the city",
                "keyword_list": [{"keywords": ["wms"]}],
                "contact": {"person": "Ann", "organization": "City"},
            },
        },
        "wmts": {"md": {"keyword_list": [{"keywords": ["tiles", "city"]}]}},
    },
    "layers": [
        {
            "name": "parks",
            "title": "Parks",
            "legendurl": "http://example.org/parks.png",
            "sources": ["parks_cache"],
        },
        {
            "name": "roads",
            "title": "Roads",
            "wmts_kvp_legendurl": "{base_url}/legends/{layer_name}.png?a=1&amp;b=2",
            "wmts_rest_legendurl": "http://example.org/legend?layer={layer_name}",
            "sources": ["roads_cache"],
        },
        layer("water", "Water", "water_cache"),
        {"name": "wms_only", "title": "No tiles", "tile_sources": [], "sources": ["parks_cache"]},
    ],
    "caches": {
        "parks_cache": cache(
            "wms",
            grid="city",
            meta_size=None,
            format="png8a",
            cache={"type": "file", "coverage": {"bbox": [10, 50, 12, 52], "srs": "EPSG:4326"}},
        ),
        "roads_cache": cache("roads_wms", meta_size=None),
        "water_cache": cache("wms", meta_size=None),
    },
    "grids": {"city": {"name": "CityGrid", "base": "GLOBAL_WEBMERCATOR"}},
    "sources": {
        "wms": wms_source(),
        "roads_wms": wms_source(
            layers="roads",
            coverage={"bbox": [5.5, 47.25, 15.0, 55.0], "srs": "EPSG:4326"},
        ),
    },
    "globals": {"cache": {"base_dir": "./cache_data"}},
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def caps(app, rest: bool) -> etree._Element:
    url = "/wmts/1.0.0/WMTSCapabilities.xml" if rest else "/service?SERVICE=WMTS&REQUEST=GetCapabilities"
    answer = call(app, url)
    assert answer.status == 200
    return etree.fromstring(answer.body)


def layers(doc) -> dict[str, etree._Element]:
    return {lyr.findtext("ows:Identifier", namespaces=NS): lyr for lyr in doc.iterfind("w:Contents/w:Layer", NS)}


def test_service_metadata_is_the_wms_one_with_the_wmts_one_on_top(app) -> None:
    doc = caps(app, rest=False)
    ident = doc.find("ows:ServiceIdentification", NS)
    assert ident.findtext("ows:Title", namespaces=NS) == "Our maps"
    assert ident.findtext("ows:Abstract", namespaces=NS) == "Maps of the city"
    assert [k.text for k in ident.iterfind("ows:Keywords/ows:Keyword", NS)] == ["tiles", "city"]
    provider = doc.find("ows:ServiceProvider", NS)
    assert provider.findtext("ows:ProviderName", namespaces=NS) == "City"
    assert provider.findtext("ows:ServiceContact/ows:IndividualName", namespaces=NS) == "Ann"


def test_legend_urls(app) -> None:
    for rest, roads_url in ((False, "http://localhost/legends/roads.png?a=1&b=2"),
                            (True, "http://example.org/legend?layer=roads")):
        found = layers(caps(app, rest))
        assert found["roads"].find("w:Style/w:LegendURL", NS).get(HREF) == roads_url
        # a layer with a legendurl gets the WMS GetLegendGraphic of the newest WMS version
        parks = found["parks"].find("w:Style/w:LegendURL", NS)
        assert parks.get("format") == "image/png"
        assert parks.get(HREF) == ("http://localhost/service?service=WMS&request=GetLegendGraphic&version=1.3.0"
                                   "&format=image%2Fpng&layer=parks")
        assert found["water"].find("w:Style/w:LegendURL", NS) is None


def test_extents_come_from_coverages(app) -> None:
    found = layers(caps(app, rest=True))

    def corners(name: str) -> tuple[str, str]:
        box = found[name].find("ows:WGS84BoundingBox", NS)
        return box.findtext("ows:LowerCorner", namespaces=NS), box.findtext("ows:UpperCorner", namespaces=NS)

    assert corners("parks") == ("10 50", "12 52")  # the cache coverage, as written
    assert corners("roads") == ("5.5 47.25", "15.0 55.0")  # the source coverage
    assert corners("water") == ("-180.0 -85.0511287798066", "180.0 85.0511287798066")  # the grid


def test_layers_and_matrix_sets(app, source) -> None:
    doc = caps(app, rest=True)
    found = layers(doc)
    assert list(found) == ["parks", "roads", "water"]  # tile_sources: [] publishes no tiles
    # a grid's name: is its TileMatrixSet identifier, in capabilities and requests
    assert found["parks"].findtext("w:TileMatrixSetLink/w:TileMatrixSet", namespaces=NS) == "CityGrid"
    sets = [s.findtext("ows:Identifier", namespaces=NS) for s in doc.iterfind("w:Contents/w:TileMatrixSet", NS)]
    assert sets == ["CityGrid", "GLOBAL_WEBMERCATOR"]
    # png8a is announced (and addressed) by its family, as MapProxy does
    assert found["parks"].findtext("w:Format", namespaces=NS) == "image/png"
    assert found["parks"].find("w:ResourceURL", NS).get("template").endswith("{TileRow}.png")
    assert call(app, "/wmts/parks/CityGrid/08/136/84.png").status == 200
    assert call(app, "/wmts/parks/city/08/136/84.png").status == 400
