"""Vector tiles over OGC API Tiles: a cache of Mapbox Vector Tiles is a vector
tileset at /ogcapi/collections/{id}/tiles, its tiles the source's bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from support.authorize import Callbacks, partial
from support.configs import cache, fill, layer
from support.ogcapi import validate, validate_openapi
from support.vector_server import VectorServer, payload
from support.wsgi import call

MVT = "application/vnd.mapbox-vector-tile"
MERC = 20037508.342789244


@pytest.fixture(scope="module")
def vector_server() -> Iterator[VectorServer]:
    server = VectorServer(empty_levels=(5,))  # level 5: the source has nothing
    yield server
    server.close()


CONFIG = {
    "services": {"ogcapi": {"map_srs": ["EPSG:3857"]}, "tms": None},
    "layers": [
        layer("base", "A raster layer", "base_cache"),
        {**layer("roads", "Roads", "roads_cache"), "md": {"abstract": "roads as vector tiles"}},
        layer("east", "Eastern roads", "east_cache"),
    ],
    "caches": {
        "base_cache": cache("raster"),
        "roads_cache": cache("roads_source", meta_size=None, format="application/vnd.mapbox-vector-tile"),
        "east_cache": cache("east_source", meta_size=None, format="mvt"),
    },
    "sources": {
        "raster": {"type": "tile", "grid": "GLOBAL_WEBMERCATOR", "url": "{vector}/raster/%(z)s/%(x)s/%(y)s.png"},
        "roads_source": {"type": "tile", "grid": "GLOBAL_WEBMERCATOR", "url": "{vector}/data/%(z)s/%(x)s/%(y)s.pbf"},
        # the eastern half of the world only
        "east_source": {"type": "tile", "grid": "GLOBAL_WEBMERCATOR", "url": "{vector}/data/%(z)s/%(x)s/%(y)s.pbf",
                        "coverage": {"srs": "EPSG:3857", "bbox": [0, -MERC, MERC, MERC]}},
    },
}


@pytest.fixture
def app(make_app, vector_server):
    vector_server.paths.clear()
    return make_app(fill(CONFIG, vector=vector_server.url))


def _json(app, url: str) -> dict:
    answer = call(app, url)
    assert answer.status == 200, answer.text
    assert answer.content_type == "application/json"
    return json.loads(answer.body)


def test_tileset_list_and_metadata_are_valid_ogc_api_tiles(app) -> None:
    tilesets = _json(app, "/ogcapi/collections/roads/tiles")
    validate(tilesets, "tiles", response="TileSetsList")
    [summary] = [ts for ts in tilesets["tilesets"] if ts.get("tileMatrixSetURI", "").endswith("WebMercatorQuad")]
    assert summary["dataType"] == "vector"
    tileset = _json(app, "/ogcapi/collections/roads/tiles/WebMercatorQuad")
    validate(tileset, "tiles", response="TileSet")
    assert tileset["dataType"] == "vector"
    assert tileset["tileMatrixSetURI"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    [item] = [link for link in tileset["links"] if link["rel"] == "item"]
    assert item["type"] == MVT
    assert item["href"] == "http://localhost/ogcapi/collections/roads/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
    assert tileset["tileMatrixSetLimits"][2] == {"tileMatrix": "2", "minTileRow": 0, "maxTileRow": 3,
                                                 "minTileCol": 0, "maxTileCol": 3}
    # the eastern half: columns 2 and 3 of level 2
    east = _json(app, "/ogcapi/collections/east/tiles/WebMercatorQuad")
    assert east["tileMatrixSetLimits"][2] == {"tileMatrix": "2", "minTileRow": 0, "maxTileRow": 3,
                                              "minTileCol": 2, "maxTileCol": 3}


def test_collection_landing_and_conformance_announce_vector_tiles(app) -> None:
    collections = _json(app, "/ogcapi/collections")
    validate(collections, "maps", schema="collections")
    by_id = {c["id"]: c for c in collections["collections"]}
    assert by_id["roads"]["dataType"] == "vector"
    rels = {link["rel"] for link in by_id["roads"]["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector" in rels
    assert not any(link["rel"].endswith("tilesets-vector") for link in by_id["base"]["links"])
    roads = _json(app, "/ogcapi/collections/roads")
    validate(roads, "maps", schema="collectionDesc")
    assert roads["description"] == "roads as vector tiles"
    conformance = _json(app, "/ogcapi/conformance")["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conformance
    for url in ("/ogcapi/collections/roads?f=html", "/ogcapi/collections/roads/tiles?f=html",
                "/ogcapi/collections/roads/tiles/WebMercatorQuad?f=html"):
        page = call(app, url)
        assert page.status == 200 and page.content_type.startswith("text/html")
        assert b"vector tile" in page.body.lower() or b"/tiles/" in page.body


def test_tiles_are_the_source_bytes_then_served_from_the_cache(app, vector_server) -> None:
    url = "/ogcapi/collections/roads/tiles/WebMercatorQuad/2/1/3"
    first = call(app, url)
    assert first.status == 200
    assert first.content_type == MVT
    assert first.body == payload(2, 3, 1)
    assert vector_server.paths == ["/data/2/3/1.pbf"]
    again = call(app, url)
    assert again.status == 200 and again.body == payload(2, 3, 1) and again.content_type == MVT
    assert len(vector_server.paths) == 1
    etag = again.headers["ETag"]
    assert call(app, url, headers={"If-None-Match": etag}).status == 304
    # the same stored tile as TMS serves it (TMS level 1 is grid level 2, rows count from the south)
    assert call(app, "/tms/1.0.0/roads/EPSG3857/1/3/2.mvt").body == payload(2, 3, 1)
    assert len(vector_server.paths) == 1


def test_a_tile_the_source_leaves_empty_is_204_and_outside_the_data_404(app) -> None:
    assert call(app, "/ogcapi/collections/roads/tiles/WebMercatorQuad/5/3/4").status == 204
    outside = call(app, "/ogcapi/collections/east/tiles/WebMercatorQuad/2/1/0")
    assert outside.status == 404
    assert json.loads(outside.body)["type"] == "Not Found"
    assert call(app, "/ogcapi/collections/east/tiles/WebMercatorQuad/2/1/2").status == 200


ROADS = "/ogcapi/collections/roads/tiles"
BAD_TILES = {  # path below ROADS -> status
    "/WebMercatorQuad/2/1/x": 400, "/WebMercatorQuad/-1/0/0": 404, "/WebMercatorQuad/2/4/0": 404,
    "/WebMercatorQuad/2/0/4": 404, "/WebMercatorQuad/40/0/0": 404, "/WorldCRS84Quad/0/0/0": 404, "/Nowhere": 404,
    "/WebMercatorQuad/2/1/1.png": 406, "/WebMercatorQuad/2/1/1?bbox=1": 400,
}


@pytest.mark.parametrize(("url", "status"), [*((ROADS + tail, status) for tail, status in BAD_TILES.items()),
                                             ("/ogcapi/collections/nowhere/tiles", 404)])
def test_bad_tile_requests_get_exception_documents(app, url, status) -> None:
    answer = call(app, url)
    assert answer.status == status, answer.text
    assert answer.content_type == "application/json"
    doc = json.loads(answer.body)
    assert doc["status"] == status and doc["detail"]


def test_raster_layers_have_no_vector_tileset(app) -> None:
    answer = call(app, "/ogcapi/collections/base/tiles")
    assert answer.status == 404
    assert json.loads(answer.body)["detail"] == "This collection has no vector tilesets"
    assert call(app, "/ogcapi/collections/base/tiles/WebMercatorQuad/0/0/0").status == 404
    assert call(app, "/ogcapi/collections/base/map/tiles").status == 200
    # and vector layers have no map tiles
    assert call(app, "/ogcapi/collections/roads/map/tiles").status == 404


def test_the_authorize_callback_refuses_a_forbidden_layers_tiles(app, vector_server) -> None:
    def answer(service, layers):
        return partial({"roads": {"tile": False}, "east": {"tile": True, "limited_to": {
            "srs": "EPSG:3857", "geometry": [0, 0, MERC, MERC]}}})

    guarded = Callbacks(app, answer)
    refused = call(guarded, "/ogcapi/collections/roads/tiles/WebMercatorQuad/2/1/3")
    assert refused.status == 403
    assert json.loads(refused.body)["type"] == "Forbidden"
    assert guarded.asked[0][:2] == ("ogcapi.tiles", ["roads"])
    assert vector_server.paths == []
    # a tile wholly inside the area comes as stored; one across its edge is refused (it cannot be clipped)
    inside = call(guarded, "/ogcapi/collections/east/tiles/WebMercatorQuad/2/1/2")
    assert inside.status == 200 and inside.body == payload(2, 2, 1)
    assert call(guarded, "/ogcapi/collections/east/tiles/WebMercatorQuad/1/0/1").status == 200
    assert call(guarded, "/ogcapi/collections/east/tiles/WebMercatorQuad/0/0/0").status == 403
    assert call(guarded, "/ogcapi/collections/east/tiles/WebMercatorQuad/2/2/2").status == 403


def test_the_api_document_describes_the_vector_tiles(app) -> None:
    doc = _json_api(app)
    validate_openapi(doc)
    tile = doc["paths"]["/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"]
    assert tile["get"]["responses"]["200"]["$ref"].endswith("#/components/responses/VectorTile")


def _json_api(app) -> dict:
    answer = call(app, "/ogcapi/api?f=json")
    assert answer.status == 200, answer.text
    return json.loads(answer.body)
