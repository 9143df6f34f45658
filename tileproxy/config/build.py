"""Turn a validated mapproxy.yaml dict into runtime objects, once."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..freshness import parse_refresh_before
from ..grid import PREDEFINED_GRIDS, GridError, TileGrid, build_grid
from ..image.formats import FormatError, ImageFormat, ImageOptions, parse_format
from ..image.watermark import Watermark
from ..sources.arcgis import ArcGISSource
from ..sources.band_merge import CHANNELS, BandMergeSource, BandOp
from ..sources.base import Source
from ..sources.cache import cache_map_source
from ..sources.debug import DebugSource
from ..sources.http import HTTPClient, HTTPOptions
from ..sources.limits import SourceLimits, limited
from ..sources.mapserver import MapServerSource, find_mapserv
from ..sources.on_error import parse_color, parse_on_error
from ..sources.tile import TileSource, check_template
from ..sources.wms import WMSSource, WMSSourceOptions
from ..srs import SRSError, get_srs
from ..stores.registry import StoreContext, build_store
from ..tiles import REFRESH_MODES, TileManager, TileManagerOptions
from .dimensions import Dimension, expand_interval
from .errors import ConfigError, join_path
from .loader import load_config_files, origin_of
from .model import (
    DEFAULT_WMS_FORMATS,
    BBoxSRS,
    CacheConfig,
    GlobalsConfig,
    LayerConfig,
    ProxyConfig,
    ServiceMetadata,
    ServicesConfig,
    TMSConfig,
    WMSConfig,
    WMTSConfig,
)
from .schema import validate
from .spec import MAPPROXY_YAML

log = logging.getLogger("tileproxy.config")

SUPPORTED_WMS_VERSIONS = ("1.0.0", "1.1.0", "1.1.1", "1.3.0")
ON_ERROR_SOURCE_TYPES = ("wms", "tile", "arcgis")


def load_proxy_config(path: str | Path) -> ProxyConfig:
    """Load, validate and build a mapproxy.yaml; errors name the file and key path."""
    path = Path(path)
    origins: dict[str, Path] = {}
    raw, files = load_config_files(path, origins=origins)
    try:
        warnings = validate(raw, MAPPROXY_YAML)
        config = _Builder(raw, path.resolve().parent).build(files)
    except ConfigError as ex:
        raise ex.with_file(_shown_file(origin_of(ex.path, origins, path), path)) from None
    for warning in warnings:
        log.warning("%s: %s", _shown_file(origin_of(warning, origins, path), path), warning)
    config.warnings = warnings
    return config


def _shown_file(file: Path, main: Path) -> str:
    """The main file as the user named it, base files with their full path."""
    return str(main) if file == main.resolve() else str(file)


def _res_limits(conf: dict) -> tuple[float | None, float | None]:
    from ..grid import WEBMERC_MIN_RES  # noqa: F401  (scale maths lives with grids)

    min_res, max_res = conf.get("min_res"), conf.get("max_res")
    # scale denominators at 0.28 mm per pixel; min_res is the coarse end, so it
    # comes from the large denominator (max_scale)
    if conf.get("max_scale") is not None:
        min_res = conf["max_scale"] * 0.00028
    if conf.get("min_scale") is not None:
        max_res = conf["min_scale"] * 0.00028
    return min_res, max_res


class _Builder:
    def __init__(self, raw: dict, conf_dir: Path):
        self.raw = raw
        self.conf_dir = conf_dir
        g = raw.get("globals") or {}
        self.g_cache = g.get("cache") or {}
        self.g_image = g.get("image") or {}
        self.g_http = g.get("http") or {}
        self.g_grid = g.get("grid") or {}
        self.g_tiles = g.get("tiles") or {}
        self.grids: dict[str, TileGrid] = {}
        self.grid_srs_as_written: dict[str, str] = {}
        self.sources: dict[str, Source] = {}
        self.caches: dict[str, CacheConfig] = {}
        self._building_caches: list[str] = []

    def abspath(self, value: str) -> str:
        return os.path.normpath(os.path.join(self.conf_dir, os.path.expanduser(value)))

    # -- top level ---------------------------------------------------------

    def build(self, files: list[Path]) -> ProxyConfig:
        globals_conf = GlobalsConfig(
            base_dir=self.abspath(self.g_cache.get("base_dir", "./cache_data")),
            lock_dir=self.abspath(self.g_cache.get("lock_dir", "./cache_data/tile_locks")),
            expires_hours=float(self.g_tiles.get("expires_hours", 72)),
            access_control_allow_origin=str(self.g_http.get("access_control_allow_origin", "*")),
        )
        self.globals = globals_conf
        for name in (self.raw.get("grids") or {}):
            self.grid(name, join_path("grids", name))
        for name, conf in (self.raw.get("sources") or {}).items():
            self.sources[name] = self.source(name, conf, join_path("sources", name))
        for name in (self.raw.get("caches") or {}):
            self.cache(name, join_path("caches", name))
        layers = self.layers()
        services = self.services()
        return ProxyConfig(
            files=files,
            warnings=[],
            globals=globals_conf,
            grids=self.grids,
            sources=self.sources,
            caches=self.caches,
            layers=layers,
            services=services,
        )

    # -- grids -------------------------------------------------------------

    def grid(self, name: str, path: str, _chain: tuple[str, ...] = ()) -> TileGrid:
        if name in self.grids:
            return self.grids[name]
        user = (self.raw.get("grids") or {}).get(name)
        if user is None:
            if name in PREDEFINED_GRIDS:
                grid = build_grid(name=name, **PREDEFINED_GRIDS[name])
                self.grids[name] = grid
                self.grid_srs_as_written[name] = PREDEFINED_GRIDS[name]["srs"]
                return grid
            raise ConfigError(f"unknown grid '{name}'", path)
        conf = self._grid_conf(name, _chain)
        gpath = join_path("grids", name)
        try:
            grid = build_grid(
                name=conf.get("name", name),
                srs=str(conf.get("srs", "EPSG:900913")),
                bbox=_bbox(conf.get("bbox"), join_path(gpath, "bbox")),
                bbox_srs=conf.get("bbox_srs"),
                tile_size=tuple(conf.get("tile_size") or self.g_grid.get("tile_size") or (256, 256)),
                res=conf.get("res"),
                res_factor=conf.get("res_factor", 2.0),
                num_levels=conf.get("num_levels"),
                min_res=conf.get("min_res"),
                max_res=conf.get("max_res"),
                threshold_res=conf.get("threshold_res"),
                stretch_factor=conf.get("stretch_factor", self.g_image.get("stretch_factor", 1.15)),
                max_shrink_factor=conf.get("max_shrink_factor", self.g_image.get("max_shrink_factor", 4.0)),
                origin=conf.get("origin", "sw"),
            )
        except (GridError, SRSError) as ex:
            raise ConfigError(str(ex), gpath) from None
        if "origin" not in conf:
            log.debug("grid %s has no origin, using sw (MapProxy's default)", name)
        self.grids[name] = grid
        self.grid_srs_as_written[name] = str(conf.get("srs", "EPSG:900913"))
        return grid

    def _grid_conf(self, name: str, chain: tuple[str, ...]) -> dict:
        """A grid's options with its ``base`` grid's options beneath."""
        if name in chain:
            raise ConfigError(f"grids inherit from each other in a loop: {' -> '.join(chain + (name,))}", join_path("grids", name))
        user = (self.raw.get("grids") or {}).get(name)
        if user is None:
            if name in PREDEFINED_GRIDS:
                return {k: list(v) if isinstance(v, tuple) else v for k, v in PREDEFINED_GRIDS[name].items()}
            raise ConfigError(f"unknown base grid '{name}'", join_path(join_path("grids", chain[-1]), "base"))
        conf = dict(user or {})
        base = conf.pop("base", None)
        if base:
            inherited = self._grid_conf(base, chain + (name,))
            inherited.pop("name", None)
            conf = {**inherited, **conf}
        return conf

    # -- sources -----------------------------------------------------------

    def http_options(self, conf: dict, path: str = "") -> HTTPOptions:
        own = conf.get("http") or {}
        merged = {**self.g_http, **own}
        timeout = merged.get("client_timeout", 60)
        if not timeout > 0:
            where = join_path(path, "http") if "client_timeout" in own else "globals.http"
            raise ConfigError(f"expected a positive number of seconds, got {timeout}", join_path(where, "client_timeout"))
        return HTTPOptions(
            client_timeout=float(merged.get("client_timeout", 60)),
            headers={str(k): str(v) for k, v in (merged.get("headers") or {}).items()},
            ssl_no_cert_checks=bool(merged.get("ssl_no_cert_checks", False)),
            ssl_ca_certs=self.abspath(merged["ssl_ca_certs"]) if merged.get("ssl_ca_certs") else None,
            hide_error_details=bool(merged.get("hide_error_details", True)),
            manage_cookies=bool(merged.get("manage_cookies", False)),
            method=str(merged.get("method", "AUTO")).upper(),
        )

    def source(self, name: str, conf: dict, path: str) -> Source:
        kind = conf.get("type")
        builder = getattr(self, f"_source_{kind}", None)
        if builder is None:
            raise ConfigError(f"source type '{kind}' is not supported yet", join_path(path, "type"))
        if "on_error" in conf and kind not in ON_ERROR_SOURCE_TYPES:
            raise ConfigError(f"on_error is only supported for {', '.join(ON_ERROR_SOURCE_TYPES)} sources", join_path(path, "on_error"))
        source = builder(name, conf, path)
        if conf.get("on_error") is not None:
            source.on_error = parse_on_error(conf["on_error"], join_path(path, "on_error"))
        return limited(source, self._source_limits(name, conf, path, kind))

    def _source_limits(self, name: str, conf: dict, path: str, kind: str) -> SourceLimits:
        """The options all sources share (see sources/limits.py)."""
        min_res, max_res = _res_limits(conf)
        image = conf.get("image") or {}
        limits = SourceLimits(
            min_res=min_res,
            max_res=max_res,
            seed_only=bool(conf.get("seed_only", False)),
            opacity=image.get("opacity"),
            tolerance=float(image.get("transparent_color_tolerance", self.g_image.get("transparent_color_tolerance", 5))),
        )
        if limits.opacity is not None and not 0 <= limits.opacity <= 1:
            raise ConfigError("expected a number from 0 to 1", join_path(path, "image.opacity"))
        if image.get("transparent_color") is not None:
            color = parse_color(image["transparent_color"], join_path(path, "image.transparent_color"))
            limits.transparent_color = color[:3]
        if conf.get("coverage"):
            # imported here: shapely costs ~16 MB per worker that needs no coverage
            from ..coverage import CoverageError, load_coverage

            try:
                limits.coverage = load_coverage(conf["coverage"], str(self.conf_dir), join_path(path, "coverage"))
            except CoverageError as ex:
                raise ConfigError(str(ex), ex.path) from None
        concurrent = conf.get("concurrent_requests", self.g_http.get("concurrent_requests", 0)) or 0
        if concurrent and kind in ("mapserver", "mapnik"):  # HTTP sources cap in their client
            from ..locks import Semaphore

            limits.semaphore = Semaphore(self.globals.lock_dir, f"{kind}-{name}", int(concurrent),
                                         timeout=float(self.g_http.get("client_timeout", 60)))
        return limits

    def _client(self, conf: dict, url: str, path: str, schemes: tuple[str, ...] = ("http", "https")) -> HTTPClient:
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in schemes:
            shown = url.rpartition("@")[2] if "@" in url.partition("?")[0] else url  # no credentials in messages
            raise ConfigError(f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}, got {shown!r}",
                              join_path(path, "url") if "url" in conf else join_path(join_path(path, "req"), "url"))
        concurrent = conf.get("concurrent_requests", self.g_http.get("concurrent_requests", 0)) or 0
        if concurrent < 0:
            where = join_path(path, "concurrent_requests") if "concurrent_requests" in conf else "globals.http.concurrent_requests"
            raise ConfigError(f"expected 0 (no limit) or more, got {concurrent}", where)
        return HTTPClient(self.http_options(conf, path), base_url=url, concurrent_requests=concurrent,
                          lock_dir=self.globals.lock_dir)

    def _req(self, conf: dict, path: str, require_url: bool = True) -> tuple[str, dict[str, str], bool]:
        """``req`` of a WMS-like source: the URL, the other request parameters, transparency."""
        req = dict(conf.get("req") or {})
        url = req.pop("url", None)
        if require_url and not url:
            raise ConfigError("missing required key 'url'", join_path(path, "req"))
        transparent = req.pop("transparent", False)
        if isinstance(transparent, str):
            transparent = transparent.lower() == "true"
        transparent = bool(transparent or conf.get("transparent", False))
        return url or "", {str(k): _param(v) for k, v in req.items()}, transparent

    def _wms_options(self, conf: dict, path: str) -> dict[str, Any]:
        """Keyword arguments of a WMSSource besides its URL, parameters and client."""
        version = str((conf.get("wms_opts") or {}).get("version", "1.1.1"))
        if version not in SUPPORTED_WMS_VERSIONS:
            raise ConfigError(f"unsupported WMS version '{version}' (use one of {', '.join(SUPPORTED_WMS_VERSIONS)})", join_path(path, "wms_opts.version"))
        supported_srs, supported_formats = self._supported(conf, path)
        wms_opts = conf.get("wms_opts") or {}
        legendurl = wms_opts.get("legendurl")
        if legendurl and not str(legendurl).startswith(("http://", "https://", "file://")):
            raise ConfigError("expected an http(s):// or file:// URL", join_path(path, "wms_opts.legendurl"))
        return {
            "version": version,
            "supported_srs": supported_srs,
            "supported_formats": supported_formats,
            "resampling": self._resampling(conf.get("image") or {}),
            "options": WMSSourceOptions(
                map=bool(wms_opts.get("map", True)),
                featureinfo=bool(wms_opts.get("featureinfo", False)),
                featureinfo_format=wms_opts.get("featureinfo_format"),
                featureinfo_xslt=self.abspath(wms_opts["featureinfo_xslt"]) if wms_opts.get("featureinfo_xslt") else None,
                featureinfo_out_format=wms_opts.get("featureinfo_out_format"),
                legendgraphic=bool(wms_opts.get("legendgraphic", False)),
                legendurl=legendurl,
                min_res=_res_limits(conf)[0],
                max_res=_res_limits(conf)[1],
                forward_req_params=tuple(str(p).lower() for p in conf.get("forward_req_params") or []),
            ),
        }

    def _source_wms(self, name: str, conf: dict, path: str) -> WMSSource:
        url, params, transparent = self._req(conf, path)
        if "layers" not in {k.lower() for k in params}:
            raise ConfigError("missing required key 'layers'", join_path(path, "req"))
        return WMSSource(name, url, params, self._client(conf, url, path), transparent=transparent, **self._wms_options(conf, path))

    def _source_mapserver(self, name: str, conf: dict, path: str) -> MapServerSource:
        _, params, transparent = self._req(conf, path, require_url=False)
        mapfile = next((params.pop(k) for k in list(params) if k.lower() == "map"), None)
        if not mapfile:
            raise ConfigError("missing required key 'map' (the mapfile)", join_path(path, "req"))
        if "layers" not in {k.lower() for k in params}:
            raise ConfigError("missing required key 'layers'", join_path(path, "req"))
        g_ms = (self.raw.get("globals") or {}).get("mapserver") or {}
        ms = {**g_ms, **(conf.get("mapserver") or {})}
        key = join_path(path, "mapserver.binary") if "binary" in (conf.get("mapserver") or {}) else (
            "globals.mapserver.binary" if "binary" in g_ms else path)
        try:
            binary = find_mapserv(ms.get("binary") and self.abspath(ms["binary"]))
        except FileNotFoundError as ex:
            raise ConfigError(str(ex), key) from None
        working_dir = self.abspath(ms["working_dir"]) if ms.get("working_dir") else None
        if working_dir and not os.path.isdir(working_dir):
            raise ConfigError(f"directory {working_dir} does not exist", join_path(path, "mapserver.working_dir"))
        mapfile = os.path.normpath(os.path.join(working_dir or str(self.conf_dir), os.path.expanduser(mapfile)))
        return MapServerSource(
            name,
            params,
            binary=binary,
            mapfile=mapfile,
            working_dir=working_dir,
            timeout=float(self.g_http.get("client_timeout", 60)),
            transparent=transparent,
            **self._wms_options(conf, path),
        )

    def _supported(self, conf: dict, path: str) -> tuple[list, list[ImageFormat]]:
        """``supported_srs`` and ``supported_formats`` of a WMS-like source."""
        try:
            supported_srs = [get_srs(s) for s in conf.get("supported_srs") or []]
        except SRSError as ex:
            raise ConfigError(str(ex), join_path(path, "supported_srs")) from None
        formats = [self._format(f, join_path(path, "supported_formats")) for f in conf.get("supported_formats") or []]
        return supported_srs, formats

    def _source_arcgis(self, name: str, conf: dict, path: str) -> ArcGISSource:
        url, params, transparent = self._req(conf, path)
        opts = conf.get("opts") or {}
        supported_srs, supported_formats = self._supported(conf, path)
        try:
            tolerance = float(opts.get("featureinfo_tolerance", 5))
        except (TypeError, ValueError):
            raise ConfigError("expected a number", join_path(path, "opts.featureinfo_tolerance")) from None
        return ArcGISSource(
            name,
            url,
            params,
            self._client(conf, url, path),
            transparent=transparent,
            supported_srs=supported_srs,
            supported_formats=supported_formats,
            resampling=self._resampling(conf.get("image") or {}),
            featureinfo=bool(opts.get("featureinfo", False)),
            fi_tolerance=tolerance,
            fi_return_geometries=bool(opts.get("featureinfo_return_geometries", False)),
        )

    def _source_tile(self, name: str, conf: dict, path: str) -> TileSource:
        url = conf.get("url")
        if not url:
            raise ConfigError("missing required key 'url'", path)
        try:
            check_template(url)
        except ValueError as ex:
            raise ConfigError(str(ex), join_path(path, "url")) from None
        grid_name = conf.get("grid")
        if grid_name is None:
            log.warning("%s: no grid given, using GLOBAL_MERCATOR", path)
            grid_name = "GLOBAL_MERCATOR"
        grid = self.grid(grid_name, join_path(path, "grid"))
        flip = False
        if "origin" in conf:
            from ..grid import normalize_origin

            try:
                origin = normalize_origin(conf["origin"])
            except GridError as ex:
                raise ConfigError(str(ex), join_path(path, "origin")) from None
            log.warning("%s.origin is deprecated: use a grid with that origin", path)
            flip = origin != grid.origin
        return TileSource(
            name,
            url,
            grid,
            self._client(conf, url, path, ("http", "https", "file")),
            transparent=bool(conf.get("transparent", False)),
            flip_y=flip,
            resampling=self._resampling(conf.get("image") or {}),
        )

    def _source_mapnik(self, name: str, conf: dict, path: str) -> Source:
        from ..sources.mapnik import MapnikMissing, MapnikSource

        if not conf.get("mapfile"):
            raise ConfigError("missing required key 'mapfile'", path)
        mapfile = self.abspath(conf["mapfile"])
        if not os.path.isfile(mapfile):
            raise ConfigError(f"Mapnik XML {mapfile} does not exist", join_path(path, "mapfile"))
        layers = conf.get("layers")
        if isinstance(layers, str):
            layers = [lyr.strip() for lyr in layers.split(",") if lyr.strip()]
        try:
            return MapnikSource(
                name,
                mapfile,
                layers=layers,
                transparent=bool(conf.get("transparent", False)),
                scale_factor=conf.get("scale_factor"),
                multithreaded=bool(conf.get("multithreaded", False)),
                use_mapnik2=bool(conf.get("use_mapnik2", False)),
            )
        except MapnikMissing as ex:
            raise ConfigError(str(ex), path) from None

    def _source_debug(self, name: str, conf: dict, path: str) -> DebugSource:
        return DebugSource(name)

    # -- caches ------------------------------------------------------------

    def _format(self, value: str, path: str) -> ImageFormat:
        custom = (self.g_image.get("formats") or {}).get(value)
        if custom and custom.get("format"):
            value = custom["format"]
        try:
            return parse_format(value)
        except FormatError as ex:
            raise ConfigError(str(ex), path) from None

    def _resampling(self, image_conf: dict) -> str:
        method = image_conf.get("resampling_method") or self.g_image.get("resampling_method") or "bicubic"
        return method if method in ("nearest", "bilinear", "bicubic") else "bicubic"

    def image_options(self, fmt_name: str, image_conf: dict, path: str) -> ImageOptions:
        custom = dict((self.g_image.get("formats") or {}).get(fmt_name) or {})
        merged = {**custom, **image_conf}
        fmt_path = join_path(path, "image.format" if image_conf.get("format") else "format")
        fmt = self._format(merged.get("format") or fmt_name, fmt_path)
        image_path = join_path(path, "image")
        colors = merged.get("colors")
        if colors is not None and not 0 <= colors <= 256:
            raise ConfigError(f"expected 0 to 256 colours, got {colors}", join_path(image_path, "colors"))
        if colors is None and fmt.mime == "image/png" and not fmt.paletted:
            colors = 256 if self.g_image.get("paletted", True) and merged.get("mode") not in ("RGB", "RGBA", "I") else None
        enc = merged.get("encoding_options") or {}
        mode = merged.get("mode")
        if mode is not None and mode not in ("RGB", "RGBA", "P", "I", "L"):
            raise ConfigError(f"unknown image mode '{mode}'", join_path(image_path, "mode"))
        quality = enc.get("jpeg_quality", self.g_image.get("jpeg_quality", 90))
        if not 1 <= quality <= 100:
            raise ConfigError(f"expected a JPEG quality from 1 to 100, got {quality}",
                              join_path(image_path, "encoding_options.jpeg_quality") if "jpeg_quality" in enc
                              else "globals.image.jpeg_quality")
        return ImageOptions(
            format=fmt,
            mode=mode,
            colors=colors or None,
            transparent=merged.get("transparent"),
            resampling=self._resampling(merged),
            jpeg_quality=int(quality),
            quantizer=enc.get("quantizer"),
            tiff_compression=enc.get("tiff_compression"),
            opacity=merged.get("opacity"),
        )

    def cache(self, name: str, path: str) -> CacheConfig:
        if name in self.caches:
            return self.caches[name]
        if name in self._building_caches:
            raise ConfigError(f"caches use each other as sources in a loop: {' -> '.join(self._building_caches + [name])}", path)
        self._building_caches.append(name)
        try:
            cache = self._build_cache(name, (self.raw.get("caches") or {})[name], join_path("caches", name))
        finally:
            self._building_caches.pop()
        self.caches[name] = cache
        return cache

    def _cache_sources(self, conf: dict, path: str, grid_name: str) -> list[Source]:
        names = conf.get("sources") or []
        if isinstance(names, dict):
            return [self._band_merge(names, join_path(path, "sources"), grid_name, path)]
        result = []
        for i, entry in enumerate(names):
            spath = join_path(join_path(path, "sources"), i)
            result.append(self.source_ref(entry, spath, grid_name))
        return result

    def _band_merge(self, conf: dict, path: str, grid_name: str, cache_path: str) -> BandMergeSource:
        """``sources: {r|g|b|a|l: [{source, band, factor}]}``."""
        unknown = [k for k in conf if k not in CHANNELS]
        if unknown:
            raise ConfigError(f"unknown band '{unknown[0]}' (use r, g, b, a or l)", path)
        if "l" in conf and set(conf) & {"r", "g", "b"}:
            raise ConfigError("combine l with a only, not with r, g or b", path)
        if not conf:
            raise ConfigError("no bands given", path)
        refs: dict[str, Source] = {}
        ops: dict[str, list[BandOp]] = {}
        for channel, entries in conf.items():
            cpath = join_path(path, channel)
            if not isinstance(entries, list) or not entries:
                raise ConfigError("expected a list of {source, band, factor}", cpath)
            for i, entry in enumerate(entries):
                epath = join_path(cpath, i)
                if not isinstance(entry, dict) or "source" not in entry or "band" not in entry:
                    raise ConfigError("expected a mapping with source and band (and factor)", epath)
                band, factor = entry["band"], entry.get("factor", 1.0)
                if not isinstance(band, int) or isinstance(band, bool) or not 0 <= band <= 3:
                    raise ConfigError(f"expected a band number 0-3, got {band!r}", join_path(epath, "band"))
                if not isinstance(factor, (int, float)) or isinstance(factor, bool):
                    raise ConfigError(f"expected a number, got {factor!r}", join_path(epath, "factor"))
                name = str(entry["source"])
                if name not in refs:
                    refs[name] = self.source_ref(name, join_path(epath, "source"), grid_name)
                ops.setdefault(channel, []).append(BandOp(refs[name], band, float(factor)))
        return BandMergeSource(cache_path.rpartition(".")[2], ops)

    def source_ref(self, entry: str, path: str, grid_name: str | None = None) -> Source:
        """A source or cache named in a ``sources`` list (``name:layer1,layer2`` picks WMS layers)."""
        name, _, tagged = entry.partition(":")
        if name in self.sources:
            source = self.sources[name]
            if tagged:
                if not isinstance(source, WMSSource):
                    raise ConfigError(f"only WMS sources accept layer names ('{entry}')", path)
                return _tagged_wms(source, tagged, path)
            return source
        if name in (self.raw.get("caches") or {}):
            cache = self.cache(name, path)
            target = self.grids.get(grid_name) if grid_name else None
            return cache_map_source(cache, target)
        raise ConfigError(f"unknown source or cache '{name}'", path)

    def _build_cache(self, name: str, conf: dict, path: str) -> CacheConfig:
        grid_names = conf.get("grids")
        if not grid_names:
            log.warning("%s: no grids given, using GLOBAL_MERCATOR", path)
            grid_names = ["GLOBAL_MERCATOR"]
        fmt_name = conf.get("format", "image/png")
        image_opts = self.image_options(fmt_name, conf.get("image") or {}, path)
        if image_opts.format.mime == "mixed" and "request_format" not in conf:
            raise ConfigError("a mixed format cache needs request_format: image/png", path)
        request_format = self._format(conf.get("request_format") or fmt_name, join_path(path, "request_format"))
        if request_format.mime == "mixed":
            request_format = ImageFormat("image/png")
        backend = dict(conf.get("cache") or {})
        cache_dir = self.abspath(conf.get("cache_dir") or self.g_cache.get("base_dir", "./cache_data"))
        link = conf.get("link_single_color_images", self.g_cache.get("link_single_color_images", False))
        if link is True:
            link = "symlink"
        if link not in (False, "symlink", "hardlink"):
            raise ConfigError("expected true, false, symlink or hardlink", join_path(path, "link_single_color_images"))
        if "refresh_before" in backend:
            log.warning("%s: refresh_before belongs to the cache itself, not to its cache: block; ignored",
                        join_path(path, "cache.refresh_before"))
        refresh_before = None
        if conf.get("refresh_before") is not None:
            refresh_before = parse_refresh_before(conf["refresh_before"], join_path(path, "refresh_before"), str(self.conf_dir))
        refresh_mode = conf.get("refresh_mode", "foreground")
        if refresh_mode not in REFRESH_MODES:
            raise ConfigError(f"expected one of {', '.join(REFRESH_MODES)}, got {refresh_mode!r}", join_path(path, "refresh_mode"))
        meta_size = conf.get("meta_size", self.g_cache.get("meta_size", [4, 4]))
        if len(meta_size) != 2 or min(meta_size) < 1:
            raise ConfigError("expected two positive numbers", join_path(path, "meta_size"))
        opts = TileManagerOptions(
            meta_size=(int(meta_size[0]), int(meta_size[1])),
            meta_buffer=int(conf.get("meta_buffer", self.g_cache.get("meta_buffer", 80))),
            minimize_meta_requests=bool(conf.get("minimize_meta_requests", self.g_cache.get("minimize_meta_requests", False))),
            concurrent_tile_creators=int(conf.get("concurrent_tile_creators", self.g_cache.get("concurrent_tile_creators", 2))),
            disable_storage=bool(conf.get("disable_storage", False)),
            link_single_color_images=bool(link),
            lock_timeout=float({**self.g_http}.get("client_timeout", 60)),
            rescale_tiles=_rescale_tiles(conf, path),
            cache_rescaled_tiles=bool(conf.get("cache_rescaled_tiles", False)),
            refresh_before=refresh_before,
            refresh_mode=refresh_mode,
        )
        file_mode = _octal(conf.get("file_permissions", self.g_cache.get("file_permissions")), join_path(path, "file_permissions"))
        dir_mode = _octal(conf.get("directory_permissions", self.g_cache.get("directory_permissions")), join_path(path, "directory_permissions"))
        managers = {}
        for i, grid_name in enumerate(grid_names):
            grid = self.grid(grid_name, join_path(join_path(path, "grids"), i))
            store = build_store(backend, StoreContext(
                cache_name=name, grid_name=grid_name, grid=grid, cache_dir=cache_dir, conf_dir=str(self.conf_dir),
                path=path, ext=image_opts.format.ext, check_images=image_opts.format.is_image,
                readonly=not conf.get("sources"), grid_srs_as_written=self.grid_srs_as_written.get(grid_name, ""),
                multiple_grids=len(grid_names) > 1, globals_cache=self.g_cache, file_mode=file_mode,
                dir_mode=dir_mode, link_single_color=link or None,
            ))
            if refresh_before is not None and not store.supports_timestamps:
                raise ConfigError(
                    f"the '{backend.get('type', 'file')}' cache backend keeps no tile timestamps, so no tile could "
                    "ever be found fresh; remove refresh_before, use a backend with timestamps (file, sqlite) "
                    "or, for mbtiles, set cache.timestamps: true",
                    join_path(path, "refresh_before"),
                )
            lock_dir = self.abspath(
                backend.get("tile_lock_dir") or conf.get("tile_lock_dir") or self.g_cache.get("tile_lock_dir")
                or os.path.join(cache_dir, "tile_locks")
            )
            sources = self._cache_sources(conf, path, grid_name)
            managers[grid_name] = TileManager(
                name,
                grid,
                store,
                sources,
                image_opts,
                request_format,
                lock_dir=lock_dir,
                lock_id=store.lock_id,
                opts=opts,
            )
        watermark = self._watermark(conf.get("watermark"), join_path(path, "watermark"))
        if watermark:
            for manager in managers.values():
                manager.watermark = watermark
        cache = CacheConfig(name=name, format=image_opts.format, grids=list(grid_names), managers=managers,
                            source_names=_source_names(conf.get("sources") or []))
        self._direct_from(cache, conf, path)
        return cache

    def _direct_from(self, cache: CacheConfig, conf: dict, path: str) -> None:
        """``use_direct_from_level`` / ``use_direct_from_res``: finer maps skip the cache."""
        level, res = conf.get("use_direct_from_level"), conf.get("use_direct_from_res")
        if level is None and res is None:
            return
        if level is not None and res is not None:
            raise ConfigError("use either use_direct_from_level or use_direct_from_res, not both", path)
        sources = next(iter(cache.managers.values())).sources
        if len(sources) != 1:
            key = "use_direct_from_level" if level is not None else "use_direct_from_res"
            raise ConfigError("needs a cache with exactly one source", join_path(path, key))
        if level is not None:
            grid = next(iter(cache.managers.values())).grid
            if not 0 <= level < grid.levels:
                raise ConfigError(f"level {level} is not in the grid (0-{grid.levels - 1})", join_path(path, "use_direct_from_level"))
            # level N itself is served directly
            res = grid.resolutions[level] * (1 + 1e-6)
        cache.direct_from_res = float(res)
        cache.direct_source = sources[0]

    def _watermark(self, conf: dict | None, path: str) -> Watermark | None:
        if not conf or not conf.get("text"):
            return None
        color = parse_color(conf.get("color", [128, 128, 128]), join_path(path, "color"))
        spacing = conf.get("spacing")
        if spacing not in (None, "wide"):
            raise ConfigError("expected 'wide' or nothing", join_path(path, "spacing"))
        return Watermark(
            text=str(conf["text"]),
            opacity=int(conf.get("opacity", 3)),
            font_size=int(conf.get("font_size", 9)),
            color=color[:3],
            wide=spacing == "wide",
        )

    # -- layers ------------------------------------------------------------

    def layers(self) -> list[LayerConfig]:
        raw = self.raw.get("layers") or []
        if isinstance(raw, dict):  # legacy: {name: {title, sources}}
            raw = [{"name": k, **(v or {})} for k, v in raw.items()]
        return [self._layer(conf, join_path("layers", i)) for i, conf in enumerate(raw)]

    def _layer(self, conf: dict, path: str) -> LayerConfig:
        if "title" not in conf:
            raise ConfigError("missing required key 'title'", path)
        for key in ("sources", "tile_sources"):
            for i, ref in enumerate(conf.get(key) or []):
                name = ref.partition(":")[0]
                if name not in self.sources and name not in self.caches:
                    raise ConfigError(f"unknown source or cache '{name}'", join_path(join_path(path, key), i))
        resolved: list[Any] = []
        for i, ref in enumerate(conf.get("sources") or []):
            name = ref.partition(":")[0]
            if name in self.caches:
                if conf.get("dimensions"):
                    log.warning("%s: dimensions are forwarded to uncached sources only; cache '%s' ignores them", path, name)
                resolved.append(self.caches[name])
            else:
                resolved.append(self.source_ref(ref, join_path(join_path(path, "sources"), i)))
        min_res, max_res = _res_limits(conf)
        children = [self._layer(c, join_path(join_path(path, "layers"), i)) for i, c in enumerate(conf.get("layers") or [])]
        return LayerConfig(
            name=conf.get("name"),
            title=str(conf["title"]),
            sources=list(conf.get("sources") or []),
            tile_sources=list(conf.get("tile_sources") or []),
            layers=children,
            md=dict(conf.get("md") or {}),
            min_res=min_res,
            max_res=max_res,
            legendurl=conf.get("legendurl"),
            path=path,
            source_objects=resolved,
            dimensions=_dimensions(conf.get("dimensions"), join_path(path, "dimensions")),
        )

    # -- services ----------------------------------------------------------

    def services(self) -> ServicesConfig:
        raw = self.raw.get("services") or {}
        wms_md = (raw.get("wms") or {}).get("md") if isinstance(raw.get("wms"), dict) else None
        result = ServicesConfig(demo="demo" in raw)
        if "tms" in raw:
            tms = raw.get("tms") or {}
            from ..grid import normalize_origin

            try:
                origin = normalize_origin(tms.get("origin", "sw"))
            except GridError as ex:
                raise ConfigError(str(ex), "services.tms.origin") from None
            result.tms = TMSConfig(
                use_grid_names=bool(tms.get("use_grid_names", False)),
                origin=origin,
                md=ServiceMetadata.from_dict(tms.get("md") or wms_md),
            )
        if "wmts" in raw:
            wmts = raw.get("wmts") or {}
            template = wmts.get("restful_template", WMTSConfig.restful_template)
            if not template.startswith("/"):
                template = "/" + template
            for var in ("{TileMatrix}", "{TileCol}", "{TileRow}"):
                if var not in template:
                    raise ConfigError(f"restful_template must contain {var}", "services.wmts.restful_template")
            result.wmts = WMTSConfig(
                kvp=bool(wmts.get("kvp", True)),
                restful=bool(wmts.get("restful", True)),
                restful_template=template,
                md=ServiceMetadata.from_dict(wmts.get("md") or wms_md),
            )
        if "wms" in raw:
            result.wms = self.wms_config(raw.get("wms") or {})
        if "kml" in raw:
            result.kml = dict(raw.get("kml") or {})
        return result


    def wms_config(self, wms: dict) -> WMSConfig:
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
            code, bbox = (entry.get("srs"), _bbox(entry.get("bbox"), join_path(epath, "bbox"))) if isinstance(entry, dict) else (entry, None)
            try:
                conf.bbox_srs.append(BBoxSRS(get_srs(str(code)).code, bbox))
            except SRSError as ex:
                raise ConfigError(str(ex), epath) from None
        if not conf.bbox_srs:
            conf.bbox_srs = [BBoxSRS(code) for code in conf.srs]
        for i, name in enumerate(wms.get("image_formats") or DEFAULT_WMS_FORMATS):
            conf.image_formats[str(name)] = self.image_options(str(name), {}, join_path(join_path(path, "image_formats"), i))
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
            conf.featureinfo_xslt[str(kind)] = self.abspath(str(xslt))
        conf.max_tile_limit = int(self.g_cache.get("max_tile_limit", 500))
        conf.concurrent_layer_renderer = int(wms.get("concurrent_layer_renderer", 1) or 1)
        return conf


def _dimensions(conf: Any, path: str) -> dict[str, Dimension]:
    """Layer ``dimensions``: name -> values (ISO 8601 intervals expanded) and default."""
    result: dict[str, Dimension] = {}
    for name, dim in (conf or {}).items():
        dpath = join_path(path, name)
        if not isinstance(dim, dict) or not dim.get("values"):
            raise ConfigError("expected a mapping with values (and default)", dpath)
        values: list[str] = []
        for value in dim["values"]:
            try:
                values += expand_interval(str(value))
            except ValueError as ex:
                raise ConfigError(str(ex), join_path(dpath, "values")) from None
        default = str(dim.get("default", values[-1]))
        result[str(name).lower()] = Dimension(str(name).lower(), values, default)
    return result


def _bbox(value: Any, path: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError:
            raise ConfigError(f"expected four numbers, got {value!r}", path) from None
    if len(value) != 4:
        raise ConfigError(f"expected four numbers (minx, miny, maxx, maxy), got {len(value)}", path)
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def _source_names(sources: list | dict) -> list[str]:
    """Names in a cache's ``sources``: the list itself, or the sources of a band merge."""
    if isinstance(sources, dict):
        names = [str(e.get("source")) for entries in sources.values() if isinstance(entries, list)
                 for e in entries if isinstance(e, dict)]
        return list(dict.fromkeys(names))
    return [s for s in sources if isinstance(s, str)]


def _rescale_tiles(conf: dict, path: str) -> int:
    """``upscale_tiles: N`` as -N, ``downscale_tiles: N`` as +N."""
    up, down = conf.get("upscale_tiles") or 0, conf.get("downscale_tiles") or 0
    for key, value in (("upscale_tiles", up), ("downscale_tiles", down)):
        if value < 0:
            raise ConfigError("must be zero or positive", join_path(path, key))
    if up and down:
        raise ConfigError("use either upscale_tiles or downscale_tiles, not both", path)
    return -up if up else down


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _octal(value: Any, path: str) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value), 8)
    except ValueError:
        raise ConfigError(f"expected an octal permission such as '644', got {value!r}", path) from None


def _tagged_wms(source: WMSSource, tagged: str, path: str) -> WMSSource:
    import copy

    layers = [lyr.strip() for lyr in tagged.split(",") if lyr.strip()]
    configured = next((v for k, v in source.params.items() if k.lower() == "layers"), "")
    allowed = {lyr.strip() for lyr in configured.split(",") if lyr.strip()}
    if allowed and not set(layers) <= allowed:
        extra = ", ".join(sorted(set(layers) - allowed))
        raise ConfigError(f"layers {extra} are not in the source's req.layers", path)
    clone = copy.copy(source)
    clone.params = {k: v for k, v in source.params.items() if k.lower() != "layers"}
    clone.params["LAYERS"] = ",".join(layers)
    return clone
