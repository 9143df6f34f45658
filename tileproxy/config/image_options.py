"""Image formats and options: ``format``/``image`` of caches, sources and WMS, ``watermark``."""

from __future__ import annotations

from ..image.formats import FormatError, ImageFormat, ImageOptions, parse_format
from ..image.transform import RESAMPLING_METHODS
from ..image.watermark import Watermark
from .colors import parse_color
from .context import BuildContext
from .errors import ConfigError, join_path

IMAGE_MODES = ("RGB", "RGBA", "P", "I", "L")


def image_format(ctx: BuildContext, value: str, path: str, encodes: bool = True) -> ImageFormat:
    """A mime type or a name from ``globals.image.formats``. ``encodes``: images are
    encoded in it (tiles, maps), not only asked for from sources (``request_format``).

    A name without a preset (``png8a``) is asked from sources as written and stored and
    served as its family (image/png), as MapProxy does; a type no encoder knows (``image/foo``), which MapProxy fails on when it must
    encode, is encoded as PNG. Either way a warning says so."""
    custom = (ctx.g_image.get("formats") or {}).get(value)
    if custom and custom.get("format"):
        value = custom["format"]
    try:
        fmt = parse_format(value)
    except FormatError as ex:
        raise ConfigError(str(ex), path) from None
    if not encodes:
        return fmt  # asked for as written; whatever comes back is decoded
    if fmt.is_image and not fmt.label and not _encodable(fmt):
        fmt = ImageFormat("image/png", label=fmt.mime)
        ctx.warn(path, f"no encoder for '{value}'; served as {fmt.label}, encoded as image/png")
    elif fmt.source_name:
        ctx.warn(path, f"no preset for format '{value}'; asked from sources as {fmt.source_name}, "
                       f"stored and served as {fmt.mime}")
    return fmt


def _encodable(fmt: ImageFormat) -> bool:
    """Can Pillow write images in ``fmt`` (image/webp yes, image/foo no)?"""
    if fmt.mime == "mixed" or fmt.pil_name:
        return True
    from PIL import Image

    Image.init()
    return fmt.mime.split("/")[-1].upper() in Image.SAVE


def resampling(ctx: BuildContext, image_conf: dict, path: str) -> str:
    """``resampling_method`` of the ``image`` block at ``path``, else the global one, else
    bicubic. Unknown names are errors that name the key, the global one's too."""
    default = _checked_method(ctx.g_image.get("resampling_method"), "globals.image.resampling_method")
    own = _checked_method(image_conf.get("resampling_method"), join_path(path, "resampling_method"))
    return own or default or "bicubic"


def _checked_method(value: object, path: str) -> str | None:
    if value is None or value in RESAMPLING_METHODS:
        return value  # type: ignore[return-value]
    raise ConfigError(f"unknown resampling method {value!r} (known: {', '.join(RESAMPLING_METHODS)})", path)


def image_options(ctx: BuildContext, fmt_name: str, image_conf: dict, path: str) -> ImageOptions:
    """A format's options: ``globals.image.formats`` beneath the ``image`` block at ``path``."""
    custom = dict((ctx.g_image.get("formats") or {}).get(fmt_name) or {})
    merged = {**custom, **image_conf}
    fmt_path = join_path(path, "image.format" if image_conf.get("format") else "format")
    fmt = image_format(ctx, merged.get("format") or fmt_name, fmt_path)
    image_path = join_path(path, "image")
    colors = merged.get("colors")
    if isinstance(colors, float):
        colors = int(colors)
    if colors is not None and not 0 <= colors <= 256:
        raise ConfigError(f"expected 0 to 256 colours, got {colors}", join_path(image_path, "colors"))
    if colors is None and fmt.mime == "image/png" and not fmt.paletted:
        colors = 256 if ctx.g_image.get("paletted", True) and merged.get("mode") not in ("RGB", "RGBA", "I") else None
    enc = merged.get("encoding_options") or {}
    mode = merged.get("mode")
    if mode is not None and mode not in IMAGE_MODES:
        raise ConfigError(f"unknown image mode '{mode}'", join_path(image_path, "mode"))
    quality = enc.get("jpeg_quality", ctx.g_image.get("jpeg_quality", 90))
    if not 1 <= quality <= 100:
        raise ConfigError(f"expected a JPEG quality from 1 to 100, got {quality}",
                          join_path(image_path, "encoding_options.jpeg_quality") if "jpeg_quality" in enc
                          else "globals.image.jpeg_quality")
    method_from = image_path if "resampling_method" in image_conf else join_path("globals.image.formats", fmt_name)
    return ImageOptions(
        format=fmt,
        mode=mode,
        colors=colors or None,
        transparent=merged.get("transparent"),
        resampling=resampling(ctx, merged, method_from),
        jpeg_quality=int(quality),
        quantizer=enc.get("quantizer"),
        tiff_compression=enc.get("tiff_compression"),
        opacity=merged.get("opacity"),
    )


def watermark(conf: dict | None, path: str) -> Watermark | None:
    """A cache's ``watermark`` block; None without text."""
    if not conf or not conf.get("text"):
        return None
    color = parse_color(conf.get("color", [128, 128, 128]), join_path(path, "color"))
    spacing = conf.get("spacing")
    if spacing not in (None, "wide"):
        raise ConfigError("expected 'wide' or nothing", join_path(path, "spacing"))
    return Watermark(
        text=str(conf["text"]),
        opacity=int(conf.get("opacity", 3)),
        font_size=int(conf.get("font_size", 9)),
        color=color[:3],
        wide=spacing == "wide",
    )
