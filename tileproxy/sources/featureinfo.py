"""What a feature info request asks a source, and what the source answers.

Shared by the WMS-like sources (wms, mapserver, arcgis identify) and by the
services that query them (WMS GetFeatureInfo, WMTS GetFeatureInfo)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..srs import SRS, BBox


@dataclass(frozen=True)
class FeatureInfoQuery:
    """A point of a map: ``pos`` is the pixel (column, row) as the client gave it,
    int or float, counted from the top left corner of ``bbox`` drawn at ``size``."""

    bbox: BBox
    size: tuple[int, int]
    srs: SRS
    pos: tuple[float, float]
    info_format: str | None = None  # None: the source answers in its default format
    feature_count: int | None = None
    format: str | None = None  # the client's map FORMAT, if it sent one

    @property
    def coord(self) -> tuple[float, float]:
        """The queried point in ``srs``."""
        minx, miny, maxx, maxy = self.bbox
        return (minx + self.pos[0] * (maxx - minx) / self.size[0],
                maxy - self.pos[1] * (maxy - miny) / self.size[1])

    def in_srs(self, srs: SRS) -> FeatureInfoQuery:
        """The same point asked of a map in ``srs``: the bbox transformed, the width
        kept and the height following the new aspect ratio (square pixels), the
        pixel position rounded to whole pixels."""
        if srs == self.srs:
            return self
        bbox = self.srs.transform_bbox_to(srs, self.bbox)
        width = self.size[0]
        height = max(1, int((bbox[3] - bbox[1]) / (bbox[2] - bbox[0]) * width))
        ((x, y),) = self.srs.transform_to(srs, [self.coord])
        col = (x - bbox[0]) / (bbox[2] - bbox[0]) * width
        row = (bbox[3] - y) / (bbox[3] - bbox[1]) * height
        return dataclasses.replace(self, bbox=bbox, size=(width, height), srs=srs, pos=(round(col), round(row)))

    @property
    def map_format(self) -> str:
        """FORMAT for the source: ``image/`` and the subtype of the client's FORMAT
        (``PNG`` -> ``image/PNG``, ``image/png; mode=8bit`` -> ``image/png``), else image/png."""
        if not self.format:
            return "image/png"
        subtype = self.format.split(";", 1)[0].rpartition("/")[2].strip()
        return "image/" + subtype if subtype else "image/png"


@dataclass
class FeatureInfoDoc:
    """A source's answer; ``mime`` is the type it is read as (see ``info_kind``)."""

    data: bytes
    mime: str


def number(value: float) -> str:
    """A coordinate as feature info requests carry it: always with a decimal point."""
    return repr(float(value))


def pixel(value: float) -> str:
    """A pixel position as the client gave it: ``10`` stays ``10``, ``10.5`` stays ``10.5``."""
    return str(value)
