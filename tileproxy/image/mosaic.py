"""Stitch tiles of one grid level into one image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image

from ..srs import BBox

if TYPE_CHECKING:
    from ..grid import TileCoord, TileGrid


def is_opaque(img: Image.Image | None) -> bool:
    """True for decoded images that have no transparency at all (by their mode)."""
    if img is None:
        return False
    return img.mode in ("RGB", "L") or (img.mode == "P" and "transparency" not in img.info)


def tile_mosaic(grid: TileGrid, coords: Sequence[TileCoord], images: Sequence[Image.Image | None]) -> tuple[Image.Image, BBox]:
    """One image of ``coords`` (all of one level) and the bbox it covers; ``None``
    images leave their place transparent. RGB when every tile is opaque and the
    tiles fill the rectangle (cheaper to resample and encode), else RGBA."""
    bbox = grid.tiles_bbox(list(coords))
    res = grid.resolutions[coords[0][2]]
    size = (round((bbox[2] - bbox[0]) / res), round((bbox[3] - bbox[1]) / res))
    xs, ys = {c[0] for c in coords}, {c[1] for c in coords}
    full = len(coords) == len(xs) * len(ys) == (max(xs) - min(xs) + 1) * (max(ys) - min(ys) + 1)
    opaque = full and all(is_opaque(img) and img.size == tuple(grid.tile_size) for img in images)
    mode = "RGB" if opaque else "RGBA"
    # opaque tiles cover every pixel: no need to paint the background first
    mosaic = Image.new(mode, size, None if opaque else (255, 255, 255, 0))
    for coord, img in zip(coords, images):
        if img is None:
            continue
        tb = grid.tile_bbox(coord)
        if img.mode != mode:
            img = img.convert(mode)
        mosaic.paste(img, (round((tb[0] - bbox[0]) / res), round((bbox[3] - tb[3]) / res)))
    return mosaic, bbox
