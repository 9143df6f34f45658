"""``cache.type`` -> store builder. A new backend is one module in stores/ plus one
line in ``BUILDERS``; the caches (config/caches.py) and ``tileproxy export``
(cli/export.py) only call ``build_store``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..grid import TileGrid
from ..stores.base import StoreError, TileStore
from .errors import ConfigError, join_path


@dataclass
class StoreContext:
    """What a builder knows about the cache and grid it builds a store for."""

    cache_name: str
    grid_name: str  # the grid's key in mapproxy.yaml
    grid: TileGrid
    cache_dir: str  # absolute: cache_dir or globals.cache.base_dir
    conf_dir: str  # directory of the mapproxy.yaml: relative paths start here
    path: str  # key path of the cache, e.g. caches.osm
    ext: str = "png"  # file extension of the tile format
    check_images: bool = True  # reject stored blobs that are not whole images
    readonly: bool = False  # a cache without sources: never written, no write locks
    grid_srs_as_written: str = ""
    multiple_grids: bool = False
    globals_cache: dict[str, Any] = field(default_factory=dict)
    file_mode: int | None = None
    dir_mode: int | None = None
    link_single_color: str | None = None
    warn: Callable[[str, str], None] | None = None  # (key path, message): a doubt that still loads

    def abspath(self, value: str) -> str:
        return os.path.normpath(os.path.join(self.conf_dir, os.path.expanduser(str(value))))

    def key(self, *keys: str) -> str:
        result = join_path(self.path, "cache")
        for k in keys:
            result = join_path(result, k)
        return result

    @property
    def grid_dir_name(self) -> str:
        return self.grid.name or self.grid_name

    def sqlite_options(self, conf: dict) -> dict[str, Any]:
        timeout = conf.get("sqlite_timeout", self.globals_cache.get("sqlite_timeout", 30))
        wal = conf.get("sqlite_wal", self.globals_cache.get("sqlite_wal"))
        return {"timeout": float(timeout), "wal": wal}


Builder = Callable[[dict, StoreContext], TileStore]


def _file(conf: dict, ctx: StoreContext) -> TileStore:
    from ..stores.file import FileStore
    from ..stores.layouts import LAYOUTS

    if conf.get("directory") and ctx.multiple_grids:
        raise ConfigError("cache.directory cannot be used with more than one grid", ctx.key("directory"))
    layout = conf.get("directory_layout", "tc")
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown directory_layout '{layout}' (known: {', '.join(LAYOUTS)})", ctx.key("directory_layout"))
    if conf.get("directory"):
        directory = ctx.abspath(conf["directory"])
    elif conf.get("use_grid_names"):
        directory = os.path.join(ctx.cache_dir, ctx.cache_name, ctx.grid_dir_name)
    else:
        suffix = (ctx.grid_srs_as_written or ctx.grid.srs.code).replace(":", "")
        directory = os.path.join(ctx.cache_dir, f"{ctx.cache_name}_{suffix}")
    return FileStore(directory, layout=layout, ext=ctx.ext, link_single_color=ctx.link_single_color,
                     file_mode=ctx.file_mode, dir_mode=ctx.dir_mode, readonly=ctx.readonly)


def _single_file_name(conf: dict, ctx: StoreContext, suffix: str, shared: bool = False) -> str:
    """``filename`` (``./name`` is relative to the yaml, any other relative name to the
    cache_dir, as in MapProxy) or ``<cache_dir>/<cache><suffix>``. Unless the file can
    hold several grids (``shared``), each grid of a multi-grid cache gets
    ``<cache>_<grid><suffix>``."""
    filename = conf.get("filename")
    if filename:
        if ctx.multiple_grids and not shared:
            raise ConfigError("cache.filename cannot be used with more than one grid", ctx.key("filename"))
        filename = os.path.expanduser(str(filename))
        if filename.startswith("./"):
            return ctx.abspath(filename)
        return os.path.normpath(os.path.join(ctx.cache_dir, filename))
    name = f"{ctx.cache_name}{suffix}" if shared or not ctx.multiple_grids else f"{ctx.cache_name}_{ctx.grid_dir_name}{suffix}"
    return os.path.join(ctx.cache_dir, name)


def _mbtiles(conf: dict, ctx: StoreContext) -> TileStore:
    from ..stores.sqlite_tiles import MBTilesStore

    opts = ctx.sqlite_options(conf)
    return MBTilesStore(
        _single_file_name(conf, ctx, ".mbtiles"),
        grid=ctx.grid,
        name=ctx.cache_name,
        ext=ctx.ext,
        timeout=opts["timeout"],
        wal=opts["wal"] is not False,
        timestamps=bool(conf.get("timestamps", False)),
        check_images=ctx.check_images,
        readonly=ctx.readonly,
    )


def _level_dir(conf: dict, ctx: StoreContext) -> str:
    base = ctx.abspath(conf["directory"]) if conf.get("directory") else os.path.join(ctx.cache_dir, ctx.cache_name)
    return os.path.join(base, ctx.grid_dir_name)


def _sqlite(conf: dict, ctx: StoreContext) -> TileStore:
    from ..stores.sqlite_tiles import SQLiteLevelStore

    level_dir = _level_dir(conf, ctx)
    if "dirname" in conf and "directory" not in conf and ctx.warn:
        # MapProxy's docs say dirname, MapProxy reads directory (and so does tileproxy)
        ctx.warn(ctx.key("dirname"), f"ignored, as MapProxy ignores it: the key is 'directory'; tiles go to {level_dir}")
    opts = ctx.sqlite_options(conf)
    return SQLiteLevelStore(level_dir, timeout=opts["timeout"], wal=opts["wal"] is not False,
                            ttl=float(conf.get("ttl", 0) or 0), check_images=ctx.check_images, readonly=ctx.readonly)


def _geopackage(conf: dict, ctx: StoreContext) -> TileStore:
    from ..stores.geopackage import TABLE_NAME, GeoPackageLevelStore, GeoPackageStore

    if conf.get("table_name") and ctx.multiple_grids:
        raise ConfigError("cache.table_name cannot be used with more than one grid", ctx.key("table_name"))
    table = str(conf.get("table_name") or f"{ctx.cache_name}_{ctx.grid_dir_name}")
    if not TABLE_NAME.match(table):
        raise ConfigError(f"'{table}' may only contain letters, digits, '_' and '-'", ctx.key("table_name"))
    opts = ctx.sqlite_options(conf)
    wal = opts["wal"] is True  # GeoPackages stay in rollback-journal mode unless asked
    if conf.get("levels"):  # files opened when a level is first used: doubts are logged then
        return GeoPackageLevelStore(_level_dir(conf, ctx), table, ctx.grid, timeout=opts["timeout"], wal=wal,
                                    check_images=ctx.check_images, readonly=ctx.readonly)
    warn = (lambda message: ctx.warn(ctx.key(), message)) if ctx.warn else None
    return GeoPackageStore(_single_file_name(conf, ctx, ".gpkg", shared=True), table, ctx.grid, timeout=opts["timeout"], wal=wal,
                           check_images=ctx.check_images, readonly=ctx.readonly, warn=warn)


def _compact(conf: dict, ctx: StoreContext) -> TileStore:
    from ..stores.compact import CompactStore

    version = conf.get("version")
    if version is None:
        raise ConfigError("missing required key 'version' (1 or 2)", ctx.key())
    if version not in (1, 2):
        raise ConfigError(f"expected 1 or 2, got {version!r}", ctx.key("version"))
    if conf.get("directory"):
        if ctx.multiple_grids:
            raise ConfigError("cache.directory cannot be used with more than one grid", ctx.key("directory"))
        directory = ctx.abspath(conf["directory"])
    else:
        directory = os.path.join(ctx.cache_dir, ctx.cache_name, ctx.grid_dir_name)
    return CompactStore(directory, version=int(version), check_images=ctx.check_images, readonly=ctx.readonly)


BUILDERS: dict[str, Builder] = {
    "file": _file,
    "mbtiles": _mbtiles,
    "sqlite": _sqlite,
    "geopackage": _geopackage,
    "compact": _compact,
}


def build_store(conf: dict, ctx: StoreContext) -> TileStore:
    """The store for ``conf`` (the cache's ``cache:`` mapping) in one grid, limited to
    ``cache.coverage`` when given. Raises ConfigError naming the key path."""
    kind = conf.get("type", "file")
    builder = BUILDERS.get(kind)
    if builder is None:
        raise ConfigError(f"cache type '{kind}' is not supported (known: {', '.join(BUILDERS)})", ctx.key("type"))
    try:
        store = builder(conf, ctx)
    except (StoreError, ValueError) as ex:
        raise ConfigError(str(ex), ctx.key()) from None
    if conf.get("coverage"):
        # imported here: shapely (and numpy) cost ~16 MB per process that needs no coverage
        from ..coverage import CoverageError, load_coverage
        from ..stores.covered import CoveredStore

        try:
            coverage = load_coverage(conf["coverage"], ctx.conf_dir, ctx.key("coverage"), warn=ctx.warn)
        except CoverageError as ex:
            raise ConfigError(str(ex), ex.path) from None
        store = CoveredStore(store, coverage, ctx.grid)
    return store
