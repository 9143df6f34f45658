"""PNG zlib work through zlib-ng gives the images Pillow gives, and declines what it
cannot do safely: broken, oversized or animated PNGs go to Pillow unchanged."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from tileproxy.image import png_zlib
from tileproxy.image.codec import ImageDataError, decode, encode
from tileproxy.image.formats import ImageFormat, ImageOptions
from tileproxy.image.png_tiles import png_mosaic

pytestmark = pytest.mark.skipif(not png_zlib.available(), reason="zlib-ng is a dependency; installed with tileproxy")


def png(img: Image.Image, **opts) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **opts)
    return buf.getvalue()


def pillow(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def noise(size: tuple[int, int] = (67, 45), mode: str = "RGB") -> Image.Image:
    img = Image.merge("RGB", [Image.effect_noise(size, 40 + 20 * k).point(lambda v, k=k: (v * (k + 2)) % 256)
                              for k in range(3)])
    return img.convert(mode) if mode != "RGB" else img


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        out.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def rebuilt(data: bytes, idat: bytes, pieces: int = 1) -> bytes:
    """``data`` with its image data replaced by the zlib stream ``idat``, in ``pieces`` chunks."""
    out = [data[:8]]
    for kind, body in chunks(data):
        if kind == b"IDAT":
            continue
        if kind == b"IEND":
            step = -(-len(idat) // pieces)
            out += [chunk(b"IDAT", idat[i:i + step]) for i in range(0, len(idat), step)]
        out.append(chunk(kind, body))
    return b"".join(out)


def idat_stream(data: bytes) -> bytes:
    return b"".join(body for kind, body in chunks(data) if kind == b"IDAT")


def same_image(a: Image.Image, b: Image.Image) -> None:
    assert (a.mode, a.size) == (b.mode, b.size)
    assert a.tobytes() == b.tobytes()
    assert a.info.get("transparency") == b.info.get("transparency")
    if a.mode == "P":
        assert a.getpalette() == b.getpalette()


def interlaced_rgb(img: Image.Image) -> bytes:
    """``img`` as an Adam7-interlaced PNG (Pillow reads them but does not write them)."""
    w, h = img.size
    px = img.load()
    rows = []
    for x0, y0, dx, dy in png_zlib._ADAM7:
        for y in range(y0, h, dy):
            line = [px[x, y] for x in range(x0, w, dx)]
            if line:
                rows.append(b"\x00" + bytes(c for p in line for c in p))
    head = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1))
    return png_zlib.SIGNATURE + head + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


IMAGES = {
    "rgb": lambda: png(noise()),
    "rgba": lambda: png(noise(mode="RGBA").convert("RGBA")),
    "grey": lambda: png(noise(mode="L")),
    "grey-alpha": lambda: png(noise(mode="LA")),
    "bilevel": lambda: png(noise(mode="1")),
    "grey-16bit": lambda: png(noise(mode="L").convert("I;16")),
    "paletted-256": lambda: png(noise().quantize(256)),
    "paletted-5-colours": lambda: png(noise().quantize(5)),
    "paletted-alpha": lambda: png(noise(mode="RGBA").quantize(40, method=Image.Quantize.FASTOCTREE)),
    "paletted-transparent-index": lambda: png(noise().quantize(30), transparency=3),
    "rgb-transparent-colour": lambda: png(noise(), transparency=(1, 2, 3)),
    "interlaced": lambda: interlaced_rgb(noise((29, 23))),
    "one-pixel": lambda: png(Image.new("RGB", (1, 1), (9, 8, 7))),
}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_decoded_through_zlib_ng_like_pillow_alone(name):
    data = IMAGES[name]()
    fast = png_zlib.predecoded_png(data)
    stored = idat_stream(fast)
    assert stored[:2] == b"\x78\x01" and stored[2] & 0b110 == 0  # stored blocks, not deflated ones
    assert zlib.decompress(stored) == zlib.decompress(idat_stream(data))
    same_image(decode(data), pillow(data))
    same_image(pillow(fast), pillow(data))


def test_image_data_split_over_many_chunks():
    data = png(noise())
    split = rebuilt(data, idat_stream(data), pieces=7)
    assert sum(kind == b"IDAT" for kind, _ in chunks(split)) == 7
    assert png_zlib.predecoded_png(split) != split
    same_image(decode(split), pillow(data))


def test_stored_blocks_hold_large_images():
    img = noise((700, 300))  # 630 kB of rows: ten stored blocks
    stream = png_zlib.stored_stream(img.tobytes())
    assert zlib.decompress(stream) == img.tobytes()
    assert png_zlib.stored_stream(b"") and zlib.decompress(png_zlib.stored_stream(b"")) == b""


def test_truncated_image_data_is_left_to_pillow_and_rejected():
    data = png(noise())
    stream = idat_stream(data)
    cut = rebuilt(data, stream[: len(stream) // 2])
    assert png_zlib.predecoded_png(cut) == cut
    with pytest.raises(ImageDataError):
        decode(cut)


def test_corrupt_image_data_is_left_to_pillow_and_rejected():
    data = png(noise())
    broken = rebuilt(data, b"\x78\x9c" + bytes(range(200)))
    assert png_zlib.predecoded_png(broken) == broken
    with pytest.raises(ImageDataError):
        decode(broken)


def test_image_data_longer_than_the_header_says_is_not_inflated_past_it():
    img = noise((40, 30))
    data = png(img)
    rows = b"".join(b"\x00" + img.tobytes()[y * 120:(y + 1) * 120] for y in range(30))
    bomb = rebuilt(data, zlib.compress(rows + bytes(10_000_000)))  # 10 MB more than 40x30 holds
    assert png_zlib.inflate(zlib.compress(rows + bytes(10_000_000)), len(rows)) is None
    assert png_zlib.predecoded_png(bomb) == bomb


def test_headers_beyond_the_pixel_limit_are_not_inflated(monkeypatch):
    data = png(noise())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert png_zlib.predecoded_png(data) == data


def test_animated_png_is_left_to_pillow():
    frames = [noise(), noise().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    data = buf.getvalue()
    assert any(kind == b"acTL" for kind, _ in chunks(data))
    assert png_zlib.predecoded_png(data) == data


def test_not_png_is_left_alone():
    buf = io.BytesIO()
    noise().save(buf, "JPEG")
    assert png_zlib.predecoded_png(buf.getvalue()) == buf.getvalue()
    assert png_zlib.predecoded_png(b"\x89PNG\r\n\x1a\n") == b"\x89PNG\r\n\x1a\n"


PALETTED = {
    "2 colours (1 bit)": lambda: noise((13, 5)).quantize(2),
    "4 colours (2 bits)": lambda: noise((13, 5)).quantize(4),
    "9 colours (4 bits)": lambda: noise((13, 5)).quantize(9),
    "17 colours": lambda: noise().quantize(17),
    "256 colours": lambda: noise((300, 200)).quantize(256, method=Image.Quantize.FASTOCTREE),
    "alpha in the palette": lambda: noise(mode="RGBA").quantize(100, method=Image.Quantize.FASTOCTREE),
    "transparent index": lambda: _with_info(noise().quantize(30), transparency=7),
    "transparency bytes": lambda: _with_info(noise().quantize(30), transparency=bytes(range(0, 250, 10))),
    "one colour": lambda: Image.new("P", (8, 8), 0),
}


def _with_info(img: Image.Image, **info) -> Image.Image:
    img.info.update(info)
    return img


@pytest.mark.parametrize("name", sorted(PALETTED))
def test_paletted_png_written_as_pillow_writes_it(name):
    img = PALETTED[name]()
    ours = png_zlib.paletted_png(img)
    theirs = png(img, compress_level=6, compress_type=Image.RLE)
    assert ours is not None
    same_image(pillow(ours), pillow(theirs))
    assert chunks(ours)[0] == chunks(theirs)[0]  # the same IHDR: size, bit depth, colour type
    assert {k for k, _ in chunks(ours)} == {k for k, _ in chunks(theirs)}
    assert len(ours) < 1.2 * len(theirs) + 100


def test_paletted_png_declines_other_modes_and_icc_profiles():
    assert png_zlib.paletted_png(noise()) is None
    img = noise().quantize(16)
    img.info["icc_profile"] = b"not really a profile"
    assert png_zlib.paletted_png(img) is None


def test_encoding_a_map_writes_the_paletted_png():
    img = noise((256, 256))
    data, mime = encode(img, ImageOptions(format=ImageFormat("image/png"), colors=256))
    assert mime == "image/png"
    out = pillow(data)
    assert out.mode == "P" and out.size == (256, 256)
    same_image(out, pillow(png_zlib.paletted_png(img.quantize(256, method=Image.Quantize.FASTOCTREE))))


def test_without_zlib_ng_pillow_does_all_of_it(monkeypatch):
    tile = noise((256, 256))
    datas = [png(tile), png(tile.transpose(Image.Transpose.ROTATE_90))]
    offsets = [(0, 0), (256, 0)]
    with_ng = png_mosaic((512, 256), (256, 256), offsets, datas, True, 100)
    data = png(noise())
    monkeypatch.setattr(png_zlib, "zlib_ng", None)
    assert png_zlib.predecoded_png(data) == data
    assert png_zlib.paletted_png(noise().quantize(8)) is None
    without = png_mosaic((512, 256), (256, 256), offsets, datas, True, 100)
    assert with_ng.tobytes() == without.tobytes()
    assert with_ng.crop((0, 0, 256, 100)).tobytes() == tile.crop((0, 0, 256, 100)).tobytes()
    encoded, _ = encode(noise(), ImageOptions(format=ImageFormat("image/png"), colors=256))
    assert pillow(encoded).mode == "P"
