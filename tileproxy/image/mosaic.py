"""Stitch tiles of one grid level into one image."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image

from ..srs import BBox
from .codec import decode
from .png_tiles import png_mosaic

if TYPE_CHECKING:
    from ..grid import TileCoord, TileGrid


def is_opaque(img: Image.Image | None) -> bool:
    """True for decoded images that have no transparency at all (by their mode)."""
    if img is None:
        return False
    return img.mode in ("RGB", "L") or (img.mode == "P" and "transparency" not in img.info)


def _layout(grid: TileGrid, coords: Sequence[TileCoord]) -> tuple[BBox, float, tuple[int, int], list[tuple[int, int]], bool]:
    """The mosaic's bbox, resolution, pixel size, each tile's pixel offset, and
    whether the tiles fill the rectangle."""
    bbox = grid.tiles_bbox(list(coords))
    res = grid.resolutions[coords[0][2]]
    size = (round((bbox[2] - bbox[0]) / res), round((bbox[3] - bbox[1]) / res))
    offsets = []
    for coord in coords:
        tb = grid.tile_bbox(coord)
        offsets.append((round((tb[0] - bbox[0]) / res), round((bbox[3] - tb[3]) / res)))
    xs, ys = {c[0] for c in coords}, {c[1] for c in coords}
    full = len(coords) == len(xs) * len(ys) == (max(xs) - min(xs) + 1) * (max(ys) - min(ys) + 1)
    return bbox, res, size, offsets, full


def tile_mosaic(grid: TileGrid, coords: Sequence[TileCoord], images: Sequence[Image.Image | None]) -> tuple[Image.Image, BBox]:
    """One image of ``coords`` (all of one level) and the bbox it covers; ``None``
    images leave their place transparent. RGB when every tile is opaque and the
    tiles fill the rectangle (cheaper to resample and encode; L when they all are
    L), else RGBA."""
    bbox, _, size, offsets, full = _layout(grid, coords)
    opaque = full and all(is_opaque(img) and img.size == tuple(grid.tile_size) for img in images)
    mode = "RGBA"
    if opaque:  # grey tiles (band-merged L caches) stay grey
        mode = "L" if all(img is not None and img.mode == "L" for img in images) else "RGB"
    # opaque tiles cover every pixel: no need to paint the background first
    mosaic = Image.new(mode, size, None if opaque else (255, 255, 255, 0))
    for offset, img in zip(offsets, images):
        if img is None:
            continue
        if img.mode != mode:
            img = img.convert(mode)
        mosaic.paste(img, offset)
    return mosaic, bbox


def encoded_tile_mosaic(grid: TileGrid, coords: Sequence[TileCoord], datas: Sequence[bytes | None],
                        bottom: float | None = None) -> tuple[Image.Image, BBox]:
    """``tile_mosaic`` of encoded tiles (``None``: missing). Plain RGB(A) PNG tiles
    are decoded straight into the mosaic, and only down to the ``bottom``
    coordinate (in the grid's SRS) when the caller needs no more; the pixels below
    are then blank."""
    bbox, res, size, offsets, full = _layout(grid, coords)
    last_row = None if bottom is None else max(0, math.ceil((bbox[3] - bottom) / res))
    mosaic = png_mosaic(size, tuple(grid.tile_size), offsets, datas, full, last_row)
    if mosaic is not None:
        return mosaic, bbox
    return tile_mosaic(grid, coords, [decode(d) if d else None for d in datas])
