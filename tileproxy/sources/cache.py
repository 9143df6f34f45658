"""Another cache used as a source: its tiles pass through when the grids line up,
otherwise it answers map queries like a WMS (meta tiles, reprojection). Also
where a cache draws (``cache_extent``) and at which resolutions (``cache_res_range``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..extent import Extent, coverage_extent, merge_extents
from ..grid import TileCoord, TileGrid
from ..image.formats import ImageFormat
from ..image.placement import contains, overlaps, part_within, placed
from ..image.result import ImageResult
from ..image.transform import blank_image
from ..res_range import ResRange, merge_res_ranges
from ..srs import SRS, BBox, SRSError
from .base import MapQuery, Source, SourceError, TiledSource

if TYPE_CHECKING:
    from ..config.model import CacheConfig
    from ..tiles import TileManager


class CacheSource(TiledSource):
    def __init__(self, name: str, manager: TileManager, target_grid: TileGrid | None = None):
        super().__init__(name, manager.transparent)
        self.manager = manager
        self.grid = manager.grid
        self.resampling = manager.image_opts.resampling
        # a grid that shares no level with ours: build meta tiles like any map source
        if target_grid is not None:
            self.supports_meta_tiles = not any(
                target_grid.aligned_level(self.grid, z) is not None for z in range(target_grid.levels)
            )
        self.bounds = _bounds(manager, target_grid)
        self._limits: dict[SRS, BBox | None] = {}

    def res_range(self) -> ResRange | None:
        """What the cache's sources draw."""
        return cache_res_range(self.manager)

    def extent(self) -> Extent:
        """The cache's extent within its grid."""
        inner = cache_extent(self.manager)
        try:
            return inner.intersection(Extent(self.grid.bbox, self.grid.srs)) or inner
        except SRSError:
            return inner

    def fetch_tile(self, coord: TileCoord, format: ImageFormat) -> ImageResult:
        outcome = self.manager.fetch_tile(coord)
        if outcome.empty:  # the other cache's sources draw nothing there
            return ImageResult(image=blank_image(self.grid.tile_size))
        tile = outcome.tile
        # the other cache's tiles are in its format (as MapProxy trusts them): they
        # pass through undecoded; an error tile of that cache is not stored here either
        mime = tile.mime or (self.manager.format.mime if self.manager.format.mime != "mixed" else None)
        return ImageResult(data=tile.data, mime=mime, cacheable=outcome.cacheable)

    def draw(self, query: MapQuery) -> ImageResult:
        if not self.manager.format.is_image:
            raise SourceError(f"cache '{self.name}' holds {self.manager.format.mime} tiles, which cannot be drawn into maps")
        limit = self._limit_in(query.srs)
        if limit is None or contains(limit, query.bbox):
            return super().draw(query)
        # as MapProxy: only the part inside the extent is drawn, the rest is transparent
        size, offset, bbox = part_within(query.bbox, query.size, limit)
        if not overlaps(limit, query.bbox) or not size[0] or not size[1]:
            return ImageResult(image=blank_image(query.size))
        part = super().draw(replace(query, bbox=bbox, size=size))
        return ImageResult(image=placed(part.image, query.size, offset), cacheable=part.cacheable)

    def _limit_in(self, srs: SRS) -> BBox | None:
        if self.bounds is None:
            return None
        if srs not in self._limits:
            bbox, bbox_srs = self.bounds
            try:
                self._limits[srs] = bbox_srs.transform_bbox_to(srs, bbox)
            except SRSError:
                self._limits[srs] = None
        return self._limits[srs]


def _bounds(manager: TileManager, target: TileGrid | None) -> tuple[BBox, SRS] | None:
    """Where a cache draws as a source, as MapProxy bounds it: the cache's extent
    (its coverage, its sources', else its grid) within the grid of the cache it fills."""
    extent = cache_extent(manager)
    bbox, srs = extent.bbox, extent.srs
    if target is None:
        return bbox, srs
    try:
        other = target.srs.transform_bbox_to(srs, target.bbox)
    except SRSError:
        return bbox, srs
    box = (max(bbox[0], other[0]), max(bbox[1], other[1]), min(bbox[2], other[2]), min(bbox[3], other[3]))
    return (box, srs) if box[0] < box[2] and box[1] < box[3] else None


def cache_extent(manager: TileManager) -> Extent:
    """The cache's coverage, else its sources' extents, else its grid."""
    extent = coverage_extent(manager.store.coverage)
    if extent is not None:
        return extent
    extent = merge_extents([s.extent() for s in manager.sources])
    if extent.is_default:
        extent = Extent(manager.grid.bbox, manager.grid.srs)
    return extent


def cache_res_range(manager: TileManager) -> ResRange | None:
    """What the cache's sources draw; unlimited when the cache rescales tiles of other levels."""
    if manager.opts.rescale_tiles or not manager.sources:
        return None
    return merge_res_ranges([s.res_range() for s in manager.sources])


class ResolutionConditional(Source):
    """``use_direct_from_level/res``: queries finer than ``res`` (in ``srs`` units)
    go straight to ``direct``, coarser ones to ``cached``."""

    def __init__(self, cached: Source, direct: Source, res: float, srs):
        super().__init__(cached.name, cached.transparent)
        self.cached = cached
        self.direct = direct
        self.res = res
        self.srs = srs
        self.supports_meta_tiles = cached.supports_meta_tiles and direct.supports_meta_tiles

    def res_range(self) -> ResRange | None:
        return merge_res_ranges([self.cached.res_range(), self.direct.res_range()])

    def extent(self) -> Extent:
        return self.cached.extent()

    def draw(self, query: MapQuery) -> ImageResult:
        bbox = query.bbox
        if query.srs != self.srs:
            bbox = query.srs.transform_bbox_to(self.srs, bbox)
        res = min((bbox[2] - bbox[0]) / query.size[0], (bbox[3] - bbox[1]) / query.size[1])
        source = self.direct if res < self.res else self.cached
        return source.get_map(query)


def cache_map_source(cache: CacheConfig, target_grid: TileGrid | None = None) -> Source:
    """The source that draws maps from ``cache`` for a layer or another cache:
    the cache's grid that best fits ``target_grid`` (same grid, else same SRS,
    else the first), switched to the cache's own source below
    ``use_direct_from_level/res``."""
    grid_name = _best_grid(cache, target_grid)
    source: Source = CacheSource(cache.name, cache.managers[grid_name], target_grid)
    if cache.direct_from_res is not None and cache.direct_source is not None:
        grid = cache.managers[grid_name].grid
        source = ResolutionConditional(source, cache.direct_source, cache.direct_from_res, grid.srs)
    return source


def _best_grid(cache: CacheConfig, target: TileGrid | None) -> str:
    if target is not None:
        for name, manager in cache.managers.items():
            if manager.grid == target or (manager.grid.name and manager.grid.name == target.name):
                return name
        for name, manager in cache.managers.items():
            if manager.grid.srs == target.srs:
                return name
    return next(iter(cache.managers))
