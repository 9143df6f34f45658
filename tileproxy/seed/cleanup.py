"""Cleanup tasks: remove tiles older than ``remove_before`` (or all of them) in
the task's levels and area, driven by what the cache lists where it can."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..grid import TileCoord
from .config import Task
from .plan import Plan, task_estimate
from .progress import Progress, TaskStats

BATCH = 256


def run_cleanup(task: Task, progress: Progress, label: str, dry_run: bool = False,
                check_stop: Callable[[], None] = lambda: None) -> TaskStats:
    """Whole levels at once where the store can (``remove_all`` without an area);
    otherwise the cached tiles of each level, listed by the store (or walked over the
    area for stores that cannot list), checked against the area and the time."""
    store, grid = task.manager.store, task.grid
    progress.start_task(label, task_estimate(task))
    fast = task.remove_all and task.area is None and not dry_run
    for level in task.levels:
        check_stop()
        if fast and store.remove_level(level):
            progress.advance(level, grid.bbox, 0)
            continue
        batch: list[TileCoord] = []
        for coord in _candidates(task, level):
            batch.append(coord)
            if len(batch) >= BATCH:
                _remove(task, level, batch, progress, dry_run)
                check_stop()
                batch = []
        _remove(task, level, batch, progress, dry_run)
    return progress.finish_task()


def _candidates(task: Task, level: int) -> Iterator[TileCoord]:
    store, grid, area = task.manager.store, task.grid, task.area
    if store.can_list:
        coords: Iterator[TileCoord] = store.iter_coords(level)
    else:
        plan = Plan(grid, task.manager.meta_grid, [level], area)
        coords = (c for u in plan.units() for m in plan.metas(u) for c in m.coords)
    return (c for c in coords if area is None or area.intersects(grid.tile_bbox(c)))


def _remove(task: Task, level: int, coords: list[TileCoord], progress: Progress, dry_run: bool) -> None:
    if not coords:
        return
    store = task.manager.store
    if task.remove_all:
        doomed = coords if store.can_list else [c for c, hit in zip(coords, store.cached_many(coords)) if hit]
    else:
        before = task.remove_before or 0.0
        doomed = [c for c, ts in zip(coords, store.timestamps_many(coords)) if _older(ts, before)]
    if doomed and not dry_run:
        store.remove_many(doomed)
    progress.advance(level, task.grid.tiles_bbox([coords[0], coords[-1]]), len(coords), removed=len(doomed))


def _older(timestamp: float | None, before: float) -> bool:
    return timestamp is not None and timestamp < before
