"""The state of a seed job run by Celery workers, kept in Redis, so that the
command that enqueued it (or any other with ``--status``) follows it live.

Keys under ``tileproxy:seed:<job>`` (the job id is a hash of the configuration
files and the selected tasks, so the same command finds the same job):

- the hash itself: ``run`` (id of the current run: messages of older runs are
  dropped), ``start`` (the first run's start time, for relative
  ``refresh_before``), ``units`` enqueued, ``ended`` units, tile counters
  (``visited``, ``created``, ``failed``, ``requests``), ``failed_metas`` (the
  failure budget spent), ``stopped`` (why the job stopped early);
- ``:done`` the ids of units finished completely (skipped when a batch is
  delivered again, and by ``--continue``), ``:ended`` units finished with or
  without failures in this run, ``:failed_tiles`` failed-tile lines.

The workers' side (``JobResume``, ``JobProgress``, ``JobFailedTiles``,
``JobBudget``) plugs into ``worker.Runner`` where a single run uses the
progress file, the terminal, the failed-tiles file and a local budget."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any

from ..grid import TileCoord
from ..srs import BBox
from .progress import Progress
from .retry import FailureBudget, TooManyFailures

PREFIX = "tileproxy:seed:"
COUNTERS = ("units", "ended", "visited", "created", "failed", "requests", "failed_metas")


def job_id(*parts: object) -> str:
    return hashlib.md5(repr(parts).encode()).hexdigest()[:16]


def unit_id(task_key: str, index: int) -> str:
    return f"{task_key}#{index}"


class Job:
    """One job's keys in Redis (``client``: a redis-py client)."""

    def __init__(self, client: Any, job: str):
        self.client = client
        self.id = job
        self.key = PREFIX + job

    # -- the enqueuing side ---------------------------------------------------

    def exists(self) -> bool:
        return bool(self.client.exists(self.key))

    def reset(self, run: str, start: float, info: dict[str, str]) -> None:
        """A fresh run: counters and unit sets cleared."""
        pipe = self.client.pipeline()
        pipe.delete(self.key, self.key + ":done", self.key + ":ended", self.key + ":failed_tiles")
        pipe.hset(self.key, mapping={"run": run, "start": repr(start), "created_at": repr(time.time()),
                                     **info, **dict.fromkeys(COUNTERS, 0)})
        pipe.execute()

    def continue_run(self, run: str) -> None:
        """Go on with the finished units kept; what ended with failures runs again.
        Counters and failed tiles start over: they tell about this run."""
        pipe = self.client.pipeline()
        pipe.delete(self.key + ":ended", self.key + ":failed_tiles")
        pipe.hdel(self.key, "stopped")
        pipe.hset(self.key, mapping={"run": run, **dict.fromkeys(COUNTERS, 0)})
        pipe.execute()

    def add_units(self, count: int) -> None:
        self.client.hincrby(self.key, "units", count)

    def done_units(self, task_key: str) -> set[int]:
        prefix = task_key + "#"
        return {int(m[len(prefix):]) for m in (v.decode() for v in self.client.smembers(self.key + ":done"))
                if m.startswith(prefix)}

    def state(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.client.hgetall(self.key).items()}

    def failed_tiles(self) -> list[str]:
        return [v.decode() for v in self.client.lrange(self.key + ":failed_tiles", 0, -1)]

    # -- the workers' side ----------------------------------------------------

    def current_run(self) -> str | None:
        run = self.client.hget(self.key, "run")
        return run.decode() if run is not None else None

    def stopped(self) -> str | None:
        reason = self.client.hget(self.key, "stopped")
        return reason.decode() if reason is not None else None

    def stop(self, reason: str) -> None:
        self.client.hsetnx(self.key, "stopped", reason)

    def end_unit(self, uid: str, complete: bool) -> None:
        """Record a unit's end once, however often its batch is delivered."""
        pipe = self.client.pipeline()
        if complete:
            pipe.sadd(self.key + ":done", uid)
        pipe.sadd(self.key + ":ended", uid)
        first_end = pipe.execute()[-1]
        if first_end:
            self.client.hincrby(self.key, "ended", 1)

    def is_done(self, uid: str) -> bool:
        return bool(self.client.sismember(self.key + ":done", uid))


class JobResume:
    """``ResumeState`` for a batch: finished units live in the job's ``:done`` set."""

    def __init__(self, job: Job):
        self.job = job

    def bind(self, key: str, plan: str) -> None:
        pass  # the enqueuer checked the plan; workers see the same files

    def is_finished(self, key: str) -> bool:
        return False

    def unit_done(self, key: str, index: int) -> bool:
        return self.job.is_done(unit_id(key, index))

    def mark_unit(self, key: str, index: int) -> None:
        self.job.end_unit(unit_id(key, index), True)

    def mark_incomplete(self, key: str, index: int) -> None:
        self.job.end_unit(unit_id(key, index), False)

    def mark_finished(self, key: str) -> None:
        pass

    def save(self, force: bool = True) -> None:
        pass


class JobProgress(Progress):
    """Silent here; adds each meta tile's counts to the job's counters."""

    def __init__(self, job: Job):
        super().__init__("silent")
        self.job = job

    def advance(self, level: int, bbox: BBox, visited: int, created: int = 0, removed: int = 0,
                failed: int = 0, requests: int = 0) -> None:
        super().advance(level, bbox, visited, created, removed, failed, requests)
        pipe = self.job.client.pipeline()
        for name, value in (("visited", visited), ("created", created), ("failed", failed), ("requests", requests)):
            if value:
                pipe.hincrby(self.job.key, name, value)
        pipe.execute()


class JobFailedTiles:
    """The failed-tiles file's interface, into the job's ``:failed_tiles`` list."""

    def __init__(self, job: Job):
        self.job = job
        self.count = 0

    def write(self, cache: str, grid: str, coords: Iterable[TileCoord]) -> None:
        lines = [f"{cache} {grid} {z}/{x}/{y}" for x, y, z in coords]
        if lines:
            self.job.client.rpush(self.job.key + ":failed_tiles", *lines)
            self.count += len(lines)

    def close(self) -> None:
        pass


class JobBudget(FailureBudget):
    """The failure budget of the whole job, shared by every worker."""

    def __init__(self, job: Job, limit: int | None):
        super().__init__(limit)
        self.job = job

    def spend(self) -> None:
        spent = self.job.client.hincrby(self.job.key, "failed_metas", 1)
        if self.limit is not None and spent > self.limit:
            reason = f"more than {self.limit} meta tiles failed; stopping"
            self.job.stop(reason)
            raise TooManyFailures(reason)
