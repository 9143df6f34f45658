"""Tiles of a cache without storage (``disable_storage``): nothing keeps them, so
they stay as their source delivered them until someone reads their bytes."""

from __future__ import annotations

from ..grid import TileCoord
from ..image.formats import ImageOptions
from ..image.result import ImageResult
from ..stores.base import Tile


class UnstoredTile(Tile):
    """A tile as its source delivered it (``source``: its bytes or pixels), encoded
    to the cache's format (``opts``) only when ``data`` or ``mime`` is read. A
    service that clips or decorates the tile works on ``source`` (see
    ``tile_image``): a lossy format's round trip before that only costs quality."""

    def __init__(self, coord: TileCoord, source: ImageResult, opts: ImageOptions, timestamp: float | None):
        self.coord = coord
        self.timestamp = timestamp
        self.single_color = None
        self.source = source
        self._opts = opts
        self._encoded: tuple[bytes, str] | None = None

    @property  # type: ignore[override]
    def data(self) -> bytes:
        return self._encode()[0]

    @property  # type: ignore[override]
    def mime(self) -> str:
        return self._encode()[1]

    def _encode(self) -> tuple[bytes, str]:
        if self._encoded is None:
            self._encoded = self.source.encoded(self._opts)
        return self._encoded


def tile_image(tile: Tile, mime: str | None = None, cacheable: bool = True) -> ImageResult:
    """The image of a tile with data: an unstored tile's as its source delivered it,
    else its encoded bytes (of ``mime`` unless the tile names its own)."""
    if isinstance(tile, UnstoredTile):
        source = tile.source
        if not cacheable:
            source.cacheable = False
        return source
    return ImageResult(data=tile.data, mime=tile.mime or mime, cacheable=cacheable)
