"""The cached-tile fast path: a stored tile in answer to a plain GET of a TMS tile
URL (``/tms[/1.0.0]/<layer>[/<grid>]/<z>/<x>/<y>.<ext>``), a RESTful WMTS one, or an
OGC API map tile of a collection drawn from one cache (see ``ogcapi/stored.py``).

Under gunicorn every Python call of a request costs several times what it costs in
a warm loop, so this path skips the general request and response machinery. The
services say which tile a URL names (``resolve``) and ``tile_headers`` writes the
answer's headers, as for the general path; this path answers only when the answer
is certain to be the general path's. Anything else (HEAD or conditional requests,
another service, a path the router looks at closer, a URL naming no tile, a tile
not stored or under a refresh_before rule) gets None, and the general path answers
it with the same result a request before would have had.

With MapProxy's callbacks in the environ (see ``access`` and ``decorate``): a
decorate_img callback leaves the tile to the general path; an authorize callback
is asked here, and only a tile it lets go out as stored is answered here (its
answer is kept in the environ, so the general path does not ask twice). OGC API
asks it about ``ogcapi.map`` and the collection's ``map`` right, as its maps do.
"""

from __future__ import annotations

from ..tilecache.cache_status import HIT
from .access import AUTHORIZE
from .decorate import DECORATE
from .ogcapi import OGCAPIService
from .ogcapi.drawing import bbox_headers
from .ogcapi.errors import OGCAPIError
from .ogcapi.stored import served_as_stored as ogcapi_served_as_stored
from .tile_access import served_as_stored
from .tile_response import TileRequestError, tile_headers
from .tms import TMSService
from .wmts import WMTSService
from .wmts.errors import WMTSError

_HIT = HIT.header()


class FastTiles:
    """Built once per app from its TMS, WMTS and OGC API services."""

    def __init__(self, tms: TMSService | None, wmts: WMTSService | None, ogcapi: OGCAPIService | None = None):
        self.tms = tms
        self.wmts = wmts
        self.ogcapi = ogcapi if ogcapi is not None and ogcapi.stored else None

    def __bool__(self) -> bool:
        return self.tms is not None or self.wmts is not None or self.ogcapi is not None

    def answer(self, environ: dict) -> tuple[list[tuple[str, str]], bytes] | None:
        """(headers, body) of a 200 answer, or None for the general path."""
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_IF_NONE_MATCH" in environ \
                or "HTTP_IF_MODIFIED_SINCE" in environ:
            return None
        path = environ.get("PATH_INFO", "")
        # the router's closer look at a path (dot segments, backslashes, NUL bytes) and
        # digits other than ASCII ones are left to the general path
        if "/." in path or "\\" in path or "\x00" in path or not path.isascii():
            return None
        script = environ.get("HTTP_X_SCRIPT_NAME")
        if script and path.startswith(script.rstrip("/") + "/"):
            return None  # a path that still carries the proxy's prefix: the router strips it
        if DECORATE in environ:
            return None
        if path.startswith("/ogcapi/") and self.ogcapi is not None:
            return self._ogcapi(environ, path[7:])
        authorize = environ.get(AUTHORIZE)
        try:
            if path.startswith("/wmts/") and self.wmts is not None:
                service: TMSService | WMTSService = self.wmts
                found = self.wmts.resolve(path[5:])
                name = "wmts"
            elif path.startswith("/tms/") and self.tms is not None:
                service = self.tms
                found = self.tms.resolve(path)
                name = "tms"
            else:
                return None
        except (TileRequestError, WMTSError):  # the general path answers with the error
            return None
        if found is None:
            return None
        layer, coord = found
        if authorize is not None and not served_as_stored(authorize, environ, name, layer, coord):
            return None
        tile = layer.manager.stored_hit(coord)
        if tile is None or not tile.data:
            return None
        return tile_headers(layer, tile, service.max_age, _HIT), tile.data

    def _ogcapi(self, environ: dict, path: str) -> tuple[list[tuple[str, str]], bytes] | None:
        """A collection's map tile asked without parameters, served as stored."""
        if environ.get("QUERY_STRING"):
            return None
        service = self.ogcapi
        assert service is not None
        try:
            found = service.resolve(path, environ.get("HTTP_ACCEPT", ""))
        except OGCAPIError:  # the general path answers with the error
            return None
        if found is None:
            return None
        layer, coord, grid = found
        # a stored tile layer has its collection's name
        if not ogcapi_served_as_stored(environ, layer.name, grid, coord):
            return None
        tile = layer.manager.stored_hit(coord)
        if tile is None or not tile.data:
            return None
        return tile_headers(layer, tile, service.max_age, _HIT) + bbox_headers(grid.srs, grid.tile_bbox(coord)), tile.data
