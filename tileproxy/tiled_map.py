"""Drawing a map from the tiles of a grid: the one way tiled sources, caches (as
WMS layers and as sources of other caches) and rescaled tiles are drawn.

The level is the one closest to the map's resolution (measured on the part of
the map inside the grid, on the finer axis, so that reprojection loses no
detail); a map far coarser than the grid's top level is blank. The tiles that
cover the map, fewer than ``max_tiles`` of them (``max_tile_limit``, counted as
MapProxy counts it), are loaded at once, stitched into one mosaic (plain PNG
tiles are decoded straight into it, and only as far down as the map needs) and
cut out of it, or warped onto the map when it is not aligned with the tiles. A map that is exactly one tile gets that tile as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

from PIL import Image

from .grid import TileCoord, TileGrid
from .image.mosaic import encoded_tile_mosaic, tile_mosaic
from .image.placement import intersection
from .image.result import ImageResult
from .image.transform import transform_image
from .sources.errors import SourceError
from .srs import SRS, BBox, SRSError

# the tiles at these coordinates (one level): an image each, None where there is none
LoadTiles = Callable[[list[TileCoord]], Sequence[ImageResult | None]]


class TooManyTiles(SourceError):
    """A map needs ``max_tile_limit`` tiles or more; ``reason`` says so as MapProxy
    words it, the message names who was to draw it too."""

    def __init__(self, label: str, count: int, limit: int):
        self.reason = f"too many tiles, max_tile_limit: {limit}, num_tiles: {count}"
        super().__init__(f"{label}: {self.reason}" if label else self.reason)


def draw_from_tiles(grid: TileGrid, bbox: BBox, size: tuple[int, int], srs: SRS, load: LoadTiles, *,
                    resampling: str = "bicubic", max_tiles: int | None = None, level: int | None = None,
                    label: str = "") -> ImageResult | None:
    """The map of ``bbox`` (in ``srs``) at ``size`` pixels from the tiles of ``grid``
    that ``load`` gives, at ``level`` or the closest level; None when no tile has
    anything there (the map is blank). Raises TooManyTiles (naming ``label``) when
    the map needs ``max_tiles`` tiles or more (None or 0: no limit)."""
    if level is None:
        coord = _exact_tile(grid, bbox, size, srs)
        if coord is not None:
            return load([coord])[0]
    plan = _plan(grid, bbox, size, srs, level)
    if plan is None:
        return None
    src_bbox, level, res = plan
    x0, y0, x1, y1 = grid.tile_range(src_bbox, level)
    if x1 < x0 or y1 < y0:
        return None
    count = (x1 - x0 + 1) * (y1 - y0 + 1)
    if max_tiles and count >= max_tiles:
        raise TooManyTiles(label, count, max_tiles)
    coords = [(x, y, level) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]
    tiles = load(coords)
    if all(t is None for t in tiles):
        return None
    level_res = grid.resolutions[level]
    # below the map's footprint and the resampling filter's reach, no row is needed
    reach = (3 * max(1.0, res / level_res) + 4) * level_res
    mosaic, mosaic_bbox = _mosaic(grid, coords, tiles, src_bbox[1] - reach)
    img = _crop_if_aligned(mosaic, mosaic_bbox, level_res, bbox, size) if srs == grid.srs else None
    if img is None:
        img = transform_image(mosaic, mosaic_bbox, grid.srs, bbox, srs, size, resampling)
    # error stand-ins that must not be kept make the map uncacheable too
    return ImageResult(image=img, cacheable=all(t.cacheable for t in tiles if t is not None))


def _plan(grid: TileGrid, bbox: BBox, size: tuple[int, int], srs: SRS,
          level: int | None) -> tuple[BBox, int, float] | None:
    """The map's part inside the grid in the grid's SRS, the level to draw it from,
    and its resolution there; None when nothing of the grid is to be drawn."""
    extent = _grid_extent_in(grid, srs)
    clip = intersection(bbox, extent) if extent else None
    if clip is None:
        return None
    # the clipped part of the map, in pixels and in the grid's SRS
    px_w = max(1.0, size[0] * (clip[2] - clip[0]) / (bbox[2] - bbox[0]))
    px_h = max(1.0, size[1] * (clip[3] - clip[1]) / (bbox[3] - bbox[1]))
    try:
        src_bbox = srs.transform_bbox_to(grid.srs, clip)
    except SRSError:
        return None
    res = min((src_bbox[2] - src_bbox[0]) / px_w, (src_bbox[3] - src_bbox[1]) / px_h)
    if level is None:
        if not math.isfinite(res) or res <= 0 or res > grid.resolutions[0] * grid.max_shrink_factor:
            return None
        level = grid.closest_level(res)
    return src_bbox, level, res


def _mosaic(grid: TileGrid, coords: list[TileCoord], tiles: Sequence[ImageResult | None],
            bottom: float) -> tuple[Image.Image, BBox]:
    """Tiles still encoded are decoded straight into the mosaic (down to ``bottom``);
    tiles whose pixels are at hand are pasted."""
    if all(t is None or not t.decoded for t in tiles):
        return encoded_tile_mosaic(grid, coords, [t.data if t is not None else None for t in tiles], bottom)
    return tile_mosaic(grid, coords, [t.image if t is not None else None for t in tiles])


def _crop_if_aligned(mosaic: Image.Image, mosaic_bbox: BBox, res: float, bbox: BBox,
                     size: tuple[int, int]) -> Image.Image | None:
    """The map cut out of the mosaic when it has the mosaic's resolution and its
    edges fall on pixel edges (no resampling needed), else None."""
    rx, ry = (bbox[2] - bbox[0]) / size[0], (bbox[3] - bbox[1]) / size[1]
    if not (abs(rx - res) <= res * 1e-9 and abs(ry - res) <= res * 1e-9):
        return None
    left = (bbox[0] - mosaic_bbox[0]) / res
    top = (mosaic_bbox[3] - bbox[3]) / res
    if abs(left - round(left)) > 1e-6 or abs(top - round(top)) > 1e-6:
        return None
    left, top = round(left), round(top)
    return mosaic.crop((left, top, left + size[0], top + size[1]))


@lru_cache(maxsize=256)
def _grid_extent(grid_srs: SRS, grid_bbox: BBox, srs: SRS) -> BBox | None:
    try:
        return srs.align_bbox(grid_srs.transform_bbox_to(srs, grid_bbox, steps=64))
    except SRSError:
        return None


def _grid_extent_in(grid: TileGrid, srs: SRS) -> BBox | None:
    """The grid's bbox in ``srs`` (None when it cannot be transformed)."""
    return _grid_extent(grid.srs, tuple(grid.bbox), srs)


def _exact_tile(grid: TileGrid, bbox: BBox, size: tuple[int, int], srs: SRS) -> TileCoord | None:
    """The tile of ``grid`` whose bbox and size are exactly these, else None."""
    if srs != grid.srs or tuple(size) != tuple(grid.tile_size):
        return None
    level = grid.level_for_resolution((bbox[2] - bbox[0]) / size[0])
    if level is None or grid.level_for_resolution((bbox[3] - bbox[1]) / size[1]) != level:
        return None
    res = grid.resolutions[level]
    tw, th = grid.tile_size[0] * res, grid.tile_size[1] * res
    fx = (bbox[0] - grid.bbox[0]) / tw
    fy = (bbox[1] - grid.bbox[1]) / th if grid.origin == "sw" else (grid.bbox[3] - bbox[3]) / th
    if abs(fx - round(fx)) > 1e-6 or abs(fy - round(fy)) > 1e-6:
        return None
    coord = (round(fx), round(fy), level)
    return coord if grid.is_valid(coord) else None
