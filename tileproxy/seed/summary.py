"""Plain-text descriptions of tasks for ``--summary`` and ``--interactive``."""

from __future__ import annotations

from .config import Task
from .plan import task_estimate
from .timespec import format_time


def describe(task: Task) -> str:
    grid = task.grid
    lines = [f"{task.kind} task '{task.name}': cache {task.cache}, grid {task.grid_name} ({grid.srs.code})",
             f"  levels: {_levels(task.levels)}"]
    lines.append(f"  coverage: {', '.join(task.coverage_names) if task.coverage_names else 'the whole grid'}")
    if task.kind == "seed":
        if task.refresh_before is not None:
            lines.append(f"  refresh: tiles older than {format_time(task.refresh_before)}")
        else:
            lines.append("  refresh: none, only missing tiles")
    elif task.remove_all:
        lines.append("  remove: all tiles")
    elif task.remove_before is not None:
        lines.append(f"  remove: tiles older than {format_time(task.remove_before)}")
    lines.append(f"  tiles: at most {task_estimate(task)}")
    return "\n".join(lines)


def _levels(levels: list[int]) -> str:
    if levels == list(range(levels[0], levels[-1] + 1)) and len(levels) > 2:
        return f"{levels[0]} to {levels[-1]} ({len(levels)} levels)"
    return ", ".join(str(lvl) for lvl in levels)
