"""WMS request parameters: version negotiation and checked GetMap parameters."""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass

from ...config.model import WMSConfig
from ...image.formats import FormatError, ImageOptions, parse_format
from ...srs import SRS, BBox, SRSError, get_srs
from ..client_input import echo
from .exceptions import WMSError, missing_parameters

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
        raise WMSError(f"invalid number '{echo(value)}' in {name.upper()}", "InvalidParameterValue", name) from None
    if not math.isfinite(number):
        raise WMSError(f"{name.upper()} must be a finite number, got '{echo(value)}'", "InvalidParameterValue", name)
    return number


def bbox_values(value: str | None) -> tuple[float, float, float, float]:
    """The four numbers of a BBOX parameter, min before max (axis order as sent)."""
    if not value:
        raise missing_parameters(["bbox"])
    parts = value.split(",")
    if len(parts) != 4:
        raise WMSError(f"invalid bbox {echo(value)}: expected minx,miny,maxx,maxy", "InvalidParameterValue", "bbox")
    box = [parse_number(p, "bbox") for p in parts]
    if box[0] >= box[2] or box[1] >= box[3]:
        raise WMSError(f"invalid bbox {echo(value)}", "InvalidParameterValue", "bbox")
    return (box[0], box[1], box[2], box[3])


def axis_order_xy(box: tuple[float, float, float, float], srs: SRS, version: str) -> BBox:
    """A bbox in x/y order: WMS 1.3.0 sends it in the axis order of the CRS."""
    if version == "1.3.0" and srs.is_axis_order_ne:
        return (box[1], box[0], box[3], box[2])
    return box


def parse_bbox(value: str | None, srs: SRS, version: str) -> BBox:
    return axis_order_xy(bbox_values(value), srs, version)


def parse_size(args: dict[str, str], conf: WMSConfig) -> tuple[int, int]:
    """WIDTH and HEIGHT; decimals are cut off (``256.0`` is 256), as MapProxy does."""
    missing = [name for name in ("width", "height") if not args.get(name)]
    if missing:
        raise missing_parameters(missing)
    size = []
    for name in ("width", "height"):
        value = args[name]
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number >= 1):
            raise WMSError(f"{name.upper()} must be a positive integer, got '{echo(value)}'", "InvalidParameterValue", name)
        size.append(int(number))
    if size[0] * size[1] > conf.max_output_pixels:
        # no INIMAGE/BLANK answer either: that image would be as large
        raise WMSError("image size too large", "InvalidParameterValue", "width", xml_only=True)
    return size[0], size[1]


def parse_srs(args: dict[str, str], version: str, conf: WMSConfig) -> tuple[SRS, str]:
    name = "crs" if version == "1.3.0" else "srs"
    code = args.get(name) or args.get("srs" if name == "crs" else "crs")
    if not code:
        raise missing_parameters([name])
    try:
        srs = get_srs(code)
    except SRSError:
        srs = None
    if srs is None or srs not in {get_srs(c) for c in conf.srs}:
        raise WMSError(f"unsupported {name}: {echo(code)}", "InvalidSRS", name)
    return srs, code


def parse_format_param(value: str | None, conf: WMSConfig, strict: bool) -> tuple[str, ImageOptions]:
    """The configured image format a FORMAT parameter names (by name or mime type)."""
    if not value:
        if strict:
            raise missing_parameters(["format"])
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
    raise WMSError(f"unsupported image format: {echo(value)}", "InvalidFormat", "format")


def parse_color(value: str | None) -> tuple[int, int, int]:
    if not value:
        return (255, 255, 255)
    text = value.strip()
    for prefix in ("0x", "0X", "#"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if len(text) != 6:
        raise WMSError(f"invalid BGCOLOR '{echo(value)}': expected 0xRRGGBB", "InvalidParameterValue", "bgcolor")
    try:
        return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
    except ValueError:
        raise WMSError(f"invalid BGCOLOR '{echo(value)}': expected 0xRRGGBB", "InvalidParameterValue", "bgcolor") from None


def parse_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def check_styles(value: str | None, strict: bool) -> None:
    if value is None:
        if strict:
            raise missing_parameters(["styles"])
        return
    for style in value.split(","):
        if style.strip().lower() not in DEFAULT_STYLES:
            raise WMSError(f"unsupported styles: {echo(value)}", "StyleNotDefined", "styles")


def layer_names(args: dict[str, str], key: str = "layers", limit: int | None = None) -> list[str]:
    """The distinct names in LAYERS (or QUERY_LAYERS) in the order first named: a
    layer named again is drawn (or asked) once, where it was first named, as in
    MapProxy. More than ``limit`` distinct names are refused (``wms.max_layers``):
    the work of a request stays bounded."""
    value = args.get(key)
    names = list(dict.fromkeys(n.strip() for n in (value or "").split(",") if n.strip()))
    if not names:
        raise missing_parameters([key])
    if limit is not None and len(names) > limit:
        raise WMSError(f"too many layers in {key.upper()}: {len(names)} (at most {limit})",
                       "InvalidParameterValue", key)
    return names


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
        """TIFF maps carry their georeference (GeoTIFF tags), as MapProxy's do."""
        return "tiff" in self.format_name.lower() or self.opts.format.mime in ("image/tiff", "image/geotiff")


def _missing_map_params(args: dict[str, str], version: str, strict: bool) -> list[str]:
    """The required GetMap parameters that are absent, in MapProxy's order
    (FORMAT and STYLES may be left out unless the service is strict)."""
    srs_key = "crs" if version == "1.3.0" else "srs"
    wanted = ["layers", "styles", srs_key, "bbox", "width", "height", "format"]
    optional = () if strict else ("styles", "format")
    present = {k for k, v in args.items() if v or k == "styles"}
    if "crs" in present or "srs" in present:
        present.add(srs_key)  # either name is taken, whatever the version
    return [k for k in wanted if k not in present and k not in optional]


def parse_map_params(args: dict[str, str], version: str, conf: WMSConfig,
                     known_layers: Container[str] | None = None) -> MapParams:
    """The checks in the order MapProxy makes them, so that a request with several
    faults gets the same exception: missing parameters, BBOX, STYLES, the image size,
    unknown layers, FORMAT, then SRS/CRS."""
    missing = _missing_map_params(args, version, conf.strict)
    if missing:
        raise missing_parameters(missing)
    raw_bbox = bbox_values(args["bbox"])
    check_styles(args.get("styles"), conf.strict)
    size = parse_size(args, conf)
    layers = layer_names(args, "layers", conf.max_layers)
    if known_layers is not None:
        for name in layers:
            if name not in known_layers:
                raise WMSError(f"unknown layer: {echo(name)}", "LayerNotDefined", "layers")
    format_name, opts = parse_format_param(args.get("format"), conf, conf.strict)
    srs, _ = parse_srs(args, version, conf)
    bbox = axis_order_xy(raw_bbox, srs, version)
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
    """Raise "missing parameters [...]" naming every absent (or empty) parameter of
    ``names``; a tuple names the spellings of one parameter (``('srs', 'crs')``)."""
    def present(name: str) -> bool:
        return bool(args.get(name)) or (name == "styles" and name in args)

    missing = [n if isinstance(n, str) else n[0] for n in names
               if not any(present(k) for k in ((n,) if isinstance(n, str) else n))]
    if missing:
        raise missing_parameters(missing)
