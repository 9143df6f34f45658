"""The area of a seed or cleanup task: its coverages in the grid's SRS, clipped
to the grid, as one prepared coverage the pyramid walk can ask."""

from __future__ import annotations

import shapely
from shapely.geometry import box

from ..coverage import Coverage, transform_geometry
from ..grid import TileGrid
from ..srs import get_srs

_MERCATOR_LAT = 85.0511287798066


def area_in_grid(coverages: list[Coverage], grid: TileGrid) -> Coverage | None:
    """The union of ``coverages`` within the grid bbox in the grid SRS; None when
    nothing is left. Lon/lat areas are cut at the poles of web mercator first."""
    parts = []
    for cov in coverages:
        geom = cov.geom
        if cov.srs.is_latlong and not grid.srs.is_latlong:
            limit = _MERCATOR_LAT if grid.srs == get_srs("EPSG:3857") else 90.0
            geom = geom.intersection(box(-180, -limit, 180, limit))
        part = transform_geometry(geom, cov.srs, grid.srs).intersection(box(*grid.bbox))
        if not part.is_empty:
            parts.append(part)
    if not parts:
        return None
    return Coverage(shapely.union_all(parts), grid.srs)
