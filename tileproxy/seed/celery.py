"""Seed work units on Celery workers, through Redis:

    celery -A tileproxy.seed.celery -b redis://host:6379/0 worker -Q tileproxy-seed

on any number of machines that see the same mapproxy.yaml and seed.yaml (same
paths) and the same cache. ``tileproxy-seed ... --celery redis://host:6379/0``
enqueues batches of work units (``celery_queue``); each batch runs here through
``worker.Runner`` with the job's options (``-c`` source requests in flight per
batch, retries, rate limit per worker), its progress, failed tiles and finished
units going to the job's keys in Redis (``jobs``).

Messages are acknowledged when their batch is done (``acks_late``) and given back
when the worker process dies (``reject_on_worker_lost``); when the whole worker
dies, Redis hands its batch to another worker after the visibility timeout
(``TILEPROXY_CELERY_VISIBILITY_TIMEOUT`` seconds, default 12 hours: keep it above
the longest batch, or a batch still running is started a second time). Units
finished before a worker died are not done again.

The Celery app (``app``) is built when first asked for, so that importing this
module needs no Celery (the optional extra ``tileproxy[celery]``)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from ..grid import TileCoord
from .jobs import Job, JobBudget, JobFailedTiles, JobProgress, JobResume
from .meta import CannotStore, SeedOptions
from .retry import RetryPolicy, TooManyFailures

if TYPE_CHECKING:
    from .config import Task
    from .plan import Plan, Unit

log = logging.getLogger("tileproxy.seed")

QUEUE = "tileproxy-seed"
TASK = "tileproxy.seed.batch"
DEFAULT_VISIBILITY_TIMEOUT = 12 * 3600.0


def make_app(broker: str | None = None) -> Any:
    """The Celery app; ``broker`` (a redis:// URL) else ``CELERY_BROKER_URL`` (``celery -b``)."""
    from celery import Celery

    visibility = float(os.environ.get("TILEPROXY_CELERY_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT))
    app = Celery("tileproxy-seed", broker=broker or os.environ.get("CELERY_BROKER_URL") or "redis://localhost:6379/0")
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker holds only the batch it runs
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility,
            # look for the batches of dead workers often enough to notice the timeout
            "unacked_restore_interval": max(1.0, min(60.0, visibility / 4)),
            "unacked_restore_throttle": 1,
        },
    )
    app.task(name=TASK)(run_batch)
    return app


_APP: Any = None
_APP_LOCK = threading.Lock()


def __getattr__(name: str) -> Any:
    """``app``: what ``celery -A tileproxy.seed.celery`` looks for."""
    global _APP
    if name != "app":
        raise AttributeError(name)
    with _APP_LOCK:
        if _APP is None:
            _APP = make_app()
    return _APP


# -- the worker's side -----------------------------------------------------------

_CONFIGS: dict[tuple, dict] = {}  # per worker process: the seed tasks of loaded configurations
_CLIENTS: dict[str, Any] = {}


def _redis(url: str) -> Any:
    client = _CLIENTS.get(url)
    if client is None:
        import redis

        client = _CLIENTS[url] = redis.Redis.from_url(url)
    return client


def _tasks(proxy_conf: str, seed_conf: str, start: float) -> dict:
    """The seed tasks by key, loaded once per worker process (again when a file changed)."""
    from pathlib import Path

    from ..config.build import load_proxy_config
    from .config import load_seed_config

    key = (proxy_conf, seed_conf, start, os.stat(proxy_conf).st_mtime, os.stat(seed_conf).st_mtime)
    tasks = _CONFIGS.get(key)
    if tasks is None:
        proxy = load_proxy_config(proxy_conf)
        conf = load_seed_config(seed_conf, proxy, start, proxy_dir=str(Path(proxy_conf).parent))
        tasks = _CONFIGS[key] = {t.key: t for t in conf.seeds}
    return tasks


_PLANS: dict[tuple[str, str], tuple] = {}


def _plan(task: Task, options: SeedOptions, signature: str) -> tuple[Plan, list[Unit]]:
    """The task's plan and its units, walked once per worker process."""
    from .worker import plan_of

    key = (task.key, signature)
    if key not in _PLANS:
        plan = plan_of(task, options)
        while len(_PLANS) >= 4:  # the plans of the last few tasks
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[key] = (plan, list(plan.units()))
    return _PLANS[key]


def batch_options(options: SeedOptions) -> dict:
    """What a batch message carries of the command's options."""
    retry = options.retry
    return {"concurrency": options.concurrency, "skip_uncached": options.skip_uncached,
            "skip_geoms_for_last_levels": options.skip_geoms_for_last_levels, "rate_limit": options.rate_limit,
            "max_retries": retry.max_retries, "retry_delay": retry.delay, "max_failures": retry.max_failures}


def run_batch(message: dict) -> dict:
    """Run one batch: ``message`` names the job, its run, the configuration files,
    the task and the units (``first``, ``count``) or meta tiles (``metas``)."""
    from ..sources.limits import set_seeding

    set_seeding(True)  # seed_only sources answer in seeding runs
    job = Job(_redis(message["redis"]), message["job"])
    if job.current_run() != message["run"]:
        return {"skipped": "from an earlier run of the job"}
    if job.stopped():
        return {"skipped": "the job stopped"}
    try:
        return _run_batch(job, message)
    except Exception as ex:
        # the batch's units would never end: stop the job, so that its followers learn why
        job.stop(f"worker {socket.gethostname()} pid {os.getpid()}: {type(ex).__name__}: {ex}")
        raise


def _run_batch(job: Job, message: dict) -> dict:
    from .worker import Runner

    task = _tasks(message["proxy_conf"], message["seed_conf"], float(message["start"])).get(message["task"])
    if task is None:
        job.stop(f"worker: no seed task {message['task']} in {message['seed_conf']}")
        return {"skipped": "unknown task"}
    o = message["options"]
    options = SeedOptions(
        concurrency=int(o["concurrency"]), skip_uncached=bool(o["skip_uncached"]),
        skip_geoms_for_last_levels=int(o["skip_geoms_for_last_levels"]), rate_limit=o["rate_limit"],
        retry=RetryPolicy(max_retries=int(o["max_retries"]), delay=float(o["retry_delay"]),
                          max_failures=o["max_failures"]),
        spread=True)
    options.failed_tiles = JobFailedTiles(job)  # type: ignore[assignment]
    runner = Runner(options, JobProgress(job), JobResume(job))  # type: ignore[arg-type]
    runner.budget = JobBudget(job, options.retry.max_failures)
    if runner.signature(task) != message["plan"]:
        job.stop(f"worker {socket.gethostname()} pid {os.getpid()}: task {task.key} of {message['seed_conf']} "
                 "is not what the command enqueued (other files or tileproxy version on this machine?)")
        return {"skipped": "another plan"}
    metas: list[TileCoord] | None = None
    plan = plan_units = None
    if message.get("metas") is not None:
        metas = [(int(x), int(y), int(z)) for x, y, z in message["metas"]]
    else:
        plan, plan_units = _plan(task, options, message["plan"])
    try:
        stats = runner.seed_batch(task, int(message["first"]), int(message["count"]), metas, plan, plan_units)
    except TooManyFailures as ex:
        return {"stopped": str(ex)}
    except CannotStore as ex:
        job.stop(str(ex))
        return {"stopped": str(ex)}
    finally:
        runner.close()
    return {"visited": stats.visited, "created": stats.created, "failed": stats.failed, "requests": stats.requests}
