"""WMS-C: a GetMap with ``TILED=true`` is answered with one tile of a cache, and
refused with MapProxy's words when it is not exactly one tile."""

from __future__ import annotations

from ...grid import TileCoord, TileGrid
from ...layers import TileLayer
from ...srs import BBox
from ..client_input import echo
from .exceptions import WMSError
from .request import MapParams


def wmsc_tile(layers: list[TileLayer], params: MapParams) -> tuple[TileLayer, TileCoord]:
    """The tile layer and tile a tiled GetMap asks for; checked as MapProxy checks
    it: format, size, then one tile whose edges match within a tenth of a pixel."""
    if len(params.layers) != 1:
        raise WMSError("tiled requests take exactly one layer", "InvalidParameterValue", "layers")
    candidates = [tl for tl in layers if tl.name == params.layers[0] and tl.grid.srs == params.srs]
    if not candidates:
        raise WMSError(f"layer '{echo(params.layers[0])}' has no tiles in {params.srs.code}", "InvalidSRS", "srs")
    layer = next((tl for tl in candidates if _format_fits(tl, params)), None)
    if layer is None:
        raise WMSError(f"Invalid request: invalid tile format, use {candidates[0].format}")
    grid = layer.grid
    if tuple(params.size) != tuple(grid.tile_size):
        raise WMSError(f"Invalid request: invalid tile size (use {grid.tile_size[0]}x{grid.tile_size[1]})")
    return layer, _single_tile(grid, params.bbox, params.size)


def _format_fits(layer: TileLayer, params: MapParams) -> bool:
    return layer.format.mime in (params.opts.format.mime, "mixed")


def _single_tile(grid: TileGrid, bbox: BBox, size: tuple[int, int]) -> TileCoord:
    px, py = (bbox[2] - bbox[0]) / size[0], (bbox[3] - bbox[1]) / size[1]
    level = grid.closest_level(min(px, py))
    x0, y0, x1, y1 = grid.tile_range(bbox, level)
    if x1 != x0 or y1 != y0:
        raise WMSError("Request too large or invalid BBOX. (not a single tile)")
    coord = (x0, y0, level)
    tile = grid.tile_bbox(coord)
    if any(abs(a - b) > tol for a, b, tol in zip(bbox, tile, (px / 10, py / 10, px / 10, py / 10))):
        raise WMSError("Request too large or invalid BBOX. (query does not align to tile boundaries)")
    return coord
