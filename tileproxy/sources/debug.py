"""A source that draws the request's bbox and resolution: for testing grids."""

from __future__ import annotations

from PIL import Image, ImageDraw

from ..image.result import ImageResult
from .base import MapQuery, Source
from .limits import NO_LIMITS, SourceLimits


class DebugSource(Source):
    # each tile is drawn on its own (its own frame and text), as MapProxy draws it
    supports_meta_tiles = False

    def __init__(self, name: str = "debug", limits: SourceLimits = NO_LIMITS):
        super().__init__(name, transparent=True, limits=limits)

    def draw(self, query: MapQuery) -> ImageResult:
        w, h = query.size
        img = Image.new("RGBA", (w, h), (255, 255, 255, 0))
        draw = ImageDraw.Draw(img)
        draw.rectangle((0, 0, w - 1, h - 1), outline=(255, 0, 0, 255))
        res = query.res[0]
        lines = [
            f"res: {res:.10g}",
            f"srs: {query.srs.code}",
            "bbox:",
            *(f"  {v:.6f}" for v in query.bbox),
        ]
        y = 4
        for line in lines:
            draw.text((5, y), line, fill=(0, 0, 0, 255))
            y += 12
        return ImageResult(image=img)
