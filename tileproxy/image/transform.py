"""Scale, crop and reproject images between bboxes and SRS."""

from __future__ import annotations

from PIL import Image

from ..srs import SRS, BBox

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}

MESH_CELL = 32  # smallest mesh cell edge when reprojecting, pixels
MESH_MAX_ERROR = 0.5  # pixels a mesh cell's linear mapping may be off


def resample_filter(name: str) -> Image.Resampling:
    return _RESAMPLE.get(name, Image.Resampling.BICUBIC)


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

    Pixels without source data are transparent. An RGB ``img`` gives an RGB image
    when it covers the whole destination (no alpha to resample), else RGBA."""
    if img.mode != "RGB":
        img = img.convert("RGBA") if img.mode != "RGBA" else img
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

    mesh, covered = _mesh(img.size, src_bbox, src_srs, dst_bbox, dst_srs, dst_size)
    if not mesh:
        return blank_image(dst_size)
    if covered and all(_axis_aligned(quad) for _, quad in mesh):
        # e.g. EPSG:3857 <-> EPSG:4326: every cell is a scaled source rectangle, and
        # resize() is about twice as fast as a bicubic QUAD transform
        out = Image.new(img.mode, dst_size, None)
        for (x0, y0, x1, y1), quad in mesh:
            out.paste(img.resize((x1 - x0, y1 - y0), filt, box=(quad[0], quad[1], quad[4], quad[5])), (x0, y0))
        return out
    if img.mode == "RGB" and not covered:
        img = img.convert("RGBA")  # parts of the destination get no source pixels: transparent, not black
    return img.transform(dst_size, Image.Transform.MESH, mesh, filt)


def _axis_aligned(quad: tuple[float, ...], tolerance: float = 0.01) -> bool:
    """The source quadrilateral (ul, ll, lr, ur) is an upright rectangle, north up."""
    ulx, uly, llx, lly, lrx, lry, urx, ury = quad
    return (abs(ulx - llx) <= tolerance and abs(urx - lrx) <= tolerance and abs(uly - ury) <= tolerance
            and abs(lly - lry) <= tolerance and lrx > ulx and lry > uly)


def _mesh(src_size: tuple[int, int], src_bbox: BBox, src_srs: SRS, dst_bbox: BBox, dst_srs: SRS,
          dst_size: tuple[int, int]) -> tuple[list, bool]:
    """Cells of the destination with the source quadrilaterals they map to, for a
    MESH transform. A cell is split in four until mapping it linearly from its
    corners is within MESH_MAX_ERROR pixels of the projection at its centre and
    edge midpoints, or it is MESH_CELL pixels small; so mild reprojections take a
    few cells, strong ones many. Cells outside the source projection's domain are
    left out. Also returns whether every cell maps inside the source image."""
    sw, sh = src_size
    sx, sy = sw / (src_bbox[2] - src_bbox[0]), sh / (src_bbox[3] - src_bbox[1])
    rx, ry = (dst_bbox[2] - dst_bbox[0]) / dst_size[0], (dst_bbox[3] - dst_bbox[1]) / dst_size[1]
    mesh: list = []
    covered = True
    todo = [(0, 0, dst_size[0], dst_size[1])]
    while todo:
        probes = []  # corners, centre and edge midpoints of every cell: one projection call per round
        for x0, y0, x1, y1 in todo:
            xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
            probes += [(x0, y0), (x0, y1), (x1, y1), (x1, y0), (xm, ym), (xm, y0), (xm, y1), (x0, ym), (x1, ym)]
        world = dst_srs.transform_to(src_srs, [(dst_bbox[0] + px * rx, dst_bbox[3] - py * ry) for px, py in probes])
        pix = [((x - src_bbox[0]) * sx, (src_bbox[3] - y) * sy) for x, y in world]
        split = []
        for k, cell in enumerate(todo):
            ul, ll, lr, ur, *mids = pix[9 * k: 9 * k + 9]
            small = max(cell[2] - cell[0], cell[3] - cell[1]) <= MESH_CELL
            if not all(abs(c) < 1e9 for p in (ul, ll, lr, ur, *mids) for c in p):  # also NaN
                if small:
                    covered = False  # outside the source projection's domain
                else:
                    split.append(cell)
                continue
            linear = [_mid(ul, ll, lr, ur), _mid(ul, ur), _mid(ll, lr), _mid(ul, ll), _mid(ur, lr)]
            error = max(max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(mids, linear))
            if error > MESH_MAX_ERROR and not small:
                split.append(cell)
                continue
            mesh.append((cell, (*ul, *ll, *lr, *ur)))
            covered = covered and all(0 <= x <= sw and 0 <= y <= sh for x, y in (ul, ll, lr, ur))
        todo = []
        for x0, y0, x1, y1 in split:
            xm, ym = (x0 + x1) // 2, (y0 + y1) // 2
            todo += [c for c in ((x0, y0, xm, ym), (xm, y0, x1, ym), (x0, ym, xm, y1), (xm, ym, x1, y1))
                     if c[2] > c[0] and c[3] > c[1]]
    return mesh, covered


def _mid(*points: tuple[float, float]) -> tuple[float, float]:
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


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
