"""Answer a tile request from a tile layer: shared by TMS, /tiles and WMTS."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..grid import TileCoord
from ..http import Request, Response, cache_headers, make_not_modified, not_modified
from ..image.codec import sniff_mime
from ..layers import TileLayer
from ..sources.base import SourceError, SourceTimeout
from ..tiles import TileError

log = logging.getLogger("tileproxy.service")

ErrorFactory = Callable[[str, int], Response]


def serve_tile(req: Request, layer: TileLayer, coord: TileCoord, max_age: int, error: ErrorFactory) -> Response:
    """The tile at ``coord`` (internal grid coordinates) with HTTP cache headers;
    errors are answered through ``error(message, status)``."""
    try:
        tile = layer.manager.load_tile(coord)
    except TileError as ex:
        return error(str(ex), ex.status)
    except SourceTimeout as ex:
        log.warning("layer %s tile %s: %s", layer.name, coord, ex)
        return error(f"source timeout: {ex}", 504)
    except SourceError as ex:
        log.warning("layer %s tile %s: %s", layer.name, coord, ex)
        return error(f"source error: {ex}", 502)
    data = tile.data or b""
    mime = tile.mime or layer.mime
    if layer.format.mime == "mixed" or mime is None:
        mime = sniff_mime(data) or layer.mime
    resp = Response(data, content_type=mime)
    cache_headers(resp, tile.timestamp, len(data), max_age)
    if not_modified(req, tile.timestamp, len(data)):
        return make_not_modified(resp)
    return resp
