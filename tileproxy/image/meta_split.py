"""A meta tile's image cut into its tiles.

Tiles encoded as paletted PNGs are each quantized on their own, unless the part
of the image the tiles cover has no more colours than the palette holds (maps
of flat colours, the usual output of a WMS): then that part is mapped once to
the exact palette of its colours and the tiles are cut from the paletted image
and encoded as they are. The pixels are the same (no colour is lost), the work
is half, and every tile of the meta tile shares the palette.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from .formats import ImageOptions
from .png_zlib import available, paletted_png
from .result import ImageResult

Box = tuple[int, int, int, int]


def split_meta(image: Image.Image, boxes: Sequence[Box], opts: ImageOptions) -> list[ImageResult]:
    """The tiles at ``boxes`` of ``image``, to be encoded as ``opts`` say. Tiles cut
    from a shared exact palette come encoded already (see the module's text)."""
    shared = _exact_palette(image, boxes, opts)
    if shared is None:
        return [ImageResult(image=image.crop(box)) for box in boxes]
    paletted, (x0, y0) = shared
    tiles = []
    for left, top, right, bottom in boxes:
        tile = paletted.crop((left - x0, top - y0, right - x0, bottom - y0))
        tiles.append(ImageResult(data=paletted_png(tile), image=tile, mime="image/png"))
    return tiles


def _palette_size(image: Image.Image, opts: ImageOptions) -> int | None:
    """The palette ``codec.encode`` would quantize each RGB tile to, or None when it
    would not quantize (other formats and modes)."""
    if image.mode != "RGB" or opts.format.mime != "image/png" or opts.mode not in (None, "P"):
        return None
    colors = opts.colors or (256 if opts.format.paletted or opts.mode == "P" else None)
    return colors if colors and 0 < colors <= 256 else None


def _exact_palette(image: Image.Image, boxes: Sequence[Box], opts: ImageOptions
                   ) -> tuple[Image.Image, tuple[int, int]] | None:
    """The covered part of ``image`` mapped to the palette of its colours, with its
    offset; None when tiles are not quantized, or the part has too many colours."""
    colors = _palette_size(image, opts)
    if colors is None or not boxes or not available():
        return None
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    if x0 < 0 or y0 < 0 or x1 > image.width or y1 > image.height:
        return None  # tiles beyond the image: cut and padded one by one
    part = image.crop((x0, y0, x1, y1)) if (x0, y0, x1, y1) != (0, 0, *image.size) else image
    found = part.getcolors(colors)  # stops counting past ``colors``
    if not found:
        return None
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for _, rgb in found for v in rgb])
    # Pillow maps colours to the nearest entry through a cache of 6 bits per channel,
    # so colours closer than that could share an entry: the colours alone, mapped
    # the same way, show where each one goes
    swatch = Image.new("RGB", (len(found), 1))
    swatch.putdata([rgb for _, rgb in found])
    if swatch.quantize(palette=palette, dither=Image.Dither.NONE).tobytes() != bytes(range(len(found))):
        return None
    return part.quantize(palette=palette, dither=Image.Dither.NONE), (x0, y0)
