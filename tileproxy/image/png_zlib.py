"""PNG's zlib work done by zlib-ng, several times faster than the zlib Pillow links.

Decoding (plain RGB/RGBA PNGs, see ``png_tiles``): the IDAT stream is inflated by
zlib-ng and fed to Pillow's PNG decoder as stored (uncompressed) deflate blocks,
which it copies; Pillow still unfilters the rows, so the image is the same.
Encoding: paletted images, the usual output of a map, are written here with
zlib-ng's deflate; every other mode is left to Pillow.

Rows inflated already (by the check of a source's image, see ``whole``) are fed
the same way (``feed_rows``). Without the zlib-ng package the other functions
here decline (None) and Pillow does all of it."""

from __future__ import annotations

import struct
import zlib

from PIL import Image

try:
    from zlib_ng import zlib_ng
except ImportError:  # pragma: no cover - zlib-ng is a dependency; Pillow alone still works
    zlib_ng = None

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_STORED_BLOCK = 65535  # the most bytes one stored deflate block holds
_PIECE = 8 * _STORED_BLOCK  # bytes inflated and fed at a time


def available() -> bool:
    return zlib_ng is not None


def feed_inflated(decoder, stream: bytes, size: int) -> tuple[int, int] | None:
    """Inflate the first ``size`` bytes of a PNG's zlib ``stream`` with zlib-ng and
    feed them to a Pillow zip decoder as stored blocks, which it copies rather
    than inflates; the decoder's last (status, error). Half a megabyte at a time:
    small buffers stay in the CPU caches, and each call lets go of the GIL and
    must win it back. None, with the decoder part-fed, when zlib-ng is missing
    or the stream is broken or short (the caller decodes the usual way)."""
    if zlib_ng is None:
        return None
    inflater = zlib_ng.decompressobj()
    pending, done, adler = stream, 0, 1
    status, err = decoder.decode(b"\x78\x01")
    while done < size:
        try:
            raw = inflater.decompress(pending, min(_PIECE, size - done))
        except zlib_ng.error:
            return None
        if not raw:
            return None
        pending = inflater.unconsumed_tail
        done += len(raw)
        adler = zlib_ng.adler32(raw, adler)
        status, err = decoder.decode(_stored_blocks(raw, done == size, adler))
        if status < 0 or err < 0:
            return status, err  # the image is complete, or broken
    return status, err


def feed_rows(decoder, rows: bytes) -> tuple[int, int]:
    """Feed a PNG's inflated ``rows`` (all of them) to a Pillow zip decoder as
    stored blocks; the decoder's last (status, error). For rows inflated already
    (see ``whole``): nothing is inflated twice."""
    status, err = decoder.decode(b"\x78\x01")
    view, adler = memoryview(rows), 1
    checksum = (zlib_ng or zlib).adler32  # zlib-ng's is ~20x faster
    for start in range(0, len(rows), _PIECE):
        piece = view[start:start + _PIECE]
        adler = checksum(piece, adler)
        status, err = decoder.decode(_stored_blocks(piece, start + _PIECE >= len(rows), adler))
        if status < 0 or err < 0:
            break
    return status, err


def _stored_blocks(raw, last: bool, adler: int) -> bytes:
    """``raw`` as stored deflate blocks; the ``last`` piece closes the stream with its Adler-32."""
    pieces = []
    for start in range(0, len(raw), _STORED_BLOCK):
        block = raw[start:start + _STORED_BLOCK]
        final = last and start + _STORED_BLOCK >= len(raw)
        pieces += [struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF), block]
    if last:
        pieces.append(struct.pack(">I", adler))
    return b"".join(pieces)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib_ng.crc32(body, zlib_ng.crc32(kind)))


def paletted_png(img: Image.Image) -> bytes | None:
    """A ``P`` image as PNG, written as Pillow writes it (palette cut to its
    length, 1/2/4 bits for up to 16 colours, tRNS from the palette's alpha or
    the ``transparency`` info, no row filters) but deflated by zlib-ng (level 6,
    run-length strategy, as ``codec.encode`` asks of Pillow). None for other images."""
    if zlib_ng is None or img.mode != "P" or img.info.get("icc_profile"):
        return None
    palette = img.getpalette() or []
    colors = max(1, min(len(palette) // 3, 256))
    bits = 8 if colors > 16 else 4 if colors > 4 else 2 if colors > 2 else 1
    width, height = img.size
    # one column of zero-index pixels to the left makes every row start with a zero
    # byte (filter type 0), packed by Pillow rather than joined row by row here
    pad = 8 // bits
    framed = Image.new("P", (width + pad, height), 0)
    framed.paste(img, (pad, 0))
    rows = framed.tobytes("raw", "P" if bits == 8 else f"P;{bits}")
    if len(rows) != (1 + (width * bits + 7) // 8) * height:
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
    deflater = zlib_ng.compressobj(6, zlib_ng.DEFLATED, 15, 9, zlib_ng.Z_RLE)
    out += [_chunk(b"IDAT", deflater.compress(rows) + deflater.flush()), _chunk(b"IEND", b"")]
    return b"".join(out)
