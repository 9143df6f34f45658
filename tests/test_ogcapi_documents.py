"""OGC API documents at /ogcapi: every JSON answer is valid against the OGC API
Maps and Tiles schemas, every link a document gives leads somewhere, the same
documents come as HTML (f=html, or Accept: text/html), and the OpenAPI document
is valid OpenAPI 3.0."""

from __future__ import annotations

import json

import pytest
from support.ogcapi import CONFIG, bundle, ogcapi_config, validate, validate_openapi
from support.wsgi import call

JSON_PAGES = [
    ("/ogcapi", "maps", "landingPage", None),
    ("/ogcapi/conformance", "maps", "confClasses", None),
    ("/ogcapi/collections", "maps", "collections", None),
    ("/ogcapi/collections/checker", "maps", "collectionDesc", None),
    ("/ogcapi/collections/checker/map/tiles", "tiles", None, "TileSetsList"),
    ("/ogcapi/collections/checker/map/tiles/WebMercatorQuad", "tiles", None, "TileSet"),
    ("/ogcapi/map/tiles", "tiles", None, "TileSetsList"),
    ("/ogcapi/map/tiles/WorldCRS84Quad", "tiles", None, "TileSet"),
    ("/ogcapi/tileMatrixSets", "tiles", None, "TileMatrixSetsList"),
    ("/ogcapi/tileMatrixSets/WebMercatorQuad", "tiles", None, "TileMatrixSet"),
    ("/ogcapi/tileMatrixSets/WorldCRS84Quad", "tiles", None, "TileMatrixSet"),
    ("/ogcapi/tileMatrixSets/GLOBAL_GEODETIC", "tiles", None, "TileMatrixSet"),
]


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


@pytest.mark.parametrize(("url", "bundle", "schema", "response"), JSON_PAGES)
def test_json_documents_are_valid_ogc_api(app, url, bundle, schema, response):
    answer = call(app, url)
    assert answer.status == 200, answer.text
    assert answer.content_type == "application/json"
    validate(json.loads(answer.body), bundle, schema=schema, response=response)


def _links(doc: object) -> list[dict]:
    if isinstance(doc, dict):
        return [*doc.get("links", []), *(link for v in doc.values() if isinstance(v, (dict, list))
                                         for link in _links(v))]
    if isinstance(doc, list):
        return [link for item in doc for link in _links(item)]
    return []


def test_every_link_of_every_document_answers(app):
    seen: set[str] = set()
    todo = ["http://localhost/ogcapi"]
    while todo:
        href = todo.pop()
        if href in seen:
            continue
        seen.add(href)
        answer = call(app, href.removeprefix("http://localhost"))
        assert answer.status == 200, (href, answer.text)
        if answer.content_type == "application/json":
            for link in _links(json.loads(answer.body)):
                if not link.get("templated") and link["type"] in ("application/json", "text/html", "image/png"):
                    todo.append(link["href"])
    assert "http://localhost/ogcapi/collections/cached/map.png" in seen
    assert "http://localhost/ogcapi/tileMatrixSets/WorldCRS84Quad?f=json" in seen
    assert len(seen) > 40


def _refs(doc: object) -> list[str]:
    if isinstance(doc, dict):
        return [doc["$ref"]] if "$ref" in doc else [r for v in doc.values() for r in _refs(v)]
    if isinstance(doc, list):
        return [r for v in doc for r in _refs(v)]
    return []


def test_openapi_document_is_valid_openapi_3(app):
    answer = call(app, "/ogcapi/api")
    assert answer.headers["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = json.loads(answer.body)
    validate_openapi(doc)
    # every reference leads to a component: its own, or one of the OGC API bundles
    for ref in _refs(doc):
        url, _, pointer = ref.partition("#/")
        target = doc if not url else bundle(url.rsplit("/", 1)[1].split("-")[1])
        for key in pointer.split("/"):
            target = target[key]
    assert doc["servers"] == [{"url": "http://localhost/ogcapi", "description": "A checkerboard"}]
    assert doc["components"]["parameters"]["collectionId"]["schema"]["enum"] == ["checker", "cached"]
    assert "/map/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}" in doc["paths"]


def test_openapi_document_leaves_out_what_is_switched_off(make_app):
    app = make_app(ogcapi_config(enable_tiles=False, default_dataset_layers=None))
    paths = json.loads(call(app, "/ogcapi/api").body)["paths"]
    assert "/collections/{collectionId}/map" in paths
    assert not [p for p in paths if "tiles" in p.lower() or p == "/map"]


def test_the_api_page_shows_the_document_in_swagger_or_redoc(app):
    swagger = call(app, "/ogcapi/api?f=html")
    assert swagger.content_type.startswith("text/html")
    assert "url: 'http://localhost/ogcapi/api?f=json'" in swagger.text
    redoc = call(app, "/ogcapi/api?f=html&ui=redoc")
    assert "<redoc spec-url='http://localhost/ogcapi/api?f=json'>" in redoc.text
    wrong = call(app, "/ogcapi/api?f=json&ui=redoc")
    assert wrong.status == 400
    assert json.loads(wrong.body)["detail"] == "ui query parameter can only be used with HTML output"


@pytest.mark.parametrize("url", [url for url, *_ in JSON_PAGES])
def test_every_document_comes_as_html_too(app, url):
    for answer in (call(app, url + "?f=html"), call(app, url, headers={"Accept": "text/html,*/*;q=0.8"})):
        assert answer.status == 200
        assert answer.content_type == "text/html; charset=utf-8"
        assert answer.text.startswith("<!DOCTYPE html>")
    # a browser that asks for HTML can still have the JSON
    assert call(app, url + "?f=json", headers={"Accept": "text/html"}).content_type == "application/json"


def test_html_pages_carry_the_json_alternates_and_a_map(app):
    page = call(app, "/ogcapi/collections/checker?f=html").text
    assert ('<link rel="alternate" type="application/json" title="The JSON representation of this data collection" '
            'href="http://localhost/ogcapi/collections/checker?f=json"/>') in page
    assert '<link rel="canonical" href="http://localhost/ogcapi/collections/checker?f=html" />' in page
    assert 'id="viewer-config"' in page and "/ogcapi/static/viewer.js" in page
    tileset = call(app, "/ogcapi/collections/checker/map/tiles/WebMercatorQuad?f=html").text
    assert "/ogcapi/collections/checker/map/tiles/WebMercatorQuad/{z}/{y}/{x}.png" in tileset
    assert call(app, "/ogcapi/static/viewer.js").status == 200
    assert call(app, "/ogcapi/static/../wsgi.py").status == 404


def test_html_escapes_what_the_configuration_says(make_app):
    config = ogcapi_config()
    config["layers"][0]["title"] = "<script>alert(1)</script>"
    page = call(make_app(config), "/ogcapi/collections?f=html").text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_collection_describes_the_layer(app):
    doc = json.loads(call(app, "/ogcapi/collections/checker").body)
    assert doc["id"] == "checker"
    assert doc["title"] == "Checkerboard"
    assert doc["description"] == "red and blue squares"
    assert doc["extent"] == {"spatial": {"bbox": [[-180, -85, 180, 85]]}}
    assert doc["storageCrs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert doc["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84", "http://www.opengis.net/def/crs/EPSG/0/4326",
                          "http://www.opengis.net/def/crs/EPSG/0/3857"]


@pytest.mark.parametrize("url", ["/ogcapi", "/ogcapi/collections", "/ogcapi/tileMatrixSets",
                                 "/ogcapi/collections/checker/map/tiles/WebMercatorQuad"])
def test_unknown_parameters_and_formats_are_400(app, url):
    answer = call(app, url + "?bogus=1")
    assert answer.status == 400
    assert json.loads(answer.body) == {"title": "OGCAPI", "type": "Bad Request", "status": 400,
                                       "detail": "Unknown query parameter bogus"}
    assert json.loads(call(app, url + "?f=xml").body)["detail"] == "Invalid value for f query parameter"


@pytest.mark.parametrize(("url", "detail"), [
    ("/ogcapi/collections/nowhere", "Collection not found"),
    ("/ogcapi/collections/nowhere/map/tiles", "Collection not found"),
    ("/ogcapi/tileMatrixSets/nowhere", "TileMatrixSet not found"),
    ("/ogcapi/collections/checker/map/tiles/nowhere", "TileMatrixSet not found"),
    ("/ogcapi/nowhere", "Resource not found"),
])
def test_what_does_not_exist_is_404_with_an_exception_document(app, url, detail):
    answer = call(app, url)
    assert answer.status == 404
    doc = json.loads(answer.body)
    assert doc["detail"] == detail
    validate(doc, "maps", schema="exception")
    html = call(app, url + "?f=html")
    assert html.status == 404 and f"<p>{detail}</p>" in html.text


def test_without_dataset_layers_there_is_no_dataset(make_app):
    app = make_app(ogcapi_config(default_dataset_layers=None))
    links = [link["href"] for link in json.loads(call(app, "/ogcapi").body)["links"]]
    assert "http://localhost/ogcapi/map.png" not in links
    assert call(app, "/ogcapi/map/tiles").status == 404
    answer = call(app, "/ogcapi/map.png")
    assert answer.status == 400
    assert "default_dataset_layers" in json.loads(answer.body)["detail"]


def test_unknown_dataset_layers_are_a_configuration_error(make_app):
    from tileproxy.config.errors import ConfigError

    with pytest.raises(ConfigError, match="default_dataset_layers"):
        make_app(ogcapi_config(default_dataset_layers=["checker", "nowhere"]))
