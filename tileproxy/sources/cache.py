"""Another cache used as a source: its tiles pass through when the grids line up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..grid import TileCoord
from ..image.formats import ImageFormat
from ..image.result import ImageResult
from .base import TiledSource

if TYPE_CHECKING:
    from ..tiles import TileManager


class CacheSource(TiledSource):
    def __init__(self, name: str, manager: TileManager):
        self.name = name
        self.manager = manager
        self.grid = manager.grid
        self.transparent = manager.transparent
        self.resampling = manager.image_opts.resampling

    def get_tile(self, coord: TileCoord, format: ImageFormat) -> ImageResult:
        outcome = self.manager.fetch_tile(coord)
        # an error tile of the other cache must not be stored in this one either
        return ImageResult(data=outcome.tile.data, mime=outcome.tile.mime, cacheable=outcome.cacheable)
