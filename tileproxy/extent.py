"""The area a layer draws: a bbox in the SRS it was configured in (a coverage, a
grid), merged in lon/lat when a layer draws several sources.

Capabilities documents (WMS bounding boxes, WMTS WGS84BoundingBox) advertise
these extents, so they follow MapProxy's rules: a source's extent is its
coverage, else the whole world (the *default* extent, which gives way to any
other when merged); a tile source's is its coverage, else its grid; a cache's is
its own coverage, else its sources' extents merged, else its grid. A configured
bbox keeps its numbers as written (``-50``, not ``-50.0``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .srs import MERCATOR_EXTENT, SRS, BBox, get_srs

if TYPE_CHECKING:
    from .coverage import Coverage

_MERCATOR_CODES = ("EPSG:3857", "EPSG:900913")


@dataclass(frozen=True)
class Extent:
    """``bbox`` in ``srs``; ``is_default`` marks the world extent of layers without
    a coverage."""

    bbox: BBox
    srs: SRS
    is_default: bool = False

    def llbbox(self) -> BBox:
        """The extent in lon/lat (EPSG:4326)."""
        return self.bbox_in(_wgs84())

    def bbox_in(self, srs: SRS) -> BBox:
        """The extent in ``srs``; raises SRSError when it cannot be transformed."""
        if srs == self.srs:
            return self.bbox
        return transform_bbox(self.srs, srs, self.bbox)

    def transform(self, srs: SRS) -> Extent:
        return Extent(self.bbox_in(srs), srs)

    def __add__(self, other: Extent) -> Extent:
        """Both extents (their lon/lat union); the default extent adds nothing."""
        if other.is_default:
            return self
        if self.is_default:
            return other
        a, b = self.llbbox(), other.llbbox()
        return Extent((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])), _wgs84())

    def intersects(self, other: Extent) -> bool:
        box, mine = other.bbox_in(self.srs), self.bbox
        return not (box[0] >= mine[2] or box[2] <= mine[0] or box[1] >= mine[3] or box[3] <= mine[1])

    def intersection(self, other: Extent) -> Extent | None:
        """The common part, in this extent's SRS; None when they do not overlap."""
        if not self.intersects(other):
            return None
        box, mine = other.bbox_in(self.srs), self.bbox
        return Extent((max(mine[0], box[0]), max(mine[1], box[1]), min(mine[2], box[2]), min(mine[3], box[3])),
                      self.srs)


def _wgs84() -> SRS:
    return get_srs("EPSG:4326")


def default_extent() -> Extent:
    """The world, for layers without a coverage."""
    return Extent((-180, -90, 180, 90), _wgs84(), is_default=True)


def transform_bbox(src: SRS, dst: SRS, bbox: BBox) -> BBox:
    """``bbox`` from ``src`` to ``dst``, each edge sampled at five points as MapProxy
    samples it (so that both advertise the same extents). From lon/lat to web
    mercator, edges at the world's border (±180°, beyond ±85.06°) become the
    mercator world's border instead of infinity."""
    result = src.transform_bbox_to(dst, bbox, steps=4)
    if src.code == "EPSG:4326" and dst.code in _MERCATOR_CODES:
        result = (
            -MERCATOR_EXTENT if bbox[0] <= -180.0 else result[0],
            -MERCATOR_EXTENT if bbox[1] <= -85.06 else result[1],
            MERCATOR_EXTENT if bbox[2] >= 180.0 else result[2],
            MERCATOR_EXTENT if bbox[3] >= 85.06 else result[3],
        )
    return result


def merge_extents(extents: list[Extent]) -> Extent:
    """The extent of everything in ``extents``: a single one as it is (in its own
    SRS), several as their lon/lat union; the default extent when empty."""
    if not extents:
        return default_extent()
    result = extents[-1]
    for extent in extents[:-1]:
        result = result + extent
    return result


def coverage_extent(coverage: Coverage | None) -> Extent | None:
    """The bbox of a coverage as configured, in its SRS; None for none or an empty one."""
    if coverage is None or coverage.is_empty:
        return None
    return Extent(coverage.written_bbox, coverage.srs)
