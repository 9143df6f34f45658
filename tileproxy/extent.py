"""The area a cache's tiles cover, as the tile services publish it (the TMS
TileMap bounding box): MapProxy's rule, so that clients see the same numbers.

The cache's own ``cache.coverage`` when it has one; else what its sources
cover: a source's ``coverage``, a tile source's grid, a cache source's extent
within this cache's grid. One such extent stays in its own SRS and numbers;
several are joined in EPSG:4326. Sources without limits (a WMS without
coverage) leave the cache's grid bbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .sources.base import Source, TiledSource
from .sources.cache import CacheSource
from .srs import SRS, BBox, SRSError, get_srs

if TYPE_CHECKING:
    from .grid import TileGrid
    from .tiles import TileManager

Extent = tuple[BBox, SRS]


def cache_extent(manager: TileManager) -> Extent:
    """The extent of the tiles of ``manager`` (a cache in one grid)."""
    coverage = getattr(manager.store, "configured_coverage", None)
    if coverage is not None and not coverage.is_empty:
        return coverage.extent, coverage.srs
    found = [e for e in (_source_extent(s, manager.grid) for s in manager.sources) if e is not None]
    if not found:
        return manager.grid.bbox, manager.grid.srs
    if len(found) == 1:
        return found[0]
    wgs = get_srs("EPSG:4326")
    boxes = [_transformed(e, wgs) for e in found]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)), wgs


def extent_in(extent: Extent, srs: SRS) -> BBox:
    """``extent`` as a bbox in ``srs`` (the numbers as they are when the SRS is the same)."""
    return _transformed(extent, srs)


def _source_extent(source: Source, grid: TileGrid) -> Extent | None:
    limits = getattr(source, "limits", None)
    coverage = getattr(limits, "coverage", None)
    if coverage is not None and not coverage.is_empty:
        return coverage.extent, coverage.srs
    if isinstance(source, CacheSource):
        (bbox, srs) = cache_extent(source.manager)
        try:
            inner = grid.srs.transform_bbox_to(srs, srs.align_bbox(grid.bbox)) if srs != grid.srs else grid.bbox
        except SRSError:
            return bbox, srs
        cut = (max(bbox[0], inner[0]), max(bbox[1], inner[1]), min(bbox[2], inner[2]), min(bbox[3], inner[3]))
        return (cut, srs) if cut[0] < cut[2] and cut[1] < cut[3] else (bbox, srs)
    if isinstance(source, TiledSource):
        return source.grid.bbox, source.grid.srs
    return None


def _transformed(extent: Extent, srs: SRS) -> BBox:
    bbox, own = extent
    if own == srs:
        return bbox
    return own.transform_bbox_to(srs, own.align_bbox(bbox))
