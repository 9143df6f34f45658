"""The extent a cache advertises (WMTS WGS84BoundingBox), found as MapProxy finds
it: the cache coverage; else the coverages of its sources merged (sources without
one add nothing; tile sources and caches bring their grid's extent); else the
grid. A configured bbox keeps its numbers as written (``-50``, not ``-50.0``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .sources.base import Source, TiledSource
from .sources.cache import CacheSource
from .srs import SRS, BBox, SRSError, get_srs

if TYPE_CHECKING:
    from .tiles import TileManager


@dataclass(frozen=True)
class Extent:
    bbox: BBox
    srs: SRS

    def llbbox(self) -> BBox:
        """The extent in EPSG:4326 (lon/lat order)."""
        wgs = get_srs("EPSG:4326")
        if self.srs == wgs:
            return self.bbox
        return self.srs.transform_bbox_to(wgs, self.bbox)

    def bbox_in(self, srs: SRS) -> BBox:
        return self.bbox if srs == self.srs else self.srs.transform_bbox_to(srs, self.bbox)


def cache_extent(manager: TileManager) -> Extent:
    coverage = getattr(manager.store, "configured_coverage", None)
    if coverage is not None:
        return Extent(coverage.written_bbox, coverage.srs)
    merged = merge_extents([source_extent(s) for s in manager.sources])
    return merged or Extent(manager.grid.bbox, manager.grid.srs)


def source_extent(source: Source) -> Extent | None:
    """None for a source that may draw anywhere."""
    if isinstance(source, CacheSource):
        inner = cache_extent(source.manager)
        grid = source.manager.grid
        try:
            sub = Extent(grid.bbox, grid.srs).bbox_in(inner.srs)
        except SRSError:
            return inner
        b = inner.bbox
        return Extent((max(b[0], sub[0]), max(b[1], sub[1]), min(b[2], sub[2]), min(b[3], sub[3])), inner.srs)
    limits = getattr(source, "limits", None)
    coverage = limits.coverage if limits is not None else None
    if coverage is not None:
        return Extent(coverage.written_bbox, coverage.srs)
    if isinstance(source, TiledSource):
        return Extent(source.grid.bbox, source.grid.srs)
    return None


def merge_extents(extents: list[Extent | None]) -> Extent | None:
    """The extents together (in EPSG:4326 when there are several); None when all are None."""
    known = [e for e in extents if e is not None]
    if not known:
        return None
    if len(known) == 1:
        return known[0]
    boxes = [e.llbbox() for e in known]
    merged = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    return Extent(merged, get_srs("EPSG:4326"))
