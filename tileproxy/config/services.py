"""``services``: which of tms, wmts, wms, kml and demo are on, and their options."""

from __future__ import annotations

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
    ServiceMetadata,
    ServicesConfig,
    TMSConfig,
    WMSConfig,
    WMTSConfig,
)


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
        result.wmts = _wmts_config(raw.get("wmts") or {}, wms_md)
    if "wms" in raw:
        result.wms = _wms_config(ctx, raw.get("wms") or {})
    if "kml" in raw:
        result.kml = dict(raw.get("kml") or {})
    return result


def _wmts_config(wmts: dict, wms_md: dict | None) -> WMTSConfig:
    template = wmts.get("restful_template", WMTSConfig.restful_template)
    if not template.startswith("/"):
        template = "/" + template
    for var in ("{TileMatrix}", "{TileCol}", "{TileRow}"):
        if var not in template:
            raise ConfigError(f"restful_template must contain {var}", "services.wmts.restful_template")
    return WMTSConfig(
        kvp=bool(wmts.get("kvp", True)),
        restful=bool(wmts.get("restful", True)),
        restful_template=template,
        md=ServiceMetadata.from_dict(wmts.get("md") or wms_md),
    )


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
        code, bbox = (entry.get("srs"), parse_bbox(entry.get("bbox"), join_path(epath, "bbox"))) if isinstance(entry, dict) else (entry, None)
        try:
            conf.bbox_srs.append(BBoxSRS(get_srs(str(code)).code, bbox))
        except SRSError as ex:
            raise ConfigError(str(ex), epath) from None
    if not conf.bbox_srs:
        conf.bbox_srs = [BBoxSRS(code) for code in conf.srs]
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
    conf.max_tile_limit = int(ctx.g_cache.get("max_tile_limit", 500))
    conf.concurrent_layer_renderer = int(wms.get("concurrent_layer_renderer", 1) or 1)
    return conf
