"""Is an image from a source whole, and of the size asked for? Checked before it
is stored or passed on, without building pixels where nothing else needs them.

- PNG: IHDR first, every chunk's CRC, an IEND, and the IDAT stream inflated to its
  end (zlib checks its Adler-32) with exactly the bytes the header's size needs.
  The inflated rows of a non-interlaced PNG up to ``ROWS_KEPT`` are kept, so that
  a decode that follows only unfilters them (``png_tiles.decode_rows``,
  ``decode_read_rows``).
- JPEG: the marker segments, a frame header (its size), each scan's data up to
  the marker after it, and the EOI marker.
- Other formats (GIF, TIFF, WebP, ...): decoded by Pillow, the image kept.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import NamedTuple

from PIL import Image

from .errors import ImageDataError
from .png_zlib import SIGNATURE, zlib_ng

_zlib = zlib_ng or zlib  # zlib-ng inflates ~3x faster
# bounded by max_length and telling ``eof``, without a zlib stream object's bookkeeping
_Inflater = getattr(_zlib, "_ZlibDecompressor", None) or _zlib.decompressobj

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Rows up to this size are kept for a decode that follows (tiles: 197 kB at 256x256
# RGB; a paletted 4x4 meta tile: 1.4 MB, which Pillow's zlib would inflate more
# slowly). Larger images (an RGB 4x4 meta tile's are 4.2 MB) are inflated a piece at
# a time and again by the decode (zlib-ng): that costs ~5 % of the decode, and each
# thread that works on one would otherwise hold the rows beside the decoded image.
ROWS_KEPT = 2 << 20
_PIECE = 1 << 19
_PLAIN_MODES = {2: "RGB", 6: "RGBA"}  # 8 bits per sample: rows a decode can take as they are
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))

_JPEG_FRAMES = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
# in scan data 0xFF is followed by 0x00 (a stuffed byte) or a restart marker; anything else ends the scan
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class ImageSizeError(ImageDataError):
    """A whole image, but not of the size asked for."""


class PngRows(NamedTuple):
    """The inflated (still filtered) rows of a non-interlaced PNG. ``mode`` is set for
    a plain one (8-bit RGB or RGBA without tRNS or a colour profile), whose image
    needs nothing from its chunks but the rows."""

    rows: bytes
    size: tuple[int, int]
    mode: str | None = None


class WholeImage(NamedTuple):
    mime: str
    size: tuple[int, int]
    rows: PngRows | None = None  # PNG: for a decode that follows
    image: Image.Image | None = None  # formats Pillow had to decode to check


def check_whole(data: bytes, mime: str, size: tuple[int, int] | None = None, exact: bool = True) -> WholeImage:
    """``data`` (of the image type ``mime``, see ``codec.sniff_mime``) checked to be
    a whole image of ``size`` when given. ``exact=False`` lets another size pass,
    up to four times the pixels asked for (the caller decides what to do with it).
    Raises ImageSizeError for a whole image of a size that does not pass and
    ImageDataError for anything damaged or cut off."""
    if mime == "image/png":
        return _png(data, size, exact)
    if mime == "image/jpeg":
        return WholeImage(mime, _sized(_jpeg_size(data), size, exact))
    try:
        img = Image.open(io.BytesIO(data))
        _sized(img.size, size, exact)
        img.load()
    except ImageDataError:
        raise
    except Exception as ex:  # Pillow raises many types for bad data
        raise ImageDataError(f"a damaged image ({ex})") from None
    return WholeImage(mime, img.size, image=img)


def _sized(actual: tuple[int, int], size: tuple[int, int] | None, exact: bool) -> tuple[int, int]:
    """``actual`` when it passes for ``size`` (see ``check_whole``); else ImageSizeError."""
    if size is None:
        if actual[0] * actual[1] > Image.MAX_IMAGE_PIXELS:
            raise ImageSizeError(f"an image of {actual[0]}x{actual[1]} pixels, too large")
    elif actual[0] != size[0] or actual[1] != size[1]:
        wanted = f"{size[0]}x{size[1]}"
        if exact:
            raise ImageSizeError(f"an image of {actual[0]}x{actual[1]} pixels, expected {wanted}")
        if actual[0] * actual[1] > 4 * max(size[0] * size[1], 1 << 18):
            raise ImageSizeError(f"an image of {actual[0]}x{actual[1]} pixels, far more than the {wanted} asked for")
    return actual


# -- PNG -----------------------------------------------------------------------


def _png(data: bytes, size: tuple[int, int] | None, exact: bool) -> WholeImage:
    if not data.startswith(SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 33:
        raise ImageDataError("a damaged PNG image (no header)")
    view = memoryview(data)
    end = len(data)
    idat: list[memoryview] = []
    plain = True  # no chunk that keeps a decode from taking the rows as they are
    pos, last = 8, b""
    while last != b"IEND":
        if pos + 12 > end:
            raise ImageDataError("a truncated PNG image (no IEND chunk)")
        length = struct.unpack_from(">I", data, pos)[0]
        stop = pos + 8 + length
        if stop + 4 > end:
            raise ImageDataError("a truncated PNG image (a chunk runs past the end)")
        last = data[pos + 4:pos + 8]
        if _zlib.crc32(view[pos + 4:stop]) != struct.unpack_from(">I", data, stop)[0]:
            raise ImageDataError(f"a damaged PNG image (bad CRC of chunk {_name(last)})")
        if last == b"IDAT":
            idat.append(view[pos + 8:stop])
        elif last in (b"tRNS", b"iCCP"):
            plain = False
        pos = stop + 4
    width, height, depth, ctype, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if depth not in _PNG_DEPTHS.get(ctype, ()) or interlace > 1 or not width or not height:
        raise ImageDataError("a damaged PNG image (invalid header)")
    _sized((width, height), size, exact)
    if not idat:
        raise ImageDataError("a damaged PNG image (no image data)")
    expected = _png_raw_size(width, height, depth * _PNG_CHANNELS[ctype], interlace)
    stream = idat[0] if len(idat) == 1 else b"".join(idat)
    if expected > ROWS_KEPT:
        _inflate_to_end(stream, expected)
        return WholeImage("image/png", (width, height))
    inflater = _Inflater()
    try:
        # one byte more than the rows need: an overlong stream shows, and memory stays bounded
        rows = inflater.decompress(stream, expected + 1)
    except _zlib.error as ex:
        raise ImageDataError(f"a damaged PNG image (image data: {ex})") from None
    _inflated(len(rows), expected, inflater.eof)
    if interlace:
        return WholeImage("image/png", (width, height))
    mode = _PLAIN_MODES.get(ctype) if depth == 8 and plain else None
    return WholeImage("image/png", (width, height), PngRows(rows, (width, height), mode))


def _inflate_to_end(stream, expected: int) -> None:
    """Inflate ``stream`` a piece at a time, keeping nothing: memory stays small."""
    inflater = _zlib.decompressobj()
    pending, total = stream, 0
    try:
        while total <= expected:
            piece = inflater.decompress(pending, min(_PIECE, expected + 1 - total))
            if not piece:
                break
            total += len(piece)
            pending = inflater.unconsumed_tail
    except _zlib.error as ex:
        raise ImageDataError(f"a damaged PNG image (image data: {ex})") from None
    _inflated(total, expected, inflater.eof)


def _inflated(size: int, expected: int, eof: bool) -> None:
    if size > expected:
        raise ImageDataError("a damaged PNG image (more image data than its size needs)")
    if size < expected or not eof:
        raise ImageDataError("a truncated PNG image (the image data ends early)")


def _png_raw_size(width: int, height: int, bits: int, interlace: int) -> int:
    """Bytes of the filtered rows (a filter byte each) of an image of ``bits`` per pixel."""
    def rows(w: int, h: int) -> int:
        return h * (1 + (w * bits + 7) // 8) if w > 0 and h > 0 else 0

    if not interlace:
        return rows(width, height)
    return sum(rows((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7)


def _name(kind: bytes) -> str:
    return kind.decode("ascii") if kind.isalpha() else repr(kind)


# -- JPEG ----------------------------------------------------------------------


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """The frame's size, once the segments, every scan and the EOI marker are there."""
    if not data.startswith(b"\xff\xd8"):
        raise ImageDataError("a damaged JPEG image (no SOI marker)")
    end = len(data)
    pos, size, scans = 2, None, 0
    while True:
        if pos + 2 > end:
            raise ImageDataError("a truncated JPEG image (no EOI marker)")
        if data[pos] != 0xFF:
            raise ImageDataError(f"a damaged JPEG image (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte
            pos += 1
            continue
        pos += 2
        if marker == 0xD9:
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a segment
            continue
        if pos + 2 > end:
            raise ImageDataError("a truncated JPEG image (a segment runs past the end)")
        length = struct.unpack_from(">H", data, pos)[0]
        if length < 2 or pos + length > end:
            raise ImageDataError("a truncated JPEG image (a segment runs past the end)")
        if marker in _JPEG_FRAMES and size is None:
            if length < 8:
                raise ImageDataError("a damaged JPEG image (short frame header)")
            height, width = struct.unpack_from(">HH", data, pos + 3)
            size = (width, height)
        pos += length
        if marker == 0xDA:  # start of scan: its data runs to the next real marker
            if size is None:
                raise ImageDataError("a damaged JPEG image (a scan before the frame header)")
            scans += 1
            found = _SCAN_END.search(data, pos)
            if found is None:
                raise ImageDataError("a truncated JPEG image (the scan data ends early)")
            pos = found.start()
    if size is None or not scans:
        raise ImageDataError("a damaged JPEG image (no image data)")
    return size
