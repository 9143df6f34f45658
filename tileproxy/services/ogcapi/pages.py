"""The documents: landing page, conformance, API, collections, tilesets and
tile matrix sets, each as JSON or HTML."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...http import Response
from . import html, vector_tiles
from .answers import answer
from .collections import collections_doc, describe
from .context import Context
from .errors import invalid
from .landing import conformance_classes, landing_links
from .matrixsets import definition, matrix_sets_doc
from .tilesets import link_template, tileset_doc, tilesets_doc

if TYPE_CHECKING:
    from .state import OGCAPIState


def landing(service: OGCAPIState, ctx: Context) -> Response:
    ctx.check()
    return answer(ctx, {"links": landing_links(service, ctx)}, html.landing_page(service))


def conformance(service: OGCAPIState, ctx: Context) -> Response:
    ctx.check()
    return answer(ctx, {"conformsTo": conformance_classes(service)}, html.conformance_page)


def api(service: OGCAPIState, ctx: Context) -> Response:
    from .openapi import openapi_document, openapi_response

    ctx.check(("f", "ui"))
    ui = ctx.args.get("ui")
    if ui not in (None, "swagger", "redoc"):
        raise invalid("Invalid value for ui query parameter")
    if ui and not ctx.html:
        raise invalid("ui query parameter can only be used with HTML output")
    if ctx.html:
        return Response(html.api_page(ctx, ui or "swagger"), content_type="text/html; charset=utf-8")
    return openapi_response(openapi_document(service, ctx))


def collections(service: OGCAPIState, ctx: Context) -> Response:
    ctx.check()
    return answer(ctx, collections_doc(service, ctx), html.collections_page)


def collection(service: OGCAPIState, ctx: Context, coll_id: str) -> Response:
    ctx.check()
    if coll_id not in service.layers and coll_id in service.vector:
        tile_layer = next(iter(service.vector[coll_id].values()))
        return answer(ctx, vector_tiles.describe(ctx, tile_layer), vector_tiles.collection_page)
    layer = service.layer_of(coll_id)
    return answer(ctx, describe(service, ctx, layer), html.collection_page(service, layer))


def matrix_sets(service: OGCAPIState, ctx: Context) -> Response:
    ctx.check()
    return answer(ctx, matrix_sets_doc(ctx, service.matrix_sets), html.matrix_sets_page)


def matrix_set(service: OGCAPIState, ctx: Context, tms_id: str) -> Response:
    ctx.check()
    grid = service.matrix_set(tms_id)
    return answer(ctx, definition(tms_id, grid, service.matrix_sets[tms_id][1]), html.matrix_set_page)


def tilesets(service: OGCAPIState, ctx: Context, coll_id: str | None) -> Response:
    ctx.check()
    service.layer_of(coll_id)
    return answer(ctx, tilesets_doc(service, ctx, coll_id), html.tilesets_page(service, coll_id))


def tileset(service: OGCAPIState, ctx: Context, coll_id: str | None, tms_id: str) -> Response:
    ctx.check()
    service.layer_of(coll_id)
    service.matrix_set(tms_id)
    headers = [("Link-Template", link_template(ctx, coll_id, tms_id))]
    return answer(ctx, tileset_doc(service, ctx, coll_id, tms_id), html.tileset_page(service, coll_id, tms_id),
                  headers=headers)
