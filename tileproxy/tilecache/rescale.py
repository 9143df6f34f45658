"""``upscale_tiles`` / ``downscale_tiles``: build a missing tile from the tiles of
neighbouring levels when the sources cannot deliver it (no sources, seed_only,
resolution limits, outside the source coverage).

One level at a time: a tile at level z comes from level z-1 (upscale) or z+1
(downscale); those tiles are loaded from the store, created from the sources
where they deliver, or rescaled in turn until ``rescale_tiles`` levels away.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PIL import Image

from ..grid import TileCoord
from ..image.codec import decode
from ..image.mosaic import tile_mosaic
from ..image.result import ImageResult
from ..image.transform import blank_image, transform_image
from ..stores.base import Tile

if TYPE_CHECKING:
    from .manager import TileManager


def sources_deliver(manager: TileManager, coord: TileCoord) -> bool:
    grid = manager.grid
    bbox = grid.tile_bbox(coord)
    return any(s.delivers(bbox, grid.tile_size, grid.srs) for s in manager.sources)


def rescaled_tile(manager: TileManager, coord: TileCoord) -> Tile:
    """The tile at ``coord`` built from other levels (a transparent tile when they hold nothing)."""
    steps = manager.opts.rescale_tiles
    stop = min(max(coord[2] + steps, 0), manager.grid.levels - 1)
    memo: dict[TileCoord, Image.Image | None] = {}
    img = _rescaled_image(manager, coord, stop, memo)  # stored there with cache_rescaled_tiles
    data, mime = ImageResult(image=img if img is not None else blank_image(manager.grid.tile_size)).encoded(manager.image_opts)
    return Tile(coord, data=data, mime=mime, timestamp=time.time())


def _rescaled_image(manager: TileManager, coord: TileCoord, stop: int, memo: dict) -> Image.Image | None:
    if coord in memo:
        return memo[coord]
    memo[coord] = None
    z = coord[2]
    if z == stop:
        return None
    grid = manager.grid
    level = z + 1 if stop > z else z - 1
    bbox = grid.tile_bbox(coord)
    x0, y0, x1, y1 = grid.tile_range(bbox, level)
    coords = [(x, y, level) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]
    images = [_level_image(manager, c, stop, memo) for c in coords]
    if all(img is None for img in images):
        return None
    mosaic, mosaic_bbox = tile_mosaic(grid, coords, images)
    result = transform_image(mosaic, mosaic_bbox, grid.srs, bbox, grid.srs, grid.tile_size, manager.image_opts.resampling)
    memo[coord] = result
    if manager.opts.cache_rescaled_tiles and not manager.opts.disable_storage:
        data, mime = ImageResult(image=result).encoded(manager.image_opts)
        manager.store.store(Tile(coord, data=data, mime=mime, timestamp=time.time()))
    return result


def _level_image(manager: TileManager, coord: TileCoord, stop: int, memo: dict) -> Image.Image | None:
    if not manager.grid.is_valid(coord):
        return None
    tile = Tile(coord)
    if not manager.opts.disable_storage and manager.store.load(tile) and tile.data:
        return decode(tile.data)
    if manager.sources and sources_deliver(manager, coord):
        created = manager.load_tile(coord)
        return decode(created.data) if created.data else None
    return _rescaled_image(manager, coord, stop, memo)
