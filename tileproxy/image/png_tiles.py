"""Plain PNG tiles decoded straight into their place of a mosaic: no image object
per tile, no paste, and no rows below the part of the mosaic that is needed.
Other plain PNGs (a source's map, say) take the same decoder on their own."""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from typing import Any

from PIL import Image

from .errors import ImageDataError
from .png_zlib import SIGNATURE, available, feed_inflated, feed_rows

_MODES = {2: "RGB", 6: "RGBA"}  # PNG colour type -> mode, 8 bits per sample


def plain_png(data: bytes | None, size: tuple[int, int], profile_ok: bool = True) -> tuple[str, bytes] | None:
    """Mode and zlib stream of an 8-bit RGB or RGBA PNG of ``size``, not interlaced
    and without a transparent colour (nor a colour profile, which Pillow would
    write again, unless ``profile_ok``); None for anything else (decoded the usual way)."""
    if data is None or not data.startswith(SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 33:
        return None
    width, height, depth, ctype, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    mode = _MODES.get(ctype)
    if mode is None or depth != 8 or interlace or (width, height) != tuple(size):
        return None
    parts = []
    pos, end = 8, len(data)
    while pos + 8 <= end:
        length = struct.unpack_from(">I", data, pos)[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            parts.append(data[pos + 8:pos + 8 + length])
        elif kind == b"tRNS" or (kind == b"iCCP" and not profile_ok):
            return None
        elif kind == b"IEND":
            break
        pos += 12 + length
    return (mode, b"".join(parts)) if parts else None


def zip_decoder(mode: str, args: tuple, im: Any, box: tuple[int, int, int, int]) -> Any:
    """Pillow's PNG row decoder ("zip") writing into ``box`` of the core image
    ``im``. The one use of Pillow's private ``Image._getdecoder``: Pillow has no
    public way to feed rows that zlib-ng inflated. Where it is missing the callers
    fall back to Pillow's reader; test_png_tiles fails loudly when it goes."""
    dec = Image._getdecoder(mode, "zip", args)
    dec.setimage(im, box)
    return dec


def decode_into(mosaic: Image.Image, stream: bytes, mode: str, box: tuple[int, int, int, int]) -> None:
    """Decode the zlib ``stream`` of a plain PNG (``plain_png``) into ``box`` of
    ``mosaic``; decoding stops after the last row of ``box``."""
    def decoder():
        return zip_decoder(mosaic.mode, (mode,), mosaic.im, box)

    # zlib-ng inflates the rows of the box faster than Pillow's zlib (tiles: ~3x)
    result = feed_inflated(decoder(), stream, (box[3] - box[1]) * (1 + (box[2] - box[0]) * len(mode)))
    if result is None:  # no zlib-ng, or a broken stream: Pillow decodes it all, or says what is wrong
        result = decoder().decode(stream)
    status, err = result
    if err < 0:
        raise ImageDataError(f"cannot decode image: PNG decoder error {err}")
    if status >= 0:  # the decoder wants more data than there is
        raise ImageDataError("cannot decode image: truncated PNG data")


def decode_plain(data: bytes) -> Image.Image | None:
    """A plain PNG (``plain_png``, any size) decoded, or None for other data.
    Faster than Pillow's reader with zlib-ng; the image has no ``info``."""
    if len(data) < 33 or not data.startswith(SIGNATURE):
        return None
    size = struct.unpack_from(">II", data, 16)
    if not 0 < size[0] * size[1] <= Image.MAX_IMAGE_PIXELS or not available():
        return None
    plan = plain_png(data, size, profile_ok=False)
    if plan is None:
        return None
    img = Image.new(plan[0], size)
    try:
        decode_into(img, plan[1], plan[0], (0, 0, *size))
    except (AttributeError, TypeError):
        return None  # Pillow without the decoder interface used here
    return img


def decode_rows(mode: str, size: tuple[int, int], rows: bytes) -> Image.Image | None:
    """A plain PNG (``plain_png``) from its inflated ``rows``: Pillow only unfilters
    them. None when this Pillow lacks the decoder interface used here, or the rows
    do not make the image (the caller decodes the usual way)."""
    img = Image.new(mode, size)
    try:
        status, err = feed_rows(zip_decoder(mode, (mode,), img.im, (0, 0, *size)), rows)
    except (AttributeError, TypeError, ValueError):
        return None
    return img if err >= 0 and status < 0 else None


def decode_read_rows(data: bytes, rows: bytes) -> Image.Image | None:
    """Any non-interlaced PNG as Pillow reads it (mode, palette, transparency and
    other ``info`` from its header chunks), its pixels from the inflated ``rows``
    (zlib-ng inflated them faster than Pillow's zlib would). None where this
    Pillow's reader works otherwise (the caller decodes the usual way)."""
    try:
        img = Image.open(io.BytesIO(data))
        if img.format != "PNG" or len(img.tile) != 1 or getattr(img, "is_animated", False):
            return None
        codec, extents, _, args = img.tile[0]
        if codec != "zip" or img.info.get("interlace"):
            return None
        img.load_prepare()
        status, err = feed_rows(zip_decoder(img.mode, args, img.im, extents), rows)
        if err < 0 or status >= 0:
            return None
        img.tile = []
        img.load()  # no tiles left: only the palette is realized, as Pillow's own load does
    except Exception:  # noqa: BLE001 (an interface this Pillow lacks: decoded the usual way)
        return None
    return img


def png_mosaic(size: tuple[int, int], tile_size: tuple[int, int], offsets: Sequence[tuple[int, int]],
               datas: Sequence[bytes | None], full: bool, last_row: int | None = None) -> Image.Image | None:
    """A mosaic of ``size`` with each tile's PNG ``datas`` decoded at its pixel
    offset; rows from ``last_row`` on may be left blank. RGB when all tiles are RGB
    and ``full`` (they fill the mosaic), RGBA when all are RGBA (missing tiles stay
    transparent). None when a tile is no plain PNG or the modes are mixed."""
    plans = [plain_png(d, tile_size) for d in datas if d is not None]
    if not plans or any(p is None for p in plans):
        return None
    modes = {p[0] for p in plans}  # type: ignore[index]
    if len(modes) != 1 or (modes == {"RGB"} and not (full and len(plans) == len(datas))):
        return None
    mode = modes.pop()
    if mode == "RGBA":
        mosaic = Image.new(mode, size, (255, 255, 255, 0))
    else:  # the tiles cover every pixel: only the rows left undecoded are painted (a 4 MB fill saved)
        mosaic = Image.new(mode, size, None)
        if last_row is not None and last_row < size[1]:
            mosaic.paste(0, (0, max(0, last_row), size[0], size[1]))
    tw, th = tile_size
    plan_iter = iter(plans)
    try:
        for (x, y), data in zip(offsets, datas):
            if data is None:
                continue
            _, stream = next(plan_iter)  # type: ignore[misc]
            rows = th if last_row is None else min(th, last_row - y)
            if rows > 0:
                decode_into(mosaic, stream, mode, (x, y, x + tw, y + rows))
    except (AttributeError, TypeError, ValueError) as ex:
        if isinstance(ex, ImageDataError):
            raise
        return None  # Pillow without the decoder interface used here
    return mosaic
