"""Stitch tiles of one grid level into one image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image

from ..srs import BBox

if TYPE_CHECKING:
    from ..grid import TileCoord, TileGrid


def tile_mosaic(grid: TileGrid, coords: Sequence[TileCoord], images: Sequence[Image.Image | None]) -> tuple[Image.Image, BBox]:
    """One RGBA image of ``coords`` (all of one level) and the bbox it covers;
    ``None`` images leave their place transparent."""
    bbox = grid.tiles_bbox(list(coords))
    res = grid.resolutions[coords[0][2]]
    size = (round((bbox[2] - bbox[0]) / res), round((bbox[3] - bbox[1]) / res))
    mosaic = Image.new("RGBA", size, (255, 255, 255, 0))
    for coord, img in zip(coords, images):
        if img is None:
            continue
        tb = grid.tile_bbox(coord)
        if img.mode != "RGBA":
            img = img.convert("RGBA")
        mosaic.paste(img, (round((tb[0] - bbox[0]) / res), round((bbox[3] - tb[3]) / res)))
    return mosaic, bbox
