"""The command's side of seeding on Celery (``tileproxy-seed --celery URL``):
cut each seed task into batches of work units, enqueue them, and follow the
job's progress in Redis until every unit ended (``--status`` follows a job
that is already running)."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from .config import Task
from .jobs import Job, job_id
from .meta import SeedOptions
from .timespec import format_duration

BATCH_TILES = 256  # a batch holds units up to about this many tiles (a unit is never cut)


@dataclass
class JobRef:
    """The job of one command line: its Redis client and id."""

    url: str
    job: Job
    proxy_conf: str
    seed_conf: str


def open_job(url: str, proxy_conf: str, seed_conf: str, tasks: list[Task], options: SeedOptions) -> JobRef:
    """The job of these files and tasks (the same command line gives the same job)."""
    import redis

    client = redis.Redis.from_url(url)
    proxy_conf, seed_conf = os.path.abspath(proxy_conf), os.path.abspath(seed_conf)
    ident = job_id(proxy_conf, seed_conf, sorted(t.key for t in tasks), options.skip_uncached,
                   options.skip_geoms_for_last_levels)
    return JobRef(url, Job(client, ident), proxy_conf, seed_conf)


def _batches(runner: Any, task: Task, options: SeedOptions, done: set[int]) -> Iterator[tuple[int, int, list | None, int]]:
    """(first, count, metas or None, units still to do) of each batch of the task."""
    if options.skip_uncached and task.manager.store.can_list:
        metas = runner.cached_metas(task)
        per_batch = max(1, BATCH_TILES // max(1, len(task.manager.meta_grid.meta_tile(metas[0]).coords))) if metas else 1
        for first in range(0, len(metas), per_batch):
            part = metas[first:first + per_batch]
            todo = sum(1 for i in range(first, first + len(part)) if i not in done)
            if todo:
                yield first, len(part), [list(m) for m in part], todo
        return
    from .worker import plan_of

    plan = plan_of(task, options)
    first, count, tiles, todo = 0, 0, 0, 0
    for index, unit in enumerate(plan.units()):
        count += 1
        tiles += plan.estimate(unit)
        todo += index not in done
        if tiles >= BATCH_TILES:
            if todo:
                yield first, count, None, todo
            first, count, tiles, todo = index + 1, 0, 0, 0
    if count and todo:
        yield first, count, None, todo


def enqueue(ref: JobRef, tasks: list[Task], options: SeedOptions, start: float, cont: bool) -> tuple[int, int]:
    """Start (or with ``cont`` continue) the job: its batches go to the queue.
    Returns (batches, units)."""
    from .celery import QUEUE, TASK, batch_options, make_app
    from .progress import Progress
    from .worker import Runner

    job = ref.job
    run = uuid.uuid4().hex
    if cont and job.exists():
        start = float(job.state().get("start", start))
        job.continue_run(run)
    else:
        job.reset(run, start, {"proxy_conf": ref.proxy_conf, "seed_conf": ref.seed_conf,
                               "tasks": ",".join(t.key for t in tasks)})
        cont = False
    runner = Runner(options, Progress("silent"))
    base = {"job": job.id, "run": run, "redis": ref.url, "proxy_conf": ref.proxy_conf, "seed_conf": ref.seed_conf,
            "start": start, "options": batch_options(options)}
    messages, units = [], 0
    for task in tasks:
        done = job.done_units(task.key) if cont else set()
        plan = runner.signature(task)
        for first, count, metas, todo in _batches(runner, task, options, done):
            messages.append({**base, "task": task.key, "plan": plan, "first": first, "count": count,
                             "metas": metas})
            units += todo
    job.add_units(units)  # all of them before the first batch can end
    app = make_app(ref.url)
    with app.producer_or_acquire() as producer:
        for message in messages:
            app.send_task(TASK, args=[message], queue=QUEUE, producer=producer)
    return len(messages), units


def queued_batches(ref: JobRef) -> int:
    from .celery import QUEUE

    return int(ref.job.client.llen(QUEUE))


def follow(ref: JobRef, mode: str = "text", failed_tiles: str | None = None, interval: float = 1.0,
           stream: TextIO | None = None) -> int:
    """Show the job's progress until every unit ended (or the job stopped); write
    the failed tiles to ``failed_tiles``. Exit status as a single run's: 0, 1 some
    tiles failed, 3 too many failures or the cache cannot store tiles."""
    stream = stream or sys.stderr
    state = ref.job.state()
    if not state:
        raise LookupError(f"no seed job {ref.job.id} in {ref.url} for these configurations and tasks")
    began = time.monotonic()
    ended0 = int(state.get("ended", 0))
    while True:
        state = ref.job.state()
        units, ended = int(state.get("units", 0)), int(state.get("ended", 0))
        stopped = state.get("stopped")
        finished = ended >= units or bool(stopped)
        _show(stream, mode, ref, state, queued_batches(ref), ended - ended0, time.monotonic() - began, finished)
        if finished:
            break
        time.sleep(interval)
    lines = ref.job.failed_tiles()
    if failed_tiles:
        with open(failed_tiles, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
    if stopped:
        _message(stream, mode, f"error: {stopped}")
        return 3
    return 1 if lines else 0


def _show(stream: TextIO, mode: str, ref: JobRef, state: dict[str, str], queued: int, ended_here: int,
          elapsed: float, finished: bool) -> None:
    if mode == "silent" or (mode == "quiet" and not finished):
        return
    units, ended = int(state.get("units", 0)), int(state.get("ended", 0))
    counts = {k: int(state.get(k, 0)) for k in ("visited", "created", "failed", "requests")}
    pace = ended_here / elapsed if elapsed > 0 else 0.0
    eta = (units - ended) / pace if pace > 0 and units > ended else (0.0 if units <= ended else None)
    percent = round(100.0 * ended / units, 2) if units else 100.0
    if mode == "json":
        event = "done" if finished else "progress"
        stream.write(json.dumps({"event": event, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "job": ref.job.id,
                                 "units": units, "ended": ended, "percent": percent, "queued": queued,
                                 "eta": None if eta is None else round(eta, 1), **counts}) + "\n")
    else:
        what = "done" if finished else f"{percent:6.2f}%"
        eta_text = "" if finished else f", ETA {format_duration(eta) if eta is not None else '?'}"
        stream.write(f"[{time.strftime('%H:%M:%S')}] job {ref.job.id}: {what} {ended}/{units} units, "
                     f"{counts['visited']} tiles checked, {counts['created']} written, {counts['failed']} failed, "
                     f"{counts['requests']} source requests, {queued} batches queued{eta_text}\n")
    stream.flush()


def _message(stream: TextIO, mode: str, text: str) -> None:
    if mode == "json":
        stream.write(json.dumps({"event": "message", "message": text}) + "\n")
    elif mode != "silent":
        stream.write(text + "\n")
    stream.flush()
