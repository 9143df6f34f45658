"""What building one mapproxy.yaml shares: the raw dict, its globals, what is built so far."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..grid import TileGrid
from ..sources.base import Source
from .errors import ConfigError
from .locks import lock_maker_factory
from .model import CacheConfig, GlobalsConfig


class BuildContext:
    """The validated dict plus the grids, sources and caches built from it so far."""

    def __init__(self, raw: dict, conf_dir: Path):
        self.raw = raw
        self.conf_dir = conf_dir
        g = raw.get("globals") or {}
        self.g_cache: dict[str, Any] = g.get("cache") or {}
        self.g_image: dict[str, Any] = g.get("image") or {}
        self.g_http: dict[str, Any] = g.get("http") or {}
        self.g_grid: dict[str, Any] = g.get("grid") or {}
        self.g_mapserver: dict[str, Any] = g.get("mapserver") or {}
        self.renderd_address: str | None = (g.get("renderd") or {}).get("address") or None
        self.g_metrics: Any = g.get("metrics")
        g_tiles = g.get("tiles") or {}
        self.globals = GlobalsConfig(
            base_dir=self.abspath(self.g_cache.get("base_dir", "./cache_data")),
            lock_dir=self.abspath(self.g_cache.get("lock_dir", "./cache_data/tile_locks")),
            expires_hours=float(g_tiles.get("expires_hours", 72)),
            access_control_allow_origin=str(self.g_http.get("access_control_allow_origin", "*")),
            max_tile_limit=int(self.g_cache.get("max_tile_limit", 500)),
            admin_token=_admin_token(g.get("admin")),
            log_format=_log_format(g.get("log_format")),
        )
        self.tile_locks = lock_maker_factory(self.g_cache.get("lock"))  # lock dir -> a cache's locks
        self.grids: dict[str, TileGrid] = {}
        self.sources: dict[str, Source] = {}
        self.caches: dict[str, CacheConfig] = {}
        self.building_caches: list[str] = []  # names of caches being built, to find loops
        self.warnings: list[str] = []  # "key.path: message", logged with the file that holds the key

    def warn(self, path: str, message: str) -> None:
        """A doubtful value that still loads: said once, naming its key path."""
        text = f"{path}: {message}" if path else message
        if text not in self.warnings:
            self.warnings.append(text)

    def section(self, key: str) -> Any:
        """A top-level section (grids, sources, caches, layers, services), empty if missing."""
        return self.raw.get(key) or {}

    def abspath(self, value: str) -> str:
        """A path from the config, relative to the mapproxy.yaml's directory."""
        return os.path.normpath(os.path.join(self.conf_dir, os.path.expanduser(value)))

    @property
    def client_timeout(self) -> float:
        """``globals.http.client_timeout``: also how long local renderers and locks wait."""
        return float(self.g_http.get("client_timeout", 60))


def _log_format(value: Any) -> str:
    """``globals.log_format``: text (the default) or json."""
    if value is None:
        return "text"
    if value not in ("text", "json"):
        raise ConfigError(f"unknown log format {value!r} (text or json)", "globals.log_format")
    return value


def _admin_token(conf: Any) -> str | None:
    """``globals.admin.token``; an ``admin`` section without one is an error (the API
    stays off rather than open)."""
    if conf is None:
        return None
    token = conf.get("token") if isinstance(conf, dict) else None
    if not token or not str(token).strip():
        raise ConfigError("the admin API needs a token (or remove globals.admin)", "globals.admin.token")
    return str(token).strip()
