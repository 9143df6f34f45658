"""The cheaper image paths of GetMap: RGB mosaics of opaque tiles, RGB resampling
only where the source covers the destination, two resize passes for north-up
reprojections, an adaptive reprojection mesh and run-length PNG encoding of
paletted images."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat
from pyproj import Transformer

from tileproxy.grid import TileGrid
from tileproxy.image.codec import encode, quantize
from tileproxy.image.formats import ImageFormat, ImageOptions
from tileproxy.image.mosaic import tile_mosaic
from tileproxy.image.transform import MESH_CELL, _mesh, _pixel_mapper, transform_image
from tileproxy.image.warp import separable_warp
from tileproxy.srs import get_srs

ORIGIN = 20037508.342789244


def mercator_grid() -> TileGrid:
    return TileGrid(get_srs("EPSG:3857"), (-ORIGIN, -ORIGIN, ORIGIN, ORIGIN),
                    [2 * ORIGIN / 256 / 2**z for z in range(12)], origin="nw")


def mesh_of(src_size, src_bbox, src_srs, dst_bbox, dst_srs, dst_size):
    sx, sy = src_size[0] / (src_bbox[2] - src_bbox[0]), src_size[1] / (src_bbox[3] - src_bbox[1])
    to_src = _pixel_mapper(src_bbox, src_srs, dst_bbox, dst_srs, dst_size, sx, sy)
    return _mesh([(0, 0, dst_size[0], dst_size[1])], to_src, src_size)


def solid(color, mode="RGB", size=(256, 256)) -> Image.Image:
    return Image.new(mode, size, color)


def test_opaque_tiles_make_an_rgb_mosaic():
    grid = mercator_grid()
    coords = [(x, y, 2) for y in (1, 2) for x in (1, 2)]
    mosaic, bbox = tile_mosaic(grid, coords, [solid((10 * i, 0, 0)) for i in range(4)])
    assert mosaic.mode == "RGB" and mosaic.size == (512, 512)
    assert mosaic.getpixel((300, 300)) == (30, 0, 0)  # (2, 2): bottom right
    assert bbox == grid.tiles_bbox(coords)


def test_missing_or_transparent_tiles_keep_the_mosaic_rgba():
    grid = mercator_grid()
    coords = [(x, y, 2) for y in (1, 2) for x in (1, 2)]
    mosaic, _ = tile_mosaic(grid, coords, [solid((255, 0, 0)), None, solid((0, 255, 0)), solid((0, 0, 255))])
    assert mosaic.mode == "RGBA"
    assert mosaic.getpixel((300, 10))[3] == 0  # the missing tile stays transparent
    assert mosaic.getpixel((10, 10)) == (255, 0, 0, 255)
    half = solid((0, 0, 0, 128), "RGBA")
    mosaic, _ = tile_mosaic(grid, coords, [half] + [solid((1, 2, 3))] * 3)
    assert mosaic.mode == "RGBA" and mosaic.getpixel((10, 10))[3] == 128


def test_mosaic_of_a_ragged_tile_set_is_rgba_with_holes():
    grid = mercator_grid()
    coords = [(1, 1, 2), (2, 1, 2), (1, 2, 2)]  # an L shape: one corner has no tile
    mosaic, _ = tile_mosaic(grid, coords, [solid((9, 9, 9))] * 3)
    assert mosaic.mode == "RGBA" and mosaic.getpixel((400, 400))[3] == 0


def test_rgb_scaling_stays_rgb_inside_and_turns_transparent_outside():
    img = solid((200, 100, 50), size=(512, 512))
    srs = get_srs("EPSG:3857")
    inside = transform_image(img, (0, 0, 512, 512), srs, (100, 100, 300, 300), srs, (256, 256))
    assert inside.mode == "RGB" and inside.getpixel((128, 128)) == (200, 100, 50)
    partly = transform_image(img, (0, 0, 512, 512), srs, (400, 0, 600, 200), srs, (200, 200))
    assert partly.mode == "RGBA"
    assert partly.getpixel((50, 100)) == (200, 100, 50, 255)
    assert partly.getpixel((180, 100))[3] == 0


def test_rgb_reprojection_is_rgb_when_covered_else_transparent_outside():
    merc, wgs = get_srs("EPSG:3857"), get_srs("EPSG:4326")
    src_bbox = (0.0, 6000000.0, 1000000.0, 7000000.0)
    img = solid((5, 150, 250), size=(500, 500))
    to_wgs = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    lon0, lat0 = to_wgs.transform(100000, 6100000)
    lon1, lat1 = to_wgs.transform(900000, 6900000)
    covered = transform_image(img, src_bbox, merc, (lon0, lat0, lon1, lat1), wgs, (256, 256))
    assert covered.mode == "RGB" and covered.getpixel((128, 128)) == (5, 150, 250)
    lon2, _ = to_wgs.transform(1500000, 0)  # east of the source image
    beyond = transform_image(img, src_bbox, merc, (lon0, lat0, lon2, lat1), wgs, (256, 256))
    assert beyond.mode == "RGBA"
    assert beyond.getpixel((20, 128)) == (5, 150, 250, 255)
    assert beyond.getpixel((250, 128))[3] == 0


def test_adaptive_mesh_is_coarse_for_small_areas_and_accurate():
    merc, utm = get_srs("EPSG:3857"), get_srs("EPSG:25832")
    to_utm = Transformer.from_crs("EPSG:3857", "EPSG:25832", always_xy=True)
    src_bbox = (900000.0, 6500000.0, 1100000.0, 6700000.0)
    x0, y0 = to_utm.transform(950000, 6550000)
    x1, y1 = to_utm.transform(1050000, 6650000)
    dst_bbox, size = (x0, y0, x1, y1), (512, 512)
    mesh, covered = mesh_of((1000, 1000), src_bbox, merc, dst_bbox, utm, size)
    assert covered
    assert len(mesh) < (512 // MESH_CELL) ** 2  # fewer cells than a fixed fine mesh
    cells = sorted(cell for cell, _ in mesh)
    assert sum((c[2] - c[0]) * (c[3] - c[1]) for c in cells) == 512 * 512  # the cells tile the image
    # inside every cell, the linear mapping is within a pixel of the projection
    back = Transformer.from_crs("EPSG:25832", "EPSG:3857", always_xy=True)
    for (cx0, cy0, cx1, cy1), quad in mesh:
        fx, fy = 0.3, 0.7
        px, py = cx0 + fx * (cx1 - cx0), cy0 + fy * (cy1 - cy0)
        ulx, uly, llx, lly, lrx, lry, urx, ury = quad
        lin_x = (ulx * (1 - fx) + urx * fx) * (1 - fy) + (llx * (1 - fx) + lrx * fx) * fy
        lin_y = (uly * (1 - fx) + ury * fx) * (1 - fy) + (lly * (1 - fx) + lry * fx) * fy
        mx, my = back.transform(x0 + px * (x1 - x0) / 512, y1 - py * (y1 - y0) / 512)
        assert abs((mx - src_bbox[0]) * 1000 / 200000 - lin_x) < 1.0
        assert abs((src_bbox[3] - my) * 1000 / 200000 - lin_y) < 1.0


def test_paletted_png_round_trips():
    img = Image.new("RGB", (256, 256), (255, 255, 255))
    for i in range(0, 256, 8):
        img.paste((i, 255 - i, 30), (i, 0, i + 8, 256))
    data, mime = encode(img, ImageOptions(format=ImageFormat("image/png"), colors=256))
    assert mime == "image/png"
    back = Image.open(io.BytesIO(data))
    assert back.mode == "P"
    assert back.convert("RGB").tobytes() == quantize(img, 256).convert("RGB").tobytes()  # lossless after quantizing


@pytest.mark.parametrize("dst_code", ["EPSG:4326", "EPSG:25832"])
def test_north_up_reprojection_takes_two_resize_passes_like_the_mesh_transform(monkeypatch, dst_code):
    """EPSG:3857 -> EPSG:4326 or UTM: rows and columns resampled apart (the
    two-pass warp), and the map matches the general QUAD transform closely."""
    import tileproxy.image.transform as transform

    merc, dst_srs = get_srs("EPSG:3857"), get_srs(dst_code)
    src_bbox = (500000.0, 6000000.0, 1500000.0, 7000000.0)
    img = Image.linear_gradient("L").resize((600, 600)).convert("RGB")
    img.paste((200, 30, 30), (100, 100, 300, 200))
    to_dst = Transformer.from_crs("EPSG:3857", dst_code, always_xy=True)
    x0, y0 = to_dst.transform(600000, 6100000)
    x1, y1 = to_dst.transform(1400000, 6900000)
    dst = (x0, y0, x1, y1)
    import tileproxy.image.warp as warp

    calls, upright = [], []
    real, real_upright = transform.separable_warp, warp._upright
    monkeypatch.setattr(transform, "separable_warp", lambda *a: calls.append(real(*a)) or calls[-1])
    monkeypatch.setattr(warp, "_upright", lambda *a: upright.append(real_upright(*a)) or upright[-1])
    fast = transform_image(img, src_bbox, merc, dst, dst_srs, (400, 400))
    assert calls and calls[0] is not None
    # geographic columns and rows are mercator's: one resize per piece of rows, no bands
    assert bool(upright and upright[0]) == (dst_code == "EPSG:4326")
    monkeypatch.setattr(transform, "separable_warp", lambda *a: None)
    general = transform_image(img, src_bbox, merc, dst, dst_srs, (400, 400))
    assert fast.mode == general.mode == "RGB"
    diff = ImageChops.difference(fast, general)
    assert sum(ImageStat.Stat(diff).mean) / 3 < 2.0


def test_two_pass_warp_puts_features_where_the_projection_says():
    """A small square of the source lands where pyproj puts it, within a fifth of
    a pixel, in a corner of a UTM map where the grids are turned by about 3 degrees."""
    merc, utm = get_srs("EPSG:3857"), get_srs("EPSG:25832")
    src_bbox = (1300000.0, 6200000.0, 1500000.0, 6400000.0)  # east of 11 E: zone 32 turned
    img = Image.new("RGB", (1000, 1000), (255, 255, 255))
    img.paste((0, 0, 0), (800, 150, 806, 156))  # centre at source pixel (803, 153)
    to_utm = Transformer.from_crs("EPSG:3857", "EPSG:25832", always_xy=True)
    corners = [to_utm.transform(x, y) for x in (1320000, 1480000) for y in (6220000, 6380000)]
    dst = (min(c[0] for c in corners), min(c[1] for c in corners), max(c[0] for c in corners), max(c[1] for c in corners))
    out = transform_image(img, src_bbox, merc, dst, utm, (512, 512))
    mx, my = 1300000 + 803 * 200, 6400000 - 153 * 200
    ux, uy = to_utm.transform(mx, my)
    px, py = (ux - dst[0]) / (dst[2] - dst[0]) * 512, (dst[3] - uy) / (dst[3] - dst[1]) * 512
    dark = [(x + 0.5, y + 0.5, 255 - out.getpixel((x, y))[0])
            for x in range(int(px) - 6, int(px) + 7) for y in range(int(py) - 6, int(py) + 7)]
    total = sum(w for _, _, w in dark)
    cx, cy = sum(x * w for x, _, w in dark) / total, sum(y * w for _, y, w in dark) / total
    assert abs(cx - px) < 0.2 and abs(cy - py) < 0.2


def test_strongly_turned_or_partly_covered_maps_take_the_mesh_transform():
    src_srs, polar = get_srs("EPSG:3857"), get_srs("EPSG:3413")  # polar stereographic: turned by the longitude
    src_bbox = (-2000000.0, 10000000.0, 2000000.0, 14000000.0)
    img = solid((20, 120, 220), size=(400, 400))
    to_polar = Transformer.from_crs("EPSG:3857", "EPSG:3413", always_xy=True)
    x, y = to_polar.transform(0, 12000000)
    sx, sy, dst_size = 400 / 4000000, 400 / 4000000, (256, 256)
    dst = (x - 300000, y - 300000, x + 300000, y + 300000)
    to_src = _pixel_mapper(src_bbox, src_srs, dst, polar, dst_size, sx, sy)
    assert separable_warp(img, to_src, dst_size, Image.Resampling.BICUBIC) is None
    out = transform_image(img, src_bbox, src_srs, dst, polar, dst_size)
    assert out.getpixel((128, 128))[:3] == (20, 120, 220)
    wide = (x - 3000000, y - 300000, x + 3000000, y + 300000)  # beyond the source image
    to_src = _pixel_mapper(src_bbox, src_srs, wide, polar, dst_size, sx, sy)
    assert separable_warp(img, to_src, dst_size, Image.Resampling.BICUBIC) is None


def test_two_pass_warp_keeps_partial_transparency():
    """An RGBA mosaic (transparent tiles) is warped with its alpha: colours of
    half-transparent pixels are not darkened, clear parts stay clear."""
    merc, utm = get_srs("EPSG:3857"), get_srs("EPSG:25832")
    src_bbox = (1300000.0, 6200000.0, 1500000.0, 6400000.0)
    img = Image.new("RGBA", (1000, 1000), (0, 0, 0, 0))
    img.paste((250, 40, 40, 128), (0, 0, 500, 1000))
    to_utm = Transformer.from_crs("EPSG:3857", "EPSG:25832", always_xy=True)
    corners = [to_utm.transform(x, y) for x in (1320000, 1480000) for y in (6220000, 6380000)]
    dst = (min(c[0] for c in corners), min(c[1] for c in corners), max(c[0] for c in corners), max(c[1] for c in corners))
    to_src = _pixel_mapper(src_bbox, merc, dst, utm, (256, 256), 1000 / 200000, 1000 / 200000)
    out = separable_warp(img, to_src, (256, 256), Image.Resampling.BICUBIC)
    assert out is not None and out.mode == "RGBA"
    r, g, b, a = out.getpixel((40, 128))
    assert a == 128 and abs(r - 250) <= 1 and abs(g - 40) <= 1 and abs(b - 40) <= 1  # premultiplied rounding
    assert out.getpixel((220, 128))[3] == 0
    edge = [out.getpixel((x, 128)) for x in range(256) if 0 < out.getpixel((x, 128))[3] < 128]
    assert edge and all(p[0] >= 240 for p in edge)  # blended with clear pixels, not with black
