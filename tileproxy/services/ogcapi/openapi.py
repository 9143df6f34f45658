"""The OpenAPI 3.0 document of the service (/api), referring to the OGC API Maps
and Tiles schemas for parameters and responses."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ... import __version__
from ...http import Response
from .context import OPENAPI, Context

if TYPE_CHECKING:
    from .state import OGCAPIState

MAPS = "https://schemas.opengis.net/ogcapi/maps/part1/1.0/openapi/ogcapi-maps-1.bundled.json"
TILES = "https://schemas.opengis.net/ogcapi/tiles/part1/1.0/openapi/ogcapi-tiles-1.bundled.json"

_STANDARD = {200: None, 400: "InvalidParameter", 404: "NotFound", 500: "ServerError"}


def _local(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _maps(name: str) -> dict:
    return {"$ref": f"{MAPS}#/components/parameters/{name}"}


def _tiles(name: str) -> dict:
    return {"$ref": f"{TILES}#/components/parameters/{name}"}


def _operation(summary: str, description: str, op_id: str, parameters: list[dict], schema: str,
               responses: dict[int, str]) -> dict:
    return {"get": {
        "summary": summary,
        "description": description,
        "tags": ["server"],
        "operationId": op_id,
        "parameters": parameters,
        "responses": {str(code): {"$ref": f"{schema}#/components/responses/{name}"}
                      for code, name in responses.items()},
    }}


def _answers(ok: str, *codes: int, empty: str | None = None) -> dict[int, str]:
    """200 ``ok``, 204 ``empty`` and the standard errors of ``codes``."""
    out = {200: ok}
    if empty:
        out[204] = empty
    out.update({code: _STANDARD[code] for code in codes})  # type: ignore[misc]
    return out


_UI = {"name": "ui", "in": "query", "description": "UI to render the OpenAPI document", "required": False,
       "schema": {"type": "string", "enum": ["swagger", "redoc"], "default": "swagger"},
       "style": "form", "explode": False}
_MAP_PARAMS = ["f_img", "width", "height", "crs", "bbox", "bbox-crs", "center", "center-crs", "subset", "subset-crs",
               "scale-denominator", "bgcolor", "transparent", "mm-per-pixel"]


def _map_parameters() -> list[dict]:
    return [_local(n) if n in ("f_img", "width", "height") else _maps(n) for n in _MAP_PARAMS]


def _tile_parameters(first: dict, maps: bool) -> list[dict]:
    params = [first, _local("tileMatrixSetId"), _tiles("tileMatrix"), _tiles("tileRow"), _tiles("tileCol"),
              _maps("bgcolor"), _local("f_img")]
    if maps:
        params += [_maps("scale-denominator"), _maps("transparent"), _maps("mm-per-pixel"), _local("width"),
                   _local("height")]
    return params


def _vector_paths(coll: dict, tms: dict, f: dict) -> dict[str, Any]:
    """The vector tilesets of collections (vector_tiles.py)."""
    base = "/collections/{collectionId}/tiles"
    tile = [coll, tms, _tiles("tileMatrix"), _tiles("tileRow"), _tiles("tileCol")]
    documents = (("", "Retrieve a list of all vector tilesets for specified collection", "CollectionVectorTileSets",
                  "listCollectionVectorTileSets", [coll, f], _answers("TileSetsList", 400, 404, 500)),
                 ("/{tileMatrixSetId}", "Retrieve a vector tileset's metadata for the specified collection and tile "
                  "matrix set", "CollectionVectorTileSet", "describeCollectionVectorTileSet", [coll, tms, f],
                  _answers("TileSet", 400, 404, 500)),
                 ("/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}", "Retrieve a vector tile from the specified "
                  "collection", "CollectionVectorTile", "getCollectionVectorTile", tile,
                  _answers("VectorTile", 400, 404, 500, empty="EmptyTile")))
    return {base + tail: _operation(summary, description, op_id, params, TILES, answers)
            for tail, summary, description, op_id, params, answers in documents}


def _paths(service: OGCAPIState) -> dict[str, Any]:
    conf = service.conf
    maps, tiles, dataset = conf.enable_maps, conf.enable_tiles, conf.default_dataset_layers is not None
    f, coll, tms = _local("f"), _local("collectionId"), _local("tileMatrixSetId")
    paths = {
        "/": _operation("Landing page", "Landing page", "getLandingPage", [f], MAPS,
                        _answers("LandingPage", 400, 500)),
        "/api": _operation("This document", "This document", "getOpenapi", [f, _UI], MAPS,
                           _answers("API", 400, 500)),
        "/collections": _operation("Retrieve the description of the collections available from this service.",
                                   "Collections", "getCollections", [f], MAPS,
                                   _answers("CollectionsList", 400, 500)),
        "/collections/{collectionId}": _operation(
            "Retrieve the description of a collection available from this service.", "Collection",
            "getCollection", [coll, f], MAPS, _answers("Collection", 400, 404, 500)),
    }
    if maps:
        paths["/collections/{collectionId}/map"] = _operation(
            "Retrieve the default map for the specified collection.", "Map", "getCollectionMap",
            [coll, *_map_parameters()], MAPS, _answers("Map", 400, 404, 500, empty="EmptyMap"))
    if tiles:
        base = "/collections/{collectionId}/map/tiles"
        paths[base] = _operation(
            "Retrieve a list of all map tilesets for specified collection", "CollectionMapTileSets",
            "listCollectionMapTileSets", [coll, f], TILES, _answers("TileSetsList", 400, 404, 500))
        paths[base + "/{tileMatrixSetId}"] = _operation(
            "Retrieve a map tile set metadata for the specified collection and tiling scheme (tile matrix set)",
            "CollectionMapTileSet", "describeCollectionMapTileSet", [coll, tms, f], TILES,
            _answers("TileSet", 400, 404, 500))
        paths[base + "/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"] = _operation(
            "Retrieve a map tile from the specified collection", "CollectionMapTile", "getCollectionMapTile",
            _tile_parameters(coll, maps), TILES, _answers("MapTile", 400, 404, 500, empty="EmptyTile"))
    if service.vector:
        paths.update(_vector_paths(coll, tms, f))
    if maps and dataset:
        paths["/map"] = _operation(
            "Retrieve the default map for the whole dataset.", "Map", "getDatasetMap",
            [_maps("collections"), *_map_parameters()], MAPS, _answers("Map", 400, 500))
    if tiles and dataset:
        paths["/map/tiles"] = _operation(
            "Retrieve a list of all map tilesets for the wkole dataset", "DatasetMapTileSets",
            "listDatasetMapTileSets", [f], TILES, _answers("TileSetsList", 400, 404, 500))
        paths["/map/tiles/{tileMatrixSetId}"] = _operation(
            "Retrieve a map tile set metadata for the whole datase and tiling scheme (tile matrix set)",
            "DatasetMapTileSet", "describeDatasetMapTileSet", [tms, f], TILES,
            _answers("TileSet", 400, 404, 500))
        paths["/map/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"] = _operation(
            "Retrieve a map tile from the whole dataset", "CollectionMapTile", "getDatasetMapTile",
            _tile_parameters(_tiles("collections"), maps), TILES,
            _answers("MapTile", 400, 404, 500, empty="EmptyTile"))
    if tiles and service.matrix_sets:
        paths["/tileMatrixSets"] = _operation(
            "Retrieve the list of available tiling schemes (tile matrix sets)", "TileMatrixSets",
            "listTileMatrixSets", [f], TILES, _answers("TileMatrixSetsList", 400, 500))
        paths["/tileMatrixSets/{tileMatrixSetId}"] = _operation(
            "Retrieve the definition of the specified tiling scheme (tile matrix set)", "TileMatrixSet",
            "describeTileMatrixSet", [f, tms], TILES, _answers("TileMatrixSet", 400, 500))
    paths["/conformance"] = _operation("API conformance definition", "API conformance definition",
                                       "getConformanceDeclaration", [f], MAPS, _answers("Conformance", 400, 500))
    return paths


_F_TEXT = ("The optional f parameter indicates the output format which the server shall provide as part of the "
           "response document.  The default format is {}.")
_SIZE_TEXT = ("{Side} of the map in pixels. If omitted and `{other}` is specified, defaults to the {side} "
              "maintaining a 1:1 aspect ratio. If both `width` and `height` are omitted, the server will select "
              "default dimensions. When used together with the `center` and/or `scale-denominator` parameter, "
              "`{side}` takes on a subsetting role rather than scaling (resampling), defining the {direction} "
              "portion of the map to subset based on the scale (native scale, or specified by "
              "`scale-denominator`) and display resolution (0.28 mm/pixel, or specified by `mm-per-pixel`).")


def _format_parameter(values: list[str]) -> dict:
    return {"name": "f", "in": "query", "description": _F_TEXT.format(values[0].upper()), "required": False,
            "schema": {"type": "string", "enum": values, "default": values[0]}, "style": "form", "explode": False}


def _path_parameter(name: str, description: str, values: list[str]) -> dict:
    return {"name": name, "in": "path", "description": description, "required": True, "allowEmptyValue": False,
            "schema": {"type": "string", "enum": values}}


def _parameters(service: OGCAPIState) -> dict[str, Any]:
    params: dict[str, Any] = {
        "f": _format_parameter(["json", "html"]),
        "collectionId": _path_parameter("collectionId", "Local identifier of a collection", list(service.layers)),
    }
    if service.conf.enable_tiles and service.matrix_sets:
        params["tileMatrixSetId"] = _path_parameter("tileMatrixSetId", "Identifier for a supported TileMatrixSet",
                                                    list(service.matrix_sets))
    if service.conf.enable_maps:
        params["f_img"] = _format_parameter(["png", "jpeg"])
        for side, other, direction in (("width", "height", "horizontal"), ("height", "width", "vertical")):
            schema: dict[str, Any] = {"type": "integer"}
            if service.limits.max_side:
                schema["maximum"] = service.limits.max_side
            params[side] = {"name": side, "in": "query",
                            "description": _SIZE_TEXT.format(Side=side.capitalize(), side=side, other=other,
                                                             direction=direction),
                            "required": False, "style": "form", "explode": False, "schema": schema}
    return params


def openapi_document(service: OGCAPIState, ctx: Context) -> dict[str, Any]:
    ident = service.conf.md.get("identification") or {}
    description = ident.get("description")
    info: dict[str, Any] = {"version": __version__, "title": ident.get("title") or "OGCAPI implementation"}
    if description:
        info["description"] = description
    if ident.get("keywords"):
        info["x-keywords"] = ident["keywords"]
    if ident.get("terms_of_service"):
        info["termsOfService"] = ident["terms_of_service"]
    if service.conf.md.get("license"):
        info["license"] = service.conf.md["license"]
    if service.conf.enable_maps and service.limits.max_pixels:
        side = service.limits.max_side
        info["x-OGC-limits"] = {"maps": {"maxWidth": side, "maxHeight": side, "maxPixels": service.limits.max_pixels}}
    server: dict[str, Any] = {"url": ctx.href()}
    if description:
        server["description"] = description
    tag: dict[str, Any] = {"name": "server", "description": description or "OGCAPI implementation"}
    if ident.get("url"):
        tag["externalDocs"] = {"description": "information", "url": ident["url"]}
    return {
        "openapi": "3.0.2",
        "tags": [tag],
        "info": info,
        "servers": [server],
        "paths": _paths(service),
        "components": {"responses": {"200": {"description": "Successful operation"}},
                       "parameters": _parameters(service)},
    }


def openapi_response(doc: dict) -> Response:
    return Response(json.dumps(doc, indent=2), content_type=OPENAPI)
