"""Reprojection of images (web mercator to lon/lat): the mesh follows the
projection up to the edge of mercator's world, and places latitudes right."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

from tileproxy.image.transform import transform_image
from tileproxy.srs import get_srs

EXTENT = 20037508.342789244
MERC, WGS = get_srs("EPSG:3857"), get_srs("EPSG:4326")


def merc_row(lat: float, size: int) -> float:
    y = EXTENT / math.pi * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return (EXTENT - y) / (2 * EXTENT) * size


def opaque_rows(img: Image.Image, x: int) -> list[int]:
    alpha = img.getchannel("A")
    return [y for y in range(img.height) if alpha.getpixel((x, y)) == 255]


def test_world_reaches_the_latitude_where_mercator_ends() -> None:
    src = Image.new("RGBA", (512, 512), (200, 0, 0, 255))
    out = transform_image(src, (-EXTENT, -EXTENT, EXTENT, EXTENT), MERC, (-180, -90, 180, 90), WGS, (512, 256))
    rows = opaque_rows(out, 256)
    # 85.05 degrees is 7 rows of 0.703 degrees from the pole: a mesh that gave up on
    # cells near the pole lost a whole 32 px row of cells (down to 67.5 degrees)
    assert 6 <= rows[0] <= 8 and 247 <= rows[-1] <= 249
    assert rows == list(range(rows[0], rows[-1] + 1))


def test_latitudes_are_placed_within_a_pixel() -> None:
    size = 1024
    src = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    draw = ImageDraw.Draw(src)
    lats = [-70, -30, 0, 45, 80]
    for lat in lats:
        y = round(merc_row(lat, size))
        # thick enough to survive nearest sampling: near 80 degrees, one target pixel is 8 source rows
        draw.rectangle([0, y - 5, size, y + 5], fill=(0, 0, 0, 255))
    out = transform_image(src, (-EXTENT, -EXTENT, EXTENT, EXTENT), MERC, (-180, -90, 180, 90), WGS, (720, 360),
                          resampling="nearest")
    dark = [y for y in range(360) if out.getpixel((100, y))[3] == 255 and out.getpixel((100, y))[0] < 128]
    for lat in lats:
        expected = 90 - lat  # 0.5 degrees per pixel
        assert any(abs(y - expected * 2) <= 1.5 for y in dark), (lat, dark)
