"""The area of a seed or cleanup task in its grid's SRS: the two questions the
pyramid walk asks about a tile box, answered with a prepared shapely geometry."""

from __future__ import annotations

import numpy as np
import shapely
from shapely import prepared
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from ..srs import SRS, BBox, get_srs


class Area:
    """``intersects(bbox)``: the box overlaps the area (touching edges do not count);
    ``contains(bbox)``: the box lies wholly inside. Boxes are in the grid SRS."""

    def __init__(self, geometry: BaseGeometry, description: str = ""):
        if geometry.is_empty:
            raise ValueError("the area is empty")
        self.geometry = geometry
        self.description = description
        self._prepared = prepared.prep(geometry)
        self.bbox: BBox = tuple(geometry.bounds)  # type: ignore[assignment]

    def intersects(self, bbox: BBox) -> bool:
        if bbox[0] >= self.bbox[2] or bbox[2] <= self.bbox[0] or bbox[1] >= self.bbox[3] or bbox[3] <= self.bbox[1]:
            return False
        # shrink a little so that boxes only touching the area do not count
        dx, dy = (bbox[2] - bbox[0]) * 1e-9, (bbox[3] - bbox[1]) * 1e-9
        return self._prepared.intersects(box(bbox[0] + dx, bbox[1] + dy, bbox[2] - dx, bbox[3] - dy))

    def contains(self, bbox: BBox) -> bool:
        return self._prepared.contains(box(*bbox))


def geometry_in(geometry: BaseGeometry, src: SRS, dst: SRS) -> BaseGeometry:
    """``geometry`` transformed from ``src`` to ``dst``, edges densified first so that
    straight lines in one SRS follow their curve in the other."""
    if src == dst:
        return geometry
    minx, miny, maxx, maxy = geometry.bounds
    step = max(maxx - minx, maxy - miny) / 64 or 1.0
    dense = geometry.segmentize(step)

    def project(coords: np.ndarray) -> np.ndarray:
        return np.array(src.transform_to(dst, [tuple(p) for p in coords]), dtype=float).reshape(-1, 2)

    out = shapely.transform(dense, project)
    if not out.is_valid:
        out = out.buffer(0)
    return out


def area_in_grid(geometry: BaseGeometry, srs: SRS, grid_srs: SRS, grid_bbox: BBox, description: str) -> Area:
    """The part of ``geometry`` (in ``srs``) inside the grid bbox, in the grid SRS.
    Geographic coverages are clipped to valid latitudes first (for web mercator)."""
    if srs.is_latlong and not grid_srs.is_latlong:
        limit = 85.0511287798066 if grid_srs == get_srs("EPSG:3857") else 90.0
        geometry = geometry.intersection(box(-180, -limit, 180, limit))
    grid_geom = geometry_in(geometry, srs, grid_srs).intersection(box(*grid_bbox))
    return Area(grid_geom, description)
