"""Tile grids, resolution maths and meta tiles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .srs import SRS, BBox, default_bbox, get_srs

TileCoord = tuple[int, int, int]  # x, y, z in the grid's own origin

GEODETIC_MIN_RES = 1.40625
MAX_LEVELS = 100  # far beyond any real pyramid; guards against runaway resolution lists


class GridError(ValueError):
    pass


def is_close(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def resolution_range(
    bbox: BBox,
    tile_size: tuple[int, int],
    min_res: float | None = None,
    max_res: float | None = None,
    res_factor: float | str = 2.0,
    num_levels: int | None = None,
) -> list[float]:
    """Resolutions from coarse to fine, following MapProxy's grid options."""
    factor = math.sqrt(2) if res_factor == "sqrt2" else float(res_factor)
    if factor <= 1.0:
        raise GridError(f"res_factor must be greater than 1, got {res_factor}")
    if not min_res:
        width, height = bbox[2] - bbox[0], bbox[3] - bbox[1]
        min_res = max(width / tile_size[0], height / tile_size[1])
    if max_res:
        if max_res > min_res:
            raise GridError(f"max_res {max_res} is coarser than min_res {min_res}")
        if num_levels:
            if num_levels == 1:
                return [min_res]
            step = (math.log10(min_res) - math.log10(max_res)) / (num_levels - 1)
            return [10 ** (math.log10(min_res) - step * i) for i in range(num_levels)]
        # as MapProxy: levels while they stay coarser than max_res (a level of
        # exactly max_res is not added)
        res = [min_res]
        while res[-1] / factor > max_res:
            res.append(res[-1] / factor)
        return res
    if not num_levels:
        num_levels = 40 if res_factor == "sqrt2" else 20
    return [min_res / factor**i for i in range(num_levels)]


@dataclass
class TileGrid:
    """A tile pyramid: tile (0, 0) sits at the ``origin`` corner ('sw' or 'nw') of ``bbox``."""

    srs: SRS
    bbox: BBox
    resolutions: list[float]
    tile_size: tuple[int, int] = (256, 256)
    origin: str = "sw"
    name: str = ""
    threshold_res: list[float] = field(default_factory=list)
    stretch_factor: float = 1.15
    max_shrink_factor: float = 4.0
    grid_sizes: list[tuple[int, int]] = field(init=False)

    def __post_init__(self) -> None:
        if self.origin not in ("sw", "nw"):
            raise GridError(f"unsupported origin '{self.origin}'")
        if not self.resolutions:
            raise GridError("grid has no resolutions")
        # floats throughout: tile and meta tile bboxes are sent to sources as floats
        self.bbox = tuple(float(v) for v in self.bbox)  # type: ignore[assignment]
        if any(r2 >= r1 for r1, r2 in zip(self.resolutions, self.resolutions[1:])):
            raise GridError("resolutions must decrease from level to level")
        if len(self.resolutions) > MAX_LEVELS:
            raise GridError(f"a grid can have at most {MAX_LEVELS} levels, this one has {len(self.resolutions)}")
        if not self.resolutions[-1] > 0:
            raise GridError("resolutions must stay above zero")
        width, height = self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1]
        if width <= 0 or height <= 0:
            raise GridError(f"empty grid bbox {self.bbox}")
        tw, th = self.tile_size
        # MapProxy floors the pixel extent before dividing by the tile size
        try:
            self.grid_sizes = [
                (max(math.ceil((width // res) / tw), 1), max(math.ceil((height // res) / th), 1))
                for res in self.resolutions
            ]
        except (OverflowError, ValueError):
            raise GridError(f"resolution {self.resolutions[-1]} is too small for the grid bbox") from None

    @property
    def levels(self) -> int:
        return len(self.resolutions)

    def resolution(self, level: int) -> float:
        return self.resolutions[level]

    def is_valid(self, coord: TileCoord) -> bool:
        x, y, z = coord
        if not 0 <= z < len(self.resolutions):
            return False
        w, h = self.grid_sizes[z]
        return 0 <= x < w and 0 <= y < h

    def flip_y(self, y: int, z: int) -> int:
        return self.grid_sizes[z][1] - 1 - y

    def tile_bbox(self, coord: TileCoord) -> BBox:
        x, y, z = coord
        res = self.resolutions[z]
        tw, th = self.tile_size[0] * res, self.tile_size[1] * res
        minx = self.bbox[0] + x * tw
        if self.origin == "sw":
            miny = self.bbox[1] + y * th
        else:
            miny = self.bbox[3] - (y + 1) * th
        return (minx, miny, minx + tw, miny + th)

    def tiles_bbox(self, coords: list[TileCoord]) -> BBox:
        boxes = [self.tile_bbox(c) for c in coords]
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )

    def tile_range(self, bbox: BBox, level: int) -> tuple[int, int, int, int]:
        """Inclusive x0, y0, x1, y1 of the tiles at ``level`` that intersect ``bbox``,
        clipped to the grid. x1 < x0 or y1 < y0 when nothing intersects."""
        res = self.resolutions[level]
        tw, th = self.tile_size[0] * res, self.tile_size[1] * res
        eps = 1e-7
        x0 = math.floor((bbox[0] - self.bbox[0]) / tw + eps)
        x1 = math.ceil((bbox[2] - self.bbox[0]) / tw - eps) - 1
        if self.origin == "sw":
            y0 = math.floor((bbox[1] - self.bbox[1]) / th + eps)
            y1 = math.ceil((bbox[3] - self.bbox[1]) / th - eps) - 1
        else:
            y0 = math.floor((self.bbox[3] - bbox[3]) / th + eps)
            y1 = math.ceil((self.bbox[3] - bbox[1]) / th - eps) - 1
        w, h = self.grid_sizes[level]
        return max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)

    def closest_level(self, res: float) -> int:
        """The level to serve a map at resolution ``res``, by MapProxy's rule: the
        finest level that is not finer than ``res``, where a level up to
        ``stretch_factor`` coarser than ``res`` also counts; a ``threshold_res``
        value between two levels decides between those two instead."""
        resolutions = self.resolutions
        # thresholds from coarse to fine; those coarser than level 0 never apply
        thresholds = [t for t in sorted(self.threshold_res, reverse=True) if t <= resolutions[0]]
        threshold = thresholds.pop(0) if thresholds else None
        candidate = None
        prev = resolutions[0]
        for level, l_res in enumerate(resolutions):
            if threshold is not None and prev > threshold >= l_res:
                if res > threshold:
                    return level - 1
                if res >= l_res:
                    return level
                threshold = thresholds.pop(0) if thresholds else None
            if candidate is not None and l_res < res:
                return candidate
            if l_res <= res * self.stretch_factor:
                candidate = level
            prev = l_res
        return len(resolutions) - 1

    def supports_access_with_origin(self, origin: str) -> bool:
        """True when tiles can be addressed from ``origin`` by flipping y: the
        tile rows at every level line up with the grid bbox at both edges."""
        if origin == self.origin:
            return True
        delta = max(abs(self.bbox[1]), abs(self.bbox[3]), 1.0) / 1e12
        for level, (w, h) in enumerate(self.grid_sizes):
            lb = self.tiles_bbox([(0, 0, level), (w - 1, h - 1, level)])
            if abs(lb[1] - self.bbox[1]) > delta or abs(lb[3] - self.bbox[3]) > delta:
                return False
        return True

    def level_for_resolution(self, res: float) -> int | None:
        for level, l_res in enumerate(self.resolutions):
            if is_close(l_res, res, 1e-6):
                return level
        return None

    def aligned_level(self, other: TileGrid, level: int) -> int | None:
        """The level of ``other`` whose tiles coincide exactly with the tiles of
        ``level`` here (same SRS, tile size, resolution and tile edges), else None."""
        if other.srs != self.srs or other.tile_size != self.tile_size:
            return None
        other_level = other.level_for_resolution(self.resolutions[level])
        if other_level is None:
            return None
        mine = self.tile_bbox((0, 0, level))
        theirs = other.tile_bbox((0, 0, other_level))
        res = self.resolutions[level]
        for a, b, step in ((mine[0], theirs[0], self.tile_size[0] * res), (mine[1], theirs[1], self.tile_size[1] * res)):
            off = (a - b) / step
            if abs(off - round(off)) > 1e-6:
                return None
        return other_level

    def map_tile_to(self, other: TileGrid, coord: TileCoord) -> TileCoord | None:
        """The coordinate in ``other`` of the tile that covers exactly ``coord``."""
        level = self.aligned_level(other, coord[2])
        if level is None:
            return None
        bbox = self.tile_bbox(coord)
        res = self.resolutions[coord[2]]
        tw, th = self.tile_size[0] * res, self.tile_size[1] * res
        x = round((bbox[0] - other.bbox[0]) / tw)
        if other.origin == "sw":
            y = round((bbox[1] - other.bbox[1]) / th)
        else:
            y = round((other.bbox[3] - bbox[3]) / th)
        return (x, y, level)

    @property
    def is_global_mercator(self) -> bool:
        """Web mercator with exactly the world bbox (MapProxy's test for the TMS
        ``global-mercator`` profile: a bbox that is only close makes a local grid)."""
        return self.srs == get_srs("EPSG:3857") and self.bbox == default_bbox(get_srs("EPSG:3857"))

    @property
    def is_global_geodetic(self) -> bool:
        """EPSG:4326 with exactly (-180, -90, 180, 90)."""
        return self.srs == get_srs("EPSG:4326") and self.bbox == (-180.0, -90.0, 180.0, 90.0)


def build_grid(
    name: str = "",
    srs: str = "EPSG:900913",
    bbox: BBox | None = None,
    bbox_srs: str | None = None,
    tile_size: tuple[int, int] = (256, 256),
    res: list[float] | None = None,
    res_factor: float | str = 2.0,
    num_levels: int | None = None,
    min_res: float | None = None,
    max_res: float | None = None,
    threshold_res: list[float] | None = None,
    stretch_factor: float = 1.15,
    max_shrink_factor: float = 4.0,
    origin: str = "sw",
) -> TileGrid:
    """Build a grid from MapProxy grid options (already type-checked)."""
    _check_options(tile_size, res, res_factor, num_levels, min_res, max_res, threshold_res, stretch_factor)
    grid_srs = get_srs(srs)
    if bbox is None:
        bbox = default_bbox(grid_srs)
        if bbox is None:
            raise GridError(f"a bbox is required for a grid in {grid_srs.code}")
    elif bbox_srs:
        bsrs = get_srs(bbox_srs)
        if bsrs != grid_srs:
            bbox = bsrs.transform_bbox_to(grid_srs, tuple(bbox))
    bbox = tuple(float(v) for v in bbox)  # type: ignore[assignment]
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        raise GridError(f"bbox {list(bbox)} must be four finite numbers")
    if bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
        raise GridError(f"bbox {list(bbox)} is empty: it must be minx, miny, maxx, maxy")
    if res:
        if min_res or max_res:
            raise GridError("res cannot be combined with min_res or max_res")
        resolutions = sorted((float(r) for r in res), reverse=True)
    else:
        resolutions = resolution_range(bbox, tile_size, min_res, max_res, res_factor, num_levels)
    return TileGrid(
        srs=grid_srs,
        bbox=bbox,  # type: ignore[arg-type]
        resolutions=resolutions,
        tile_size=tuple(tile_size),  # type: ignore[arg-type]
        origin=normalize_origin(origin),
        name=name,
        threshold_res=sorted(threshold_res or [], reverse=True),
        stretch_factor=stretch_factor,
        max_shrink_factor=max_shrink_factor,
    )


def _check_options(tile_size, res, res_factor, num_levels, min_res, max_res, threshold_res, stretch_factor) -> None:
    """Refuse grid options that cannot make a grid, with a message that names them."""
    if len(tile_size) != 2 or not all(isinstance(v, int) and v > 0 for v in tile_size):
        raise GridError(f"tile_size must be two positive whole numbers, got {list(tile_size)}")
    if res is not None and not all(r > 0 and math.isfinite(r) for r in res):
        raise GridError(f"res must be positive resolutions, got {list(res)}")
    if res is not None and len(set(res)) != len(res):
        raise GridError("res lists a resolution twice")
    for key, value in (("min_res", min_res), ("max_res", max_res)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise GridError(f"{key} must be a positive number, got {value}")
    if num_levels is not None and not 1 <= num_levels <= MAX_LEVELS:
        raise GridError(f"num_levels must be from 1 to {MAX_LEVELS}, got {num_levels}")
    if res_factor != "sqrt2" and not isinstance(res_factor, (int, float)):
        raise GridError(f"res_factor must be a number or sqrt2, got {res_factor!r}")
    if any(not t > 0 for t in threshold_res or []):
        raise GridError("threshold_res must be positive resolutions")
    if not stretch_factor > 0:
        raise GridError(f"stretch_factor must be positive, got {stretch_factor}")


def normalize_origin(origin: str | None) -> str:
    value = (origin or "sw").lower()
    if value in ("sw", "ll", "lower-left"):
        return "sw"
    if value in ("nw", "ul", "upper-left"):
        return "nw"
    raise GridError(f"unknown origin '{origin}' (use sw/ll or nw/ul)")


PREDEFINED_GRIDS: dict[str, dict] = {
    # level 0 of 1.40625 degrees per pixel (2x1 tiles) comes from the bbox and tile
    # size, as in MapProxy, so that grids based on it may set res or a bbox
    "GLOBAL_GEODETIC": {"srs": "EPSG:4326", "tile_size": (256, 256)},
    "GLOBAL_MERCATOR": {"srs": "EPSG:900913", "tile_size": (256, 256)},
    "GLOBAL_WEBMERCATOR": {"srs": "EPSG:3857", "tile_size": (256, 256), "origin": "nw"},
}


def predefined_grid(name: str) -> TileGrid:
    return build_grid(name=name, **PREDEFINED_GRIDS[name])


@dataclass(frozen=True)
class MetaTile:
    """One source request that yields several tiles.

    ``tiles`` lists each tile with its crop box (left, upper, right, lower) in the
    meta image of ``size`` pixels covering ``bbox``."""

    level: int
    bbox: BBox
    size: tuple[int, int]
    tiles: tuple[tuple[TileCoord, tuple[int, int, int, int]], ...]

    @property
    def coords(self) -> list[TileCoord]:
        return [c for c, _ in self.tiles]

    @property
    def main_coord(self) -> TileCoord:
        return self.tiles[0][0]


class MetaGrid:
    """Groups tiles of a grid into meta tiles of ``meta_size`` with a pixel buffer."""

    def __init__(self, grid: TileGrid, meta_size: tuple[int, int] = (4, 4), meta_buffer: int = 80):
        self.grid = grid
        self.meta_size = (max(1, int(meta_size[0])), max(1, int(meta_size[1])))
        self.meta_buffer = max(0, int(meta_buffer))

    def main_coord(self, coord: TileCoord) -> TileCoord:
        x, y, z = coord
        return (x - x % self.meta_size[0], y - y % self.meta_size[1], z)

    def meta_tile(self, coord: TileCoord) -> MetaTile:
        mx, my, z = self.main_coord(coord)
        w, h = self.grid.grid_sizes[z]
        xs = range(mx, min(mx + self.meta_size[0], w))
        ys = range(my, min(my + self.meta_size[1], h))
        return self._meta_for(z, xs, ys)

    def minimal_meta_tile(self, coords: list[TileCoord]) -> MetaTile:
        z = coords[0][2]
        xs = range(min(c[0] for c in coords), max(c[0] for c in coords) + 1)
        ys = range(min(c[1] for c in coords), max(c[1] for c in coords) + 1)
        return self._meta_for(z, xs, ys)

    def _meta_for(self, z: int, xs: range, ys: range) -> MetaTile:
        grid = self.grid
        res = grid.resolutions[z]
        tiles_bbox = grid.tiles_bbox([(xs[0], ys[0], z), (xs[-1], ys[-1], z)])
        buf = self.meta_buffer * res
        gb = grid.bbox
        # the buffer never reaches past the grid bbox (tiles themselves may)
        bbox = (
            max(tiles_bbox[0] - buf, min(gb[0], tiles_bbox[0])),
            max(tiles_bbox[1] - buf, min(gb[1], tiles_bbox[1])),
            min(tiles_bbox[2] + buf, max(gb[2], tiles_bbox[2])),
            min(tiles_bbox[3] + buf, max(gb[3], tiles_bbox[3])),
        )
        size = (round((bbox[2] - bbox[0]) / res), round((bbox[3] - bbox[1]) / res))
        tw, th = grid.tile_size
        tiles = []
        # order: top row first, left to right
        for y in sorted(ys, reverse=grid.origin == "sw"):
            for x in xs:
                tb = grid.tile_bbox((x, y, z))
                left = round((tb[0] - bbox[0]) / res)
                upper = round((bbox[3] - tb[3]) / res)
                tiles.append(((x, y, z), (left, upper, left + tw, upper + th)))
        return MetaTile(level=z, bbox=bbox, size=size, tiles=tuple(tiles))
