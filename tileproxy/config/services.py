"""``services``: which of tms, wmts, wms, kml and demo are on, and their options."""

from __future__ import annotations

import logging
import re
from typing import Any

from ..grid import GridError, normalize_origin
from ..srs import SRSError, get_srs
from .context import BuildContext
from .errors import ConfigError, join_path
from .grids import parse_bbox
from .image_options import image_options
from .model import (
    DEFAULT_WMS_FORMATS,
    SUPPORTED_WMS_VERSIONS,
    BBoxSRS,
    KMLConfig,
    MetricsConfig,
    OGCAPIConfig,
    ServiceMetadata,
    ServicesConfig,
    TMSConfig,
    WMSConfig,
    WMTSConfig,
)

log = logging.getLogger("tileproxy.config")


def build_services(ctx: BuildContext) -> ServicesConfig:
    raw = ctx.section("services")
    wms_md = (raw.get("wms") or {}).get("md") if isinstance(raw.get("wms"), dict) else None
    result = ServicesConfig(demo="demo" in raw)
    if "tms" in raw:
        tms = raw.get("tms") or {}
        try:
            origin = normalize_origin(tms["origin"]) if tms.get("origin") else None
        except GridError as ex:
            raise ConfigError(str(ex), "services.tms.origin") from None
        result.tms = TMSConfig(
            use_grid_names=bool(tms.get("use_grid_names", False)),
            origin=origin,
            md=ServiceMetadata.from_dict({**(wms_md or {}), **(tms.get("md") or {})}),
        )
    if "wmts" in raw:
        result.wmts = _wmts_config(raw.get("wmts") or {}, (raw.get("wms") or {}) if "wms" in raw else None)
    if "wms" in raw:
        result.wms = _wms_config(ctx, raw.get("wms") or {})
    if "kml" in raw:
        result.kml = KMLConfig(use_grid_names=bool((raw.get("kml") or {}).get("use_grid_names", False)))
    if "ogcapi" in raw:
        result.ogcapi = _ogcapi_config(ctx, raw.get("ogcapi") or {})
    if "metrics" in raw:
        result.metrics = _metrics_config(raw["metrics"], "services.metrics")
    elif ctx.g_metrics is not None:
        result.metrics = _metrics_config(ctx.g_metrics, "globals.metrics")
    return result


# first path segments of MapProxy's services and of the health checks
_TAKEN_PATHS = {"", "service", "ows", "wms", "tms", "tiles", "wmts", "kml", "demo", "ogcapi", "healthz", "readyz"}


def _metrics_config(conf: Any, path: str) -> MetricsConfig | None:
    """``metrics: true`` (or an empty ``metrics:`` under services), or a mapping with
    ``enabled``, ``path`` and ``token``."""
    if conf is None or conf is True:
        return MetricsConfig()
    if conf is False:
        return None
    if not isinstance(conf, dict) or not conf.get("enabled", True):
        return None
    url = str(conf.get("path") or "/metrics")
    if not url.startswith("/") or url.rstrip("/") == "" or url.split("/")[1] in _TAKEN_PATHS:
        raise ConfigError(f"'{url}' is not a free path: it must start with / and not with a service's "
                          f"or a health check's path", join_path(path, "path"))
    token = conf.get("token")
    return MetricsConfig(path=url, token=str(token) if token else None)


def _ogcapi_config(ctx: BuildContext, conf: dict) -> OGCAPIConfig:
    path = "services.ogcapi"
    result = OGCAPIConfig(
        enable_tiles=bool(conf.get("enable_tiles", True)),
        enable_maps=bool(conf.get("enable_maps", True)),
        attribution=(conf.get("attribution") or {}).get("text"),
        md=dict(conf.get("md") or {}),
        concurrent_layer_renderer=int(conf.get("concurrent_layer_renderer", 1) or 1),
    )
    if conf.get("map_srs"):
        result.map_srs = []
        for i, code in enumerate(conf["map_srs"]):
            try:
                result.map_srs.append(get_srs(str(code)).code)
            except SRSError as ex:
                raise ConfigError(str(ex), join_path(join_path(path, "map_srs"), i)) from None
    if conf.get("default_dataset_layers") is not None:
        result.default_dataset_layers = [str(name) for name in conf["default_dataset_layers"]]
    errors = str(conf.get("on_source_errors", "notify"))
    if errors not in ("notify", "raise"):
        raise ConfigError("expected notify or raise", join_path(path, "on_source_errors"))
    result.on_source_errors = errors
    mop = conf.get("max_output_pixels")
    if mop is not None:
        result.max_output_pixels = int(mop[0] * mop[1]) if isinstance(mop, list) else int(mop)
    for i, name in enumerate(conf.get("image_formats") or ["image/png", "image/jpeg"]):
        opts = image_options(ctx, str(name), {}, join_path(join_path(path, "image_formats"), i))
        result.image_formats[opts.format.mime] = opts
    return result


def _wmts_config(wmts: dict, wms: dict | None) -> WMTSConfig:
    path = "services.wmts"
    md = dict((wms or {}).get("md") or {})
    md.update(wmts.get("md") or {})
    tile_vars = ("{TileMatrix}", "{TileCol}", "{TileRow}")
    template = _restful_template(wmts, "restful_template", WMTSConfig.restful_template, tile_vars)
    fi_template = _restful_template(wmts, "restful_featureinfo_template", WMTSConfig.restful_fi_template,
                                    (*tile_vars, "{I}", "{J}"))
    formats: dict[str, str] = {}
    for i, entry in enumerate(wmts.get("featureinfo_formats") or []):
        if not isinstance(entry, dict) or not entry.get("suffix") or not entry.get("mimetype"):
            raise ConfigError("expected suffix and mimetype", join_path(join_path(path, "featureinfo_formats"), i))
        formats[str(entry["suffix"])] = str(entry["mimetype"])
    legend_version = None
    if wms is not None:
        versions = [str(v) for v in wms.get("versions") or ["1.3.0"]]
        legend_version = max(versions, key=lambda v: [int(p) for p in v.split(".") if p.isdigit()])
    return WMTSConfig(
        kvp=bool(wmts.get("kvp", True)),
        restful=bool(wmts.get("restful", True)),
        restful_template=template,
        restful_fi_template=fi_template,
        featureinfo_formats=formats,
        md=ServiceMetadata.from_dict(md),
        md_raw=md,
        legend_wms_version=legend_version,
    )


def _as_written(value: Any, path: str) -> tuple | None:
    """A bbox whose whole numbers stay whole (capabilities show them as configured)."""
    bbox = parse_bbox(value, path)
    if bbox is None or not isinstance(value, (list, tuple)):
        return bbox
    return tuple(v if type(v) is int else b for v, b in zip(value, bbox))
def _restful_template(wmts: dict, key: str, default: str, required: tuple[str, ...]) -> str:
    """A RESTful URL template; MapProxy's old ``{{Var}}`` spelling is read as ``{Var}``."""
    template = str(wmts.get(key) or default)
    if "{{" in template:
        log.warning("services.wmts.%s: double braces {{x}} are deprecated, use {x}", key)
        template = re.sub(r"\{\{(\w+)\}\}", r"{\1}", template)
    if not template.startswith("/"):
        template = "/" + template
    for var in required:
        if var not in template:
            raise ConfigError(f"{key} must contain {var}", f"services.wmts.{key}")
    return template


def _wms_config(ctx: BuildContext, wms: dict) -> WMSConfig:
    path = "services.wms"
    conf = WMSConfig(md=ServiceMetadata.from_dict(wms.get("md")), md_raw=dict(wms.get("md") or {}))
    if wms.get("versions"):
        versions = [str(v) for v in wms["versions"]]
        for i, v in enumerate(versions):
            if v not in SUPPORTED_WMS_VERSIONS:
                raise ConfigError(f"unsupported WMS version '{v}' (use {', '.join(SUPPORTED_WMS_VERSIONS)})",
                                  join_path(join_path(path, "versions"), i))
        conf.versions = sorted(set(versions), key=SUPPORTED_WMS_VERSIONS.index)
    if wms.get("srs"):
        conf.srs = []
        for i, code in enumerate(wms["srs"]):
            try:
                conf.srs.append(get_srs(code).code)
            except SRSError as ex:
                raise ConfigError(str(ex), join_path(join_path(path, "srs"), i)) from None
    for i, entry in enumerate(wms.get("bbox_srs") or []):
        epath = join_path(join_path(path, "bbox_srs"), i)
        code, bbox = (entry.get("srs"), _as_written(entry.get("bbox"), join_path(epath, "bbox"))) if isinstance(entry, dict) else (entry, None)
        try:
            conf.bbox_srs.append(BBoxSRS(get_srs(str(code)).code, bbox))
        except SRSError as ex:
            raise ConfigError(str(ex), epath) from None
    if isinstance(wms.get("inspire_md"), dict):
        conf.inspire_md = dict(wms["inspire_md"])
    for i, name in enumerate(wms.get("image_formats") or DEFAULT_WMS_FORMATS):
        conf.image_formats[str(name)] = image_options(ctx, str(name), {}, join_path(join_path(path, "image_formats"), i))
    mop = wms.get("max_output_pixels")
    if mop is not None:
        conf.max_output_pixels = int(mop[0] * mop[1]) if isinstance(mop, list) else int(mop)
    conf.strict = bool(wms.get("strict", False))
    errors = str(wms.get("on_source_errors", "notify"))
    if errors not in ("notify", "raise"):
        raise ConfigError("expected notify or raise", join_path(path, "on_source_errors"))
    conf.on_source_errors = errors
    conf.attribution = (wms.get("attribution") or {}).get("text")
    if wms.get("featureinfo_types"):
        conf.featureinfo_types = [str(t).lower() for t in wms["featureinfo_types"]]
    for kind, xslt in (wms.get("featureinfo_xslt") or {}).items():
        conf.featureinfo_xslt[str(kind)] = ctx.abspath(str(xslt))
    conf.concurrent_layer_renderer = int(wms.get("concurrent_layer_renderer", 1) or 1)
    max_layers = wms.get("max_layers")
    if max_layers is not None:
        if int(max_layers) < 1:
            raise ConfigError(f"expected at least 1, got {max_layers}", join_path(path, "max_layers"))
        conf.max_layers = int(max_layers)
    return conf


def check_dataset_layers(services: ServicesConfig, layers: list) -> None:
    """``services.ogcapi.default_dataset_layers`` must name layers."""
    names = services.ogcapi.default_dataset_layers if services.ogcapi else None
    if not names:
        return
    known: set[str] = set()

    def walk(confs: list) -> None:
        for conf in confs:
            if conf.name:
                known.add(conf.name)
            walk(conf.layers)

    walk(layers)
    for i, name in enumerate(names):
        if name not in known:
            raise ConfigError(f"unknown layer '{name}'", f"services.ogcapi.default_dataset_layers[{i}]")
