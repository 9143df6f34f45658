"""A tile grid as a WMTS TileMatrixSet: rows counted from the top, matrices named
``00``, ``01``, ... as MapProxy names its levels (``1`` and ``001`` are read too)."""

from __future__ import annotations

from ...grid import METERS_PER_DEGREE, TileCoord, TileGrid
from ..wms.xml import XMLWriter

PIXEL_SIZE = 0.00028  # metres, the OGC standardized rendering pixel


def matrix_id(level: int) -> str:
    return f"{level:02d}"


def crs_urn(grid: TileGrid) -> str:
    """``urn:ogc:def:crs:`` and the grid's SRS code as configured (MapProxy's form)."""
    code = grid.srs.code
    if code.isdigit():
        code = f"EPSG:{code}"
    return f"urn:ogc:def:crs:{code}"


def scale_denominator(grid: TileGrid, level: int) -> str:
    """The scale of a level, at ten decimals, without trailing zeros."""
    meter_per_unit = METERS_PER_DEGREE if grid.srs.is_latlong else 1
    value = round(grid.resolutions[level] / (0.28 / 1000) * meter_per_unit, 10)
    return f"{value}".strip("0").strip(".")


def top_left(grid: TileGrid, level: int) -> tuple[float, float]:
    """The upper left corner of the level's top left tile, in the grid's axis order."""
    res = grid.resolutions[level]
    left = grid.bbox[0] + 0.0
    if grid.origin == "nw":
        top = grid.bbox[3] - 0.0
    else:
        rows = grid.grid_sizes[level][1]
        th = grid.tile_size[1]
        top = grid.bbox[1] + round((rows - 1) * res * th, 12) + round(res * th, 12)
    return (top, left) if grid.srs.is_axis_order_ne else (left, top)


class WMTSMatrixSet:
    def __init__(self, name: str, grid: TileGrid):
        self.name = name
        self.grid = grid

    def internal_coord(self, level: int, col: int, row: int) -> TileCoord | None:
        """The grid's own coordinates of a tile (None outside the matrix)."""
        grid = self.grid
        sizes = grid.grid_sizes
        if not 0 <= level < len(sizes):
            return None
        width, height = sizes[level]
        if not (0 <= col < width and 0 <= row < height):
            return None
        return (col, row, level) if grid.origin == "nw" else (col, height - 1 - row, level)

    def write(self, w: XMLWriter) -> None:
        grid = self.grid
        w.open("TileMatrixSet")
        w.leaf("ows:Identifier", self.name)
        w.leaf("ows:SupportedCRS", crs_urn(grid))
        for level in range(grid.levels):
            corner = top_left(grid, level)
            w.open("TileMatrix")
            w.leaf("ows:Identifier", matrix_id(level))
            w.leaf("ScaleDenominator", scale_denominator(grid, level))
            w.leaf("TopLeftCorner", f"{corner[0]} {corner[1]}")
            w.leaf("TileWidth", grid.tile_size[0])
            w.leaf("TileHeight", grid.tile_size[1])
            w.leaf("MatrixWidth", grid.grid_sizes[level][0])
            w.leaf("MatrixHeight", grid.grid_sizes[level][1])
            w.close("TileMatrix")
        w.close("TileMatrixSet")
