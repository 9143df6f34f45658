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
        tile = self.manager.load_tile(coord)
        return ImageResult(data=tile.data, mime=tile.mime)
