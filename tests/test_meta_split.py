"""A meta tile's image cut into tiles: a tile of few colours gets the exact palette
of its colours (the image's pixels, what the octree quantizer gives them too);
other tiles are quantized by the encoder as before."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageChops, ImageDraw

from tileproxy.image import png_zlib
from tileproxy.image.codec import decode, encode
from tileproxy.image.formats import ImageFormat, ImageOptions
from tileproxy.image.meta_split import split_meta

pytestmark = pytest.mark.skipif(not png_zlib.available(), reason="zlib-ng is a dependency; installed with tileproxy")

PNG = ImageOptions(colors=256)
BOXES = [(8 + 32 * i, 8 + 32 * j, 40 + 32 * i, 40 + 32 * j) for j in range(2) for i in range(2)]


def flat_map(colors: int = 12, size: tuple[int, int] = (80, 80)) -> Image.Image:
    rnd = random.Random(colors)
    img = Image.new("RGB", size, (120, 160, 200))
    draw = ImageDraw.Draw(img)
    for _ in range(colors - 1):
        pts = [(rnd.randrange(size[0]), rnd.randrange(size[1])) for _ in range(3)]
        draw.line(pts, fill=tuple(rnd.randrange(256) for _ in range(3)), width=3)
    return img


def pixels(data: bytes) -> Image.Image:
    return decode(data).convert("RGB")


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def test_few_colours_get_their_exact_palette():
    img = flat_map()
    tiles = split_meta(img, BOXES, PNG)
    assert len(tiles) == len(BOXES)
    for tile, box in zip(tiles, BOXES):
        assert tile.has_data and tile.mime == "image/png"  # encoded already
        data, mime = tile.encoded(PNG)
        assert (data, mime) == (tile.data, "image/png")
        out = Image.open(io.BytesIO(data))
        assert out.mode == "P"
        own = img.crop(box).getcolors()
        assert len(out.getpalette()) == 3 * len(own)  # only the tile's own colours
        assert same_pixels(pixels(data), img.crop(box))  # no colour lost
        assert same_pixels(pixels(data), pixels(encode(img.crop(box), PNG)[0]))  # as the octree quantizer


def test_tiles_of_many_and_few_colours():
    rnd = random.Random(3)
    img = flat_map()
    img.paste(Image.frombytes("RGB", (32, 32), bytes(rnd.randrange(256) for _ in range(32 * 32 * 3))), BOXES[0][:2])
    tiles = split_meta(img, BOXES, PNG)
    assert [t.has_data for t in tiles] == [False, True, True, True]
    assert tiles[0].encoded(PNG) == encode(img.crop(BOXES[0]), PNG)


def test_many_colours_quantize_each_tile():
    rnd = random.Random(3)
    img = Image.frombytes("RGB", (80, 80), bytes(rnd.randrange(256) for _ in range(80 * 80 * 3)))
    tiles = split_meta(img, BOXES, PNG)
    for tile, box in zip(tiles, BOXES):
        assert not tile.has_data
        assert same_pixels(tile.image, img.crop(box))
        assert tile.encoded(PNG) == encode(img.crop(box), PNG)


def test_colours_a_palette_cache_would_merge_are_quantized_each():
    # (3,3,3) is nearer (4,0,0) than its own entry for Pillow's 6-bit palette cache
    img = Image.new("RGB", (80, 80), (3, 3, 3))
    img.paste((4, 0, 0), (0, 0, 24, 80))  # every tile has both colours
    img.paste((4, 0, 0), (56, 0, 80, 80))
    tiles = split_meta(img, BOXES, PNG)
    assert not any(t.has_data for t in tiles)
    for tile, box in zip(tiles, BOXES):
        assert tile.encoded(PNG) == encode(img.crop(box), PNG)


@pytest.mark.parametrize("opts", [ImageOptions(), ImageOptions(format=ImageFormat("image/jpeg")),
                                  ImageOptions(colors=256, mode="RGB")], ids=["truecolor", "jpeg", "rgb-mode"])
def test_no_palette_wanted_cuts_plainly(opts):
    img = flat_map()
    for tile, box in zip(split_meta(img, BOXES, opts), BOXES):
        assert not tile.has_data and same_pixels(tile.image, img.crop(box))


def test_paletted_format_without_colours_uses_a_palette():
    opts = ImageOptions(format=ImageFormat("image/png", paletted=True))
    img = flat_map()
    for tile, box in zip(split_meta(img, BOXES, opts), BOXES):
        assert tile.has_data and same_pixels(pixels(tile.encoded(opts)[0]), img.crop(box))


def test_fewer_colours_asked_than_the_image_has():
    img = flat_map(colors=12)
    opts = ImageOptions(colors=4)
    for tile, box in zip(split_meta(img, BOXES, opts), BOXES):
        assert not tile.has_data  # quantized each on its own, to 4 colours
        assert tile.encoded(opts) == encode(img.crop(box), opts)


def test_rgba_and_paletted_sources_cut_plainly():
    img = flat_map()
    for source in (img.convert("RGBA"), img.quantize(16)):
        for tile, box in zip(split_meta(source, BOXES, PNG), BOXES):
            assert not tile.has_data and tile.image.mode == source.mode
            assert same_pixels(tile.image, source.crop(box))


def test_tiles_beyond_the_image_are_padded_as_before():
    img = flat_map()
    boxes = [(40, 40, 104, 104), (-8, -8, 56, 56)]
    for tile, box in zip(split_meta(img, boxes, PNG), boxes):
        assert tile.has_data and same_pixels(pixels(tile.data), img.crop(box))


def test_a_single_colour():
    img = Image.new("RGB", (80, 80), (10, 200, 30))
    for tile in split_meta(img, BOXES, PNG):
        assert tile.has_data
        out = pixels(tile.data)
        assert out.getcolors() == [(32 * 32, (10, 200, 30))]
