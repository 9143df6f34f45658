"""Colours as the configuration writes them (on_error responses, watermarks,
``transparent_color``)."""

from __future__ import annotations

from ..sources.on_error import TRANSPARENT, Color
from .errors import ConfigError


def parse_color(value: object, path: str) -> Color:
    """``transparent``, ``#rrggbb[aa]`` / ``rrggbb[aa]`` or a list of 3 or 4 numbers 0-255."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "transparent":
            return TRANSPARENT
        hexpart = text.removeprefix("#")
        if len(hexpart) in (6, 8):
            try:
                parts = [int(hexpart[i : i + 2], 16) for i in range(0, len(hexpart), 2)]
            except ValueError:
                parts = []
            if parts:
                return (parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else 255)
        raise ConfigError(f"expected a colour such as '#ff0000', 'ff000080', [255, 0, 0] or transparent, got {value!r}", path)
    if isinstance(value, (list, tuple)) and len(value) in (3, 4):
        if all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
            r, g, b = value[:3]
            return (r, g, b, value[3] if len(value) == 4 else 255)
    raise ConfigError(f"expected a colour as three or four numbers 0-255, '#rrggbb[aa]' or transparent, got {value!r}", path)
