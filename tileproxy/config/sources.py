"""``sources``: one builder per source ``type``, dispatched through ``SOURCE_BUILDERS``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..grid import GridError, normalize_origin
from ..sources.arcgis import ArcGISSource
from ..sources.base import Source
from ..sources.debug import DebugSource
from ..sources.mapserver import MapServerSource, find_mapserv
from ..sources.ogcapi_links import OGCAPIServer
from ..sources.ogcapi_maps import OGCAPIMapsSource
from ..sources.ogcapi_tiles import OGCAPITilesSource
from ..sources.tile import TileSource, check_template
from ..sources.wms import WMSSource
from .colors import parse_color
from .context import BuildContext
from .errors import ConfigError, join_path
from .grids import grid
from .image_options import resampling
from .on_error import parse_on_error
from .source_options import (
    check_layers,
    http_client,
    req_params,
    req_transparent,
    sld_file_as_body,
    source_limits,
    supported,
    wms_options,
)

# MapServer sources are WMS sources to MapProxy: their on_error counts too
ON_ERROR_SOURCE_TYPES = ("wms", "mapserver", "tile", "arcgis", "ogcapitiles", "ogcapimaps")

# the constructor arguments every source takes (limits, on_error): called by a
# builder after it has read the source's own keys, so that errors come in that order
Shared = Callable[[], dict[str, Any]]
SourceBuilder = Callable[[BuildContext, str, dict, str, Shared], Source]


def source(ctx: BuildContext, name: str) -> Source:
    """The source called ``name`` (a key of ``sources``), built once when first used."""
    if name not in ctx.sources:
        ctx.sources[name] = build_source(ctx, name, ctx.section("sources")[name], join_path("sources", name))
    return ctx.sources[name]


def build_source(ctx: BuildContext, name: str, conf: dict, path: str) -> Source:
    """The source ``name`` of type ``conf['type']``, with the limits all sources share."""
    kind = conf.get("type")
    builder = SOURCE_BUILDERS.get(kind)  # type: ignore[arg-type]
    if builder is None:
        raise ConfigError(f"source type '{kind}' is not supported yet", join_path(path, "type"))
    on_error = conf.get("on_error")
    if on_error is not None and kind not in ON_ERROR_SOURCE_TYPES:
        # MapProxy reads on_error of these source types only; elsewhere it is an unknown key
        ctx.warn(join_path(path, "on_error"), f"ignored: on_error is read for {', '.join(ON_ERROR_SOURCE_TYPES)} "
                 "sources only (as in MapProxy)")
        on_error = None

    def shared() -> dict[str, Any]:
        policy = parse_on_error(on_error, join_path(path, "on_error")) if on_error is not None else None
        return {"on_error": policy, "limits": source_limits(ctx, name, conf, path, kind)}

    return builder(ctx, name, conf, path, shared)


def _wms(ctx: BuildContext, name: str, conf: dict, path: str, shared: Shared) -> WMSSource:
    url, params, transparent = req_params(conf, path)
    check_layers(ctx, conf, path)
    sld_file_as_body(ctx, params, path)
    return WMSSource(name, url, params, http_client(ctx, conf, url, path), transparent=transparent,
                     transparent_param=req_transparent(conf), **wms_options(ctx, conf, path), **shared())


def _mapserver(ctx: BuildContext, name: str, conf: dict, path: str, shared: Shared) -> MapServerSource:
    _, params, transparent = req_params(conf, path, require_url=False)
    mapfile = next((params.pop(k) for k in list(params) if k.lower() == "map"), None)
    if not mapfile:
        raise ConfigError("missing required key 'map' (the mapfile)", join_path(path, "req"))
    check_layers(ctx, conf, path)
    own = conf.get("mapserver") or {}
    ms = {**ctx.g_mapserver, **own}
    key = join_path(path, "mapserver.binary") if "binary" in own else (
        "globals.mapserver.binary" if "binary" in ctx.g_mapserver else path)
    try:
        binary = find_mapserv(ms.get("binary") and ctx.abspath(ms["binary"]))
    except FileNotFoundError as ex:
        raise ConfigError(str(ex), key) from None
    working_dir = ctx.abspath(ms["working_dir"]) if ms.get("working_dir") else None
    if working_dir and not os.path.isdir(working_dir):
        raise ConfigError(f"directory {working_dir} does not exist", join_path(path, "mapserver.working_dir"))
    mapfile = os.path.normpath(os.path.join(working_dir or str(ctx.conf_dir), os.path.expanduser(mapfile)))
    return MapServerSource(
        name,
        params,
        binary=binary,
        mapfile=mapfile,
        working_dir=working_dir,
        timeout=ctx.client_timeout,
        transparent=transparent,
        **wms_options(ctx, conf, path),
        **shared(),
    )


def _arcgis(ctx: BuildContext, name: str, conf: dict, path: str, shared: Shared) -> ArcGISSource:
    url, params, transparent = req_params(conf, path)
    opts = conf.get("opts") or {}
    supported_srs, supported_formats = supported(ctx, conf, path)
    try:
        tolerance = float(opts.get("featureinfo_tolerance", 5))
    except (TypeError, ValueError):
        raise ConfigError("expected a number", join_path(path, "opts.featureinfo_tolerance")) from None
    return ArcGISSource(
        name,
        url,
        params,
        http_client(ctx, conf, url, path),
        transparent=transparent,
        supported_srs=supported_srs,
        supported_formats=supported_formats,
        resampling=resampling(ctx, conf.get("image") or {}, join_path(path, "image")),
        featureinfo=bool(opts.get("featureinfo", False)),
        fi_tolerance=tolerance,
        fi_return_geometries=bool(opts.get("featureinfo_return_geometries", False)),
        **shared(),
    )


def _tile(ctx: BuildContext, name: str, conf: dict, path: str, shared: Shared) -> TileSource:
    url = conf.get("url")
    if not url:
        raise ConfigError("missing required key 'url'", path)
    try:
        check_template(url)
    except ValueError as ex:
        raise ConfigError(str(ex), join_path(path, "url")) from None
    grid_name = conf.get("grid")
    if grid_name is None:
        ctx.warn(path, "no grid given, using GLOBAL_MERCATOR")
        grid_name = "GLOBAL_MERCATOR"
    tile_grid = grid(ctx, grid_name, join_path(path, "grid"))
    flip = False
    if "origin" in conf:
        try:
            origin = normalize_origin(conf["origin"])
        except GridError as ex:
            raise ConfigError(str(ex), join_path(path, "origin")) from None
        ctx.warn(join_path(path, "origin"), "deprecated: use a grid with that origin")
        flip = origin != tile_grid.origin
    return TileSource(
        name,
        url,
        tile_grid,
        http_client(ctx, conf, url, path, ("http", "https", "file")),
        transparent=bool(conf.get("transparent", False)),
        flip_y=flip,
        resampling=resampling(ctx, conf.get("image") or {}, join_path(path, "image")),
        max_tile_limit=ctx.globals.max_tile_limit,
        **shared(),
    )


def _ogcapi_server(ctx: BuildContext, conf: dict, path: str) -> OGCAPIServer:
    """The server of an OGC API source: ``landingpage_url`` and ``collection``."""
    url = conf.get("landingpage_url")
    if not url:
        raise ConfigError("missing required key 'landingpage_url'", path)
    collection = conf.get("collection")
    return OGCAPIServer(http_client(ctx, conf, str(url), path), str(url),
                        str(collection) if collection not in (None, "") else None)


def _ogcapitiles(ctx: BuildContext, name: str, conf: dict, path: str, shared: Shared) -> OGCAPITilesSource:
    matrix_set = conf.get("tile_matrix_set_id")
    return OGCAPITilesSource(name, _ogcapi_server(ctx, conf, path),
                             tile_matrix_set_id=str(matrix_set) if matrix_set else None,
                             transparent=bool(conf.get("transparent", False)), **shared())


def _ogcapimaps(ctx: BuildContext, name: str, conf: dict, path: str, shared: Shared) -> OGCAPIMapsSource:
    server = _ogcapi_server(ctx, conf, path)
    bgcolor = conf.get("bgcolor")
    return OGCAPIMapsSource(
        name,
        server,
        supported_srs=supported(ctx, conf, path)[0],
        transparent=bool(conf.get("transparent", False)),
        bgcolor=parse_color(bgcolor, join_path(path, "bgcolor")) if bgcolor is not None else None,
        resampling=resampling(ctx, conf.get("image") or {}, join_path(path, "image")),
        **shared(),
    )


def _mapnik(ctx: BuildContext, name: str, conf: dict, path: str, shared: Shared) -> Source:
    from ..sources.mapnik import MapnikMissing, MapnikSource  # mapnik itself is optional

    if not conf.get("mapfile"):
        raise ConfigError("missing required key 'mapfile'", path)
    mapfile = ctx.abspath(conf["mapfile"])
    if not os.path.isfile(mapfile):
        raise ConfigError(f"Mapnik XML {mapfile} does not exist", join_path(path, "mapfile"))
    layers = conf.get("layers")
    if isinstance(layers, (str, int, float)):
        layers = [lyr.strip() for lyr in str(layers).split(",") if lyr.strip()]
    elif isinstance(layers, list):
        layers = [str(lyr) for lyr in layers]
    try:
        return MapnikSource(
            name,
            mapfile,
            layers=layers,
            transparent=bool(conf.get("transparent", False)),
            scale_factor=conf.get("scale_factor"),
            multithreaded=bool(conf.get("multithreaded", False)),
            use_mapnik2=bool(conf.get("use_mapnik2", False)),
            limits=shared()["limits"],  # on_error: not read for Mapnik sources
        )
    except MapnikMissing as ex:
        raise ConfigError(str(ex), path) from None


def _debug(ctx: BuildContext, name: str, conf: dict, path: str, shared: Shared) -> DebugSource:
    return DebugSource(name, limits=shared()["limits"])  # on_error: not read for debug sources


SOURCE_BUILDERS: dict[str, SourceBuilder] = {
    "wms": _wms,
    "mapserver": _mapserver,
    "arcgis": _arcgis,
    "tile": _tile,
    "mapnik": _mapnik,
    "debug": _debug,
    "ogcapitiles": _ogcapitiles,
    "ogcapimaps": _ogcapimaps,
}
