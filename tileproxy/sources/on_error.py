"""``on_error`` of a source: what to answer instead of an error, by upstream status.

Keys are HTTP status codes or ``other`` (every other status, timeouts, replies
that are not images). Each answer has a ``response`` colour (the tile to send),
``cache`` (store that tile) and ``authorize_stale`` (send the stale cached tile
instead, where there is one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from ..config.errors import ConfigError, join_path
from ..image.result import ImageResult
from .base import SourceError

if TYPE_CHECKING:
    from .base import Source

Color = tuple[int, int, int, int]
TRANSPARENT: Color = (255, 255, 255, 0)


@dataclass(frozen=True)
class ErrorAnswer:
    color: Color | None  # None: no stand-in tile, the error stands (stale tiles may still be served)
    cache: bool = False
    authorize_stale: bool = False

    def image(self, size: tuple[int, int]) -> Image.Image:
        """An opaque colour gives an RGB image, as in MapProxy (tiles and maps of it stay RGB)."""
        color = self.color or TRANSPARENT
        if color[3] == 255:
            return Image.new("RGB", size, color[:3])
        return Image.new("RGBA", size, color)


class ErrorPolicy:
    def __init__(self, by_status: dict[int, ErrorAnswer], other: ErrorAnswer | None = None):
        self.by_status = by_status
        self.other = other

    def answer_for(self, error: SourceError) -> ErrorAnswer | None:
        """The configured answer to ``error``, or None when the error stands."""
        if error.status is not None and error.status in self.by_status:
            return self.by_status[error.status]
        return self.other


def stand_in(source: Source, error: SourceError, size: tuple[int, int]) -> tuple[ImageResult, ErrorAnswer] | None:
    """The on_error tile of ``source`` for ``error`` (not cacheable unless ``cache: true``),
    or None when the error stands. For anything that calls sources directly."""
    policy = source.on_error
    answer = policy.answer_for(error) if policy is not None else None
    if answer is None or answer.color is None:
        return None
    return ImageResult(image=answer.image(size), cacheable=answer.cache), answer


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


def parse_on_error(conf: object, path: str) -> ErrorPolicy:
    """Build the policy of an ``on_error`` mapping; errors name the key path."""
    if not isinstance(conf, dict):
        raise ConfigError("expected a mapping of HTTP status codes or 'other' to answers", path)
    by_status: dict[int, ErrorAnswer] = {}
    other = None
    for key, entry in conf.items():
        epath = join_path(path, str(key))
        answer = _answer(entry, epath)
        if str(key).strip().lower() == "other":
            other = answer
            continue
        try:
            status = int(str(key).strip())
        except ValueError:
            status = 0
        if not 100 <= status <= 599 or isinstance(key, bool):
            raise ConfigError(f"expected an HTTP status code (100-599) or 'other', got {key!r}", epath)
        by_status[status] = answer
    return ErrorPolicy(by_status, other)


def _answer(entry: object, path: str) -> ErrorAnswer:
    if not isinstance(entry, dict):
        raise ConfigError("expected a mapping with response, cache and authorize_stale", path)
    color = parse_color(entry["response"], join_path(path, "response")) if entry.get("response") is not None else None
    for key in ("cache", "authorize_stale"):
        if key in entry and not isinstance(entry[key], bool):
            raise ConfigError(f"expected true or false, got {entry[key]!r}", join_path(path, key))
    return ErrorAnswer(color, cache=bool(entry.get("cache", False)), authorize_stale=bool(entry.get("authorize_stale", False)))
