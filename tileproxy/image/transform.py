"""Scale, crop and reproject images between bboxes and SRS."""

from __future__ import annotations

import math
from collections.abc import Callable

from PIL import Image

from ..srs import SRS, BBox
from .warp import separable_warp

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}
RESAMPLING_METHODS = tuple(_RESAMPLE)  # the values of resampling_method

MESH_START = 128  # pixels per edge of the first mesh cells; they are split where the projection bends
MESH_CELL = 32  # mesh cells larger than this are split rather than dropped as outside the source
MESH_MIN_CELL = 2  # cells are split down to this size where the projection bends within them
MESH_TOLERANCE = 1.0  # destination pixels a cell's centre or edge midpoints may be off its corners' interpolation


def resample_filter(name: str) -> Image.Resampling:
    """Pillow's filter for one of RESAMPLING_METHODS (the config loader refuses others)."""
    return _RESAMPLE[name]


def blank_image(size: tuple[int, int], color: tuple = (255, 255, 255, 0)) -> Image.Image:
    mode = "RGBA" if len(color) == 4 else "RGB"
    return Image.new(mode, size, color)


def transform_image(
    img: Image.Image,
    src_bbox: BBox,
    src_srs: SRS,
    dst_bbox: BBox,
    dst_srs: SRS,
    dst_size: tuple[int, int],
    resampling: str = "bicubic",
) -> Image.Image:
    """Map ``img`` (covering ``src_bbox`` in ``src_srs``) onto ``dst_bbox`` in ``dst_srs``.

    Pixels without source data are transparent. An RGB (or L) ``img`` gives an RGB
    (L) image when it covers the whole destination (no alpha to resample), else RGBA."""
    if img.mode not in ("RGB", "L", "RGBA"):
        img = img.convert("RGBA")
    sw, sh = img.size
    sx = sw / (src_bbox[2] - src_bbox[0])
    sy = sh / (src_bbox[3] - src_bbox[1])
    filt = resample_filter(resampling)
    if src_srs == dst_srs:
        # pure affine: dst pixel extent in source pixel coordinates
        extent = (
            (dst_bbox[0] - src_bbox[0]) * sx,
            (src_bbox[3] - dst_bbox[3]) * sy,
            (dst_bbox[2] - src_bbox[0]) * sx,
            (src_bbox[3] - dst_bbox[1]) * sy,
        )
        if extent == (0, 0, sw, sh) and dst_size == img.size:
            return img
        return _scale(img, extent, dst_size, filt)

    to_src = _pixel_mapper(src_bbox, src_srs, dst_bbox, dst_srs, dst_size, sx, sy)
    # north-up reprojections inside the image (EPSG:3857 <-> 4326 or UTM): two resize
    # passes, about twice as fast as a bicubic QUAD transform and properly filtered
    warped = separable_warp(img, to_src, dst_size, filt)
    if warped is not None:
        return warped
    dw, dh = dst_size
    cols, rows = max(1, round(dw / MESH_START)), max(1, round(dh / MESH_START))
    xs = [round(dw * i / cols) for i in range(cols + 1)]
    ys = [round(dh * j / rows) for j in range(rows + 1)]
    cells = [(xs[i], ys[j], xs[i + 1], ys[j + 1]) for j in range(rows) for i in range(cols)]
    mesh, covered = _mesh(cells, to_src, (sw, sh))
    if not mesh:
        return blank_image(dst_size)
    if img.mode in ("RGB", "L") and not covered:
        img = img.convert("RGBA")  # parts of the destination get no source pixels: transparent, not black
    return img.transform(dst_size, Image.Transform.MESH, mesh, filt)


PixelMapper = Callable[[list[tuple[float, float]]], list[tuple[float, float]]]
Cell = tuple[int, int, int, int]


def _pixel_mapper(src_bbox: BBox, src_srs: SRS, dst_bbox: BBox, dst_srs: SRS, dst_size: tuple[int, int],
                  sx: float, sy: float) -> PixelMapper:
    """A function from destination pixels to source pixels."""
    rx = (dst_bbox[2] - dst_bbox[0]) / dst_size[0]
    ry = (dst_bbox[3] - dst_bbox[1]) / dst_size[1]

    def to_src(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        world = [(dst_bbox[0] + px * rx, dst_bbox[3] - py * ry) for px, py in points]
        return [((x - src_bbox[0]) * sx, (src_bbox[3] - y) * sy) for x, y in dst_srs.transform_to(src_srs, world)]

    return to_src


def _mesh(cells: list[Cell], to_src: PixelMapper, src_size: tuple[int, int]) -> tuple[list, bool]:
    """PIL mesh quads for destination pixel ``cells``, and whether every quad lies
    inside the source image. A cell is mapped linearly from its corners; where
    its centre, an edge midpoint or a quarter point is off that (strong
    reprojections, near the poles of mercator) it is split into 4x4 until it is
    small, so mild reprojections take a few cells. Cells of at most MESH_CELL
    pixels whose corners are all outside the source projection's domain, or all
    beyond one edge of the source image, stay empty."""
    sw, sh = src_size
    mesh = []
    covered = True
    while cells:
        points = []
        for x0, y0, x1, y1 in cells:
            points += [(x0 + (x1 - x0) * fx, y0 + (y1 - y0) * fy) for fx, fy in _PROBES]
        pix = to_src(points)
        n = len(_PROBES)
        finer: list[Cell] = []
        for k, (x0, y0, x1, y1) in enumerate(cells):
            ul, ur, ll, lr, *mids = pix[n * k:n * k + n]
            corners = (ul, ur, ll, lr)
            coarse = max(x1 - x0, y1 - y0) > MESH_CELL
            if not coarse and (all(p[0] < 0 for p in corners) or all(p[0] > sw for p in corners)
                               or all(p[1] < 0 for p in corners) or all(p[1] > sh for p in corners)):
                covered = False
                continue
            valid = [all(abs(c) < 1e9 for c in p) for p in corners]
            small = x1 - x0 <= MESH_MIN_CELL or y1 - y0 <= MESH_MIN_CELL
            if all(valid):
                linear = [_bilinear(ul, ur, ll, lr, fx, fy) for fx, fy in _PROBES[4:]]
                off = math.inf  # a midpoint outside the projection's domain: split
                if all(abs(c) < 1e9 for p in mids for c in p):
                    off = max(math.hypot(a[0] - b[0], a[1] - b[1]) for a, b in zip(mids, linear))
                # in destination pixels: source pixels per destination pixel along the cell's diagonal
                scale = math.hypot(lr[0] - ul[0], lr[1] - ul[1]) / math.hypot(x1 - x0, y1 - y0)
                if small or off <= MESH_TOLERANCE * max(scale, 1e-12):
                    mesh.append(((x0, y0, x1, y1), (*ul, *ll, *lr, *ur)))
                    covered = covered and all(0 <= x <= sw and 0 <= y <= sh for x, y in corners)
                    continue
            elif small or (not coarse and not any(valid)):
                covered = False
                continue
            sub_xs = sorted({x0 + (x1 - x0) * i // 4 for i in range(5)})
            sub_ys = sorted({y0 + (y1 - y0) * j // 4 for j in range(5)})
            finer += [(a, b, c, d) for b, d in zip(sub_ys, sub_ys[1:]) for a, c in zip(sub_xs, sub_xs[1:])]
        cells = finer
    return mesh, covered


# where a cell is probed, as fractions of its width and height: the corners (ul, ur,
# ll, lr), then the centre, the edge midpoints and the quarter points inside
_PROBES = [(0, 0), (1, 0), (0, 1), (1, 1), (0.5, 0.5), (0.5, 0), (0.5, 1), (0, 0.5), (1, 0.5),
           (0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]


def _bilinear(ul: tuple[float, float], ur: tuple[float, float], ll: tuple[float, float], lr: tuple[float, float],
              fx: float, fy: float) -> tuple[float, float]:
    return tuple(((1 - fx) * a + fx * b) * (1 - fy) + ((1 - fx) * c + fx * d) * fy  # type: ignore[return-value]
                 for a, b, c, d in zip(ul, ur, ll, lr))




def _scale(img: Image.Image, extent: tuple[float, float, float, float], dst_size: tuple[int, int],
           filt: Image.Resampling) -> Image.Image:
    """The ``extent`` (source pixel coordinates, may reach outside the image) scaled
    to ``dst_size``; resize() filters properly when shrinking and is faster than
    an EXTENT transform. Outside the source stays transparent."""
    sw, sh = img.size
    box = (max(extent[0], 0.0), max(extent[1], 0.0), min(extent[2], float(sw)), min(extent[3], float(sh)))
    if box[0] >= box[2] or box[1] >= box[3]:
        return blank_image(dst_size)
    fx = dst_size[0] / (extent[2] - extent[0])
    fy = dst_size[1] / (extent[3] - extent[1])
    left, top = round((box[0] - extent[0]) * fx), round((box[1] - extent[1]) * fy)
    right, bottom = round((box[2] - extent[0]) * fx), round((box[3] - extent[1]) * fy)
    if right <= left or bottom <= top:
        return blank_image(dst_size)
    part = img.resize((right - left, bottom - top), filt, box=box)
    if (left, top, right, bottom) == (0, 0, *dst_size):
        return part
    out = blank_image(dst_size)
    out.paste(part, (left, top))
    return out


def merge_images(layers: list[Image.Image], size: tuple[int, int], bgcolor: tuple | None = None) -> Image.Image:
    """Composite images bottom to top (first is bottom)."""
    base = Image.new("RGBA", size, bgcolor or (255, 255, 255, 0))
    for img in layers:
        if img.size != size:
            raise ValueError(f"cannot merge image of size {img.size} into {size}")
        if img.mode != "RGBA":
            img = img.convert("RGBA")
        base.alpha_composite(img)
    return base
