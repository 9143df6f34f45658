"""A cache drawn as maps (``CacheSource``): as the source of another cache, its
tiles pass through when the grids line up, otherwise it answers map queries like
a WMS (meta tiles, reprojection); WMS layers draw caches through it too. Also
where a cache draws (``cache_extent``) and at which resolutions (``cache_res_range``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .. import metrics
from ..extent import Extent, coverage_extent, merge_extents
from ..grid import ResRange, TileCoord, TileGrid
from ..image.formats import ImageFormat
from ..image.placement import contains, intersection, overlaps, part_within, placed
from ..image.result import ImageResult
from ..image.transform import blank_image
from ..srs import SRS, BBox, SRSError
from ..tilecache.unstored import UnstoredTile, tile_image
from ..tiled_map import draw_from_tiles
from .base import MapQuery, Source, SourceError, TiledSource

if TYPE_CHECKING:
    from ..config.model import CacheConfig
    from ..tilecache.manager import TileManager
    from ..tilecache.outcomes import TileOutcome


class CacheSource(TiledSource):
    """One grid of a cache drawn as maps, for another cache (as its source) and for
    WMS layers (``maps.CacheMapLayer``), as MapProxy's CacheSource is its
    CacheMapLayer. Tiles of its grid pass through as they are (``get_tile``); any
    other map is drawn from its tiles (``tiled_map.draw_from_tiles``), and only
    the part inside the cache's extent (within ``target_grid``, the grid of the
    cache it fills): the rest is transparent, as in MapProxy."""

    def __init__(self, name: str, manager: TileManager, target_grid: TileGrid | None = None,
                 max_tile_limit: int | None = 500):
        super().__init__(name, manager.transparent)
        self.manager = manager
        self.grid = manager.grid
        self.resampling = manager.image_opts.resampling
        self.max_tile_limit = max_tile_limit
        # a grid that shares no level with ours: build meta tiles like any map source
        if target_grid is not None:
            self.supports_meta_tiles = not any(
                target_grid.aligned_level(self.grid, z) is not None for z in range(target_grid.levels)
            )
        self.bounds = _bounds(manager, target_grid)  # None: no limit
        self._bounds_in: dict[SRS, BBox | None] = {}

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
        tile = _tile_image(outcome, self.manager)
        # blank where the other cache's sources draw nothing
        return tile if tile is not None else ImageResult(image=blank_image(self.grid.tile_size))

    def draw(self, query: MapQuery) -> ImageResult:
        if not self.manager.format.is_image:
            raise SourceError(f"cache '{self.name}' holds {self.manager.format.mime} tiles, which cannot be drawn into maps")
        manager = self.manager
        if query.dimensions:
            # a store that cannot keep dimension values apart serves its tiles for all of them
            manager = manager.with_dimensions(query.dimensions) or manager
        limit = self._limit_for(query)
        if limit is None:
            return self._from_tiles(manager, query)
        # as MapProxy: only the part inside the extent is drawn, the rest is transparent
        size, offset, bbox = part_within(query.bbox, query.size, limit)
        if not overlaps(limit, query.bbox) or not size[0] or not size[1]:
            return ImageResult(image=blank_image(query.size))
        part = self._from_tiles(manager, replace(query, bbox=bbox, size=size))
        return ImageResult(image=placed(part.image, query.size, offset), cacheable=part.cacheable)

    def _limit_for(self, query: MapQuery) -> BBox | None:
        """The extent in the query's SRS when the query reaches beyond it (compared
        in the extent's SRS, as MapProxy does), else None."""
        bounds = self.bounds
        if bounds is None:
            return None
        try:
            bbox = query.bbox if query.srs == bounds.srs else query.srs.transform_bbox_to(bounds.srs, query.bbox)
        except SRSError:
            return None
        if contains(bounds.bbox, bbox):
            return None
        if query.srs not in self._bounds_in:
            try:
                self._bounds_in[query.srs] = bounds.bbox_in(query.srs)
            except SRSError:
                self._bounds_in[query.srs] = None
        return self._bounds_in[query.srs]

    def _from_tiles(self, manager: TileManager, query: MapQuery) -> ImageResult:
        def load(coords: list[TileCoord]) -> list[ImageResult | None]:
            # tiles outside the cache coverage, and for a cache without sources the
            # tiles it does not hold, stay transparent
            available = [c for c in coords if manager.store.covers(c) and (manager.sources or manager.is_cached(c))]
            found = dict(zip(available, manager.fetch_tiles(available))) if available else {}
            return [_tile_image(found[c], manager) if c in found else None for c in coords]

        result = draw_from_tiles(manager.grid, query.bbox, query.size, query.srs, load, resampling=self.resampling,
                                 max_tiles=self.max_tile_limit, label=f"cache '{self.name}'")
        return result if result is not None else ImageResult(image=blank_image(query.size))


def _tile_image(outcome: TileOutcome, manager: TileManager) -> ImageResult | None:
    """A cache's tile as it is: its tiles are in its format (as MapProxy trusts
    them) and pass through undecoded; an error tile of that cache is not kept by
    whoever draws with it either. None when the cache has nothing there."""
    tile = outcome.tile
    if outcome.empty or (not isinstance(tile, UnstoredTile) and not tile.data):
        return None
    mime = manager.format.mime if manager.format.mime != "mixed" else None
    return tile_image(tile, mime, outcome.cacheable)


def _bounds(manager: TileManager, target: TileGrid | None) -> Extent | None:
    """Where a cache draws, as MapProxy bounds it: the cache's extent (its coverage,
    its sources', else its grid), within the grid of the cache it fills."""
    extent = cache_extent(manager)
    if target is None:
        return extent
    bbox, srs = extent.bbox, extent.srs
    try:
        other = target.srs.transform_bbox_to(srs, target.bbox)
    except SRSError:
        return extent
    box = intersection(bbox, other)
    return Extent(box, srs) if box is not None else None


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
    return ResRange.merge([s.res_range() for s in manager.sources])


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
        return ResRange.merge([self.cached.res_range(), self.direct.res_range()])

    def extent(self) -> Extent:
        return self.cached.extent()

    def draw(self, query: MapQuery) -> ImageResult:
        bbox = query.bbox
        if query.srs != self.srs:
            bbox = query.srs.transform_bbox_to(self.srs, bbox)
        res = min((bbox[2] - bbox[0]) / query.size[0], (bbox[3] - bbox[1]) / query.size[1])
        if res < self.res:  # the cache's own source, uncached
            direct = self.direct
            return metrics.drawn_by(direct.name, lambda: direct.get_map(query))
        return self.cached.get_map(query)


def cache_map_source(cache: CacheConfig, target_grid: TileGrid | None = None) -> Source:
    """The source that draws maps from ``cache`` for another cache: the cache's
    grid that best fits ``target_grid`` (same grid, else same SRS, else the first)."""
    return cache_grid_source(cache, cache.managers[_best_grid(cache, target_grid)], target_grid)


def cache_grid_source(cache: CacheConfig, manager: TileManager, target_grid: TileGrid | None = None) -> Source:
    """One grid of ``cache`` (``manager``) drawn as maps, for a WMS layer or for
    another cache (of ``target_grid``): its tiles, or the cache's own source,
    uncached, below ``use_direct_from_level/res``."""
    source: Source = CacheSource(cache.name, manager, target_grid, cache.max_tile_limit)
    if cache.direct_from_res is not None and cache.direct_source is not None:
        source = ResolutionConditional(source, cache.direct_source, cache.direct_from_res, manager.grid.srs)
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
