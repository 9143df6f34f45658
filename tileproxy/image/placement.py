"""Maps drawn for only the part of a request inside a limit (a coverage, an
extent) and put back in place, as MapProxy asks its sources and caches."""

from __future__ import annotations

from PIL import Image

from ..srs import BBox

Part = tuple[tuple[int, int], tuple[int, int], BBox]  # pixel size, top-left offset, bbox


def contains(outer: BBox, inner: BBox) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def overlaps(a: BBox, b: BBox) -> bool:
    """True when the two bboxes share area."""
    return max(a[0], b[0]) < min(a[2], b[2]) and max(a[1], b[1]) < min(a[3], b[3])


def intersection(a: BBox, b: BBox) -> BBox | None:
    """The area the two bboxes share; None when they share none."""
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] < box[2] and box[1] < box[3] else None


def part_within(bbox: BBox, size: tuple[int, int], limit: BBox) -> Part:
    """The part of a map of ``bbox`` at ``size`` pixels that lies inside ``limit``:
    its pixel size, its offset from the top-left corner, and its bbox. Edges of
    ``limit`` inside the map replace the map's edges with their values as given
    (whole numbers stay whole) and are cut at whole pixels (truncated), so that the
    request sent for the part is MapProxy's to the digit."""
    w, h = size
    left, top, right, bottom = 0, 0, w, h
    sub = list(bbox)
    if limit[0] > bbox[0]:
        sub[0], left = limit[0], int((limit[0] - bbox[0]) * w / (bbox[2] - bbox[0]))
    if limit[1] > bbox[1]:
        sub[1], bottom = limit[1], int((bbox[3] - limit[1]) * h / (bbox[3] - bbox[1]))
    if limit[2] < bbox[2]:
        sub[2], right = limit[2], int((limit[2] - bbox[0]) * w / (bbox[2] - bbox[0]))
    if limit[3] < bbox[3]:
        sub[3], top = limit[3], int((bbox[3] - limit[3]) * h / (bbox[3] - bbox[1]))
    return (abs(right - left), abs(bottom - top)), (left, top), tuple(sub)  # type: ignore[return-value]


def placed(img: Image.Image, size: tuple[int, int], offset: tuple[int, int],
           background: tuple[int, int, int, int] = (255, 255, 255, 0)) -> Image.Image:
    """``img`` pasted at ``offset`` on a canvas of ``size``, transparent unless
    ``background`` says otherwise; the part's own pixels (alpha too) are kept."""
    canvas = Image.new("RGBA", size, background)
    canvas.paste(img if img.mode == "RGBA" else img.convert("RGBA"), offset)
    return canvas
