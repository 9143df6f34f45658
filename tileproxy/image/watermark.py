"""Text drawn onto images: cache watermarks, attribution lines and error messages."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType support
        return ImageFont.load_default()


@dataclass(frozen=True)
class Watermark:
    """A cache ``watermark``: semi-transparent text burned into each tile.

    Tiles in even rows carry the text in the middle, tiles in odd rows across
    their top and bottom edges; with ``wide`` spacing only every other tile
    (a checkerboard) gets the text, in the middle."""

    text: str
    opacity: int = 3
    font_size: int = 9
    color: tuple[int, int, int] = (128, 128, 128)
    wide: bool = False

    def placement(self, x: int, y: int) -> str | None:
        if self.wide:
            return "c" if x % 2 != y % 2 else None
        return "c" if y % 2 == 0 else "b"

    def apply(self, img: Image.Image, x: int, y: int) -> Image.Image:
        """``img`` with the watermark for tile column ``x``, row ``y``."""
        where = self.placement(x, y)
        if where is None:
            return img
        base = img.convert("RGBA")
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        fnt = font(self.font_size)
        w, h = base.size
        left, top, right, bottom = draw.textbbox((0, 0), self.text, font=fnt)
        tw, th = right - left, bottom - top
        fill = (*self.color, max(0, min(255, self.opacity)))
        tx = (w - tw) // 2 - left
        rows = [(h - th) // 2 - top] if where == "c" else [-th // 2 - top, h - th // 2 - top]
        for ty in rows:
            draw.text((tx, ty), self.text, font=fnt, fill=fill)
        out = Image.alpha_composite(base, layer)
        return out.convert("RGB") if img.mode == "RGB" else out  # an opaque tile stays opaque


def draw_text_line(img: Image.Image, text: str, color: tuple[int, int, int, int] = (0, 0, 0, 255),
                   where: str = "lr", size: int = 10, halo: bool = True) -> Image.Image:
    """``img`` (as RGBA) with one line of ``text`` in a corner: 'lr' lower right, 'ul' upper left."""
    img = img.convert("RGBA")
    draw = ImageDraw.Draw(img)
    fnt = font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=fnt)
    tw, th = right - left, bottom - top
    w, h = img.size
    if where == "lr":
        pos = (w - tw - 5 - left, h - th - 5 - top)
    else:
        pos = (5 - left, 5 - top)
    if halo:
        draw.rectangle((pos[0] + left - 2, pos[1] + top - 2, pos[0] + right + 2, pos[1] + bottom + 2), fill=(255, 255, 255, 160))
    draw.text(pos, text, font=fnt, fill=color)
    return img


def message_image(size: tuple[int, int], text: str, transparent: bool = True,
                  bgcolor: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """An image with ``text`` wrapped from the upper left: for INIMAGE exceptions."""
    img = Image.new("RGBA", size, (*bgcolor, 0 if transparent else 255))
    draw = ImageDraw.Draw(img)
    fnt = font(12)
    words, lines, line = text.split(), [], ""
    max_w = max(20, size[0] - 10)
    for word in words:
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=fnt) > max_w:
            lines.append(line)
            line = word
        else:
            line = trial
    if line:
        lines.append(line)
    y = 5
    for text_line in lines:
        draw.text((5, y), text_line, font=fnt, fill=(0, 0, 0, 255))
        y += 15
    return img
