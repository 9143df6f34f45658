"""The parameters of an OGC API map (OGC 20-058): the CRS, the area (bbox, center
or subset, each in its own CRS), the size and the scale, combined as the
standard's tables 5, 6 and 9 say."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...extent import transform_bbox
from ...srs import SRS, BBox, get_srs
from .crs import geographic, is_earth, parse_crs
from .errors import invalid

if TYPE_CHECKING:
    from ...layers import WMSLayer

DEFAULT_SIZE = 1024  # the longer side of a map whose size is not asked for
OGC_PIXEL_MM = 0.28

_X_AXES = {"lon", "long", "longitude", "x", "e", "easting"}
_Y_AXES = {"lat", "latitude", "y", "n", "northing"}
_SUBSET_PART = re.compile(r"^(\w+)\(([^)]+)\)$")


@dataclass(frozen=True)
class SizeLimits:
    max_pixels: int | None

    @property
    def max_side(self) -> int | None:
        """A side may be ten times the square's that holds ``max_pixels``."""
        return int(self.max_pixels**0.5) * 10 if self.max_pixels else None

    def check(self, width: int, height: int) -> None:
        side = self.max_side
        if side and width > side:
            raise invalid(f"width={width} exceeds max_width={side}")
        if side and height > side:
            raise invalid(f"height={height} exceeds max_height={side}")
        if self.max_pixels and width * height > self.max_pixels:
            raise invalid(f"number of pixels {width * height} exceed max_pixels={self.max_pixels}")


@dataclass(frozen=True)
class MapArea:
    bbox: BBox
    size: tuple[int, int]
    srs: SRS


def _positive_int(args: dict[str, str], name: str) -> int | None:
    value = args.get(name)
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"{name} is not an integer") from None
    if number <= 0:
        raise invalid(f"{name} must be strictly positive")
    return number


def width_height(args: dict[str, str]) -> tuple[int | None, int | None]:
    return _positive_int(args, "width"), _positive_int(args, "height")


def _positive_float(args: dict[str, str], name: str, default: float | None = None) -> float | None:
    value = args.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not number > 0 or math.isinf(number):
        raise invalid(f"{name} must be a strictly positive numeric value")
    return number


def display_res(args: dict[str, str]) -> float:
    """The client's pixel size in metres (``mm-per-pixel``, 0.28 mm by default)."""
    return _positive_float(args, "mm-per-pixel", OGC_PIXEL_MM) / 1000.0  # type: ignore[operator]


def scale_denominator(args: dict[str, str]) -> float | None:
    return _positive_float(args, "scale-denominator")


def metres_to_units(metres: float, srs: SRS) -> float:
    """A length on the ground in the CRS's units (degrees of the body's equator)."""
    if srs.is_latlong:
        return metres / (srs.crs.ellipsoid.semi_major_metre * 2 * math.pi / 360)
    return metres


def scale_to_res(scale: float, pixel_m: float, srs: SRS) -> float:
    """The resolution (CRS units per pixel) of a scale denominator."""
    return metres_to_units(scale * pixel_m, srs)


def _area_crs(args: dict[str, str], name: str, layer: WMSLayer) -> SRS:
    """The CRS a bbox, center or subset is given in: the ``*-crs`` parameter, else
    lon/lat (CRS84 on Earth, the body's geographic CRS elsewhere)."""
    text = args.get(name)
    if text:
        try:
            return parse_crs(text)
        except ValueError:
            raise invalid(f"{name} is not a valid CRS") from None
    srs = layer.map_extent.srs
    return get_srs("OGC:CRS84") if is_earth(srs) else geographic(srs)


def _xy(srs: SRS) -> SRS:
    """CRS84 is EPSG:4326 in x/y order, which is how tileproxy handles every CRS."""
    return get_srs("EPSG:4326") if srs.code in ("OGC:CRS84", "CRS:84") else srs


def _srs_text(srs: SRS) -> str:
    return f"SRS {srs.code} ('{srs.code}')"


def _reprojected(what: str, bbox: BBox, src: SRS, dst: SRS) -> BBox:
    try:
        out = transform_bbox(_xy(src), _xy(dst), bbox)
    except Exception as ex:  # pyproj refuses some pairs (Earth and Moon) in several ways
        raise invalid(f"{what} cannot be reprojected from {_srs_text(src)} to {_srs_text(dst)}: {ex}") from None
    if not all(math.isfinite(v) for v in out):
        raise invalid(f"{what} cannot be reprojected from {_srs_text(src)} to {_srs_text(dst)}")
    return out


def _numbers(text: str, counts: tuple[int, ...], message: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise invalid(message) from None
    if len(values) not in counts or not all(math.isfinite(v) for v in values):
        raise invalid(message)
    return values


def parse_subset(values: list[str]) -> list[float]:
    """``subset=lon(a:b),lat(c:d)`` (one parameter or two) as a bbox."""
    if len(values) == 1:
        values = values[0].split(",")
    if len(values) != 2:
        raise invalid("subset must include 2 axis")
    bbox: list[float | None] = [None, None, None, None]
    for raw in values:
        part = raw.lower()
        match = _SUBSET_PART.match(part)
        if match is None:
            raise invalid(f"Invalid subset part {part}")
        axis, interval = match.groups()
        ends = interval.split(":")
        if len(ends) != 2:
            raise invalid(f"Only intervals are supported in subset part {part}")
        if axis in _X_AXES:
            low, high = 0, 2
        elif axis in _Y_AXES:
            low, high = 1, 3
        else:
            raise invalid(f"Unsupported axis name {axis} in subset part {part}")
        if bbox[low] is not None:
            raise invalid(f"Axis name {axis} has been specified in multiple subset parts")
        try:
            bbox[low], bbox[high] = float(ends[0]), float(ends[1])
        except ValueError:
            raise invalid(f"Non numeric value found in range of subset part {part}") from None
    return bbox  # type: ignore[return-value]


def request_crs(args: dict[str, str], map_srs: list[SRS]) -> SRS:
    text = args.get("crs")
    if not text:
        return map_srs[0] if map_srs else get_srs("EPSG:4326")
    try:
        srs = parse_crs(text)
    except ValueError:
        raise invalid("crs is not a valid CRS") from None
    if srs not in map_srs:
        raise invalid("crs is incompatible with this layer")
    return srs


def _aspect(bbox: BBox) -> float:
    return (bbox[2] - bbox[0]) / (bbox[3] - bbox[1])


def _default_size(aspect: float) -> tuple[int, int]:
    if aspect >= 1:
        return DEFAULT_SIZE, max(1, round(DEFAULT_SIZE / aspect))
    return max(1, round(DEFAULT_SIZE * aspect)), DEFAULT_SIZE


def _fill_size(width: int | None, height: int | None, aspect: float) -> tuple[int, int]:
    """The size with a missing side taken from the aspect ratio."""
    if width and height:
        return width, height
    if width:
        return width, max(1, round(width / aspect))
    if height:
        return max(1, round(height * aspect)), height
    return _default_size(aspect)


def _around(center: tuple[float, float], size: tuple[int, int], res: float) -> BBox:
    half_w, half_h = size[0] * res / 2, size[1] * res / 2
    return (center[0] - half_w, center[1] - half_h, center[0] + half_w, center[1] + half_h)


class MapParams:
    """Reads a map request; ``area()`` gives its bbox, size and CRS."""

    def __init__(self, args: dict[str, str], subsets: list[str], layer: WMSLayer, map_srs: list[SRS],
                 limits: SizeLimits):
        self.layer = layer
        self.limits = limits
        self.width, self.height = width_height(args)
        self.pixel_m = display_res(args)
        bbox_text, center_text = args.get("bbox"), args.get("center")
        if (bbox_text or center_text) and subsets:
            raise invalid("(bbox or center) and subset are mutually exclusive")
        self.srs = request_crs(args, map_srs)
        self.bbox: BBox | None = None
        self.center: tuple[float, float] | None = None
        self.both = bool(bbox_text and center_text)  # an error, once each is found well-formed
        if subsets:
            src = _area_crs(args, "subset-crs", layer)
            box = parse_subset(subsets)
            if box[2] <= box[0] or box[3] <= box[1]:
                raise invalid("Invalid range in subset: first value must be less than second one")
            self.bbox = _reprojected("subset", tuple(box), src, self.srs)  # type: ignore[arg-type]
        elif bbox_text:
            src = _area_crs(args, "bbox-crs", layer)
            values = _numbers(bbox_text, (4, 6), "bbox must be a list of 4 or 6 numeric values")
            if len(values) == 6:  # minz and maxz are left out
                values = [values[0], values[1], values[3], values[4]]
            if values[2] <= values[0] or values[3] <= values[1]:
                raise invalid("bbox[2] must be greater than bbox[0] and bbox[3] must be greater than bbox[1]")
            if src.is_axis_order_ne:
                values = [values[1], values[0], values[3], values[2]]
            self.bbox = _reprojected("bbox", tuple(values), src, self.srs)  # type: ignore[arg-type]
        elif center_text:
            src = _area_crs(args, "center-crs", layer)
            x, y = _numbers(center_text, (2,), "center must be a list of 2 numeric values")
            if src.is_axis_order_ne:
                x, y = y, x
            try:
                point = _xy(src).transform_to(_xy(self.srs), [(x, y)])[0]
            except Exception as ex:
                raise invalid(f"center cannot be reprojected from {_srs_text(src)} to {_srs_text(self.srs)}: "
                              f"{ex}") from None
            if not all(math.isfinite(v) for v in point):
                raise invalid(f"center cannot be reprojected from {_srs_text(src)} to {_srs_text(self.srs)}")
            self.center = point
        self.scale = scale_denominator(args)

    def _whole(self) -> BBox:
        """The layer's extent in the map's CRS."""
        return _reprojected("the layer extent", self.layer.map_extent.bbox, self.layer.map_extent.srs, self.srs)

    def _res(self) -> float:
        """The resolution asked for, else the layer's nominal one."""
        scale = self.scale or self.layer.nominal_scale
        if not scale:
            raise invalid(f"collection {self.layer.name or 'of the dataset'} has no nominal scale: "
                          "give bbox or scale-denominator")
        return scale_to_res(scale, self.pixel_m, self.srs)

    def area(self) -> MapArea:
        width, height, bbox, center, scale = self.width, self.height, self.bbox, self.center, self.scale
        if not (bbox or center or width or height or scale):  # table 5: the whole layer
            bbox = self._whole()
            size = _default_size(_aspect(bbox))
        elif self.both:  # table 6
            raise invalid("bbox and center are mutually exclusive")
        elif bbox and scale and (width or height):
            raise invalid("bbox and scale-denominator and (width/height) are mutually exclusive")
        elif bbox:  # table 9, from here on
            if scale and not (width or height):
                res = self._res()
                size = (max(1, round((bbox[2] - bbox[0]) / res)), max(1, round((bbox[3] - bbox[1]) / res)))
            else:
                size = _fill_size(width, height, _aspect(bbox))
        else:
            whole = self._whole()
            if center is None:
                center = ((whole[0] + whole[2]) / 2, (whole[1] + whole[3]) / 2)
            size = _fill_size(width, height, _aspect(whole))
            bbox = _around(center, size, self._res())
        self.limits.check(*size)
        return MapArea(tuple(bbox), size, self.srs)  # type: ignore[arg-type]

