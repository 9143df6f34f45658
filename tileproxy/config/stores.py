"""``cache.type`` -> store builder. A new backend is one module in stores/ plus one
line in ``BUILDERS``; the caches (config/caches.py) and ``tileproxy export``
(cli/export.py) only call ``build_store``."""

from __future__ import annotations

import os
import posixpath
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


# cache type -> (module whose import the backend needs, pip extra that installs it)
EXTRAS = {"s3": ("boto3", "s3"), "azureblob": ("azure-storage-blob", "azure"), "redis": ("redis", "redis")}


def _needs_client(kind: str, ctx: StoreContext, ex: ImportError) -> ConfigError:
    package, extra = EXTRAS[kind]
    return ConfigError(f"the {kind} cache needs the {package} package ({ex}); "
                       f"install it with: pip install 'tileproxy[{extra}]'", ctx.key("type"))


def _option(conf: dict, ctx: StoreContext, group: str, key: str) -> Any:
    """A cache option, else its default under ``globals.cache.<group>`` (as MapProxy reads them)."""
    value = conf.get(key)
    if value is None:
        value = (ctx.globals_cache.get(group) or {}).get(key)
    return value


def _object_layout(conf: dict, ctx: StoreContext) -> str:
    from ..stores.layouts import LAYOUTS

    layout = conf.get("directory_layout", "tms")
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown directory_layout '{layout}' (known: {', '.join(LAYOUTS)})", ctx.key("directory_layout"))
    return layout


def _object_directory(conf: dict, ctx: StoreContext, include_grid_name: bool = False) -> str:
    """The key prefix: ``directory`` (with the grid name below it when asked), else
    ``<cache>/<grid>``."""
    directory = conf.get("directory")
    if directory is None:
        return f"{ctx.cache_name}/{ctx.grid_dir_name}"
    directory = str(directory)
    return posixpath.join(directory, ctx.grid_dir_name) if include_grid_name else directory


def _required(value: Any, what: str, ctx: StoreContext, key: str) -> str:
    if value is None or value == "":
        raise ConfigError(f"no {what} configured", ctx.key(key))
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {value!r}", ctx.key(key))
    return value


def _s3(conf: dict, ctx: StoreContext) -> TileStore:
    try:
        from ..stores.s3 import S3Store
    except ImportError as ex:
        raise _needs_client("s3", ctx, ex) from None

    bucket = _required(_option(conf, ctx, "s3", "bucket_name"), "bucket_name (nor globals.cache.s3.bucket_name)",
                       ctx, "bucket_name")
    include_grid = bool(_option(conf, ctx, "s3", "include_grid_name"))
    try:
        return S3Store(bucket, _object_directory(conf, ctx, include_grid), _object_layout(conf, ctx), ctx.ext,
                       profile_name=_option(conf, ctx, "s3", "profile_name"),
                       region_name=_option(conf, ctx, "s3", "region_name"),
                       endpoint_url=_option(conf, ctx, "s3", "endpoint_url"),
                       access_control_list=_option(conf, ctx, "s3", "access_control_list"),
                       use_http_get=bool(_option(conf, ctx, "s3", "use_http_get")),
                       check_images=ctx.check_images, readonly=ctx.readonly)
    except ImportError as ex:
        raise _needs_client("s3", ctx, ex) from None


def _azureblob(conf: dict, ctx: StoreContext) -> TileStore:
    try:
        from ..stores.azureblob import AzureBlobStore
    except ImportError as ex:
        raise _needs_client("azureblob", ctx, ex) from None

    container = _required(_option(conf, ctx, "azureblob", "container_name"),
                          "container_name (nor globals.cache.azureblob.container_name)", ctx, "container_name")
    # as in MapProxy, the environment wins over the configuration
    connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or _option(conf, ctx, "azureblob", "connection_string")
    connection = _required(connection, "connection_string (nor AZURE_STORAGE_CONNECTION_STRING)", ctx,
                           "connection_string")
    try:
        return AzureBlobStore(container, connection, _object_directory(conf, ctx), _object_layout(conf, ctx),
                              ctx.ext, check_images=ctx.check_images, readonly=ctx.readonly)
    except ImportError as ex:
        raise _needs_client("azureblob", ctx, ex) from None


def _redis(conf: dict, ctx: StoreContext) -> TileStore:
    try:
        from ..stores.redis_store import RedisStore
    except ImportError as ex:
        raise _needs_client("redis", ctx, ex) from None

    numbers = {}
    for key, default in (("port", 6379), ("db", 0), ("default_ttl", 3600)):
        value = conf.get(key, default)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"expected a number >= 0, got {value!r}", ctx.key(key))
        numbers[key] = value
    certs = {k: conf.get(k) for k in ("ssl_certfile", "ssl_keyfile", "ssl_ca_certs")}
    if any(certs.values()) and not (certs["ssl_certfile"] and certs["ssl_keyfile"]) and ctx.warn:
        ctx.warn(ctx.key(), "TLS is used only with both ssl_certfile and ssl_keyfile (as in MapProxy); "
                 "connecting without TLS")
    certs = {k: ctx.abspath(v) if v else None for k, v in certs.items()}
    try:
        return RedisStore(str(conf.get("prefix") or f"{ctx.cache_name}_{ctx.grid_dir_name}"),
                          host=str(conf.get("host") or "127.0.0.1"), port=int(numbers["port"]), db=int(numbers["db"]),
                          ttl=float(numbers["default_ttl"]), username=conf.get("username"),
                          password=conf.get("password"), check_images=ctx.check_images, readonly=ctx.readonly,
                          **certs)
    except ImportError as ex:
        raise _needs_client("redis", ctx, ex) from None


BUILDERS: dict[str, Builder] = {
    "file": _file,
    "mbtiles": _mbtiles,
    "sqlite": _sqlite,
    "geopackage": _geopackage,
    "compact": _compact,
    "s3": _s3,
    "azureblob": _azureblob,
    "redis": _redis,
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
