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

The layer part of a TMS or WMTS tile URL (all but its three numbers and with the
extension) is resolved once: the services' ``route`` says which URLs share a tile
layer, and those URLs then cost a dict lookup and three ``int`` calls. The answer
is complete: the app's own headers (CORS, nosniff) and Content-Length are in it.

With MapProxy's callbacks in the environ (see ``access`` and ``decorate``): a
decorate_img callback leaves the tile to the general path; an authorize callback
is asked here, and only a tile it lets go out as stored is answered here (its
answer is kept in the environ, so the general path does not ask twice). OGC API
asks it about ``ogcapi.map`` and the collection's ``map`` right, as its maps do.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from .. import metrics
from ..grid import TileCoord
from ..http import (
    DOCUMENT_TYPES,
    VARY,
    Field,
    expires_field,
    no_cache,
    public_max_age,
    timed_tile_fields,
)
from ..layers import TileLayer
from ..stores.base import Tile
from ..stores.file import FileSnapshot, FileStore, unchanged
from ..tilecache.cache_status import HIT
from .access import AUTHORIZE
from .decorate import DECORATE
from .ogcapi import OGCAPIService
from .ogcapi.drawing import bbox_headers
from .ogcapi.errors import OGCAPIError
from .ogcapi.stored import served_as_stored as ogcapi_served_as_stored
from .tile_access import served_as_stored
from .tile_response import TileRequestError, TileRoute, tile_headers
from .tms import TMSService
from .wmts import WMTSService
from .wmts.errors import WMTSError

Headers = list[tuple[str, str]]

_HIT = HIT.header()
ROUTES_KEPT = 1024  # routes are the configuration's layers, grids and extensions: few
# tile bytes one app (one worker process) keeps for URLs asked again, and the largest
# tile it keeps: the tiles asked most stay, each checked against its file per request
KEPT_BYTES = 8 << 20
KEPT_TILE_MAX = 256 << 10
KEPT_ENTRY_BYTES = 1024  # what an entry costs besides the tile bytes (URL, path, headers, tuples, dict slot)


class _Route:
    """The tile URLs of one layer, grid and extension: their tile layer, the grid
    coordinates of their numbers, and the constant parts of their answers."""

    __slots__ = ("layer", "to_coord", "service", "manager", "max_age", "snapshot", "_type", "_cache_control",
                 "_no_cache", "_after", "_app_headers", "_general")

    def __init__(self, service: str, route: TileRoute, max_age: int, app_headers: Headers):
        self.layer: TileLayer = route[0]
        self.to_coord = route[1]
        self.service = service
        self.manager = self.layer.manager
        self.max_age = max_age
        mime = self.manager.format.mime
        # a mixed format names each tile's type after its bytes: the general builder
        self._general = mime == "mixed" or mime is None
        self._type: Headers = [("Content-Type", mime)]
        if not self._general and mime.startswith(DOCUMENT_TYPES):
            self._type.append(VARY)
        self._cache_control = ("Cache-Control", public_max_age(max_age)) if max_age > 0 else None
        self._no_cache: Headers = []
        no_cache(self._no_cache)
        self._after = [("Cache-Status", _HIT), *app_headers]
        self._app_headers = app_headers
        # a plain file cache serving its tiles as stored: read (and kept) here; not under
        # cache.max_size, whose store records when each tile was served (stores/quota.py)
        store = self.manager.store
        self.snapshot = (store.snapshot if type(store) is FileStore and store.quota is None
                         and self.manager.plain_hits and not self._general else None)

    def headers(self, tile: Tile, data: bytes) -> Headers:
        """The answer's headers for the stored ``tile``: ``tile_headers``' of a hit,
        the app's headers, Content-Length."""
        timestamp = tile.timestamp
        if self._general or tile.mime is not None or type(timestamp) is not float:
            return [*tile_headers(self.layer, tile, self.max_age, _HIT), *self._app_headers,
                    ("Content-Length", str(len(data)))]
        return self.timed_headers(timed_tile_fields(timestamp, len(data)))

    def timed_headers(self, fields: tuple[Field, Field, Field]) -> Headers:
        """The headers of a tile with a time: its Last-Modified, ETag and Content-Length
        ``fields`` and the route's own."""
        modified, etag, length = fields
        if self._cache_control is None:
            return [*self._type, modified, etag, *self._no_cache, *self._after, length]
        return [*self._type, modified, etag, self._cache_control, expires_field(self.max_age), *self._after, length]


class _Kept(NamedTuple):
    """A file cache's tile as answered to one URL, for the next request of that URL."""

    route: _Route
    coord: TileCoord
    file: FileSnapshot
    fields: tuple[Field, Field, Field]


class FastTiles:
    """Built once per app from its TMS, WMTS and OGC API services; ``app_headers``
    close every answer (before Content-Length)."""

    def __init__(self, tms: TMSService | None, wmts: WMTSService | None, ogcapi: OGCAPIService | None = None,
                 app_headers: Headers | None = None):
        self.tms = tms
        self.wmts = wmts
        self.ogcapi = ogcapi if ogcapi is not None and ogcapi.stored else None
        self.app_headers = app_headers or []
        # (URL without its numbers and extension, extension) -> route
        self._routes: dict[tuple[str, str], _Route] = {}
        # URL -> its file cache tile, oldest first; changed only under the lock
        self._kept: dict[str, _Kept] = {}
        self._kept_bytes = 0
        self._kept_lock = threading.Lock()

    def __bool__(self) -> bool:
        return self.tms is not None or self.wmts is not None or self.ogcapi is not None

    def answer(self, environ: dict) -> tuple[Headers, bytes] | None:
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
        kept = self._kept.get(path)
        if kept is not None:
            if AUTHORIZE in environ and not served_as_stored(environ[AUTHORIZE], environ, kept.route.service,
                                                             kept.route.layer, kept.coord):
                return None
            if unchanged(kept.file.path, kept.file.identity):
                if metrics.active is not None:
                    metrics.active.hit(kept.route.manager.name)
                return kept.route.timed_headers(kept.fields), kept.file.data
            self._forget(path)
        parts = path.rsplit("/", 3)
        if len(parts) == 4:
            head, z, x, last = parts
            y, _, ext = last.partition(".")
            if z.isdigit() and x.isdigit() and y.isdigit() and len(z) < 10 and len(x) < 10 and len(y) < 10:
                route = self._routes.get((head, ext)) or self._learn(path, head, ext)
                if route is not None:
                    coord = route.to_coord(int(z), int(x), int(y))
                    return None if coord is None else self._stored(environ, route, coord, path)
        if path.startswith("/ogcapi/") and self.ogcapi is not None:
            return self._ogcapi(environ, path[7:])
        return self._resolved(environ, path)

    def _resolved(self, environ: dict, path: str) -> tuple[Headers, bytes] | None:
        """A TMS or WMTS tile URL without a route (a WMTS template with dimensions, say),
        resolved by its service."""
        try:
            if path.startswith("/wmts/") and self.wmts is not None:
                name, max_age, found = "wmts", self.wmts.max_age, self.wmts.resolve(path[5:])
            elif path.startswith("/tms/") and self.tms is not None:
                name, max_age, found = "tms", self.tms.max_age, self.tms.resolve(path)
            else:
                return None
        except (TileRequestError, WMTSError):  # the general path answers with the error
            return None
        if found is None:
            return None
        layer, coord = found
        authorize = environ.get(AUTHORIZE)
        if authorize is not None and not served_as_stored(authorize, environ, name, layer, coord):
            return None
        tile = layer.manager.stored_hit(coord)
        if tile is None or not tile.data:
            return None
        return [*tile_headers(layer, tile, max_age, _HIT), *self.app_headers, ("Content-Length", str(len(tile.data)))], \
            tile.data

    def _learn(self, path: str, head: str, ext: str) -> _Route | None:
        """The route of a TMS or WMTS tile URL, asked of its service and kept."""
        try:
            if path.startswith("/wmts/") and self.wmts is not None:
                found, name, max_age = self.wmts.route(path[5:]), "wmts", self.wmts.max_age
            elif path.startswith("/tms/") and self.tms is not None:
                found, name, max_age = self.tms.route(path), "tms", self.tms.max_age
            else:
                return None
        except (TileRequestError, WMTSError):  # the general path answers with the error
            return None
        if found is None:
            return None
        if len(self._routes) >= ROUTES_KEPT:
            self._routes.clear()
        route = self._routes[(head, ext)] = _Route(name, found, max_age, self.app_headers)
        return route

    def _stored(self, environ: dict, route: _Route, coord: TileCoord, url: str) -> tuple[Headers, bytes] | None:
        authorize = environ.get(AUTHORIZE)
        if authorize is not None and not served_as_stored(authorize, environ, route.service, route.layer, coord):
            return None
        if route.snapshot is not None:  # a plain file cache (coord is in the grid: the route's)
            file = route.snapshot(coord)
            if file is None or not file.data:
                return None
            if metrics.active is not None:
                metrics.active.hit(route.manager.name)
            kept = _Kept(route, coord, file, timed_tile_fields(file.timestamp, len(file.data)))
            self._keep(url, kept)
            return route.timed_headers(kept.fields), file.data
        tile = route.manager.stored_hit(coord)
        if tile is None or not tile.data:
            return None
        return route.headers(tile, tile.data), tile.data

    def _keep(self, url: str, kept: _Kept) -> None:
        """Keep ``kept`` for ``url``, dropping the oldest kept tiles beyond KEPT_BYTES."""
        size = len(kept.file.data) + KEPT_ENTRY_BYTES
        if size > KEPT_TILE_MAX:
            return
        with self._kept_lock:
            old = self._kept.pop(url, None)
            if old is not None:
                self._kept_bytes -= len(old.file.data) + KEPT_ENTRY_BYTES
            self._kept[url] = kept
            self._kept_bytes += size
            while self._kept_bytes > KEPT_BYTES:
                self._kept_bytes -= len(self._kept.pop(next(iter(self._kept))).file.data) + KEPT_ENTRY_BYTES

    def _forget(self, url: str) -> None:
        with self._kept_lock:
            old = self._kept.pop(url, None)
            if old is not None:
                self._kept_bytes -= len(old.file.data) + KEPT_ENTRY_BYTES

    def _ogcapi(self, environ: dict, path: str) -> tuple[Headers, bytes] | None:
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
        return [*tile_headers(layer, tile, service.max_age, _HIT), *bbox_headers(grid.srs, grid.tile_bbox(coord)),
                *self.app_headers, ("Content-Length", str(len(tile.data)))], tile.data
