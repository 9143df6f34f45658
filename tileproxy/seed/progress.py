"""What a running seed shows: tiles done of total, rate, ETA, current level and
area, as text lines for people, JSON lines for cron and log collectors, or
nothing (quiet)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TextIO

from ..srs import BBox
from .timespec import format_duration


@dataclass
class TaskStats:
    visited: int = 0  # tiles looked at (created, refreshed, already fresh, or removed)
    created: int = 0  # tiles written
    removed: int = 0
    failed: int = 0  # tiles whose meta tile failed for good
    requests: int = 0  # meta tiles rendered from the sources


class Progress:
    """Thread-safe; prints at most once per ``interval`` seconds (and at task ends).
    ``mode``: ``text``, ``json``, ``quiet`` (task summaries only) or ``silent``."""

    def __init__(self, mode: str = "text", stream: TextIO | None = None, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, dry_run: bool = False):
        self.mode = mode
        self.dry_run = dry_run
        self.stream = stream or sys.stderr
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self.task_label = ""
        self.stats = TaskStats()
        self.total = 0
        self.done = 0  # visited tiles plus tiles skipped with whole units
        self.level: int | None = None
        self.bbox: BBox | None = None
        self._started = self._last = 0.0

    # -- task lifecycle -------------------------------------------------------

    def start_task(self, label: str, total: int, already_done: int = 0) -> None:
        with self._lock:
            self.task_label = label
            self.stats = TaskStats()
            self.total = max(total, 1)
            self.done = already_done
            self._base_done = already_done
            self.level, self.bbox = None, None
            self._started = self._last = self.clock()
        self._emit("start", force=True)

    def advance(self, level: int, bbox: BBox, visited: int, created: int = 0, removed: int = 0,
                failed: int = 0, requests: int = 0) -> None:
        with self._lock:
            s = self.stats
            s.visited += visited
            s.created += created
            s.removed += removed
            s.failed += failed
            s.requests += requests
            self.done += visited
            self.level, self.bbox = level, bbox
            due = self.clock() - self._last >= self.interval
        if due:
            self._emit("progress")

    def skip(self, tiles: int) -> None:
        """Tiles of a finished unit that the walk never had to look at."""
        with self._lock:
            self.done += max(tiles, 0)

    def finish_task(self, status: str = "done") -> TaskStats:
        self._emit(status, force=True)
        return self.stats

    def message(self, text: str) -> None:
        if self.mode == "silent":
            return
        if self.mode == "json":
            self._write(json.dumps({"event": "message", "time": _now_iso(), "message": text}))
        else:
            self._write(text)

    # -- output ---------------------------------------------------------------

    def snapshot(self) -> dict:
        with self._lock:
            elapsed = max(self.clock() - self._started, 1e-9)
            own = self.done - self._base_done
            rate = self.stats.visited / elapsed
            pace = own / elapsed
            remaining = max(self.total - self.done, 0)
            return {
                "task": self.task_label,
                "level": self.level,
                "bbox": [round(v, 6) for v in self.bbox] if self.bbox else None,
                "done": min(self.done, self.total),
                "total": self.total,
                "percent": round(min(100.0, 100.0 * self.done / self.total), 2),
                "rate": round(rate, 2),
                "eta": round(remaining / pace, 1) if pace > 0 and remaining else (0.0 if not remaining else None),
                "elapsed": round(elapsed, 2),
                **asdict(self.stats),
            }

    def _emit(self, event: str, force: bool = False) -> None:
        if self.mode == "silent" or (self.mode == "quiet" and event in ("start", "progress")):
            return
        with self._lock:
            if not force and self.clock() - self._last < self.interval:
                return
            self._last = self.clock()
        snap = self.snapshot()
        if event not in ("start", "progress"):
            snap["percent"], snap["done"], snap["eta"] = 100.0, snap["total"], 0.0
        if self.mode == "json":
            self._write(json.dumps({"event": event, "time": _now_iso(), **snap}))
            return
        self._write(_text_line(event, snap, self.dry_run))

    def _write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _text_line(event: str, s: dict, dry_run: bool = False) -> str:
    stamp = time.strftime("%H:%M:%S")
    if event == "start":
        return f"[{stamp}] {s['task']}: ~{s['total']} tiles to check"
    if event == "progress":
        level = f"L{s['level']:>2}" if s["level"] is not None else "L -"
        bbox = _format_bbox(s["bbox"]) if s["bbox"] else ""
        eta = format_duration(s["eta"]) if s["eta"] is not None else "?"
        return (f"[{stamp}] {level} {s['percent']:6.2f}% {bbox} ({s['done']}/~{s['total']} tiles, "
                f"{s['rate']:.1f} tiles/s, ETA {eta})")
    written, removed = ("would write", "would remove") if dry_run else ("written", "removed")
    return (f"[{stamp}] {s['task']}: {event}: {s['visited']} tiles checked, {s['created']} {written}, "
            f"{s['removed']} {removed}, {s['failed']} failed, {s['requests']} source requests "
            f"in {format_duration(s['elapsed'])}")


def _format_bbox(bbox: list[float]) -> str:
    """Whole units for projected coordinates, five decimals for degrees."""
    digits = 0 if max(abs(v) for v in bbox) > 360 else 5
    return ", ".join(f"{v:.{digits}f}" for v in bbox)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
