"""A meta tile's image cut into its tiles.

Tiles encoded as paletted PNGs are quantized one by one. A tile with no more
colours than the palette holds (maps of flat colours, the usual output of a
WMS) is mapped to the exact palette of its colours: the same pixels as the
image, in a fraction of the time the octree quantizer takes, and encoded here.
Other tiles are left to ``codec.encode``, which quantizes them as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from .formats import ImageOptions
from .png_zlib import available, paletted_png
from .result import ImageResult

Box = tuple[int, int, int, int]


def split_meta(image: Image.Image, boxes: Sequence[Box], opts: ImageOptions) -> list[ImageResult]:
    """The tiles at ``boxes`` of ``image``, to be encoded as ``opts`` say; those
    mapped to an exact palette come encoded already."""
    colors = _palette_size(image, opts)
    tiles = []
    for box in boxes:
        tile = image.crop(box)
        paletted = exact_paletted(tile, colors) if colors else None
        if paletted is None:
            tiles.append(ImageResult(image=tile))
        else:
            tiles.append(ImageResult(data=paletted_png(paletted), image=paletted, mime="image/png"))
    return tiles


def _palette_size(image: Image.Image, opts: ImageOptions) -> int | None:
    """The palette ``codec.encode`` would quantize each RGB tile to, or None when it
    would not quantize (other formats and modes) or cannot encode paletted tiles here."""
    if image.mode != "RGB" or opts.format.mime != "image/png" or opts.mode not in (None, "P") or not available():
        return None
    colors = opts.colors or (256 if opts.format.paletted or opts.mode == "P" else None)
    return colors if colors and 0 < colors <= 256 else None


def exact_paletted(image: Image.Image, colors: int) -> Image.Image | None:
    """An RGB ``image`` of at most ``colors`` colours as a ``P`` image of exactly
    those colours; None for more colours (counting stops there)."""
    found = image.getcolors(colors)
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
    return image.quantize(palette=palette, dither=Image.Dither.NONE)
