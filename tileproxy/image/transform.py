"""Scale, crop and reproject images between bboxes and SRS."""

from __future__ import annotations

from PIL import Image

from ..srs import SRS, BBox

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}

MESH_CELL = 32  # pixels per mesh cell edge when reprojecting


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

    Pixels without source data are transparent."""
    if img.mode not in ("RGBA", "RGB", "L"):
        img = img.convert("RGBA")
    if img.mode != "RGBA":
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

    dw, dh = dst_size
    cols = max(1, round(dw / MESH_CELL))
    rows = max(1, round(dh / MESH_CELL))
    xs = [round(dw * i / cols) for i in range(cols + 1)]
    ys = [round(dh * j / rows) for j in range(rows + 1)]
    rx = (dst_bbox[2] - dst_bbox[0]) / dw
    ry = (dst_bbox[3] - dst_bbox[1]) / dh
    world = [(dst_bbox[0] + px * rx, dst_bbox[3] - py * ry) for py in ys for px in xs]
    src_pts = dst_srs.transform_to(src_srs, world)
    pix = [((x - src_bbox[0]) * sx, (src_bbox[3] - y) * sy) for x, y in src_pts]
    n = cols + 1
    mesh = []
    for j in range(rows):
        for i in range(cols):
            ul, ur = pix[j * n + i], pix[j * n + i + 1]
            ll, lr = pix[(j + 1) * n + i], pix[(j + 1) * n + i + 1]
            if not all(abs(c) < 1e9 for p in (ul, ur, ll, lr) for c in p):
                continue  # outside the source projection's domain
            mesh.append(((xs[i], ys[j], xs[i + 1], ys[j + 1]), (*ul, *ll, *lr, *ur)))
    if not mesh:
        return blank_image(dst_size)
    return img.transform(dst_size, Image.Transform.MESH, mesh, filt)


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
