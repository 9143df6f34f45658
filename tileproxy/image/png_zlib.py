"""PNG's zlib work done by zlib-ng, several times faster than the zlib Pillow links.

Decoding: the IDAT stream is inflated by zlib-ng and handed to Pillow's PNG
decoder as stored (uncompressed) deflate blocks, which it copies; Pillow still
unfilters the rows and reads every other chunk, so the image is the same.
Encoding: paletted images, the usual output of a map, are written here with
zlib-ng's deflate; every other mode is left to Pillow.

Without the zlib-ng package every function here declines (None or the input
unchanged) and Pillow does all of it."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from PIL import Image

try:
    from zlib_ng import zlib_ng
except ImportError:  # pragma: no cover - zlib-ng is a dependency; Pillow alone still works
    zlib_ng = None

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
_STORED_BLOCK = 65535  # the most bytes one stored deflate block holds
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))  # x0, y0, dx, dy


def available() -> bool:
    return zlib_ng is not None


def _chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, start of the chunk, end of its CRC) for each chunk after the signature."""
    pos, end = 8, len(data)
    while pos + 12 <= end:
        length = struct.unpack_from(">I", data, pos)[0]
        stop = pos + 12 + length
        if stop > end:
            return
        yield data[pos + 4:pos + 8], pos, stop
        pos = stop


def raw_size(width: int, height: int, depth: int, ctype: int, interlaced: bool) -> int | None:
    """Bytes of filtered scanlines an image of this header holds (None: unknown type)."""
    channels = _CHANNELS.get(ctype)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        return None
    bits = channels * depth

    def lines(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if not interlaced:
        return lines(width, height)
    return sum(lines((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7)


def inflate(stream: bytes, size: int) -> bytes | None:
    """The ``size`` bytes a zlib ``stream`` inflates to; None when it is broken or
    inflates to any other length (the caller decodes the usual way and reports it)."""
    if zlib_ng is None:
        return None
    inflater = zlib_ng.decompressobj()
    try:
        raw = inflater.decompress(stream, size + 1)  # never more than one byte beyond what fits
    except zlib_ng.error:
        return None
    return raw if len(raw) == size and inflater.eof else None


def stored_stream(raw: bytes) -> bytes:
    """``raw`` as a zlib stream of stored blocks: inflating it is a copy."""
    parts = [b"\x78\x01"]
    for start in range(0, len(raw), _STORED_BLOCK) or [0]:
        block = raw[start:start + _STORED_BLOCK]
        final = start + _STORED_BLOCK >= len(raw)
        parts += [struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF), block]
    parts.append(struct.pack(">I", zlib_ng.adler32(raw)))
    return b"".join(parts)


def predecoded_rows(stream: bytes, size: int) -> bytes | None:
    """The first ``size`` bytes of a PNG zlib ``stream`` (the rows a caller
    decodes) as stored blocks; None when the stream is broken or shorter."""
    if zlib_ng is None:
        return None
    try:
        raw = zlib_ng.decompressobj().decompress(stream, size)
    except zlib_ng.error:
        return None
    return stored_stream(raw) if len(raw) == size else None


def predecoded_png(data: bytes) -> bytes:
    """``data`` with its image data inflated by zlib-ng and stored uncompressed, for
    Pillow to decode faster; ``data`` itself when it is no PNG, is animated, too
    large, or broken (Pillow then decodes or rejects it as before)."""
    if zlib_ng is None or not data.startswith(SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 33:
        return data
    width, height, depth, ctype, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if width * height > Image.MAX_IMAGE_PIXELS:
        return data
    size = raw_size(width, height, depth, ctype, interlace == 1)
    if not size:
        return data
    first = last = None
    parts = []
    for kind, start, stop in _chunks(data):
        if kind == b"IDAT":
            if last is not None and last != start:
                return data  # IDAT chunks must follow each other
            first = start if first is None else first
            last = stop
            parts.append(data[start + 8:stop - 4])
        elif kind in (b"acTL", b"fdAT"):
            return data  # APNG: Pillow reads the frames
        elif kind == b"IEND":
            break
    if first is None:
        return data
    raw = inflate(b"".join(parts), size)
    if raw is None:
        return data
    return b"".join((data[:first], _chunk(b"IDAT", stored_stream(raw)), data[last:]))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib_ng.crc32(body, zlib_ng.crc32(kind)))


def paletted_png(img: Image.Image, level: int = 6, rle: bool = True) -> bytes | None:
    """A ``P`` image as PNG, written as Pillow writes it (palette cut to its
    length, 1/2/4 bits for up to 16 colours, tRNS from the palette's alpha or
    the ``transparency`` info, no row filters) but deflated by zlib-ng;
    zlib's run-length strategy when ``rle``. None for other images."""
    if zlib_ng is None or img.mode != "P" or img.info.get("icc_profile"):
        return None
    palette = img.getpalette() or []
    colors = max(1, min(len(palette) // 3, 256))
    bits = 8 if colors > 16 else 4 if colors > 4 else 2 if colors > 2 else 1
    width, height = img.size
    raw = img.tobytes("raw", "P" if bits == 8 else f"P;{bits}")
    stride = (width * bits + 7) // 8
    if len(raw) != stride * height:
        return None
    out = [SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, 3, 0, 0, 0)),
           _chunk(b"PLTE", bytes(palette[:colors * 3]) or b"\x00\x00\x00")]
    transparency = img.info.get("transparency")
    if isinstance(transparency, bytes):
        out.append(_chunk(b"tRNS", transparency[:colors]))
    elif isinstance(transparency, int):
        out.append(_chunk(b"tRNS", (b"\xff" * max(0, min(255, transparency)) + b"\x00")[:colors]))
    elif transparency is not None:
        return None
    elif img.palette is not None and img.palette.mode == "RGBA":
        out.append(_chunk(b"tRNS", img.im.getpalette("RGBA", "A")[:colors]))
    deflater = zlib_ng.compressobj(level, zlib_ng.DEFLATED, 15, 9, zlib_ng.Z_RLE if rle else zlib_ng.Z_DEFAULT_STRATEGY)
    rows = b"\x00" + b"\x00".join(raw[i:i + stride] for i in range(0, len(raw), stride))  # filter type 0 each
    out += [_chunk(b"IDAT", deflater.compress(rows) + deflater.flush()), _chunk(b"IEND", b"")]
    return b"".join(out)
