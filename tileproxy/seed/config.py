"""Read seed.yaml into seed and cleanup tasks, one per task, cache and grid.

Every reference is checked before any tile is touched; errors name the file and
the key path, e.g. ``seed.yaml: seeds.myseed.caches[0]: unknown cache 'x'``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.errors import ConfigError, join_path
from ..config.loader import expand_env, read_yaml
from ..config.model import ProxyConfig
from ..coverage import Coverage
from ..freshness import RefreshBefore, seeding_rule
from ..grid import TileGrid
from ..tiles import TileManager
from .area import area_in_grid
from .coverages import load_coverages
from .timespec import parse_before, parse_rule

log = logging.getLogger("tileproxy.seed")

_SEED_KEYS = {"caches", "grids", "levels", "resolutions", "coverages", "refresh_before"}
_CLEANUP_KEYS = {"caches", "grids", "levels", "resolutions", "coverages", "remove_before", "remove_all"}


@dataclass
class Task:
    """One tile pyramid (a cache in one grid) of a named task."""

    kind: str  # "seed" or "cleanup"
    name: str
    cache: str
    grid_name: str
    manager: TileManager
    levels: list[int]
    area: Coverage | None = None  # in the grid SRS; None: the whole grid
    coverage_names: list[str] = field(default_factory=list)
    refresh_before: float | None = None  # seed: refresh tiles older than this
    remove_before: float | None = None  # cleanup: remove tiles older than this
    remove_all: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}:{self.cache}:{self.grid_name}"

    @property
    def grid(self) -> TileGrid:
        return self.manager.grid


@dataclass
class SeedConfig:
    path: str
    seeds: list[Task]
    cleanups: list[Task]
    warnings: list[str] = field(default_factory=list)


def load_seed_config(path: str | Path, proxy: ProxyConfig, start: float, proxy_dir: str | None = None) -> SeedConfig:
    """Load ``path``; relative times count back from ``start``; ``mtime`` files are
    relative to the proxy configuration (``proxy_dir``), coverage files to seed.yaml."""
    path = Path(path)
    raw = expand_env(read_yaml(path))
    base_dir = str(path.resolve().parent)
    try:
        return _Reader(raw, proxy, start, base_dir, proxy_dir or base_dir).read(str(path))
    except ConfigError as ex:
        raise ex.with_file(str(path)) from None


class _Reader:
    def __init__(self, raw: dict, proxy: ProxyConfig, start: float, base_dir: str, proxy_dir: str):
        self.raw = raw
        self.proxy = proxy
        self.start = start
        self.base_dir = base_dir
        self.proxy_dir = proxy_dir
        self.warnings: list[str] = []

    def read(self, file: str) -> SeedConfig:
        if "views" in self.raw:
            raise ConfigError("the old seed.yaml format (views) is not supported; "
                              "use seeds, cleanups and coverages", "views")
        for key in self.raw:
            if key not in ("seeds", "cleanups", "coverages"):
                self._warn(str(key), "unknown key, ignored (known: seeds, cleanups, coverages)")
        self.coverages = load_coverages(self.raw.get("coverages"), self.base_dir, self.proxy_dir, self._warn)
        seeds = self._tasks("seeds", "seed", _SEED_KEYS)
        cleanups = self._tasks("cleanups", "cleanup", _CLEANUP_KEYS)
        for warning in self.warnings:
            log.warning("%s: %s", file, warning)
        return SeedConfig(file, seeds, cleanups, self.warnings)

    def _warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}")

    def _tasks(self, section: str, kind: str, keys: set[str]) -> list[Task]:
        raw = self.raw.get(section)
        if raw is None:
            return []
        if not isinstance(raw, dict):
            raise ConfigError("expected a mapping of task names to tasks", section)
        tasks: list[Task] = []
        for name, conf in raw.items():
            path = join_path(section, name)
            if not isinstance(conf, dict):
                raise ConfigError("expected a mapping with caches, levels, coverages, ...", path)
            for key in conf:
                if key not in keys:
                    self._warn(join_path(path, key), f"unknown key, ignored (known: {', '.join(sorted(keys))})")
            tasks += self._task(kind, str(name), conf, path)
        return tasks

    def _task(self, kind: str, name: str, conf: dict, path: str) -> list[Task]:
        caches = self._caches(conf, path)
        grid_names = self._grids(conf, path, caches)
        coverages = self._coverage_list(conf, path)
        when: dict[str, Any] = {}
        refresh_rule = None
        if kind == "seed" and conf.get("refresh_before") is not None:
            refresh_rule = parse_rule(conf["refresh_before"], join_path(path, "refresh_before"), self.proxy_dir)
        remove_all = False
        if kind == "cleanup":
            remove_all = conf.get("remove_all", False)
            if not isinstance(remove_all, bool):
                raise ConfigError(f"expected true or false, got {remove_all!r}", join_path(path, "remove_all"))
            if remove_all:
                when["remove_before"] = None
            elif conf.get("remove_before") is not None:
                when["remove_before"] = parse_before(conf["remove_before"], join_path(path, "remove_before"),
                                                     self.start, self.proxy_dir)
            else:
                # the run's start; a second less for file systems with coarse mtimes
                when["remove_before"] = self.start - 1.0
                remove_all = None  # decided per cache: everything where tiles have no timestamps
        tasks = []
        for cache_name in caches:
            cache = self.proxy.caches[cache_name]
            for grid_name in grid_names:
                manager = cache.managers[grid_name]
                self._check_manager(kind, cache_name, manager, conf, path, remove_all)
                all_tiles = bool(remove_all) or (remove_all is None and not manager.store.supports_timestamps)
                levels = self._levels(conf, path, manager.grid, grid_name)
                area = self._area(coverages, manager, path)
                task_when = dict(when)
                if kind == "seed":
                    task_when["refresh_before"] = self._refresh_before(refresh_rule, manager, cache_name, path)
                tasks.append(Task(kind, name, cache_name, grid_name, manager, levels, area,
                                  [n for n, _ in coverages], remove_all=all_tiles, **task_when))
        return tasks

    def _refresh_before(self, own: RefreshBefore | None, manager: TileManager, cache: str,
                        path: str) -> float | None:
        """Tiles cached before this moment are created again: the rule ``seeding_rule``
        picks (the task's own, else the cache's), counted back from the run's start."""
        if own is not None and not manager.store.supports_timestamps:
            self._warn(join_path(path, "refresh_before"),
                       f"cache '{cache}' keeps no tile timestamps: every cached tile is created again")
        rule = seeding_rule(own, manager.opts.refresh_before)
        return None if rule is None else rule.cutoff(self.start)

    def _caches(self, conf: dict, path: str) -> list[str]:
        caches = conf.get("caches")
        if isinstance(caches, str):
            caches = [caches]
        if not caches or not isinstance(caches, list):
            raise ConfigError("expected a list of cache names", join_path(path, "caches"))
        for i, cache in enumerate(caches):
            problem = self.proxy.skipped.get(join_path("caches", str(cache)))
            if problem:
                raise ConfigError(f"cache '{cache}' cannot be seeded: {problem}", join_path(join_path(path, "caches"), i))
            if not isinstance(cache, str) or cache not in self.proxy.caches:
                known = ", ".join(sorted(self.proxy.caches)) or "none"
                raise ConfigError(f"unknown cache '{cache}' (known: {known})", join_path(join_path(path, "caches"), i))
        return caches

    def _grids(self, conf: dict, path: str, caches: list[str]) -> list[str]:
        grids = conf.get("grids")
        if grids is None:
            first = self.proxy.caches[caches[0]].grids
            common = [g for g in first if all(g in self.proxy.caches[c].managers for c in caches)]
            if not common:
                raise ConfigError(f"the caches {', '.join(caches)} have no grid in common; name the grids",
                                  join_path(path, "caches"))
            return common
        if isinstance(grids, str):
            grids = [grids]
        if not isinstance(grids, list) or not grids:
            raise ConfigError("expected a list of grid names", join_path(path, "grids"))
        for i, grid in enumerate(grids):
            for cache in caches:
                if grid not in self.proxy.caches[cache].managers:
                    known = ", ".join(self.proxy.caches[cache].grids)
                    raise ConfigError(f"cache '{cache}' has no grid '{grid}' (its grids: {known})",
                                      join_path(join_path(path, "grids"), i))
        return grids

    def _coverage_list(self, conf: dict, path: str) -> list[tuple[str, Coverage]]:
        names = conf.get("coverages")
        if names is None:
            return []
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list):
            raise ConfigError("expected a list of coverage names", join_path(path, "coverages"))
        out = []
        for i, name in enumerate(names):
            if name not in self.coverages:
                known = ", ".join(sorted(self.coverages)) or "none defined"
                raise ConfigError(f"unknown coverage '{name}' (known: {known})",
                                  join_path(join_path(path, "coverages"), i))
            out.append((name, self.coverages[name]))
        return out

    def _check_manager(self, kind: str, cache: str, manager: TileManager, conf: dict, path: str,
                       remove_all: bool | None) -> None:
        if kind == "seed":
            if not manager.sources:
                raise ConfigError(f"cache '{cache}' has no sources to seed from", join_path(path, "caches"))
            if manager.opts.disable_storage:
                raise ConfigError(f"cache '{cache}' has disable_storage: true; nothing to seed",
                                  join_path(path, "caches"))
        if manager.store.readonly:
            raise ConfigError(f"cache '{cache}' is read-only", join_path(path, "caches"))
        if kind == "cleanup" and remove_all is False and not manager.store.supports_timestamps:
            raise ConfigError(f"cache '{cache}' stores no tile timestamps; only remove_all: true can clean it",
                              join_path(path, "remove_before"))

    def _levels(self, conf: dict, path: str, grid: TileGrid, grid_name: str) -> list[int]:
        last = grid.levels - 1
        if conf.get("levels") is not None:
            key = join_path(path, "levels")
            levels = _level_spec(conf["levels"], key, last)
        elif conf.get("resolutions") is not None:
            key = join_path(path, "resolutions")
            levels = _resolution_levels(conf["resolutions"], key, grid, grid_name)
        else:
            return list(range(last + 1))
        inside = [lvl for lvl in levels if 0 <= lvl <= last]
        if not inside:
            raise ConfigError(f"no level of {levels[:1] + ['...'] * (len(levels) > 1)} exists in grid "
                              f"'{grid_name}' (levels 0 to {last})", key)
        if len(inside) < len(levels):
            self._warn(key, f"levels beyond {last} do not exist in grid '{grid_name}' and are skipped")
        return inside

    def _area(self, coverages: list[tuple[str, Coverage]], manager: TileManager, path: str) -> Coverage | None:
        """The task's coverages in the grid, cut to the cache's own coverage if it has one."""
        grid = manager.grid
        configured = manager.store.coverage
        cache_cov = configured.transform_to(grid.srs) if configured is not None else None
        if not coverages:
            return area_in_grid([cache_cov], grid) if cache_cov is not None else None
        area = area_in_grid([c for _, c in coverages], grid)
        if area is not None and cache_cov is not None:
            area = area_in_grid([Coverage(area.geom.intersection(cache_cov.transform_to(grid.srs).geom), grid.srs)],
                                grid)
        if area is None:
            raise ConfigError(f"the coverages {', '.join(n for n, _ in coverages)} lie outside grid "
                              f"'{grid.name}' ({grid.srs.code}) or the cache coverage; check their srs",
                              join_path(path, "coverages"))
        return area


def _level_spec(value: Any, path: str, last: int) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"expected a level number >= 0, got {v!r}", join_path(path, i))
        return sorted(set(value))
    if isinstance(value, dict):
        for key in value:
            if key not in ("from", "to"):
                raise ConfigError(f"unknown key '{key}' (use from and to)", join_path(path, key))
        lo, hi = value.get("from", 0), value.get("to", last)
        for key, v in (("from", lo), ("to", hi)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"expected a level number >= 0, got {v!r}", join_path(path, key))
        if lo > hi:
            raise ConfigError(f"from ({lo}) is after to ({hi})", path)
        return list(range(lo, hi + 1))
    raise ConfigError("expected a list of levels or from/to", path)


def _resolution_levels(value: Any, path: str, grid: TileGrid, grid_name: str) -> list[int]:
    def level_of(res: Any, key: str) -> int:
        if isinstance(res, bool) or not isinstance(res, (int, float)) or res <= 0:
            raise ConfigError(f"expected a resolution > 0, got {res!r}", key)
        return grid.closest_level(float(res))

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list):
        return sorted({level_of(r, join_path(path, i)) for i, r in enumerate(value)})
    if isinstance(value, dict):
        lo = level_of(value["from"], join_path(path, "from")) if "from" in value else 0
        hi = level_of(value["to"], join_path(path, "to")) if "to" in value else grid.levels - 1
        return list(range(min(lo, hi), max(lo, hi) + 1))
    raise ConfigError("expected a list of resolutions or from/to", path)
