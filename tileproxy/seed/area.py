"""The area of a seed or cleanup task: its coverages in the grid's SRS, clipped
to the grid, as one prepared coverage the pyramid walk can ask.

A coverage in another SRS than the grid is taken over as exactly as its edges
allow (densified), and widened to hold every tile MapProxy's seeder picks for
the same seed.yaml, so that no tile MapProxy seeds is left out:

- a ``bbox`` becomes the box around its transformed outline (MapProxy seeds
  that box, not the curved outline);
- a geometry is also taken with only its vertices transformed and straight
  edges between them (MapProxy does not densify);
- union/intersection/difference parts are combined in the first part's SRS
  the same way before the result is transformed.

Along curved edges the walk picks a few tiles more than MapProxy (well under
1% in tests/test_seed_reference.py). Tiles that only share an edge with a
coverage, with no area inside it, are left out; MapProxy picks some of them
where its floating point arithmetic makes the edges meet exactly (coverages
drawn on tile edges, expire_tiles)."""

from __future__ import annotations

import math

import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from ..coverage import Coverage, combine_geoms, transform_geometry
from ..grid import TileGrid
from ..srs import SRS, SRSError, get_srs

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
        parts.append(transform_geometry(geom, cov.srs, grid.srs))
        if cov.srs != grid.srs or isinstance(cov.made_from, tuple):  # else MapProxy's area is the same
            as_mapproxy = _as_mapproxy(cov, grid.srs)
            if as_mapproxy is not None:
                parts.append(as_mapproxy)
    area = shapely.union_all(parts).intersection(box(*grid.bbox))
    if area.is_empty:
        return None
    return Coverage(area, grid.srs)


def _as_mapproxy(cov: Coverage, srs: SRS) -> BaseGeometry | None:
    """The area MapProxy's seeder tests tiles against, in ``srs`` (None where the
    transformation fails; the densified area stands alone then)."""
    try:
        return _transformed_as_mapproxy(cov, srs)
    except (SRSError, ValueError, shapely.errors.GEOSException):
        return None


def _transformed_as_mapproxy(cov: Coverage, srs: SRS) -> BaseGeometry:
    if cov.made_from == "bbox":
        # the box around the outline, sampled along the edges (more finely than MapProxy)
        return box(*cov.srs.transform_bbox_to(srs, cov.srs.align_bbox(cov.bbox), steps=64))
    if isinstance(cov.made_from, tuple):
        op, parts = cov.made_from
        first = parts[0].srs
        combined = combine_geoms(op, [_transformed_as_mapproxy(p, first) for p in parts])
        return _vertices_transformed(combined, first, srs)
    return _vertices_transformed(cov.geom, cov.srs, srs)


def _vertices_transformed(geom: BaseGeometry, src: SRS, dst: SRS) -> BaseGeometry:
    """``geom`` with only its vertices transformed: straight edges in ``dst``."""
    if src == dst or geom.is_empty:
        return geom

    def points(coords):  # noqa: ANN001, ANN202
        import numpy as np

        return np.array(src.transform_to(dst, [tuple(c[:2]) for c in coords]), dtype=float).reshape(-1, 2)

    out = shapely.transform(geom, points)
    if not all(map(math.isfinite, out.bounds)):
        raise ValueError("vertices beyond the target SRS")  # such as a pole in web mercator
    return out if out.is_valid else shapely.make_valid(out)
