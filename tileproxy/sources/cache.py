"""Another cache used as a source: its tiles pass through when the grids line up,
otherwise it answers map queries like a WMS (meta tiles, reprojection)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..grid import TileCoord, TileGrid
from ..image.formats import ImageFormat
from ..image.result import ImageResult
from ..image.transform import blank_image
from .base import MapQuery, Source, SourceError, TiledSource

if TYPE_CHECKING:
    from ..config.model import CacheConfig
    from ..tiles import TileManager


class CacheSource(TiledSource):
    def __init__(self, name: str, manager: TileManager, target_grid: TileGrid | None = None):
        self.name = name
        self.manager = manager
        self.grid = manager.grid
        self.transparent = manager.transparent
        self.resampling = manager.image_opts.resampling
        # a grid that shares no level with ours: build meta tiles like any map source
        if target_grid is not None:
            self.supports_meta_tiles = not any(
                target_grid.aligned_level(self.grid, z) is not None for z in range(target_grid.levels)
            )

    def get_tile(self, coord: TileCoord, format: ImageFormat) -> ImageResult:
        outcome = self.manager.fetch_tile(coord)
        if outcome.empty:  # the other cache's sources draw nothing there
            return ImageResult(image=blank_image(self.grid.tile_size))
        # an error tile of the other cache must not be stored in this one either
        return ImageResult(data=outcome.tile.data, mime=outcome.tile.mime, cacheable=outcome.cacheable)

    def get_map(self, query: MapQuery) -> ImageResult:
        if not self.manager.format.is_image:
            raise SourceError(f"cache '{self.name}' holds {self.manager.format.mime} tiles, which cannot be drawn into maps")
        return super().get_map(query)


class ResolutionConditional(Source):
    """``use_direct_from_level/res``: queries finer than ``res`` (in ``srs`` units)
    go straight to ``direct``, coarser ones to ``cached``."""

    def __init__(self, cached: Source, direct: Source, res: float, srs):
        self.name = cached.name
        self.cached = cached
        self.direct = direct
        self.res = res
        self.srs = srs
        self.transparent = cached.transparent
        self.supports_meta_tiles = cached.supports_meta_tiles and direct.supports_meta_tiles

    def get_map(self, query: MapQuery) -> ImageResult:
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
