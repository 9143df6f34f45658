"""``on_error`` of a source: what to answer instead of an error, by upstream status.

Keys are HTTP status codes or ``other`` (every other status, timeouts, replies
that are not images). Each answer has a ``response`` colour (the tile to send),
``cache`` (store that tile) and ``authorize_stale`` (send the stale cached tile
instead, where there is one). config/on_error.py reads it from the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from ..image.result import ImageResult
from .errors import SourceError

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

    def stand_in(self, error: SourceError, size: tuple[int, int]) -> tuple[ImageResult, ErrorAnswer] | None:
        """The tile for ``error`` (not cacheable unless ``cache: true``) and its answer,
        or None when the error stands."""
        answer = self.answer_for(error)
        if answer is None or answer.color is None:
            return None
        return ImageResult(image=answer.image(size), cacheable=answer.cache), answer
