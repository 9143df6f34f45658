"""Options every source shares: ``coverage`` (with ``clip``), ``min_res``/``max_res``
(or scales), ``seed_only``, ``image.transparent_color``/``_tolerance``,
``image.opacity`` and a ``concurrent_requests`` cap for sources without HTTP.

A source with any of them is wrapped in a LimitedSource, which answers blank
outside the limits and post-processes images inside them."""

from __future__ import annotations

import copy
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any

from PIL import Image, ImageChops, ImageDraw

from ..grid import TileCoord
from ..image.formats import ImageFormat
from ..image.result import ImageResult
from ..image.transform import blank_image
from ..srs import SRS, BBox
from ..tilecache.locks import LockTimeout
from .base import MapQuery, Source, SourceTimeout

METERS_PER_DEGREE = 111319.4907932736

_seeding = False


def set_seeding(active: bool) -> None:
    """Seeding runs call this so that ``seed_only`` sources answer; otherwise they are blank."""
    global _seeding
    _seeding = active


def is_seeding() -> bool:
    return _seeding


@dataclass
class SourceLimits:
    min_res: float | None = None  # coarsest resolution served (inclusive), metres per pixel
    max_res: float | None = None  # finest resolution, exclusive
    coverage: Any = None  # tileproxy.coverage.Coverage
    seed_only: bool = False
    transparent_color: tuple[int, int, int] | None = None
    tolerance: float = 5.0
    opacity: float | None = None
    semaphore: Any = None  # tileproxy.tilecache.locks.Semaphore

    @property
    def is_empty(self) -> bool:
        return self == SourceLimits()

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


def clip_to(img: Image.Image, coverage: Any, bbox: BBox, srs: SRS) -> Image.Image:
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


class LimitedSource(Source):
    """Mixed into a copy of a source (see ``limited``): the copy keeps its class,
    so it is still a WMSSource, a TiledSource, ... with every attribute, and
    answers within ``limits``."""

    limits: SourceLimits
    _depth: threading.local

    def delivers(self, bbox: BBox, size: tuple[int, int], srs: SRS) -> bool:
        return self.limits.active(bbox, size, srs)

    def _hold(self):
        sem = self.limits.semaphore
        return sem.hold() if sem is not None else nullcontext()

    def get_map(self, query: MapQuery) -> ImageResult:
        if not self.limits.active(query.bbox, query.size, query.srs):
            return ImageResult(image=blank_image(query.size))
        self._depth.inside = True  # tiles fetched for this map are finished with the map
        try:
            with self._hold():
                result = super().get_map(query)
        except LockTimeout as ex:
            raise SourceTimeout(str(ex)) from None
        finally:
            self._depth.inside = False
        return self.limits.finish(result, query.bbox, query.size, query.srs)

    def get_tile(self, coord: TileCoord, format: ImageFormat) -> ImageResult:
        """Tiles passed through as they are (tiled sources only)."""
        if getattr(self._depth, "inside", False):
            return super().get_tile(coord, format)  # type: ignore[misc]
        grid = self.grid  # type: ignore[attr-defined]
        bbox = grid.tile_bbox(coord)
        if not self.limits.active(bbox, grid.tile_size, grid.srs):
            return ImageResult(image=blank_image(grid.tile_size))
        result = super().get_tile(coord, format)  # type: ignore[misc]
        if not format.is_image:
            return result
        return self.limits.finish(result, bbox, grid.tile_size, grid.srs)


@cache
def _limited_class(cls: type) -> type:
    return type(f"Limited{cls.__name__}", (LimitedSource, cls), {"__module__": cls.__module__})


def limited(source: Source, limits: SourceLimits) -> Source:
    """``source`` answering only within ``limits`` (the source itself when there are none)."""
    if limits.is_empty:
        return source
    clone = copy.copy(source)
    clone.__class__ = _limited_class(type(source))
    clone.limits = limits  # type: ignore[attr-defined]
    clone._depth = threading.local()  # type: ignore[attr-defined]
    clone.transparent = source.transparent or bool(limits.transparent_color) or bool(
        limits.coverage is not None and limits.coverage.clip
    )
    return clone
