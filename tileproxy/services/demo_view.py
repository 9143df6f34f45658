"""The viewer's description of a tile grid (viewer.js draws from it)."""

from __future__ import annotations

from typing import Any

from ..grid import TileGrid
from ..srs import get_srs
from .wmts import METERS_PER_DEGREE, PIXEL_SIZE


def grid_view(grid: TileGrid, levels: list[tuple[int, int]]) -> dict[str, Any]:
    """Tile matrices (public id, grid level), coarse to fine, with their top-left
    corner, and the grid's SRS and bbox."""
    th = grid.tile_size[1]
    unit_m = METERS_PER_DEGREE if grid.srs.is_latlong else 1.0
    matrices = []
    for z, internal in levels:
        res = grid.resolutions[internal]
        w, h = grid.grid_sizes[internal]
        # a sw grid's matrix grows upwards from the bbox bottom, an nw grid's down from its top
        top = grid.bbox[3] if grid.origin == "nw" else grid.bbox[1] + h * th * res
        matrices.append({"id": str(z), "level": internal, "res": res,
                         "scale": res * unit_m / PIXEL_SIZE, "left": grid.bbox[0], "top": top,
                         "width": w, "height": h})
    return {"srs": grid.srs.code, "units": "degrees" if grid.srs.is_latlong else "m",
            "webMercator": grid.srs == get_srs("EPSG:3857"), "bbox": list(grid.bbox),
            "tileSize": list(grid.tile_size), "matrices": matrices}
