"""PNG zlib work through zlib-ng gives the images and files Pillow gives; PNGs it
does not handle, and broken or oversized ones, are Pillow's as before."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from tileproxy.image import png_tiles, png_zlib
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


def stored_blocks_fed(monkeypatch) -> list[int]:
    """Counts the PNG decodes that zlib-ng's inflate fed to Pillow as stored blocks."""
    fed: list[int] = []
    real = png_zlib.feed_inflated

    def counting(decoder, stream, size):
        result = real(decoder, stream, size)
        if result is not None:
            fed.append(size)
        return result

    monkeypatch.setattr(png_tiles, "feed_inflated", counting)
    return fed


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (67, 45), (700, 300)])  # 700x300: many stored blocks
def test_plain_png_decoded_through_zlib_ng_like_pillow_alone(monkeypatch, mode, size):
    fed = stored_blocks_fed(monkeypatch)
    data = png(noise(size, mode))
    img = decode(data)
    same_image(img, pillow(data))
    assert fed == [size[1] * (1 + size[0] * len(mode))]


def test_image_data_split_over_many_chunks(monkeypatch):
    fed = stored_blocks_fed(monkeypatch)
    data = png(noise())
    split = rebuilt(data, idat_stream(data), pieces=7)
    assert sum(kind == b"IDAT" for kind, _ in chunks(split)) == 7
    same_image(decode(split), pillow(data))
    assert len(fed) == 1


OTHERS = {
    "grey": lambda: png(noise(mode="L")),
    "grey-alpha": lambda: png(noise(mode="LA")),
    "bilevel": lambda: png(noise(mode="1")),
    "grey-16bit": lambda: png(noise(mode="L").convert("I;16")),
    "paletted": lambda: png(noise().quantize(256)),
    "paletted-alpha": lambda: png(noise(mode="RGBA").quantize(40, method=Image.Quantize.FASTOCTREE)),
    "rgb-transparent-colour": lambda: png(noise(), transparency=(1, 2, 3)),
    "rgb-colour-profile": lambda: png(noise(), icc_profile=b"stand-in profile bytes"),
}


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_other_pngs_are_read_by_pillow_with_their_info(monkeypatch, name):
    fed = stored_blocks_fed(monkeypatch)
    data = OTHERS[name]()
    img = decode(data)
    same_image(img, pillow(data))
    assert img.info == pillow(data).info
    assert fed == []


def test_truncated_image_data_is_rejected():
    data = png(noise())
    stream = idat_stream(data)
    with pytest.raises(ImageDataError):
        decode(rebuilt(data, stream[: len(stream) // 2]))


def test_image_data_cut_late_is_rejected_after_a_fresh_start(monkeypatch):
    fed = stored_blocks_fed(monkeypatch)
    decoders: list[tuple] = []
    real_decoder = Image._getdecoder

    def counting_decoder(*args):
        decoders.append(args)
        return real_decoder(*args)

    monkeypatch.setattr(Image, "_getdecoder", counting_decoder)
    data = png(noise((700, 300)))  # 630 kB of rows: the first half megabyte is fed before the cut shows
    stream = idat_stream(data)
    with pytest.raises(ImageDataError, match="truncated"):
        decode(rebuilt(data, stream[: len(stream) * 9 // 10]))
    assert fed == [] and len(decoders) == 2  # zlib-ng gave up; Pillow decoded it again from the start


def test_corrupt_image_data_is_rejected():
    data = png(noise())
    with pytest.raises(ImageDataError):
        decode(rebuilt(data, b"\x78\x9c" + bytes(range(200))))


class Sink:
    """Stands in for Pillow's decoder: keeps what it is fed."""

    def __init__(self):
        self.data = b""

    def decode(self, piece: bytes) -> tuple[int, int]:
        self.data += piece
        return len(piece), 0


def test_inflating_stops_where_the_image_ends():
    img = noise((40, 30))
    rows = b"".join(b"\x00" + img.tobytes()[y * 120:(y + 1) * 120] for y in range(30))
    bomb = zlib.compress(rows + bytes(20_000_000))  # 20 MB more than 40x30 holds
    sink = Sink()
    png_zlib.feed_inflated(sink, bomb, len(rows))
    assert zlib.decompress(sink.data) == rows
    same_image(decode(rebuilt(png(img), bomb)), img)
    assert png_zlib.feed_inflated(Sink(), zlib.compress(rows[:-1]), len(rows)) is None
    assert png_zlib.feed_inflated(Sink(), b"\x78\x9c" + bytes(range(200)), len(rows)) is None


def test_headers_beyond_the_pixel_limit_are_not_decoded(monkeypatch):
    data = png(noise())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert png_tiles.decode_plain(data) is None
    with pytest.raises(ImageDataError):
        decode(data)  # Pillow's decompression-bomb check


def test_large_images_are_fed_in_pieces_of_stored_blocks():
    raw = noise((1200, 700)).tobytes()  # 2.5 MB: five pieces of eight blocks
    sink = Sink()
    status, err = png_zlib.feed_inflated(sink, zlib.compress(raw), len(raw))
    assert err == 0 and zlib.decompress(sink.data) == raw
    assert len(sink.data) > len(raw)  # stored, not deflated again


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
    fed = stored_blocks_fed(monkeypatch)
    monkeypatch.setattr(png_zlib, "zlib_ng", None)
    data = png(noise())
    assert png_tiles.decode_plain(data) is None
    same_image(decode(data), pillow(data))
    assert png_zlib.paletted_png(noise().quantize(8)) is None
    without = png_mosaic((512, 256), (256, 256), offsets, datas, True, 100)
    assert with_ng.tobytes() == without.tobytes()
    assert with_ng.crop((0, 0, 256, 100)).tobytes() == tile.crop((0, 0, 256, 100)).tobytes()
    encoded, _ = encode(noise(), ImageOptions(format=ImageFormat("image/png"), colors=256))
    assert pillow(encoded).mode == "P"
    assert fed == []
