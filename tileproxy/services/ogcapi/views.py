"""Map views of collections for viewer.js (the demo's viewer): map tiles of a
tile matrix set, or maps drawn tile by tile (``{bbox}``) in a map CRS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...grid import TileGrid
from ...srs import SRSError
from ..demo_view import grid_view
from .crs import ogc_url
from .tilesets import base_path

if TYPE_CHECKING:
    from ...layers import WMSLayer
    from .state import OGCAPIState


def _fit(layer: WMSLayer, grid: TileGrid) -> dict[str, Any]:
    try:
        return {"fit": list(layer.map_extent.bbox_in(grid.srs))}
    except SRSError:
        return {}


def tile_view(service: OGCAPIState, base: str, coll_id: str | None, tms_id: str) -> dict[str, Any]:
    """Map tiles of a collection (or the dataset) in one tile matrix set."""
    grid = service.matrix_set(tms_id)
    layer = service.layer_of(coll_id)
    return {
        **grid_view(grid, [(z, z) for z in range(grid.levels)]),
        "service": "ogcapi",
        "url": f"{base}{base_path(coll_id)}/map/tiles/{tms_id}/{{z}}/{{y}}/{{x}}.png",
        "yAxis": "down" if grid.origin == "nw" else "up",
        **_fit(layer, grid),
    }


def map_grid(service: OGCAPIState) -> TileGrid | None:
    """A tile matrix set in one of the map CRS, to view maps through."""
    for grid, _ in service.matrix_sets.values():
        if grid.srs in service.map_srs and grid.origin == "nw":
            return grid
    for grid, _ in service.matrix_sets.values():
        if grid.srs in service.map_srs:
            return grid
    return None


def map_view(service: OGCAPIState, base: str, layer: WMSLayer) -> dict[str, Any] | None:
    """Maps of a collection, 256 pixels square each, over a grid in a map CRS."""
    grid = map_grid(service)
    if grid is None:
        return None
    crs = ogc_url(grid.srs)
    url = (f"{base}/collections/{layer.name}/map.png?crs={crs}&bbox-crs={crs}&bbox={{bbox}}"
           f"&width={grid.tile_size[0]}&height={grid.tile_size[1]}")
    return {
        **grid_view(grid, [(z, z) for z in range(grid.levels)]),
        "service": "ogcapi",
        "url": url,
        "yAxis": "down",
        "bboxYX": grid.srs.is_axis_order_ne,
        **_fit(layer, grid),
    }
