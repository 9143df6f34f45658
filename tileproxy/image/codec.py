"""Encode and decode images; recognise encoded images without decoding them."""

from __future__ import annotations

import io

from PIL import Image

from .errors import ImageDataError
from .formats import ImageFormat, ImageOptions
from .png_tiles import decode_plain
from .png_zlib import paletted_png

Image.MAX_IMAGE_PIXELS = 200_000_000


def sniff_mime(data: bytes) -> str | None:
    """The image type from magic bytes, or None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_image_bytes(data: bytes) -> str:
    """Cheap completeness check of encoded image bytes (no pixel decoding).

    Returns the mime type; raises ImageDataError for non-images and for PNG/JPEG
    data that was cut off."""
    mime = sniff_mime(data)
    if mime is None:
        head = data[:60].decode("latin-1", "replace").strip()
        raise ImageDataError(f"not an image (starts with {head!r})")
    if mime == "image/png" and not data.rstrip(b"\x00")[-12:].startswith(b"\x00\x00\x00\x00IEND"):
        raise ImageDataError("truncated PNG image")
    if mime == "image/jpeg" and b"\xff\xd9" not in data[-16:]:
        raise ImageDataError("truncated JPEG image")
    return mime


def decode(data: bytes) -> Image.Image:
    img = decode_plain(data)
    if img is not None:
        return img
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as ex:  # Pillow raises many types for bad data
        raise ImageDataError(f"cannot decode image: {ex}") from None
    return img


def peek_size(data: bytes) -> tuple[int, int]:
    """Width and height from the image header, without decoding the pixels."""
    try:
        return Image.open(io.BytesIO(data)).size
    except Exception as ex:  # Pillow raises many types for bad data
        raise ImageDataError(f"cannot read image header: {ex}") from None


def is_single_color(img: Image.Image) -> tuple | None:
    """The colour of an image that has only one, as an RGB(A) tuple; else None."""
    colors = img.getcolors(1)
    if not colors:
        return None
    color = colors[0][1]
    if img.mode == "P":
        return img.convert("RGBA").getpixel((0, 0))
    if isinstance(color, int):
        return (color, color, color)
    return color


def _prepare(img: Image.Image, opts: ImageOptions) -> Image.Image:
    fmt = opts.format
    mime = fmt.mime
    if mime == "mixed":
        mime = "image/png" if has_transparency(img) else "image/jpeg"
    if mime == "image/jpeg":
        return img.convert("RGB") if img.mode != "RGB" else img
    if opts.mode and opts.mode != img.mode and opts.mode != "P":
        img = img.convert(opts.mode)
    if opts.transparent is False and img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGB")
    if img.mode not in ("RGB", "RGBA", "L", "LA", "P", "I", "I;16", "1"):
        img = img.convert("RGBA")
    colors = opts.colors
    if fmt.paletted and not colors:
        colors = 256
    if opts.mode == "P" and not colors:
        colors = 256
    if colors and mime in ("image/png", "image/gif") and img.mode in ("RGB", "RGBA"):
        img = quantize(img, colors, opts.quantizer)
    return img


def quantize(img: Image.Image, colors: int, quantizer: str | None = None) -> Image.Image:
    if img.mode == "RGBA":
        alpha = img.getchannel("A")
        if alpha.getextrema() == (255, 255):
            img = img.convert("RGB")
        else:
            return img.quantize(colors, method=Image.Quantize.FASTOCTREE)
    # fastoctree unless mediancut is asked for: MapProxy's default quantizer
    method = Image.Quantize.MEDIANCUT if quantizer == "mediancut" else Image.Quantize.FASTOCTREE
    return img.quantize(colors, method=method)


def has_transparency(img: Image.Image) -> bool:
    if img.mode in ("RGBA", "LA"):
        return img.getchannel("A").getextrema()[0] < 255
    if img.mode == "P":
        return "transparency" in img.info
    return False


def encode(img: Image.Image, opts: ImageOptions) -> tuple[bytes, str]:
    """Encode ``img`` as ``opts`` say; returns the bytes and their mime type."""
    img = _prepare(img, opts)
    mime = opts.format.mime
    if mime == "mixed":
        mime = "image/jpeg" if img.mode == "RGB" else "image/png"
    buf = io.BytesIO()
    if mime == "image/jpeg":
        img.save(buf, "JPEG", quality=opts.jpeg_quality)
    elif mime == "image/png":
        # paletted: zlib's run-length strategy, much faster than the default and
        # about as small on quantized maps; zlib-ng does it when it is there
        data = paletted_png(img)
        if data is not None:
            return data, mime
        extra = {"compress_type": Image.RLE} if img.mode == "P" else {}
        img.save(buf, "PNG", compress_level=6, **extra)
    elif mime == "image/tiff":
        compression = {"tiff_lzw": "tiff_lzw", "jpeg": "jpeg", "raw": None}.get(opts.tiff_compression or "raw")
        img.save(buf, "TIFF", compression=compression)
    elif mime == "image/gif":
        img.save(buf, "GIF")
    else:
        fmt = ImageFormat(mime).pil_name or mime.split("/")[-1].upper()
        img.save(buf, fmt)
    return buf.getvalue(), mime
