"""WMS request parameters: version negotiation and checked GetMap parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...config.model import WMSConfig
from ...image.formats import FormatError, ImageOptions, parse_format
from ...srs import SRS, BBox, SRSError, get_srs
from .exceptions import WMSError

VERSIONS = ("1.0.0", "1.1.0", "1.1.1", "1.3.0")

REQUESTS = {
    "getmap": "map",
    "map": "map",
    "getcapabilities": "capabilities",
    "capabilities": "capabilities",
    "getfeatureinfo": "featureinfo",
    "feature_info": "featureinfo",
    "getlegendgraphic": "legendgraphic",
}

DEFAULT_STYLES = ("", "default", "inspire_common:default")


def _version_key(value: str) -> tuple[int, ...] | None:
    try:
        parts = tuple(int(p) for p in value.strip().split("."))
    except ValueError:
        return None
    return parts if len(parts) == 3 else None


def negotiate_version(requested: str | None, supported: list[str]) -> str:
    """MapProxy's rule: none -> highest; below the lowest -> lowest; above the
    highest -> highest; a version in between that is not offered -> the next lower."""
    ordered = sorted(supported, key=lambda v: _version_key(v) or (0,))
    key = _version_key(requested) if requested else None
    if key is None:
        return ordered[-1]
    keys = [_version_key(v) for v in ordered]
    if key <= keys[0]:  # type: ignore[operator]
        return ordered[0]
    if key >= keys[-1]:  # type: ignore[operator]
        return ordered[-1]
    lower = [v for v, k in zip(ordered, keys) if k <= key]  # type: ignore[operator]
    return lower[-1]


def exception_mode(args: dict[str, str]) -> str:
    """'xml', 'inimage' or 'blank' from the EXCEPTIONS parameter."""
    value = (args.get("exceptions") or "").lower()
    if "image" in value:
        return "inimage"
    if "blank" in value:
        return "blank"
    return "xml"


def parse_number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise WMSError(f"invalid number '{value}' in {name.upper()}", "InvalidParameterValue", name) from None
    if not math.isfinite(number):
        raise WMSError(f"{name.upper()} must be a finite number, got '{value}'", "InvalidParameterValue", name)
    return number


def parse_bbox(value: str | None, srs: SRS, version: str) -> BBox:
    if not value:
        raise WMSError("missing parameter BBOX", "MissingParameterValue", "bbox")
    parts = value.split(",")
    if len(parts) != 4:
        raise WMSError(f"invalid BBOX '{value}': expected minx,miny,maxx,maxy", "InvalidParameterValue", "bbox")
    box = [parse_number(p, "bbox") for p in parts]
    if version == "1.3.0" and srs.is_axis_order_ne:
        box = [box[1], box[0], box[3], box[2]]
    if box[0] >= box[2] or box[1] >= box[3]:
        raise WMSError(f"invalid BBOX '{value}': min must be smaller than max", "InvalidParameterValue", "bbox")
    return (box[0], box[1], box[2], box[3])


def parse_size(args: dict[str, str], conf: WMSConfig) -> tuple[int, int]:
    size = []
    for name in ("width", "height"):
        value = args.get(name)
        if not value:
            raise WMSError(f"missing parameter {name.upper()}", "MissingParameterValue", name)
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number <= 0:
            raise WMSError(f"{name.upper()} must be a positive integer, got '{value}'", "InvalidParameterValue", name)
        size.append(number)
    if size[0] * size[1] > conf.max_output_pixels:
        raise WMSError(f"image size {size[0]}x{size[1]} is too large (at most {conf.max_output_pixels} pixels)",
                       "InvalidParameterValue", "width")
    return size[0], size[1]


def parse_srs(args: dict[str, str], version: str, conf: WMSConfig) -> tuple[SRS, str]:
    name = "crs" if version == "1.3.0" else "srs"
    code = args.get(name) or args.get("srs" if name == "crs" else "crs")
    if not code:
        raise WMSError(f"missing parameter {name.upper()}", "MissingParameterValue", name)
    try:
        srs = get_srs(code)
    except SRSError:
        raise WMSError(f"unknown {name.upper()} '{code}'", "InvalidSRS", name) from None
    if srs not in {get_srs(c) for c in conf.srs}:
        raise WMSError(f"unsupported {name.upper()} '{code}'", "InvalidSRS", name)
    return srs, code


def parse_format_param(value: str | None, conf: WMSConfig, strict: bool) -> tuple[str, ImageOptions]:
    """The configured image format a FORMAT parameter names (by name or mime type)."""
    if not value:
        if strict:
            raise WMSError("missing parameter FORMAT", "MissingParameterValue", "format")
        value = "image/png"
    if value in conf.image_formats:
        return value, conf.image_formats[value]
    try:
        wanted = parse_format(value)
    except FormatError:
        wanted = None
    for name, opts in conf.image_formats.items():
        if wanted is not None and opts.format == wanted:
            return name, opts
    raise WMSError(f"unsupported image format '{value}'", "InvalidFormat", "format")


def parse_color(value: str | None) -> tuple[int, int, int]:
    if not value:
        return (255, 255, 255)
    text = value.strip()
    for prefix in ("0x", "0X", "#"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if len(text) != 6:
        raise WMSError(f"invalid BGCOLOR '{value}': expected 0xRRGGBB", "InvalidParameterValue", "bgcolor")
    try:
        return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
    except ValueError:
        raise WMSError(f"invalid BGCOLOR '{value}': expected 0xRRGGBB", "InvalidParameterValue", "bgcolor") from None


def parse_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def check_styles(value: str | None, strict: bool) -> None:
    if value is None:
        if strict:
            raise WMSError("missing parameter STYLES", "MissingParameterValue", "styles")
        return
    for style in value.split(","):
        if style.strip().lower() not in DEFAULT_STYLES:
            raise WMSError(f"unsupported style '{style}'", "StyleNotDefined", "styles")


def layer_names(args: dict[str, str], key: str = "layers") -> list[str]:
    value = args.get(key)
    names = [n for n in (value or "").split(",") if n.strip()]
    if not names:
        raise WMSError(f"missing parameter {key.upper()}", "MissingParameterValue", key)
    return [n.strip() for n in names]


@dataclass
class MapParams:
    """A checked GetMap request (bbox in x/y order, whatever the version)."""

    layers: list[str]
    bbox: BBox
    srs: SRS
    size: tuple[int, int]
    format_name: str
    opts: ImageOptions
    transparent: bool
    bgcolor: tuple[int, int, int]
    tiled: bool = False

    @property
    def is_geotiff(self) -> bool:
        return "geotiff" in self.format_name.lower()


def parse_map_params(args: dict[str, str], version: str, conf: WMSConfig, layers_key: str = "layers") -> MapParams:
    format_name, opts = parse_format_param(args.get("format"), conf, conf.strict)
    size = parse_size(args, conf)
    srs, _ = parse_srs(args, version, conf)
    bbox = parse_bbox(args.get("bbox"), srs, version)
    layers = layer_names(args, layers_key)
    if layers_key == "layers":
        check_styles(args.get("styles"), conf.strict)
    return MapParams(
        layers=layers,
        bbox=bbox,
        srs=srs,
        size=size,
        format_name=format_name,
        opts=opts,
        transparent=parse_bool(args.get("transparent")),
        bgcolor=parse_color(args.get("bgcolor")),
        tiled=parse_bool(args.get("tiled")),
    )


def require_params(args: dict[str, str], names: list[str | tuple[str, ...]]) -> None:
    """Raise "missing parameters [...]" (MapProxy's wording) naming every absent
    parameter; a tuple names spellings of one parameter (``('srs', 'crs')``)."""
    missing = [n if isinstance(n, str) else n[0] for n in names
               if not any(k in args for k in ((n,) if isinstance(n, str) else n))]
    if missing:
        raise WMSError(f"missing parameters {missing}", "MissingParameterValue", missing[0])
