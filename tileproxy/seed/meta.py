"""One meta tile's work, in a worker thread or a worker process: which of its
tiles need writing, rendering them once with retries and rate limits, and what
happened (``MetaResult``), which the runner then counts."""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from ..grid import MetaTile, TileCoord
from ..sources.base import SourceError
from ..srs import BBox
from ..stores.base import StoreError, StoreUnwritable
from ..tilecache.locks import LockTimeout
from ..tilecache.manager import TileManager
from ..tilecache.outcomes import TileError
from .failed import FailedTilesLog
from .retry import RateLimiter, RetryPolicy

log = logging.getLogger("tileproxy.seed")

# errors that a later attempt may not have: the source, a lock held too long, a busy cache file
RETRYABLE = (SourceError, LockTimeout, StoreError)


@dataclass
class SeedOptions:
    concurrency: int = 2
    dry_run: bool = False
    skip_uncached: bool = False
    skip_geoms_for_last_levels: int = 0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limit: float | None = None  # requests per second per source
    failed_tiles: FailedTilesLog | None = None
    use_cache_lock: bool = False
    deadline: float | None = None  # time.monotonic() value to stop at (--duration)
    stop_after_tiles: int | None = None  # stop once this many tiles were looked at (tests)
    stopped_early: bool = False  # set when a run ended before its tasks were done
    shard: tuple[int, int] = (0, 1)  # (i, n): this run takes the units whose index % n == i
    spread: bool = False  # finer work units for many machines (shards, Celery): see plan.Plan
    processes: bool = False  # worker processes instead of threads
    proxy_conf: str | None = None  # what worker processes load


@dataclass
class MetaResult:
    """What happened to one meta tile."""

    level: int
    bbox: BBox
    visited: int  # tiles looked at
    todo: list[TileCoord]  # tiles that needed writing (written, would be, or failed)
    rendered: bool = False  # the sources were asked
    failed: bool = False  # failed for good; the cached tiles stayed as they were
    stopped: bool = False  # the run stopped before the sources were asked; nothing written


class Stopped(Exception):
    """The run stopped while this meta tile waited for its turn at the sources."""


class CannotStore(Exception):
    """The cache cannot take tiles (disk full, read-only, no permission): the run stops."""


class _Turn:
    """The gate around one source request; gives up when the run stopped meanwhile."""

    def __init__(self, gate: AbstractContextManager, stop: threading.Event | None):
        self.gate = gate
        self.stop = stop

    def __enter__(self) -> None:
        self.gate.__enter__()
        if self.stop is not None and self.stop.is_set():
            self.gate.__exit__(None, None, None)
            raise Stopped()

    def __exit__(self, *exc: object) -> None:
        self.gate.__exit__(*exc)


class MetaWorker:
    """Decides what a meta tile needs and renders it, with retries and rate limits.
    Runs in worker threads, or once per worker process."""

    def __init__(self, options: SeedOptions, rate_share: int = 1, gate: AbstractContextManager | None = None):
        self.options = options
        self.rate_share = rate_share  # processes sharing the rate limit
        # held around each source request: at most ``concurrency`` requests in flight,
        # while more workers decode, cut, encode and write the meta tiles already fetched
        self.gate = gate if gate is not None else threading.BoundedSemaphore(max(1, options.concurrency))
        self._limiters: dict[int, RateLimiter] = {}
        self._lock = threading.Lock()

    def work(self, manager: TileManager, meta: MetaTile, refresh_before: float | None,
             forced: set[TileCoord] | None, label: str, stop: threading.Event | None = None) -> MetaResult:
        coords = meta.coords
        bbox = manager.grid.tiles_bbox([coords[0], coords[-1]])
        todo = sorted(forced) if forced is not None else self.todo(manager, coords, refresh_before)
        result = MetaResult(meta.level, bbox, len(coords), todo)
        if not todo or self.options.dry_run:
            return result
        only = set(todo) if len(todo) < len(coords) else None

        def render() -> object:
            self._rate_limit(manager)
            try:
                return manager.creator.refresh_meta(meta, only, _Turn(self.gate, stop))
            except StoreUnwritable as ex:  # not retried: every later tile would fail the same way
                raise CannotStore(f"cache '{manager.name}' cannot store tiles: {ex}") from None

        def on_retry(attempt: int, ex: BaseException, wait: float) -> None:
            log.warning("%s: tiles %s (level %d): %s; retry %d in %.1fs", label, _coord_list(todo),
                        meta.level, ex, attempt, wait)

        try:
            self.options.retry.run(render, RETRYABLE, on_retry, stop)
        except Stopped:
            result.visited, result.stopped = 0, True
            return result
        except (*RETRYABLE, TileError) as ex:
            log.error("%s: tiles %s (level %d) failed, cached tiles kept: %s", label, _coord_list(todo),
                      meta.level, ex)
            result.failed = True
            return result
        result.rendered = True
        return result

    def todo(self, manager: TileManager, coords: list[TileCoord], refresh_before: float | None) -> list[TileCoord]:
        """The tiles of a meta tile to write: missing ones (unless --skip-uncached) and
        cached ones older than ``refresh_before`` (all cached ones when the store
        keeps no timestamps)."""
        store = manager.store
        todo = []
        # one bulk look-up for the meta tile (one round trip on remote stores)
        if store.supports_timestamps:
            times = store.timestamps_many(coords)
            hits = [ts is not None for ts in times]
        else:
            hits = store.cached_many(coords)
            times = [None] * len(coords)
        for c, cached, ts in zip(coords, hits, times):
            if store.supports_timestamps:
                stale = cached and refresh_before is not None and ts < refresh_before  # type: ignore[operator]
            else:
                stale = cached and refresh_before is not None
            if stale or (not cached and not self.options.skip_uncached):
                todo.append(c)
        return todo

    def _rate_limit(self, manager: TileManager) -> None:
        if not self.options.rate_limit:
            return
        for source in manager.sources:
            with self._lock:
                limiter = self._limiters.get(id(source))
                if limiter is None:
                    limiter = RateLimiter(self.options.rate_limit / self.rate_share)
                    self._limiters[id(source)] = limiter
            limiter.acquire()


# -- worker processes ----------------------------------------------------------

_PROCESS: dict = {}


def process_init(proxy_conf: str, options: SeedOptions, share: int, log_level: int,
                 gate: AbstractContextManager | None = None) -> None:
    """Each worker process loads the proxy configuration once."""
    from ..config.build import load_proxy_config
    from ..sources.limits import set_seeding

    set_seeding(True)  # seed_only sources answer in seeding runs
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    logging.basicConfig(level=log_level or logging.WARNING, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    _PROCESS["proxy"] = load_proxy_config(proxy_conf)
    _PROCESS["worker"] = MetaWorker(options, rate_share=share, gate=gate)


def process_work(cache: str, grid: str, main: TileCoord, refresh_before: float | None,
                  forced: set[TileCoord] | None, label: str) -> MetaResult:
    manager = _PROCESS["proxy"].caches[cache].managers[grid]
    return _PROCESS["worker"].work(manager, manager.meta_grid.meta_tile(main), refresh_before, forced, label)


def _coord_list(coords: list[TileCoord]) -> str:
    shown = ", ".join(f"{z}/{x}/{y}" for x, y, z in coords[:4])
    return shown + (f" and {len(coords) - 4} more" if len(coords) > 4 else "")
