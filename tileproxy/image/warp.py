"""Reprojection as two one-dimensional resampling passes (rows, then columns).

A reprojection between SRS that are both north up (e.g. EPSG:3857 -> UTM) maps
destination pixels onto slightly rotated, slightly curved source rows and columns.
Such a warp splits into a horizontal pass, that resamples every source row to the
destination columns, and a vertical pass, that resamples every column of that
to the destination rows. Pillow's ``resize`` does each pass for bands of rows or
columns across which the mapping shifts by at most ``TOLERANCE`` destination pixels,
in pieces along them where it is linear within ``SMOOTH_TOLERANCE``: about twice
as fast as a bicubic QUAD transform, and it filters properly when shrinking."""

from __future__ import annotations

import math
import operator
from bisect import bisect_left
from collections.abc import Callable
from itertools import repeat

from PIL import Image

TOLERANCE = 0.5  # destination pixels (never fewer source pixels) the mapping may shift across a band of rows or columns (it is taken at the middle)
SMOOTH_TOLERANCE = 0.5  # source pixels a band's piecewise linear mapping may be off the projection
GRIDS = (64, 32)  # destination pixels between the points where the projection is computed: the first that fits
GRID_TOLERANCE = 0.05  # source pixels the grid's interpolation may be off at the cell centres
MAX_SHEAR = 0.2  # rows or columns tilted more than this (about 11 degrees) take the QUAD transform
MAX_BANDS = 160  # per pass; more take the QUAD transform
_SMOOTH = float(SMOOTH_TOLERANCE)
_LIMIT = 1e9  # source pixel coordinates beyond this count as outside the projection's domain

PixelMapper = Callable[[list[tuple[float, float]]], list[tuple[float, float]]]
_REACH = {Image.Resampling.NEAREST: 1, Image.Resampling.BILINEAR: 2, Image.Resampling.BICUBIC: 3}


def separable_warp(img: Image.Image, to_src: PixelMapper, dst_size: tuple[int, int],
                   filt: Image.Resampling) -> Image.Image | None:
    """``img`` resampled so that destination pixel (u, v) shows source pixel
    ``to_src(u, v)``; None when the mapping is not near north up, not smooth
    enough, or reaches outside ``img`` (the caller transforms another way)."""
    grid = None
    for spacing in GRIDS:
        grid = _Grid.compute(to_src, dst_size, spacing)
        if grid is not False:
            break
    if not grid:
        return None
    sw, sh = img.size
    if grid.min_x < 0 or grid.min_y < 0 or grid.max_x > sw or grid.max_y > sh:
        return None
    shear_x, shear_y = grid.shears()  # source x per source row, source y per destination column
    if shear_x > MAX_SHEAR or shear_y > MAX_SHEAR:
        return None
    reach = math.ceil(_REACH.get(filt, 3) * max(1.0, grid.scale)) + 1
    rows = (max(0, math.floor(grid.min_y) - reach), min(sh, math.ceil(grid.max_y) + reach))
    # a shift of one source pixel is 1 / scale destination pixels: what shows is the latter
    tolerance = TOLERANCE * max(1.0, grid.scale)
    row_band = max(1, int(tolerance / shear_x)) if shear_x else rows[1] - rows[0]
    col_band = max(1, int(tolerance / shear_y)) if shear_y else dst_size[0]
    if (rows[1] - rows[0]) / row_band > MAX_BANDS or dst_size[0] / col_band > MAX_BANDS:
        return None
    mode = img.mode
    if mode == "RGBA":  # resize premultiplies alpha: once here, not for every band
        img = img.convert("RGBa")
    if row_band >= rows[1] - rows[0] and col_band >= dst_size[0]:
        out = _upright(img, grid, filt)  # e.g. EPSG:3857 <-> 4326: no band needs a shift of its own
    else:
        try:
            across = _horizontal_pass(img, grid, rows, row_band, filt, reach)
            out = None if across is None else _vertical_pass(across, grid, rows[0], filt, tolerance)
        except AttributeError:  # a Pillow whose image cores lack crop/resize/paste: the QUAD transform
            return None
    if out is None:
        return None
    return out.convert(mode) if out.mode != mode else out


def _upright(img: Image.Image, grid: _Grid, filt: Image.Resampling) -> Image.Image | None:
    """Destination columns that are source columns and rows that are source rows:
    each piece of rows where the mapping is linear is one resize (both passes)."""
    xs = grid.x_at_row((grid.min_y + grid.max_y) / 2)
    if xs is None or len(_linear_pieces(grid.us, xs)) > 1:
        return None
    sw, sh = img.size
    x0, x1 = max(0.0, xs[0]), min(float(sw), xs[-1])
    ys = grid.y_at_column(grid.size[0] / 2)
    out = Image.new(img.mode, grid.size, None)  # every pixel is written below
    for va, vb in _linear_pieces(grid.vs, ys):
        v0, v1 = grid.vs[va], grid.vs[vb]
        box = (x0, max(0.0, ys[va]), x1, min(float(sh), ys[vb]))
        out.paste(img.resize((grid.size[0], v1 - v0), filt, box=box), (0, v0))
    return out


def _horizontal_pass(img: Image.Image, grid: _Grid, rows: tuple[int, int], band: int,
                     filt: Image.Resampling, reach: int) -> Image.Image | None:
    """Source rows ``rows`` resampled to the destination columns."""
    sw = img.size[0]
    width = grid.size[0]
    out = Image.new(img.mode, (width, rows[1] - rows[0]))
    src, dst = img.im, out.im  # Pillow's image cores: no Image object for each of the many bands
    for r0 in range(rows[0], rows[1], band):
        r1 = min(rows[1], r0 + band)
        xs = grid.x_at_row((r0 + r1) / 2)
        if xs is None:
            return None
        pieces = []
        for ua, ub in _linear_pieces(grid.us, xs):
            u0, u1 = grid.us[ua], grid.us[ub]
            x0, x1 = xs[ua], xs[ub]
            slope = (x1 - x0) / (u1 - u0)
            # destination columns whose source lies in the image (the others are not read)
            if x0 < 0:
                u0 = math.ceil(u0 - x0 / slope)
            if x1 > sw:
                u1 = math.floor(u1 - (x1 - sw) / slope)
            if u1 > u0:
                pieces.append((u0, u1, xs[ua] + (u0 - grid.us[ua]) * slope, xs[ua] + (u1 - grid.us[ua]) * slope))
        if not pieces:
            continue
        left = max(0, math.floor(min(p[2] for p in pieces)) - reach)
        right = min(sw, math.ceil(max(p[3] for p in pieces)) + reach)
        strip = src.crop((left, r0, right, r1))
        for u0, u1, x0, x1 in pieces:
            box = (min(max(x0 - left, 0.0), right - left), 0, min(max(x1 - left, 0.0), right - left), r1 - r0)
            dst.paste(strip.resize((u1 - u0, r1 - r0), filt, box), (u0, r0 - rows[0], u1, r1 - rows[0]))
    return out


def _vertical_pass(across: Image.Image, grid: _Grid, top: int, filt: Image.Resampling,
                   tolerance: float) -> Image.Image:
    """The columns of the horizontal pass (rows from source row ``top``)
    resampled to the destination rows, in bands of columns as wide as the tilt
    of the rows there allows."""
    width, height = grid.size
    rows = across.size[1]
    out = Image.new(across.mode, grid.size, None)  # every pixel is written below
    src, dst = across.im, out.im
    tilts = grid.row_tilts()
    c0 = 0
    while c0 < width:
        c1 = width
        for i in range(grid.cell_of(c0), len(tilts)):  # the cells the band reaches decide its width
            if grid.us[i] >= c1:
                break
            if tilts[i]:
                c1 = min(c1, c0 + max(1, int(tolerance / tilts[i])))
        ys = [y - top for y in grid.y_at_column((c0 + c1) / 2)]
        column = src if c1 - c0 == width else src.crop((c0, 0, c1, rows))
        for va, vb in _linear_pieces(grid.vs, ys):
            v0, v1 = grid.vs[va], grid.vs[vb]
            box = (0, min(max(ys[va], 0.0), rows), c1 - c0, min(max(ys[vb], 0.0), rows))
            dst.paste(column.resize((c1 - c0, v1 - v0), filt, box), (c0, v0, c1, v1))
        c0 = c1
    return out


def _linear_pieces(ts: list[int], values: list[float], a: int = 0, b: int = -1) -> list[tuple[int, int]]:
    """Index ranges of ``ts`` (halved as often as needed) over which ``values``
    are linear within SMOOTH_TOLERANCE."""
    b = len(ts) - 1 if b < 0 else b
    if b - a < 2:
        return [(a, b)]
    slope = (values[b] - values[a]) / (ts[b] - ts[a])
    # |values[a] + (ts[k] - ts[a]) * slope - values[k]| for the k between, as C-level maps
    line = map(operator.add, repeat(values[a]), map(operator.mul, map(operator.sub, ts[a + 1:b], repeat(ts[a])),
                                                     repeat(slope)))
    if all(map(_SMOOTH.__ge__, map(abs, map(operator.sub, line, values[a + 1:b])))):
        return [(a, b)]
    mid = (a + b) // 2
    return _linear_pieces(ts, values, a, mid) + _linear_pieces(ts, values, mid, b)


class _Grid:
    """The projection at destination pixel edges every few pixels: source x and y
    per grid row (``xs[j][i]``, ``ys[j][i]`` at ``us[i]``, ``vs[j]``)."""

    def __init__(self, size: tuple[int, int], us: list[int], vs: list[int],
                 xs: list[list[float]], ys: list[list[float]]):
        self.size, self.us, self.vs, self.xs, self.ys = size, us, vs, xs, ys
        self.columns = [list(c) for c in zip(*ys)]  # source y down each grid column
        self.min_x = min(min(row) for row in xs)
        self.max_x = max(max(row) for row in xs)
        self.min_y = min(min(row) for row in ys)
        self.max_y = max(max(row) for row in ys)
        # source pixels per destination pixel, the larger of both directions
        self.scale = max((self.max_x - self.min_x) / size[0], (self.max_y - self.min_y) / size[1])

    @classmethod
    def compute(cls, to_src: PixelMapper, size: tuple[int, int], spacing: int) -> _Grid | None | bool:
        """None where the mapping is not monotone (x grows with u, y with v) or
        not finite; False where it is not interpolated within GRID_TOLERANCE
        between the grid points ``spacing`` pixels apart."""
        w, h = size
        us = sorted({*range(0, w, spacing), w})
        vs = sorted({*range(0, h, spacing), h})
        mid_us = [(a + b) / 2 for a, b in zip(us, us[1:])]
        centres = [(u, (c + d) / 2) for c, d in zip(vs, vs[1:]) for u in mid_us]
        points = to_src([(u, v) for v in vs for u in us] + centres)
        # the checks run as C-level maps over flat lists: a grid has hundreds of points
        flat_x, flat_y = [p[0] for p in points], [p[1] for p in points]
        inside = _LIMIT.__gt__  # False for NaN and infinities too
        if not (all(map(inside, map(abs, flat_x))) and all(map(inside, map(abs, flat_y)))):
            return None
        n, m = len(us), len(vs)
        xs = [flat_x[j * n:(j + 1) * n] for j in range(m)]
        ys = [flat_y[j * n:(j + 1) * n] for j in range(m)]
        if not all(all(map(operator.lt, row, row[1:])) for row in xs):
            return None
        if not all(all(map(operator.lt, a, b)) for a, b in zip(ys, ys[1:])):
            return None
        k = n * m
        for j in range(m - 1):
            centre = slice(k + j * (n - 1), k + (j + 1) * (n - 1))
            for rows, got in ((xs, flat_x[centre]), (ys, flat_y[centre])):
                top, below = rows[j], rows[j + 1]
                # the mean of each cell's corners, summed in the order ul, ur, ll, lr
                sums = map(operator.add, map(operator.add, map(operator.add, top, top[1:]), below), below[1:])
                if max(map(abs, map(operator.sub, map(operator.truediv, sums, repeat(4)), got))) > GRID_TOLERANCE:
                    return False
        return cls(size, us, vs, xs, ys)

    def shears(self) -> tuple[float, float]:
        """The steepest tilt of destination columns (source x per source row) and
        of destination rows (source y per destination column)."""
        xs, ys = self.xs, self.ys
        columns = max(abs(xs[j + 1][i] - xs[j][i]) / (ys[j + 1][i] - ys[j][i])
                      for j in range(len(self.vs) - 1) for i in range(len(self.us)))
        rows = max(abs(ys[j][i + 1] - ys[j][i]) / (self.us[i + 1] - self.us[i])
                   for j in range(len(self.vs)) for i in range(len(self.us) - 1))
        return columns, rows

    def row_tilts(self) -> list[float]:
        """Per column of grid cells: the steepest tilt of destination rows in it
        (source y per destination column)."""
        return [max(abs(row[i + 1] - row[i]) for row in self.ys) / (self.us[i + 1] - self.us[i])
                for i in range(len(self.us) - 1)]

    def cell_of(self, u: float) -> int:
        """The column of grid cells that destination column ``u`` is in."""
        return min(int(u // (self.us[1] - self.us[0])), len(self.us) - 2)

    def x_at_row(self, y: float) -> list[float] | None:
        """Source x of each grid column where it crosses source row ``y``
        (continued straight beyond its ends)."""
        out = []
        last = len(self.vs) - 1
        xs = self.xs
        for i, column in enumerate(self.columns):
            j = bisect_left(column, y, 1, last) - 1  # the grid row above the first one at or below y
            y0, y1 = column[j], column[j + 1]
            t = (y - y0) / (y1 - y0)
            out.append(xs[j][i] + t * (xs[j + 1][i] - xs[j][i]))
        return out if all(map(operator.lt, out, out[1:])) else None

    def y_at_column(self, u: float) -> list[float]:
        """Source y of destination column ``u`` at each grid row."""
        i = self.cell_of(u)
        t = (u - self.us[i]) / (self.us[i + 1] - self.us[i])
        return [row[i] + t * (row[i + 1] - row[i]) for row in self.ys]
