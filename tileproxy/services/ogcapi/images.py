"""The image side of maps and tiles: the format asked for, the background colour
and transparency."""

from __future__ import annotations

from .context import JPEG, PNG, Context
from .errors import invalid, not_acceptable

# CSS colour keywords (https://www.w3.org/wiki/CSS/Properties/color/keywords)
COLOR_NAMES = {
    "black": (0, 0, 0), "silver": (192, 192, 192), "gray": (128, 128, 128), "white": (255, 255, 255),
    "maroon": (128, 0, 0), "red": (255, 0, 0), "purple": (128, 0, 128), "fuchsia": (255, 0, 255),
    "green": (0, 128, 0), "lime": (0, 255, 0), "olive": (128, 128, 0), "yellow": (255, 255, 0),
    "navy": (0, 0, 128), "blue": (0, 0, 255), "teal": (0, 128, 128), "aqua": (0, 255, 255),
}
_SUFFIXES = {"png": PNG, "jpg": JPEG, "jpeg": JPEG}
_F_VALUES = {"png": PNG, "jpeg": JPEG}


def image_format(ctx: Context, last_segment: str) -> str:
    """The mime type from the path's suffix (``map.png``, ``0.jpg``), else ``f``,
    else the Accept header; PNG by default. Anything else is 406."""
    return asked_format(last_segment, ctx.args.get("f"), ctx.accept)


def asked_format(last_segment: str, f: str | None, accept: str) -> str:
    """``image_format`` of a path's last segment, ``f`` and the Accept header."""
    if "." in last_segment:
        suffix = last_segment.split(".", 1)[1]
        if suffix in _SUFFIXES:
            return _SUFFIXES[suffix]
        raise not_acceptable(suffix)
    if f:
        if f in _F_VALUES:
            return _F_VALUES[f]
        raise not_acceptable(f)
    if PNG in accept:
        return PNG
    if JPEG in accept:
        return JPEG
    if accept and "*/*" not in accept and "image/*" not in accept:
        raise not_acceptable(accept)
    return PNG


def _hex(text: str) -> list[int]:
    try:
        return [int(text[i:i + 2], 16) for i in range(0, len(text), 2)]
    except ValueError:
        raise invalid("invalid value for bgcolor") from None


def background(args: dict[str, str]) -> tuple[tuple[int, int, int], int | None] | None:
    """``bgcolor``: 0xRRGGBB, 0xAARRGGBB or a CSS colour name, as (rgb, alpha or
    None); None when not given."""
    text = (args.get("bgcolor") or "").lower()
    if not text:
        return None
    if text.startswith("0x") and len(text) in (8, 10):
        values = _hex(text[2:])
        if any(v < 0 for v in values) or not text[2:].isalnum():
            raise invalid("invalid value for bgcolor")
        if len(values) == 4:
            return (values[1], values[2], values[3]), values[0]
        return (values[0], values[1], values[2]), None
    if text in COLOR_NAMES:
        return COLOR_NAMES[text], None
    raise invalid("invalid value for bgcolor")


def transparency(args: dict[str, str], color_given: bool) -> bool | None:
    """``transparent=true|false``; a background colour alone makes the map transparent
    outside the data; None when neither is given."""
    value = args.get("transparent")
    if value is None:
        return True if color_given else None
    if value == "true":
        return True
    if value == "false":
        return False
    raise invalid("invalid value for transparent")


def canvas(args: dict[str, str], mime: str) -> tuple[tuple[int, int, int, int], bool]:
    """The background (RGBA) and whether the map is transparent. A map that does not
    say is transparent where there is no data (but a JPEG, which cannot be)."""
    color = background(args)
    transparent = transparency(args, color is not None)
    if transparent is None:
        transparent = True
    if mime == JPEG:
        transparent = False
    rgb, alpha = color if color is not None else ((255, 255, 255), None)
    if alpha is None:
        alpha = 0 if transparent else 255
    return (*rgb, alpha), transparent
