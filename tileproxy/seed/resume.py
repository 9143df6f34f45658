"""The progress file behind ``--continue``: which work units of which task are
finished. Written atomically, removed after a complete run."""

from __future__ import annotations

import json
import logging
import os
import threading
import time

from ..stores.file import write_atomic

log = logging.getLogger("tileproxy.seed")

DEFAULT_PROGRESS_FILE = ".tileproxy_seed_progress"


class ResumeState:
    """Per task key: ``prefix`` (units 0..prefix-1 are finished), ``done`` (finished
    units after the prefix) and ``finished``. ``start`` is the first run's start time,
    so relative ``refresh_before``/``remove_before`` keep their meaning on resume."""

    def __init__(self, path: str, start: float, min_interval: float = 1.0):
        self.path = path
        self.start = start
        self.tasks: dict[str, dict] = {}
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._saved = 0.0

    @classmethod
    def load(cls, path: str, start: float) -> ResumeState:
        """The state in ``path``, or a fresh one when there is none (or it is unreadable)."""
        state = cls(path, start)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if data.get("version") != 1:
                raise ValueError("unknown version")
            state.start = float(data["start"])
            state.tasks = {k: {"prefix": int(v.get("prefix", 0)), "done": set(v.get("done", [])),
                               "finished": bool(v.get("finished")), "plan": str(v.get("plan", ""))}
                           for k, v in data["tasks"].items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as ex:
            log.warning("%s: cannot continue from this progress file (%s); starting over", path, ex)
        return state

    def _task(self, key: str) -> dict:
        return self.tasks.setdefault(key, {"prefix": 0, "done": set(), "finished": False, "plan": ""})

    def bind(self, key: str, plan: str) -> None:
        """Tie the progress of ``key`` to a plan signature; progress recorded for
        another plan (seed.yaml changed in between) is dropped."""
        with self._lock:
            t = self._task(key)
            if t["plan"] and t["plan"] != plan:
                log.warning("%s: %s changed since the interrupted run; starting it over", self.path, key)
                t.update(prefix=0, done=set(), finished=False)
            t["plan"] = plan

    def is_finished(self, key: str) -> bool:
        return self.tasks.get(key, {}).get("finished", False)

    def unit_done(self, key: str, index: int) -> bool:
        t = self.tasks.get(key)
        return bool(t) and (index < t["prefix"] or index in t["done"])

    def mark_unit(self, key: str, index: int) -> None:
        with self._lock:
            t = self._task(key)
            t["done"].add(index)
            while t["prefix"] in t["done"]:
                t["done"].discard(t["prefix"])
                t["prefix"] += 1
        self.save(force=False)

    def mark_incomplete(self, key: str, index: int) -> None:
        """A unit ended with failures: it runs again on --continue."""

    def mark_finished(self, key: str) -> None:
        with self._lock:
            t = self._task(key)
            t["finished"], t["done"] = True, set()
        self.save()

    def save(self, force: bool = True) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._saved < self.min_interval:
                return
            self._saved = now
            data = {"version": 1, "start": self.start,
                    "tasks": {k: {"prefix": v["prefix"], "done": sorted(v["done"]), "finished": v["finished"],
                                  "plan": v["plan"]} for k, v in self.tasks.items()}}
            write_atomic(os.path.abspath(self.path), json.dumps(data, indent=1).encode())

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
