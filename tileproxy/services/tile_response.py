"""Answer a tile request from a tile layer: shared by TMS, /tiles and WMTS."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

from ..grid import TileCoord
from ..http import (
    DOCUMENT_TYPES,
    VARY,
    Request,
    Response,
    cache_headers,
    make_not_modified,
    no_cache,
    not_modified,
    revalidate_headers,
)
from ..image.codec import sniff_mime
from ..image.transform import blank_image
from ..layers import TileLayer
from ..sources.base import SourceError, SourceTimeout
from ..stores.base import Tile
from ..tilecache.cache_status import CacheStatus
from ..tilecache.outcomes import TileError, TileOutcome

log = logging.getLogger("tileproxy.service")

ErrorFactory = Callable[[str, int], Response]

# what a tile URL resolves to: the tile layer and the tile in the grid's own coordinates
TileAddress = tuple[TileLayer, TileCoord]

# what every tile URL that differs from one only in its last three numbers (z, x, y in
# the URL's order, 1-9 ASCII digits each) resolves to, for the cached-tile fast path:
# the tile layer, and the grid coordinates of those numbers (None outside the grid)
TileRoute = tuple[TileLayer, Callable[[int, int, int], "TileCoord | None"]]

# URL extensions whose match with a layer's format the tile services work out in
# advance (any other is checked as it comes)
KNOWN_EXTENSIONS = ("png", "jpeg", "jpg", "gif", "tif", "tiff", "webp")


class TileAccess(Protocol):
    """What the request's callbacks make of a tile (see ``tile_access``)."""

    def outside(self) -> Response | None:
        """The answer when the tile may not be drawn at all, else None."""

    def applied(self, outcome: TileOutcome) -> TileOutcome:
        """The tile as this request may see it."""


class TileRequestError(Exception):
    """A tile URL that names no tile (unknown layer, another format, outside the grid):
    the message and status its service answers with."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


@lru_cache(maxsize=8)
def transparent_png(size: tuple[int, int]) -> bytes:
    """What MapProxy answers for a tile no source draws: a transparent PNG,
    whatever the layer's format."""
    out = io.BytesIO()
    blank_image(size).save(out, "PNG")
    return out.getvalue()


def serve_tile(req: Request, layer: TileLayer, coord: TileCoord, max_age: int, error: ErrorFactory,
               access: TileAccess | None = None, empty: Callable[[], Response] | None = None) -> Response:
    """The tile at ``coord`` (internal grid coordinates) with HTTP cache headers and
    Cache-Status; errors are answered through ``error(message, status)``. ``access``
    limits and decorates the tile for the request (see ``tile_access``); ``empty``
    answers for a tile no source has (else a transparent PNG)."""
    if access is not None:
        outside = access.outside()
        if outside is not None:
            return outside
    try:
        outcome = layer.manager.fetch_tile(coord)
    except TileError as ex:
        resp = error(str(ex), ex.status)
        if ex.detail:
            resp.set("Cache-Status", CacheStatus(fwd="miss", detail=ex.detail).header())
        return resp
    except SourceError as ex:
        log.warning("layer %s tile %s: %s", layer.name, coord, ex)
        timeout = isinstance(ex, SourceTimeout)
        # a failed source is a 500 as in MapProxy (clients and monitors expect it);
        # a timeout keeps its own 504
        resp = error(str(ex), 504 if timeout else 500)
        resp.set("Cache-Status", CacheStatus(fwd="miss", fwd_status=ex.status, detail="source-error").header())
        no_cache(resp.headers)  # the next request may succeed: no proxy keeps the error
        return resp
    if outcome.empty and empty is not None:
        return empty()
    if access is not None and not outcome.empty:
        outcome = access.applied(outcome)
    return tile_response(req, layer, outcome, max_age)


def tile_response(req: Request, layer: TileLayer, outcome: TileOutcome, max_age: int) -> Response:
    tile = outcome.tile
    if outcome.empty:
        tile = Tile(tile.coord, data=transparent_png(layer.grid.tile_size), timestamp=tile.timestamp, mime="image/png")
    if outcome.cacheable and not outcome.stale:
        ttl = outcome.status.ttl  # remaining freshness under refresh_before: clients keep it no longer
        if ttl is not None and max_age > 0:
            max_age = max(1, min(max_age, ttl))
    headers = tile_headers(layer, tile, max_age, outcome.status.header(), outcome.cacheable, outcome.stale)
    resp = Response(tile.data or b"", content_type=None, headers=headers)
    if outcome.cacheable and not_modified(req, tile.timestamp, resp.body):
        return make_not_modified(resp)
    return resp


def tile_headers(layer: TileLayer, tile: Tile, max_age: int, cache_status: str,
                 cacheable: bool = True, stale: bool = False) -> list[tuple[str, str]]:
    """The headers of a tile answer but Content-Length and the app's own: Content-Type,
    the validators, how long clients keep the tile (``max_age`` seconds; to be
    revalidated when ``stale``; not at all unless ``cacheable``) and Cache-Status.
    Both the general path and the cached-tile fast path (fast_tiles.py) answer
    with these."""
    data = tile.data or b""
    fmt_mime = layer.manager.format.mime
    mime = tile.mime or fmt_mime
    if fmt_mime == "mixed" or mime is None:
        mime = sniff_mime(data) or layer.mime
    headers = [("Content-Type", mime)]
    if mime.startswith(DOCUMENT_TYPES):
        headers.append(VARY)
    if not cacheable:
        no_cache(headers)
    elif stale:
        revalidate_headers(headers, tile.timestamp, data)
    else:
        cache_headers(headers, tile.timestamp, data, max_age)
    headers.append(("Cache-Status", cache_status))
    return headers
