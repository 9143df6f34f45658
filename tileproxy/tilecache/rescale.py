"""``upscale_tiles`` / ``downscale_tiles``: build a missing tile from the tiles of
neighbouring levels when the sources cannot deliver it (no sources, seed_only,
resolution limits, outside the source coverage).

One level at a time: a tile at level z comes from level z-1 (upscale) or z+1
(downscale); each of those comes from ``load_tile`` (the cache's stored tile, or
one its sources create) or, where that has none, is rescaled in turn until
``steps`` levels away.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PIL import Image

from ..grid import TileCoord, TileGrid
from ..image.formats import ImageOptions
from ..image.result import ImageResult
from ..image.transform import blank_image
from ..stores.base import Tile
from ..tiled_map import draw_from_tiles

# a tile of another level: the stored or created tile (data None: nothing there),
# or None when the cache has none and its sources draw none (rescaled further)
LoadTile = Callable[[TileCoord], Tile | None]


def rescaled_tile(coord: TileCoord, grid: TileGrid, steps: int, image_opts: ImageOptions, load_tile: LoadTile,
                  store: Callable[[Tile], object] | None = None) -> Tile:
    """The tile at ``coord`` built from the levels up to ``steps`` away (negative:
    coarser levels) with tiles from ``load_tile``; a transparent tile when they hold
    nothing. ``store`` (cache_rescaled_tiles) keeps each tile rescaled on the way."""
    stop = min(max(coord[2] + steps, 0), grid.levels - 1)
    rescaler = _Rescaler(grid, image_opts, load_tile, store, stop)
    img = rescaler.image(coord)
    data, mime = ImageResult(image=img if img is not None else blank_image(grid.tile_size)).encoded(image_opts)
    return Tile(coord, data=data, mime=mime, timestamp=time.time())


class _Rescaler:
    def __init__(self, grid: TileGrid, image_opts: ImageOptions, load_tile: LoadTile,
                 store: Callable[[Tile], object] | None, stop: int):
        self.grid = grid
        self.image_opts = image_opts
        self.load_tile = load_tile
        self.store = store
        self.stop = stop
        self.memo: dict[TileCoord, Image.Image | None] = {}

    def image(self, coord: TileCoord) -> Image.Image | None:
        """The tile at ``coord`` rescaled from the next level towards ``stop``."""
        if coord in self.memo:
            return self.memo[coord]
        self.memo[coord] = None
        z = coord[2]
        if z == self.stop:
            return None
        grid = self.grid
        drawn = draw_from_tiles(grid, grid.tile_bbox(coord), grid.tile_size, grid.srs, self._level_tiles,
                                resampling=self.image_opts.resampling, level=z + 1 if self.stop > z else z - 1)
        if drawn is None:
            return None
        result = drawn.image
        self.memo[coord] = result
        if self.store is not None:
            data, mime = ImageResult(image=result).encoded(self.image_opts)
            self.store(Tile(coord, data=data, mime=mime, timestamp=time.time()))
        return result

    def _level_tiles(self, coords: list[TileCoord]) -> list[ImageResult | None]:
        return [self._level_tile(c) for c in coords]

    def _level_tile(self, coord: TileCoord) -> ImageResult | None:
        if not self.grid.is_valid(coord):
            return None
        tile = self.load_tile(coord)
        if tile is None:
            img = self.image(coord)
            return ImageResult(image=img) if img is not None else None
        return ImageResult(data=tile.data) if tile.data else None
