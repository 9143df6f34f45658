"""Running seed and cleanup tasks: a walk in the main thread feeds meta tiles to
2N worker threads or processes (``meta.MetaWorker`` does each one, with at most N
source requests in flight: ``-c N``); the runner
counts the results, writes failed tiles to the failed-tiles file, spends the
failure budget, and records finished work units in the progress file for
``--continue``."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import replace
from itertools import islice

from ..grid import MetaTile, TileCoord
from ..tilecache.locks import Lock
from .cleanup import run_cleanup
from .config import Task
from .meta import MetaResult, MetaWorker, SeedOptions, process_init, process_work
from .plan import Plan, Unit, task_estimate
from .progress import Progress, TaskStats
from .resume import ResumeState
from .retry import FailureBudget, TooManyFailures

log = logging.getLogger("tileproxy.seed")

# a work unit: its tile estimate and a way to walk its meta tiles
UnitWork = tuple[int, Callable[[], Iterator[MetaTile]]]


class Interrupted(Exception):
    """The run stopped before the end (duration over, or asked to stop)."""


class _Unit:
    """Bookkeeping of one work unit while its meta tiles are in flight."""

    def __init__(self, index: int, estimate: int, record: bool = True):
        self.index = index
        self.record = record
        self.estimate = estimate
        self.pending = 0
        self.walked = False
        self.complete = True  # no meta tile failed or was skipped
        self.visited = 0
        self.closed = False  # counted as done (once, by whichever thread finishes it)


class Runner:
    def __init__(self, options: SeedOptions, progress: Progress, resume: ResumeState | None = None):
        self.options = options
        self.progress = progress
        self.resume = resume
        self.stop = threading.Event()
        self.stop_reason = ""
        self.budget = FailureBudget(options.retry.max_failures)
        self.meta_worker = MetaWorker(options)
        self._pool: Executor | None = None
        self._lock = threading.Lock()
        self._visited_total = 0
        self._fatal: BaseException | None = None
        self._forced: dict[TileCoord, set[TileCoord]] | None = None

    # -- seeding --------------------------------------------------------------

    def seed(self, task: Task) -> TaskStats:
        """Create missing tiles (refresh stale ones with ``refresh_before``) of ``task``."""
        if self.resume:
            self.resume.bind(task.key, self._signature(task))
            if self.resume.is_finished(task.key):
                self.progress.message(f"{_label(task)}: finished in the interrupted run, skipped")
                return TaskStats()
        if self.options.skip_uncached and task.manager.store.can_list:
            # listing again is cheap, and tiles refreshed before an interruption are fresh now
            units, total = self._cached_units(task)
            return self._run(task, units, total, record_units=False)
        plan = plan_of(task, self.options)
        units = ((plan.estimate(u), lambda u=u: plan.metas(u)) for u in plan.units())
        return self._run(task, units, task_estimate(task))

    def _signature(self, task: Task) -> str:
        """What the unit numbering of a task depends on."""
        parts = [task.levels, task.manager.meta_grid.meta_size, task.grid.resolutions, task.grid.bbox,
                 self.options.skip_uncached, self.options.skip_geoms_for_last_levels, self.options.spread,
                 self.options.shard,
                 task.area.geom.wkb_hex if task.area is not None else None]
        return hashlib.md5(repr(parts).encode()).hexdigest()

    def retry_failed(self, task: Task, coords: list[TileCoord]) -> TaskStats:
        """Render the meta tiles of ``coords`` again and store exactly these tiles."""
        meta_grid = task.manager.meta_grid
        by_meta: dict[TileCoord, set[TileCoord]] = {}
        for c in coords:
            if task.grid.is_valid(c):
                by_meta.setdefault(meta_grid.main_coord(c), set()).add(c)
        self._forced = by_meta
        units = [(len(v), lambda m=m: iter([meta_grid.meta_tile(m)])) for m, v in by_meta.items()]
        try:
            return self._run(task, units, len(coords))
        finally:
            self._forced = None

    def seed_batch(self, task: Task, first: int, count: int, metas: list[TileCoord] | None = None,
                   plan: Plan | None = None, plan_units: list[Unit] | None = None) -> TaskStats:
        """A batch of a job spread over machines: work units ``first`` to
        ``first + count - 1`` of the task's spread plan (``plan_units``: its units,
        when the caller keeps them), or, for --skip-uncached, the meta tiles ``metas``
        (main coords, numbered from ``first``)."""
        if metas is not None:
            meta_grid = task.manager.meta_grid
            units: Iterator[UnitWork] | list[UnitWork] = [
                (len(meta_grid.meta_tile(m).coords), lambda m=m: iter([meta_grid.meta_tile(m)])) for m in metas]
        else:
            plan = plan or plan_of(task, self.options)
            chosen = plan_units[first:first + count] if plan_units is not None else islice(plan.units(), first,
                                                                                             first + count)
            units = [(plan.estimate(u), lambda u=u: plan.metas(u)) for u in chosen]
        return self._run(task, units, 0, first_index=first)

    def signature(self, task: Task) -> str:
        """What the unit numbering of a task depends on: equal on every machine that
        sees the same files."""
        return self._signature(task)

    def cached_metas(self, task: Task) -> list[TileCoord]:
        """The meta tiles (main coords) that hold cached tiles of the task, as --skip-uncached walks them."""
        return [m for m, _ in self._cached_mains(task)]

    def _cached_units(self, task: Task) -> tuple[list[UnitWork], int]:
        """One unit per meta tile that holds cached tiles in the task's levels and area,
        straight from the store's own listing (no pyramid walk)."""
        meta_grid = task.manager.meta_grid
        units: list[UnitWork] = []
        total = 0
        for main, tiles in self._cached_mains(task):
            units.append((tiles, lambda m=main: iter([meta_grid.meta_tile(m)])))
            total += tiles
        return units, total

    def _cached_mains(self, task: Task) -> Iterator[tuple[TileCoord, int]]:
        """(main coord, cached tiles) of the meta tiles with cached tiles in the task's
        levels and area, level by level, in a stable order."""
        grid, meta_grid, store = task.grid, task.manager.meta_grid, task.manager.store
        for level in task.levels:
            mains: dict[TileCoord, int] = {}
            for coord in store.iter_coords(level):
                if not grid.is_valid(coord):
                    continue
                if task.area and not task.area.intersects(grid.tile_bbox(coord)):
                    continue
                main = meta_grid.main_coord(coord)
                mains[main] = mains.get(main, 0) + 1
            for main in sorted(mains):
                yield main, mains[main]

    def _seed_meta(self, task: Task, meta: MetaTile) -> tuple[int, bool]:
        """Work on one meta tile in this process; returns (tiles looked at, complete)."""
        if self.stop.is_set():
            return 0, False
        forced = None
        if self._forced is not None:
            forced = self._forced.get(task.manager.meta_grid.main_coord(meta.main_coord), set())
        result = self.meta_worker.work(task.manager, meta, task.refresh_before, forced, _label(task), self.stop)
        return self._account(task, result)

    def _account(self, task: Task, result: MetaResult) -> tuple[int, bool]:
        """Progress, failed-tiles file, failure budget and the stop hook for one result."""
        if result.stopped:
            return 0, False
        if result.failed:
            if self.options.failed_tiles:
                self.options.failed_tiles.write(task.cache, task.grid_name, result.todo)
            self.progress.advance(result.level, result.bbox, result.visited, failed=len(result.todo))
            self._count(result.visited)
            self.budget.spend()
            return result.visited, False
        self.progress.advance(result.level, result.bbox, result.visited,
                              created=len(result.todo), requests=int(result.rendered))
        return self._count(result.visited), True

    def _count(self, tiles: int) -> int:
        with self._lock:
            self._visited_total += tiles
            limit = self.options.stop_after_tiles
            if limit is not None and self._visited_total >= limit:
                self._halt("stopped after the requested number of tiles")
        return tiles

    # -- cleanup --------------------------------------------------------------

    def cleanup(self, task: Task) -> TaskStats:
        """Remove tiles of ``task`` older than ``remove_before`` (all with ``remove_all``)."""
        stats = run_cleanup(task, self.progress, _label(task), self.options.dry_run, self._check_stop)
        if self.resume:
            self.resume.mark_finished(task.key)
        return stats

    # -- the run loop ---------------------------------------------------------

    def _run(self, task: Task, units: Iterator[UnitWork] | list[UnitWork], total: int,
             record_units: bool = True, first_index: int = 0) -> TaskStats:
        self.progress.start_task(_label(task), total)
        lock = self._cache_lock(task)
        pool = self._executor()
        slots = threading.BoundedSemaphore(2 * self._workers())
        futures: set[Future] = set()
        try:
            shard, shards = self.options.shard
            for index, (estimate, walk) in enumerate(units, first_index):
                self._check_stop()
                if index % shards != shard:
                    self.progress.skip(estimate)
                    continue
                if record_units and self.resume and self.resume.unit_done(task.key, index):
                    self.progress.skip(estimate)
                    continue
                unit = _Unit(index, estimate, record_units)
                for meta in walk():
                    if self._stopping():
                        unit.complete = False
                        break
                    slots.acquire()
                    with self._lock:
                        unit.pending += 1
                    future = self._submit(pool, task, meta)
                    futures.add(future)
                    future.add_done_callback(lambda f, u=unit: self._meta_done(task, u, f, slots))
                with self._lock:
                    unit.walked = True
                self._unit_maybe_done(task, unit)
            wait(futures)
        except BaseException:
            self.stop.set()
            for future in futures:
                future.cancel()
            wait(futures)
            if self.resume:
                self.resume.save()
            raise
        finally:
            if lock:
                lock.release()
        if self._fatal:
            raise self._fatal
        self._check_stop()
        if self.resume:
            self.resume.mark_finished(task.key)
        return self.progress.finish_task()

    def _workers(self) -> int:
        """Twice ``concurrency`` workers: while ``concurrency`` of them wait for the
        sources (the gate of ``MetaWorker`` bounds that), the others do the image work
        of the meta tiles already fetched."""
        return 2 * max(1, self.options.concurrency)

    def _executor(self) -> Executor:
        """Worker threads, or worker processes with ``processes``; one pool per run."""
        if self._pool is None:
            n = max(1, self.options.concurrency)
            if self.options.processes:
                if not self.options.proxy_conf:
                    raise ValueError("worker processes need the proxy configuration file")
                share = replace(self.options, failed_tiles=None)
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    self._workers(), mp_context=context, initializer=process_init,
                    initargs=(self.options.proxy_conf, share, self._workers(), logging.getLogger().level,
                              context.Semaphore(n)))
            else:
                self._pool = ThreadPoolExecutor(self._workers(), thread_name_prefix="seed")
        return self._pool

    def _submit(self, pool: Executor, task: Task, meta: MetaTile) -> Future:
        if not self.options.processes:
            return pool.submit(self._seed_meta, task, meta)
        forced = None
        if self._forced is not None:
            forced = self._forced.get(task.manager.meta_grid.main_coord(meta.main_coord), set())
        return pool.submit(process_work, task.cache, task.grid_name, meta.main_coord, task.refresh_before,
                           forced, _label(task))

    def close(self) -> None:
        """Stop the worker pool (waits for running meta tiles)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _meta_done(self, task: Task, unit: _Unit, future: Future, slots: threading.BoundedSemaphore) -> None:
        slots.release()
        ok, visited = False, 0
        if not future.cancelled():
            try:
                result = future.result()
                # a worker process sends its result here to be counted
                visited, ok = self._account(task, result) if isinstance(result, MetaResult) else result
            except BaseException as ex:  # noqa: BLE001 (kept and raised by the run loop)
                with self._lock:
                    if self._fatal is None:
                        self._fatal = ex
                self.stop.set()
        with self._lock:
            unit.pending -= 1
            unit.visited += visited
            unit.complete = unit.complete and ok
        self._unit_maybe_done(task, unit)

    def _unit_maybe_done(self, task: Task, unit: _Unit) -> None:
        with self._lock:
            if not unit.walked or unit.pending or unit.closed:
                return
            unit.closed = True
        if unit.complete:
            self.progress.skip(unit.estimate - unit.visited)
            if self.resume and unit.record:
                self.resume.mark_unit(task.key, unit.index)
        elif self.resume and unit.record:
            self.resume.mark_incomplete(task.key, unit.index)

    def _halt(self, reason: str) -> None:
        if not self.stop.is_set():
            self.stop_reason = reason
            self.stop.set()

    def _stopping(self) -> bool:
        deadline = self.options.deadline
        if deadline is not None and time.monotonic() >= deadline:
            self._halt("the --duration is over")
        return self.stop.is_set()

    def _check_stop(self) -> None:
        if self._fatal:
            raise self._fatal
        if self._stopping():
            if self.resume:
                self.resume.save()
            raise Interrupted(self.stop_reason or "stopped")

    def _cache_lock(self, task: Task) -> Lock | None:
        if not self.options.use_cache_lock or self.options.dry_run:
            return None
        m = task.manager
        # the cache's lock maker: file locks on this machine, or Redis locks for all nodes
        lock = m.locks.lock(f"seed-{m.lock_id}", 24 * 3600)
        path = getattr(lock, "path", None)
        self.progress.message(f"{_label(task)}: waiting for the seed lock of cache '{task.cache}'"
                              if path and os.path.exists(path) else f"{_label(task)}: locked cache '{task.cache}'")
        lock.acquire()
        return lock


def plan_of(task: Task, options: SeedOptions) -> Plan:
    """The pyramid walk of a seed task, as every shard and worker cuts it into units."""
    return Plan(task.grid, task.manager.meta_grid, task.levels, task.area, options.skip_geoms_for_last_levels,
                spread=options.spread)


def _label(task: Task) -> str:
    return f"{task.kind} {task.name} ({task.cache} in {task.grid_name})"


__all__ = ["Interrupted", "Runner", "TooManyFailures", "UnitWork"]
