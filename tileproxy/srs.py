"""Spatial reference systems over pyproj: codes, axis order and transformations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

BBox = tuple[float, float, float, float]

# Codes that MapProxy treats as web mercator; pyproj does not know all of them.
_MERCATOR_ALIASES = {"EPSG:900913", "EPSG:102100", "EPSG:102113", "EPSG:3785", "OSGEO:41001"}
_CODE_ALIASES = {"CRS:84": "OGC:CRS84"}

MERCATOR_EXTENT = 20037508.342789244
DEFAULT_BBOXES: dict[str, BBox] = {
    "EPSG:4326": (-180.0, -90.0, 180.0, 90.0),
    "EPSG:900913": (-MERCATOR_EXTENT, -MERCATOR_EXTENT, MERCATOR_EXTENT, MERCATOR_EXTENT),
    "EPSG:3857": (-MERCATOR_EXTENT, -MERCATOR_EXTENT, MERCATOR_EXTENT, MERCATOR_EXTENT),
    "EPSG:102100": (-MERCATOR_EXTENT, -MERCATOR_EXTENT, MERCATOR_EXTENT, MERCATOR_EXTENT),
    "EPSG:102113": (-MERCATOR_EXTENT, -MERCATOR_EXTENT, MERCATOR_EXTENT, MERCATOR_EXTENT),
}


class SRSError(ValueError):
    pass


class SRS:
    """A coordinate reference system identified by a code such as ``EPSG:4326``.

    Coordinates are always handled east/north first (x, y); ``is_axis_order_ne``
    tells services such as WMS 1.3.0 when the official axis order differs.
    """

    def __init__(self, code: str):
        self.code = normalize_code(code)
        lookup = self.code
        if lookup in _MERCATOR_ALIASES:
            lookup = "EPSG:3857"
        lookup = _CODE_ALIASES.get(lookup, lookup)
        try:
            self.crs = CRS.from_user_input(lookup)
        except CRSError:
            raise SRSError(f"unknown SRS '{code}'") from None
        self.is_latlong = bool(self.crs.is_geographic)
        axes = self.crs.axis_info
        self.is_axis_order_ne = bool(
            axes and axes[0].direction.lower() in ("north", "south")
        )
        # web mercator under its many names counts as one SRS, as in MapProxy
        self._identity = "EPSG:3857" if self.code in _MERCATOR_ALIASES else self.code

    @property
    def epsg_token(self) -> str:
        """``EPSG900913`` style token used in TMS and cache directory names."""
        return self.code.replace(":", "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SRS) and self._identity == other._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    def __repr__(self) -> str:
        return f"SRS({self.code!r})"

    def transform_to(self, other: SRS, points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        if self == other:
            return list(points)
        try:
            tr = _transformer(self, other)
        except ProjError as ex:  # e.g. from the Moon to the Earth
            raise SRSError(f"no transformation from {self.code} to {other.code}: {ex}") from None
        xs, ys = tr.transform([p[0] for p in points], [p[1] for p in points])
        return list(zip(xs, ys))

    def transform_bbox_to(self, other: SRS, bbox: BBox, steps: int = 4) -> BBox:
        """Transform a bbox by sampling its edges (``steps`` segments per edge);
        returns the enclosing bbox. The default samples as MapProxy does (16 points
        around the bbox, at the same positions), so that grids given with a
        ``bbox_srs`` and the bboxes sent to sources are MapProxy's to the last digit."""
        if self == other:
            return tuple(bbox)  # type: ignore[return-value]
        minx, miny, maxx, maxy = bbox
        xstep, ystep = (maxx - minx) / steps, (maxy - miny) / steps
        pts = []
        for i in range(steps + 1):
            fx, fy = minx + i * xstep, miny + i * ystep
            pts += [(fx, miny), (fx, maxy)]
            if 0 < i < steps:
                pts += [(minx, fy), (maxx, fy)]
        out = [p for p in self.transform_to(other, pts) if math.isfinite(p[0]) and math.isfinite(p[1])]
        if not out:
            raise SRSError(f"bbox {bbox} cannot be transformed from {self.code} to {other.code}")
        return (
            min(p[0] for p in out),
            min(p[1] for p in out),
            max(p[0] for p in out),
            max(p[1] for p in out),
        )

    def align_bbox(self, bbox: BBox) -> BBox:
        """Clamp geographic bboxes to valid latitudes."""
        if self.is_latlong:
            return (bbox[0], max(bbox[1], -90.0), bbox[2], min(bbox[3], 90.0))
        return bbox


def normalize_code(code: str | int) -> str:
    if isinstance(code, int):
        return f"EPSG:{code}"
    text = str(code).strip().upper()
    if text.startswith("EPSG") and ":" not in text:
        text = "EPSG:" + text[4:]
    return text


@lru_cache(maxsize=256)
def get_srs(code: str | int) -> SRS:
    """Cached SRS lookup; raises SRSError for codes pyproj does not know."""
    return SRS(code)


@lru_cache(maxsize=256)
def _transformer(src: SRS, dst: SRS) -> Transformer:
    return Transformer.from_crs(src.crs, dst.crs, always_xy=True)


def default_bbox(srs: SRS) -> BBox | None:
    return DEFAULT_BBOXES.get(srs.code)


def clip_to_world(srs: SRS, bbox: BBox) -> BBox | None:
    """``bbox`` limited to the world extent of web mercator and geographic SRS (a
    polar bbox transformed to mercator reaches hundreds of millions of metres);
    other SRS are left as they are. None when nothing is left."""
    world = default_bbox(srs)
    if world is None:
        return bbox
    clipped = (max(bbox[0], world[0]), max(bbox[1], world[1]), min(bbox[2], world[2]), min(bbox[3], world[3]))
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        return None
    return clipped
