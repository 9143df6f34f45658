"""OGC API Maps and Tiles (Part 1 Core) at /ogcapi, as MapProxy 7 serves it.

Every named layer is a collection with a map (``/collections/{id}/map``) and map
tiles in every tile matrix set (``/collections/{id}/map/tiles/{tms}/{z}/{row}/{col}``);
``default_dataset_layers`` make the dataset's map and tiles (``/map``,
``/map/tiles``). Documents come as JSON or HTML (``f``, ``Accept``), errors as
OGC API exception documents. Maps and tiles are drawn by the WMS GetMap code;
the authorize callback is asked about ``ogcapi.map`` (see services/access.py).
"""

from __future__ import annotations

from collections.abc import Callable

from ...grid import TileCoord, TileGrid
from ...http import HTTPError, Request, Response
from ...layers import TileLayer
from . import pages, rendering
from .answers import error_answer
from .context import Context
from .errors import OGCAPIError, not_found
from .images import asked_format
from .state import OGCAPIState

MAP_NAMES = ("map", "map.png", "map.jpg", "map.jpeg")


class OGCAPIService(OGCAPIState):
    """The routes below /ogcapi."""

    def resolve(self, path: str, accept: str) -> tuple[TileLayer, TileCoord, TileGrid] | None:
        """For the cached-tile fast path: the tile layer, grid coordinates and tile
        matrix set of a collection's map tile URL (``path`` below /ogcapi, asked
        without parameters, ``accept`` the Accept header) that is served as stored
        (see ``stored``); None for any other URL. A URL that names no tile raises
        OGCAPIError, as the general path answers it."""
        p = path.split("/")
        if len(p) != 9 or p[1] != "collections" or p[3:5] != ["map", "tiles"] or not self.conf.enable_tiles:
            return None
        stored = self.stored.get((p[2], p[5]))
        if stored is None or "" in p[6:]:
            return None
        grid = self.matrix_sets[p[5]][0]
        z = rendering.tile_index(p[6], grid.levels, "zoom level")
        self.limits.check(*grid.tile_size)
        cols, rows = grid.grid_sizes[z]
        row = rendering.tile_index(p[7], rows, "row number")
        col = rendering.tile_index(p[8].split(".", 1)[0], cols, "col number")
        if asked_format(p[8], None, accept) != stored.format.mime:
            return None
        return stored, (col, row, z), grid

    # -- routing ---------------------------------------------------------------

    def handle(self, req: Request, parts: list[str]) -> Response:
        ctx = Context(req)
        try:
            handler = self._route([p for p in parts if p])
            if handler is None:
                raise not_found("Resource not found")
            return handler(ctx)
        except OGCAPIError as err:
            return error_answer(ctx, err)
        except HTTPError as ex:
            return ex.response

    def _route(self, p: list[str]) -> Callable[[Context], Response] | None:
        """The handler of the path's segments below /ogcapi (None: no such resource)."""
        maps, tiles = self.conf.enable_maps, self.conf.enable_tiles
        n = len(p)
        if n == 0:
            return lambda ctx: pages.landing(self, ctx)
        head = p[0]
        if n == 2 and head == "static":
            return lambda ctx: _static(p[1])
        if n == 1 and head == "conformance":
            return lambda ctx: pages.conformance(self, ctx)
        if n == 1 and head == "api":
            return lambda ctx: pages.api(self, ctx)
        if head == "collections":
            if n == 1:
                return lambda ctx: pages.collections(self, ctx)
            coll = p[1]
            if n == 2:
                return lambda ctx: pages.collection(self, ctx, coll)
            if maps and n == 3 and p[2] in MAP_NAMES:
                return lambda ctx: rendering.get_map(self, ctx, coll, p[2])
            rest = p[2:]
            if tiles and rest[0] == "tiles":
                return self._vector_route(coll, rest[1:])
        else:
            coll = None
            if maps and n == 1 and head in MAP_NAMES:
                return lambda ctx: rendering.get_map(self, ctx, None, head)
            if tiles and head == "tileMatrixSets" and n <= 2:
                if n == 1:
                    return lambda ctx: pages.matrix_sets(self, ctx)
                return lambda ctx: pages.matrix_set(self, ctx, p[1])
            rest = p
        if not tiles or rest[:2] != ["map", "tiles"]:
            return None
        if len(rest) == 2:
            return lambda ctx: pages.tilesets(self, ctx, coll)
        if len(rest) == 3:
            return lambda ctx: pages.tileset(self, ctx, coll, rest[2])
        if len(rest) == 6:
            return lambda ctx: rendering.get_tile(self, ctx, coll, *rest[2:])
        return None

    def _vector_route(self, coll: str, p: list[str]) -> Callable[[Context], Response] | None:
        """/collections/{id}/tiles[/{tms}[/{z}/{row}/{col}]]: vector tilesets."""
        from . import vector_tiles

        if not p:
            return lambda ctx: vector_tiles.tilesets(self, ctx, coll)
        if len(p) == 1:
            return lambda ctx: vector_tiles.tileset(self, ctx, coll, p[0])
        if len(p) == 4:
            return lambda ctx: vector_tiles.get_tile(self, ctx, coll, *p)
        return None


def _static(name: str) -> Response:
    """The demo's stylesheet and map viewer, which the HTML pages use."""
    from ..demo_html import STATIC_TYPES
    from .html import static_asset

    data = static_asset(name)
    if data is None:
        return Response("not found\n", 404)
    return Response(data, content_type=STATIC_TYPES[name[name.rfind("."):]],
                    headers=[("Cache-Control", "max-age=3600")])

