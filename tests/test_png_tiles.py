"""Plain PNG tiles decoded straight into a mosaic match tiles decoded one by one."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image

from tileproxy.grid import TileGrid
from tileproxy.image.codec import ImageDataError
from tileproxy.image.mosaic import encoded_tile_mosaic, tile_mosaic
from tileproxy.image.png_tiles import plain_png
from tileproxy.srs import get_srs

ORIGIN = 20037508.342789244


def grid() -> TileGrid:
    return TileGrid(get_srs("EPSG:3857"), (-ORIGIN, -ORIGIN, ORIGIN, ORIGIN),
                    [2 * ORIGIN / 256 / 2**z for z in range(12)], origin="nw")


def png(img: Image.Image, **opts) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **opts)
    return buf.getvalue()


def noise(seed: int, mode: str = "RGB") -> Image.Image:
    img = Image.merge("RGB", [Image.effect_noise((256, 256), 60 + 10 * (seed + k)) for k in range(3)])
    return img.convert(mode) if mode != "RGB" else img


COORDS = [(x, y, 2) for y in (1, 2) for x in (1, 2)]


def test_rgb_tiles_decode_into_the_mosaic_like_one_by_one():
    tiles = [noise(i) for i in range(4)]
    datas = [png(t) for t in tiles]
    fast, bbox = encoded_tile_mosaic(grid(), COORDS, datas)
    slow, slow_bbox = tile_mosaic(grid(), COORDS, tiles)
    assert fast.mode == slow.mode == "RGB" and bbox == slow_bbox
    assert fast.tobytes() == slow.tobytes()


def test_rows_below_the_needed_part_are_not_decoded():
    tiles = [noise(i) for i in range(4)]
    g = grid()
    bbox = g.tiles_bbox(COORDS)
    res = g.resolutions[2]
    mosaic, _ = encoded_tile_mosaic(g, COORDS, [png(t) for t in tiles], bottom=bbox[3] - 300 * res)
    full, _ = tile_mosaic(g, COORDS, tiles)
    assert mosaic.crop((0, 0, 512, 300)).tobytes() == full.crop((0, 0, 512, 300)).tobytes()
    assert mosaic.getpixel((100, 400)) == (0, 0, 0)  # left blank


def test_rgba_tiles_with_a_missing_one_keep_it_transparent():
    tiles = [noise(i, "RGBA") for i in range(4)]
    datas = [png(t) for t in tiles]
    datas[1] = None
    mosaic, _ = encoded_tile_mosaic(grid(), COORDS, datas)
    assert mosaic.mode == "RGBA"
    assert mosaic.getpixel((300, 10)) == (255, 255, 255, 0)
    assert mosaic.crop((0, 256, 256, 512)).tobytes() == tiles[2].tobytes()


@pytest.mark.parametrize("variant", ["paletted", "transparent colour", "mixed", "rgb with a hole", "jpeg"])
def test_other_tiles_take_the_general_path_with_the_same_result(variant):
    tiles = [noise(i) for i in range(4)]
    datas = [png(t) for t in tiles]
    if variant == "paletted":
        tiles[0] = tiles[0].quantize(64)
        datas[0] = png(tiles[0])
    elif variant == "transparent colour":
        datas[0] = png(tiles[0], transparency=(1, 2, 3))
        assert plain_png(datas[0], (256, 256)) is None
    elif variant == "mixed":
        tiles[0] = tiles[0].convert("RGBA")
        datas[0] = png(tiles[0])
    elif variant == "rgb with a hole":
        datas[3] = None
    else:
        buf = io.BytesIO()
        tiles[0].save(buf, "JPEG")
        datas[0] = buf.getvalue()
    mosaic, _ = encoded_tile_mosaic(grid(), COORDS, datas)
    decoded = [Image.open(io.BytesIO(d)) if d else None for d in datas]
    expected, _ = tile_mosaic(grid(), COORDS, decoded)
    assert mosaic.mode == expected.mode and mosaic.tobytes() == expected.tobytes()


def test_broken_png_data_is_an_image_data_error():
    datas = [png(noise(i)) for i in range(4)]
    good = datas[2]
    datas[2] = good[:len(good) // 2] + good[-12:]  # cut short, still ends with IEND
    with pytest.raises(ImageDataError, match="truncated"):
        encoded_tile_mosaic(grid(), COORDS, datas)
    start = good.index(b"IDAT") + 40
    datas[2] = good[:start] + bytes(64) + good[start + 64:]
    with pytest.raises(ImageDataError):
        encoded_tile_mosaic(grid(), COORDS, datas)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_the_fast_decoders_still_work_with_this_pillow(mode):
    """The fast paths feed Pillow's row decoder (``zip_decoder``, a private Pillow
    interface) and fall back quietly where it is gone; this test is the loud part."""
    from tileproxy.image.png_tiles import decode_plain, decode_read_rows, decode_rows, zip_decoder
    from tileproxy.image.png_zlib import available

    img = noise(3, mode)
    data = png(img)
    dec = zip_decoder(img.mode, (img.mode,), Image.new(img.mode, img.size).im, (0, 0, *img.size))
    assert hasattr(dec, "decode")
    if mode in ("RGB", "RGBA"):  # what plain_png takes
        assert available()
        fast = decode_plain(data)
        assert fast is not None and fast.tobytes() == img.tobytes()
        plan = plain_png(data, img.size)
        rows = zlib.decompress(plan[1])
        assert decode_rows(plan[0], img.size, rows).tobytes() == img.tobytes()
    read = Image.open(io.BytesIO(data))
    stream = b"".join(_chunks(data, b"IDAT"))
    decoded = decode_read_rows(data, zlib.decompress(stream))
    assert decoded is not None and decoded.mode == read.mode and decoded.tobytes() == read.convert(read.mode).tobytes()


def _chunks(data: bytes, kind: bytes):
    pos = 8
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        if data[pos + 4:pos + 8] == kind:
            yield data[pos + 8:pos + 8 + length]
        pos += 12 + length
