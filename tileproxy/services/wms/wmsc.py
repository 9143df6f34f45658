"""WMS-C: a GetMap with ``tiled=true`` names exactly one tile of a cache (its bbox
may be off by a tenth of a pixel, as clients round it); anything else is refused
with MapProxy's messages."""

from __future__ import annotations

import math

from ...grid import TileCoord, TileGrid
from ...layers import TileLayer
from .exceptions import WMSError
from .request import MapParams


def tiled_request_tile(layer: TileLayer, params: MapParams) -> TileCoord:
    """The tile of ``layer`` that ``params`` asks for; WMSError when there is none."""
    grid = layer.grid
    if layer.format.mime != "mixed" and params.opts.format.mime != layer.format.mime:
        raise WMSError(f"Invalid request: invalid tile format, use {layer.format.ext}")
    if tuple(params.size) != tuple(grid.tile_size):
        width, height = grid.tile_size
        raise WMSError(f"Invalid request: invalid tile size (use {width}x{height})")
    coord = _single_tile(grid, params.bbox, params.size)
    if coord is None:
        raise WMSError("Request too large or invalid BBOX. (not a single tile)")
    if not _aligned(grid.tile_bbox(coord), params.bbox, params.size):
        raise WMSError("Request too large or invalid BBOX. (query does not align to tile boundaries)")
    return coord


def _single_tile(grid: TileGrid, bbox: tuple[float, float, float, float], size: tuple[int, int]) -> TileCoord | None:
    """The one tile at the level closest to the request's resolution that the bbox
    covers (ignoring a tenth of a pixel at the edges); None for more or none."""
    res = min((bbox[2] - bbox[0]) / size[0], (bbox[3] - bbox[1]) / size[1])
    if not math.isfinite(res) or res <= 0:
        return None
    level = grid.closest_level(res)
    delta = grid.resolutions[level] / 10
    inner = (bbox[0] + delta, bbox[1] + delta, bbox[2] - delta, bbox[3] - delta)
    if inner[0] >= inner[2] or inner[1] >= inner[3]:
        return None
    x0, y0, x1, y1 = grid.tile_range(inner, level)
    if x0 != x1 or y0 != y1:
        return None
    coord = (x0, y0, level)
    return coord if grid.is_valid(coord) else None


def _aligned(tile: tuple[float, float, float, float], bbox: tuple[float, float, float, float],
             size: tuple[int, int]) -> bool:
    """Each edge within a tenth of a pixel of the tile's."""
    dx = abs((bbox[2] - bbox[0]) / size[0] / 10)
    dy = abs((bbox[3] - bbox[1]) / size[1] / 10)
    return (abs(tile[0] - bbox[0]) <= dx and abs(tile[2] - bbox[2]) <= dx
            and abs(tile[1] - bbox[1]) <= dy and abs(tile[3] - bbox[3]) <= dy)
