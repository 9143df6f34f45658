"""``caches``: a TileManager per grid over a store, and the sources a cache draws from."""

from __future__ import annotations

import os
from typing import Any

from ..image.formats import ImageFormat
from ..renderd import RenderdClient
from ..sources.band_merge import CHANNELS, BandMergeSource, BandOp
from ..sources.base import Source
from ..sources.cache import cache_map_source
from ..sources.mapnik import MapnikSource
from ..sources.wms import WMSSource
from ..tilecache.manager import TileManager
from ..tilecache.options import REFRESH_MODES, TileManagerOptions
from .context import BuildContext
from .errors import ConfigError, join_path
from .grids import grid, srs_as_written
from .image_options import image_format, image_options, watermark
from .model import CacheConfig
from .refresh import parse_refresh_before
from .sources import source as built_source
from .stores import StoreContext, build_store


def cache(ctx: BuildContext, name: str, path: str) -> CacheConfig:
    """The cache called ``name``, built once; ``path`` is where it is referenced."""
    if name in ctx.caches:
        return ctx.caches[name]
    if name in ctx.building_caches:
        raise ConfigError(f"caches use each other as sources in a loop: {' -> '.join(ctx.building_caches + [name])}", path)
    ctx.building_caches.append(name)
    try:
        result = _build_cache(ctx, name, ctx.section("caches")[name], join_path("caches", name))
    finally:
        ctx.building_caches.pop()
    ctx.caches[name] = result
    return result


def source_ref(ctx: BuildContext, entry: str, path: str, grid_name: str | None = None) -> Source:
    """A source or cache named in a ``sources`` list (``name:layer1,layer2`` picks WMS layers)."""
    name, _, tagged = entry.partition(":")
    if name in ctx.section("sources"):
        source = built_source(ctx, name)
        if tagged:
            if isinstance(source, MapnikSource):
                return _tagged_mapnik(source, tagged, path)
            if not isinstance(source, WMSSource):
                raise ConfigError(f"only WMS, MapServer and Mapnik sources accept layer names ('{entry}')", path)
            return _tagged_wms(source, tagged, path)
        if isinstance(source, WMSSource) and not _layers_param(source):
            ctx.warn(path, f"source '{name}' has no req.layers, so its requests name no LAYERS; "
                     f"name them here as '{name}:layer1,layer2'")
        return source
    if name in ctx.section("caches"):
        target = ctx.grids.get(grid_name) if grid_name else None
        return cache_map_source(cache(ctx, name, path), target)
    raise ConfigError(f"unknown source or cache '{name}'", path)


def _tagged_wms(source: WMSSource, tagged: str, path: str) -> WMSSource:
    """A copy of ``source`` asking for only the ``tagged`` layers of its ``req.layers``."""
    layers = [lyr.strip() for lyr in tagged.split(",") if lyr.strip()]
    configured = _layers_param(source)
    allowed = {lyr.strip() for lyr in configured.split(",") if lyr.strip()}
    if allowed and not set(layers) <= allowed:
        extra = ", ".join(sorted(set(layers) - allowed))
        raise ConfigError(f"layers {extra} are not in the source's req.layers", path)
    return source.with_layers(layers)


def _tagged_mapnik(source: MapnikSource, tagged: str, path: str) -> MapnikSource:
    """A copy of a Mapnik source drawing only the ``tagged`` layers of its ``layers``."""
    layers = [lyr.strip() for lyr in tagged.split(",") if lyr.strip()]
    if source.layers and not set(layers) <= source.layers:
        raise ConfigError(f"layers {', '.join(sorted(set(layers) - source.layers))} are not in the source's layers", path)
    return source.with_layers(layers)


def _layers_param(source: WMSSource) -> str:
    """The source's own LAYERS parameter ('' without ``req.layers``)."""
    return next((v for k, v in source.params.items() if k.lower() == "layers"), "")


def _build_cache(ctx: BuildContext, name: str, conf: dict, path: str) -> CacheConfig:
    grid_names = conf.get("grids")
    if not grid_names:
        ctx.warn(path, "no grids given, using GLOBAL_MERCATOR")
        grid_names = ["GLOBAL_MERCATOR"]
    fmt_name = conf.get("format", "image/png")
    image_opts = image_options(ctx, fmt_name, conf.get("image") or {}, path)
    if image_opts.format.mime == "mixed" and "request_format" not in conf:
        raise ConfigError("a mixed format cache needs request_format: image/png", path)
    request_format = image_format(ctx, conf.get("request_format") or fmt_name, join_path(path, "request_format"),
                                  encodes=False)
    if request_format.mime == "mixed":
        request_format = ImageFormat("image/png")
    backend = dict(conf.get("cache") or {})
    cache_dir = ctx.abspath(conf.get("cache_dir") or ctx.g_cache.get("base_dir", "./cache_data"))
    link = _link_single_color(ctx, conf, path)
    if "refresh_before" in backend:
        ctx.warn(join_path(path, "cache.refresh_before"),
                 "refresh_before belongs to the cache itself, not to its cache: block; ignored")
    refresh_before = None
    if conf.get("refresh_before") is not None:
        refresh_before = parse_refresh_before(conf["refresh_before"], join_path(path, "refresh_before"), str(ctx.conf_dir))
    refresh_mode = conf.get("refresh_mode", "foreground")
    if refresh_mode not in REFRESH_MODES:
        raise ConfigError(f"expected one of {', '.join(REFRESH_MODES)}, got {refresh_mode!r}", join_path(path, "refresh_mode"))
    meta_size = conf.get("meta_size", ctx.g_cache.get("meta_size", [4, 4]))
    if len(meta_size) != 2 or min(meta_size) < 1:
        raise ConfigError("expected two positive numbers", join_path(path, "meta_size"))
    opts = TileManagerOptions(
        meta_size=(int(meta_size[0]), int(meta_size[1])),
        meta_buffer=int(conf.get("meta_buffer", ctx.g_cache.get("meta_buffer", 80))),
        minimize_meta_requests=bool(conf.get("minimize_meta_requests", ctx.g_cache.get("minimize_meta_requests", False))),
        bulk_meta_tiles=bool(conf.get("bulk_meta_tiles", ctx.g_cache.get("bulk_meta_tiles", False))),
        concurrent_tile_creators=int(conf.get("concurrent_tile_creators", ctx.g_cache.get("concurrent_tile_creators", 2))),
        disable_storage=bool(conf.get("disable_storage", False)),
        link_single_color_images=bool(link),
        lock_timeout=ctx.client_timeout,
        rescale_tiles=_rescale_tiles(conf, path),
        cache_rescaled_tiles=bool(conf.get("cache_rescaled_tiles", False)),
        refresh_before=refresh_before,
        refresh_mode=refresh_mode,
    )
    file_mode = _octal(conf.get("file_permissions", ctx.g_cache.get("file_permissions")), join_path(path, "file_permissions"))
    dir_mode = _octal(conf.get("directory_permissions", ctx.g_cache.get("directory_permissions")), join_path(path, "directory_permissions"))
    parts = {}  # grid name -> (grid, store, sources, lock_dir)
    for i, grid_name in enumerate(grid_names):
        tile_grid = grid(ctx, grid_name, join_path(join_path(path, "grids"), i))
        store = build_store(backend, StoreContext(
            cache_name=name, grid_name=grid_name, grid=tile_grid, cache_dir=cache_dir, conf_dir=str(ctx.conf_dir),
            path=path, ext=image_opts.format.ext, check_images=image_opts.format.is_image,
            readonly=not conf.get("sources"), grid_srs_as_written=srs_as_written(ctx, grid_name),
            multiple_grids=len(grid_names) > 1, globals_cache=ctx.g_cache, file_mode=file_mode,
            dir_mode=dir_mode, link_single_color=link or None, warn=ctx.warn,
        ))
        if refresh_before is not None and not store.supports_timestamps:
            raise ConfigError(
                f"the '{backend.get('type', 'file')}' cache backend keeps no tile timestamps, so no tile could "
                "ever be found fresh; remove refresh_before, use a backend with timestamps (file, sqlite) "
                "or, for mbtiles, set cache.timestamps: true",
                join_path(path, "refresh_before"),
            )
        lock_dir = ctx.abspath(
            backend.get("tile_lock_dir") or conf.get("tile_lock_dir") or ctx.g_cache.get("tile_lock_dir")
            or os.path.join(cache_dir, "tile_locks")
        )
        parts[grid_name] = (tile_grid, store, _cache_sources(ctx, conf, path, grid_name), lock_dir)
    mark = watermark(conf.get("watermark"), join_path(path, "watermark"))
    renderd = None
    if ctx.renderd_address and not opts.disable_storage:
        # tiles that are not stored cannot be handed over through the cache
        renderd = RenderdClient(ctx.renderd_address, timeout=ctx.client_timeout)
    managers = {
        grid_name: TileManager(name, tile_grid, store, sources, image_opts, request_format, lock_dir=lock_dir,
                               lock_id=store.lock_id, opts=opts, watermark=mark, renderd=renderd,
                               locks=ctx.tile_locks(lock_dir))
        for grid_name, (tile_grid, store, sources, lock_dir) in parts.items()
    }
    direct_res, direct_source = _direct_from(managers, conf, path)
    return CacheConfig(name=name, format=image_opts.format, grids=list(grid_names), managers=managers,
                       direct_from_res=direct_res, direct_source=direct_source,
                       max_tile_limit=int(conf.get("max_tile_limit", ctx.globals.max_tile_limit)))


def _link_single_color(ctx: BuildContext, conf: dict, path: str) -> str | bool:
    """``link_single_color_images``: False, "symlink" or "hardlink" (true means symlink)."""
    link = conf.get("link_single_color_images", ctx.g_cache.get("link_single_color_images", False))
    if link is True:
        link = "symlink"
    if link not in (False, "symlink", "hardlink"):
        raise ConfigError("expected true, false, symlink or hardlink", join_path(path, "link_single_color_images"))
    return link


def _cache_sources(ctx: BuildContext, conf: dict, path: str, grid_name: str) -> list[Source]:
    names = conf.get("sources") or []
    if isinstance(names, dict):
        return [_band_merge(ctx, names, join_path(path, "sources"), grid_name, path)]
    return [source_ref(ctx, entry, join_path(join_path(path, "sources"), i), grid_name)
            for i, entry in enumerate(names)]


def _band_merge(ctx: BuildContext, conf: dict, path: str, grid_name: str, cache_path: str) -> BandMergeSource:
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
                refs[name] = source_ref(ctx, name, join_path(epath, "source"), grid_name)
            ops.setdefault(channel, []).append(BandOp(refs[name], band, float(factor)))
    return BandMergeSource(cache_path.rpartition(".")[2], ops)


def _direct_from(managers: dict[str, TileManager], conf: dict, path: str) -> tuple[float | None, Source | None]:
    """``use_direct_from_level`` / ``use_direct_from_res``: maps finer than the resolution
    skip the cache and come from its one source (None, None: no such key)."""
    level, res = conf.get("use_direct_from_level"), conf.get("use_direct_from_res")
    if level is not None:
        level = int(level)
    if level is None and res is None:
        return None, None
    if level is not None and res is not None:
        raise ConfigError("use either use_direct_from_level or use_direct_from_res, not both", path)
    manager = next(iter(managers.values()))
    if len(manager.sources) != 1:
        key = "use_direct_from_level" if level is not None else "use_direct_from_res"
        raise ConfigError("needs a cache with exactly one source", join_path(path, key))
    if level is not None:
        levels = manager.grid.levels
        if not 0 <= level < levels:
            raise ConfigError(f"level {level} is not in the grid (0-{levels - 1})", join_path(path, "use_direct_from_level"))
        # level N itself is served directly
        res = manager.grid.resolutions[level] * (1 + 1e-6)
    return float(res), manager.sources[0]


def _rescale_tiles(conf: dict, path: str) -> int:
    """``upscale_tiles: N`` as -N, ``downscale_tiles: N`` as +N."""
    up, down = conf.get("upscale_tiles") or 0, conf.get("downscale_tiles") or 0
    for key, value in (("upscale_tiles", up), ("downscale_tiles", down)):
        if value < 0:
            raise ConfigError("must be zero or positive", join_path(path, key))
    if up and down:
        raise ConfigError("use either upscale_tiles or downscale_tiles, not both", path)
    return -up if up else down


def _octal(value: Any, path: str) -> int | None:
    """``file_permissions``/``directory_permissions`` such as '644'."""
    if value is None:
        return None
    try:
        return int(str(value), 8)
    except ValueError:
        raise ConfigError(f"expected an octal permission such as '644', got {value!r}", path) from None
