"""Invalidate cached tiles of a cache or layer: remove them, or mark them stale
(their stored time set back) so that the cache's ``refresh_before`` fetches them
again on the next request. Driven by what the store lists, so sparse caches are
quick; only the tiles in the levels, the area and older than ``before`` count.

Shared by ``tileproxy invalidate`` and the admin API."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..config.model import CacheConfig, LayerConfig, ProxyConfig
from ..coverage import Coverage
from ..grid import TileCoord
from ..tilecache.manager import TileManager
from .area import area_in_grid
from .plan import Plan
from .timespec import parse_duration

MODES = ("remove", "stale")
STALE_TIME = 2 * 86400.0  # the time stale tiles get: older than any refresh_before cutoff
BATCH = 256


class InvalidateError(ValueError):
    """A request that names nothing to invalidate, or something that does not exist."""


@dataclass
class Target:
    cache: str
    grid: str
    manager: TileManager


@dataclass
class InvalidateResult:
    cache: str
    grid: str
    mode: str  # what was done: "remove" or "stale"
    matched: int = 0
    note: str = ""  # why the mode differs from the one asked for

    def as_dict(self) -> dict:
        return {"cache": self.cache, "grid": self.grid, "mode": self.mode, "tiles": self.matched,
                **({"note": self.note} if self.note else {})}


def find_targets(proxy: ProxyConfig, layer: str | None = None, cache: str | None = None,
                 grid: str | None = None) -> list[Target]:
    """The caches (in each of their grids, or only in ``grid``) of ``cache`` or ``layer``."""
    if bool(layer) == bool(cache):
        raise InvalidateError("name either a layer or a cache")
    if cache:
        if cache not in proxy.caches:
            raise InvalidateError(f"unknown cache '{cache}' (known: {', '.join(sorted(proxy.caches)) or 'none'})")
        caches = [proxy.caches[cache]]
    else:
        found = _find_layer(proxy.layers, layer or "")
        if found is None:
            raise InvalidateError(f"unknown layer '{layer}'")
        caches = [o for o in found.source_objects if isinstance(o, CacheConfig)]
        if not caches:
            raise InvalidateError(f"layer '{layer}' has no cache")
    targets = []
    for c in caches:
        for name, manager in c.managers.items():
            if grid is None or name == grid:
                targets.append(Target(c.name, name, manager))
    if not targets:
        raise InvalidateError(f"no cache of {'cache' if cache else 'layer'} '{cache or layer}' has grid '{grid}'")
    for t in targets:
        if t.manager.store.readonly:
            raise InvalidateError(f"cache '{t.cache}' is read-only")
    return targets


def _find_layer(layers: list[LayerConfig], name: str) -> LayerConfig | None:
    for layer in layers:
        if layer.name == name:
            return layer
        found = _find_layer(layer.layers, name)
        if found is not None:
            return found
    return None


def parse_levels(text: str | list | None, last: int) -> list[int]:
    """``3..8``, ``5``, ``1,3,5`` (or a list of ints) as levels within 0..``last``; None: all."""
    if text is None or text == "":
        return list(range(last + 1))
    try:
        if isinstance(text, list):
            levels = [int(v) for v in text]
        else:
            levels = []
            for part in str(text).split(","):
                lo, sep, hi = part.strip().partition("..")
                levels.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except (TypeError, ValueError):
        raise InvalidateError(f"levels: expected 3..8, 5 or 1,3,5, got {text!r}") from None
    inside = sorted({lv for lv in levels if 0 <= lv <= last})
    if not inside:
        raise InvalidateError(f"levels: none of {text} exists (levels 0 to {last})")
    return inside


def parse_before(text: str | float | None, now: float) -> float | None:
    """An ISO date/time (local time unless it names its zone), epoch seconds, or a
    duration back from ``now`` (``2h``, ``3d``)."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        return float(text)
    value = str(text).strip()
    if re.fullmatch(r"\d+(\.\d*)?[smhdw]", value):
        return now - parse_duration(value)
    try:
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise InvalidateError(f"before: expected an ISO time like 2026-01-31T12:00 or a duration "
                              f"like 6h or 2d, got {value!r}") from None


def area_for(coverage: Coverage | None, manager: TileManager) -> Coverage | None:
    """``coverage`` in the grid of ``manager``, cut to the cache coverage; None: the
    whole grid, or nothing when there was a coverage (it lies outside)."""
    grid = manager.grid
    parts = [coverage] if coverage is not None else []
    configured = manager.store.coverage
    if configured is not None:
        cache_cov = configured.transform_to(grid.srs)
        if coverage is None:
            parts = [cache_cov]
        else:
            inside = coverage.transform_to(grid.srs).geom.intersection(cache_cov.geom)
            parts = [Coverage(inside, grid.srs)]
    if not parts:
        return None
    return area_in_grid(parts, grid)


def invalidate(target: Target, levels: list[int], coverage: Coverage | None = None, before: float | None = None,
               mode: str = "remove") -> InvalidateResult:
    """Remove (or mark stale) the tiles of ``target`` in ``levels`` and ``coverage``,
    written before ``before`` when given."""
    if mode not in MODES:
        raise InvalidateError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    manager = target.manager
    store = manager.store
    result = InvalidateResult(target.cache, target.grid, mode)
    if before is not None and not store.supports_timestamps:
        raise InvalidateError(f"cache '{target.cache}' keeps no tile times; 'before' cannot apply")
    if mode == "stale" and not store.supports_timestamps:
        result.mode, result.note = "remove", "the cache keeps no tile times: tiles removed instead"
    elif mode == "stale" and manager.refresh_before is None:
        result.mode, result.note = "remove", "the cache has no refresh_before: tiles removed instead"
    area = area_for(coverage, manager)
    if area is None and (coverage is not None or store.coverage is not None):
        return result  # the area lies outside the grid or the cache coverage
    for level in levels:
        batch: list[TileCoord] = []
        for coord in _candidates(manager, level, area):
            batch.append(coord)
            if len(batch) >= BATCH:
                result.matched += _apply(store, batch, before, result)
                batch = []
        result.matched += _apply(store, batch, before, result)
    return result


def _candidates(manager: TileManager, level: int, area: Coverage | None) -> Iterator[TileCoord]:
    store, grid = manager.store, manager.grid
    if store.can_list:
        bbox = area.bbox if area is not None else grid.bbox
        coords: Iterator[TileCoord] = store.iter_coords_within(level, grid.tile_range(bbox, level))
    else:
        plan = Plan(grid, manager.meta_grid, [level], area)
        coords = (c for u in plan.units() for m in plan.metas(u)
                  for c, hit in zip(m.coords, store.cached_many(m.coords)) if hit)
    return (c for c in coords if area is None or area.intersects(_inset(grid.tile_bbox(c))))


def _inset(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """``bbox`` a millionth of its size smaller: a tile that only meets the area along an
    edge (up to rounding in the tile bounds) does not count as inside."""
    dx, dy = (bbox[2] - bbox[0]) * 1e-6, (bbox[3] - bbox[1]) * 1e-6
    return bbox[0] + dx, bbox[1] + dy, bbox[2] - dx, bbox[3] - dy


def _apply(store, coords: list[TileCoord], before: float | None, result: InvalidateResult) -> int:  # noqa: ANN001
    if before is not None:
        coords = [c for c, ts in zip(coords, store.timestamps_many(coords)) if ts is not None and ts < before]
    if not coords:
        return 0
    if result.mode == "stale" and not store.backdate_many(coords, STALE_TIME):
        result.mode, result.note = "remove", "the cache cannot set tile times back: tiles removed instead"
    if result.mode != "stale":
        store.remove_many(coords)
    return len(coords)


def request_coverage(bbox: str | list | None, srs: str | None, coverage_file: str | None = None,
                     base_dir: str = ".") -> Coverage | None:
    """The area of a request: a bbox (``minx,miny,maxx,maxy`` or a list) in ``srs``,
    or a WKT/GeoJSON/OGR file (in ``srs``, EPSG:4326 by default); None: everywhere."""
    from ..coverage import CoverageError, load_coverage

    if bbox is not None and coverage_file:
        raise InvalidateError("give a bbox or a coverage file, not both")
    if bbox is None and not coverage_file:
        return None
    if bbox is not None and not srs:
        raise InvalidateError("a bbox needs its srs (such as EPSG:4326)")
    conf = {"datasource": bbox if bbox is not None else coverage_file, "srs": srs or "EPSG:4326"}
    try:
        return load_coverage(conf, base_dir, "bbox" if bbox is not None else "coverage")
    except (CoverageError, ValueError) as ex:
        raise InvalidateError(str(ex)) from None
