"""Options every source shares: ``coverage`` (with ``clip``), ``min_res``/``max_res``
(or scales), ``seed_only``, ``image.transparent_color``/``_tolerance``,
``image.opacity`` and a ``concurrent_requests`` cap for sources without HTTP.

Every source gets its SourceLimits through its constructor; ``Source.get_map``
(sources/base.py) answers blank outside them and post-processes images inside."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from PIL import Image, ImageChops, ImageDraw

from ..image.result import ImageResult
from ..locks import Slots
from ..res_range import ResRange, res_range
from ..srs import SRS, BBox

if TYPE_CHECKING:
    from ..coverage import Coverage

METERS_PER_DEGREE = 111319.4907932736

_seeding = False


def set_seeding(active: bool) -> None:
    """Seeding runs call this so that ``seed_only`` sources answer; otherwise they are blank."""
    global _seeding
    _seeding = active


def is_seeding() -> bool:
    return _seeding


@dataclass(frozen=True)
class SourceLimits:
    min_res: float | None = None  # coarsest resolution served (inclusive), metres per pixel
    max_res: float | None = None  # finest resolution, exclusive
    coverage: Coverage | None = None
    seed_only: bool = False
    transparent_color: tuple[int, int, int] | None = None
    tolerance: float = 5.0
    opacity: float | None = None
    semaphore: Slots | None = None  # concurrent_requests of a source without HTTP

    @cached_property
    def is_empty(self) -> bool:
        """No limits: the source draws every map as it is."""
        return self == NO_LIMITS

    @property
    def makes_transparent(self) -> bool:
        """Do the limits leave transparent pixels (transparent_color, a clipping coverage)?"""
        return bool(self.transparent_color) or bool(self.coverage is not None and self.coverage.clip)

    def res_range(self) -> ResRange | None:
        return res_range(self.min_res, self.max_res)

    def held(self) -> AbstractContextManager:
        """Hold one of the source's ``concurrent_requests`` slots while drawing."""
        return self.semaphore.hold() if self.semaphore is not None else nullcontext()

    def res_ok(self, bbox: BBox, size: tuple[int, int], srs: SRS) -> bool:
        if self.min_res is None and self.max_res is None:
            return True
        res = (bbox[2] - bbox[0]) / size[0]
        if srs.is_latlong:
            res *= METERS_PER_DEGREE
        if self.min_res is not None and res > self.min_res * (1 + 1e-9):
            return False
        if self.max_res is not None and res <= self.max_res * (1 + 1e-9):
            return False
        return True

    def active(self, bbox: BBox, size: tuple[int, int], srs: SRS) -> bool:
        """Does the source draw anything for this map?"""
        if self.seed_only and not _seeding:
            return False
        if not self.res_ok(bbox, size, srs):
            return False
        if self.coverage is not None and not self.coverage.intersects(bbox, srs):
            return False
        return True

    def finish(self, result: ImageResult, bbox: BBox, size: tuple[int, int], srs: SRS) -> ImageResult:
        """Clip to the coverage, make ``transparent_color`` transparent, apply opacity."""
        clip = self.coverage is not None and self.coverage.clip and not self.coverage.contains(bbox, srs)
        if not (clip or self.transparent_color or self.opacity is not None):
            return result
        img = result.image.convert("RGBA")
        if self.transparent_color:
            img = color_to_alpha(img, self.transparent_color, self.tolerance)
        if clip:
            img = clip_to(img, self.coverage, bbox, srs)
        if self.opacity is not None and self.opacity < 1:
            img.putalpha(faded(img.getchannel("A"), self.opacity))
        return ImageResult(image=img, cacheable=result.cacheable)


def faded(alpha: Image.Image, opacity: float) -> Image.Image:
    """``alpha`` times ``opacity``, the opacity taken in whole 255ths as MapProxy
    takes it (0.5 fades full alpha to 127)."""
    return ImageChops.multiply(alpha, Image.new("L", alpha.size, int(255 * opacity)))


def color_to_alpha(img: Image.Image, color: tuple[int, int, int], tolerance: float) -> Image.Image:
    import numpy as np

    arr = np.asarray(img).copy()
    diff = np.abs(arr[:, :, :3].astype(int) - np.array(color[:3], dtype=int))
    arr[(diff <= tolerance).all(axis=2), 3] = 0
    return Image.fromarray(arr, "RGBA")


def clip_to(img: Image.Image, coverage: Coverage, bbox: BBox, srs: SRS) -> Image.Image:
    """Pixels outside ``coverage`` become transparent."""
    from shapely.geometry import box

    geom = coverage.transform_to(srs).geom.intersection(box(*bbox))
    w, h = img.size
    rx, ry = (bbox[2] - bbox[0]) / w, (bbox[3] - bbox[1]) / h
    mask = Image.new("L", img.size, 0)
    draw = ImageDraw.Draw(mask)

    def pixels(ring) -> list[tuple[float, float]]:
        return [((x - bbox[0]) / rx, (bbox[3] - y) / ry) for x, y in ring.coords]

    for poly in getattr(geom, "geoms", [geom]):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        draw.polygon(pixels(poly.exterior), fill=255)
        for hole in poly.interiors:
            draw.polygon(pixels(hole), fill=0)
    alpha = Image.composite(img.getchannel("A"), Image.new("L", img.size, 0), mask)
    img.putalpha(alpha)
    return img


NO_LIMITS = SourceLimits()
