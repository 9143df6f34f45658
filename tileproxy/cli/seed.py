"""``tileproxy-seed``: create, refresh and clean up cached tiles ahead of time,
with the options of ``mapproxy-seed`` plus retries, rate limits and JSON progress.

Exit status: 0 done (or stopped by --duration), 1 some tiles failed, 2 bad
configuration or arguments, 3 too many failures, 130 interrupted."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ..config.errors import ConfigError

log = logging.getLogger("tileproxy.seed")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tileproxy-seed", description="Seed and clean up tile caches (like mapproxy-seed).")
    p.add_argument("seed_conf_arg", nargs="?", metavar="seed.yaml", help="the seed configuration (or use -s)")
    p.add_argument("-f", "--proxy-conf", required=True, metavar="mapproxy.yaml", help="the proxy configuration")
    p.add_argument("-s", "--seed-conf", metavar="seed.yaml", help="the seed configuration")
    p.add_argument("-c", "--concurrency", type=int, default=2, metavar="N",
                   help="source requests in flight at a time (default 2); 2N workers (threads unless "
                   "--processes) cut, encode and write the fetched meta tiles meanwhile")
    p.add_argument("--processes", action="store_true",
                   help="run the workers as processes (for CPU-heavy image work on several cores)")
    p.add_argument("-n", "--dry-run", action="store_true", help="walk and count, request and write nothing")
    p.add_argument("--seed", action="append", default=[], metavar="TASKS",
                   help="only these seed tasks (comma separated, or ALL); repeatable")
    p.add_argument("--cleanup", action="append", default=[], metavar="TASKS",
                   help="only these cleanup tasks (comma separated, or ALL); repeatable")
    p.add_argument("--summary", action="store_true", help="print the tasks and exit")
    p.add_argument("-i", "--interactive", action="store_true", help="ask before each task")
    p.add_argument("-q", "--quiet", action="count", default=0, help="less output (-qq: errors only)")
    p.add_argument("--progress", choices=("text", "json"), default="text",
                   help="progress as text lines or JSON lines (for cron and log collectors)")
    p.add_argument("--continue", dest="continue_", action="store_true",
                   help="continue an interrupted run from the progress file")
    p.add_argument("--progress-file", metavar="FILE", help="where to keep the progress for --continue "
                   "(default ./.tileproxy_seed_progress)")
    p.add_argument("--duration", metavar="DURATION", help="stop after this time (120s, 15m, 4h, 0.5d); "
                   "combine with --continue")
    p.add_argument("--reseed-file", metavar="FILE", help="touched when a new run starts")
    p.add_argument("--reseed-interval", metavar="DURATION",
                   help="only start a new run when --reseed-file is older than this")
    p.add_argument("--use-cache-lock", action="store_true", help="one seed at a time per cache")
    p.add_argument("-l", "--skip-geoms-for-last-levels", type=int, default=0, metavar="N",
                   help="no coverage checks on the last N levels")
    p.add_argument("--skip-uncached", action="store_true", help="only refresh tiles that are already cached")
    p.add_argument("--log-config", metavar="FILE", help="logging configuration (ini, or .json/.yaml dictConfig)")
    p.add_argument("--max-retries", type=int, default=3, metavar="N",
                   help="retries per meta tile after a source error (default 3)")
    p.add_argument("--retry-delay", type=float, default=2.0, metavar="SECONDS",
                   help="wait before the first retry, doubled each time up to 600s (default 2)")
    p.add_argument("--max-failures", type=int, default=100, metavar="N",
                   help="stop the run after N meta tiles failed for good (default 100, -1: never)")
    p.add_argument("--rate-limit", type=float, metavar="RPS", help="at most RPS requests per second per source")
    p.add_argument("--failed-tiles", metavar="FILE", help="write the tiles that failed to FILE")
    p.add_argument("--retry-failed", metavar="FILE", help="only create the tiles listed in FILE "
                   "(from --failed-tiles); needs no seed.yaml")
    p.add_argument("--shard", metavar="I/N", help="take only work unit i of every n (0 <= i < n), to split "
                   "one plan over n runs or machines")
    p.add_argument("--celery", metavar="URL", help="send the work to Celery workers through this Redis "
                   "(redis://host:6379/0) and follow the job; workers: celery -A tileproxy.seed.celery -b URL worker")
    p.add_argument("--status", action="store_true", help="with --celery: follow the job of these "
                   "configurations and tasks (started before) until it ends")
    p.add_argument("--detach", action="store_true", help="with --celery: enqueue and exit (follow with --status)")
    p.add_argument("--stop-after-tiles", type=int, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    from ..sources.limits import is_seeding, set_seeding

    args = build_parser().parse_args(argv)
    was_seeding = is_seeding()
    set_seeding(True)  # seed_only sources answer in seeding runs
    try:
        _setup_logging(args)
        return _main(args)
    except ConfigError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2
    except _UsageError as ex:
        print(f"tileproxy-seed: error: {ex}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.celery:
            print("interrupted; the job goes on on the workers: follow it with --status", file=sys.stderr)
        else:
            print("interrupted; run again with --continue to finish", file=sys.stderr)
        return 130
    except OSError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    finally:
        set_seeding(was_seeding)


class _UsageError(Exception):
    pass


def _setup_logging(args: argparse.Namespace) -> None:
    if args.log_config:
        from ..logconfig import apply_log_config

        try:
            apply_log_config(args.log_config)  # %(here)s in an ini: its directory
        except ValueError as ex:
            raise _UsageError(f"--log-config: {ex}") from None
        return
    level = logging.ERROR if args.quiet >= 2 else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


def _main(args: argparse.Namespace) -> int:
    from ..config.build import load_proxy_config
    from ..seed.progress import Progress
    from ..seed.resume import ResumeState
    from ..seed.timespec import parse_duration

    if args.concurrency < 1:
        raise _UsageError("--concurrency must be at least 1")
    deadline = None
    try:
        if args.duration:
            deadline = time.monotonic() + parse_duration(args.duration)
        reseed_interval = parse_duration(args.reseed_interval) if args.reseed_interval else None
    except ValueError as ex:
        raise _UsageError(str(ex)) from None
    if reseed_interval is not None and not args.reseed_file:
        raise _UsageError("--reseed-interval needs --reseed-file")

    mode = "silent" if args.quiet >= 2 else "quiet" if args.quiet else args.progress
    if args.progress == "json" and args.quiet < 2:
        mode = "json"
    progress = Progress(mode, dry_run=args.dry_run)
    start = time.time()

    _check_celery_args(args)
    progress_path = args.progress_file or _default_progress_file(args.shard)
    resume = None
    if (args.continue_ or args.progress_file) and not args.dry_run and not args.summary and not args.celery:
        resume = ResumeState.load(progress_path, start) if args.continue_ else ResumeState(progress_path, start)
        continuing = bool(resume.tasks)
        start = resume.start
    else:
        continuing = False
    if args.reseed_file and not continuing and reseed_interval is not None and os.path.exists(args.reseed_file):
        age = time.time() - os.stat(args.reseed_file).st_mtime
        if age < reseed_interval:
            progress.message(f"last run started {age / 3600:.1f}h ago, within --reseed-interval; nothing to do")
            return 0
    # touched once the configuration is known to be good, right before work starts
    args.touch_reseed_file = bool(args.reseed_file and not continuing and not args.dry_run)
    args.append_failed = continuing

    proxy = load_proxy_config(args.proxy_conf)
    options = _options(args, deadline)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main else None
    try:
        if args.retry_failed:
            status = _retry_failed(args, proxy, options, progress)
        else:
            status = _run_tasks(args, proxy, options, progress, resume, start)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        if options.failed_tiles:
            options.failed_tiles.close()
    if status == 0 and resume and not options.stopped_early:
        resume.remove()
    return status


def _default_progress_file(shard: str | None) -> str:
    """``.tileproxy_seed_progress``; shards of one job in one directory keep apart ones."""
    from ..seed.resume import DEFAULT_PROGRESS_FILE

    if not shard or "/" not in shard:
        return DEFAULT_PROGRESS_FILE
    i, _, n = shard.partition("/")
    return f"{DEFAULT_PROGRESS_FILE}.shard-{i.strip()}-of-{n.strip()}"


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _options(args: argparse.Namespace, deadline: float | None):  # noqa: ANN202
    from ..seed.meta import SeedOptions
    from ..seed.retry import RetryPolicy

    if args.max_retries < 0:
        raise _UsageError("--max-retries must be 0 or more")
    if args.rate_limit is not None and args.rate_limit <= 0:
        raise _UsageError("--rate-limit must be positive")
    shard = (0, 1)
    if args.shard:
        try:
            i, n = (int(v) for v in args.shard.split("/"))
            if not 0 <= i < n:
                raise ValueError
        except ValueError:
            raise _UsageError(f"--shard {args.shard}: expected I/N with 0 <= I < N, e.g. 0/4") from None
        shard = (i, n)
    retry = RetryPolicy(max_retries=args.max_retries, delay=args.retry_delay,
                        max_failures=None if args.max_failures < 0 else args.max_failures)
    return SeedOptions(
        concurrency=args.concurrency, dry_run=args.dry_run, skip_uncached=args.skip_uncached,
        skip_geoms_for_last_levels=args.skip_geoms_for_last_levels, retry=retry, rate_limit=args.rate_limit,
        use_cache_lock=args.use_cache_lock, deadline=deadline,
        stop_after_tiles=args.stop_after_tiles, shard=shard, spread=shard[1] > 1, processes=args.processes,
        proxy_conf=str(Path(args.proxy_conf).resolve()),
    )


def _select(names: list[str], tasks: list, kind: str) -> list:
    wanted = {n.strip() for entry in names for n in entry.split(",") if n.strip()}
    if "ALL" in wanted:
        return tasks
    known = {t.name for t in tasks}
    unknown = sorted(wanted - known)
    if unknown:
        raise _UsageError(f"unknown {kind} task '{unknown[0]}' (known: {', '.join(sorted(known)) or 'none'})")
    return [t for t in tasks if t.name in wanted]


def _start_cycle(path: str) -> None:
    """Touch the reseed file with the precise clock: the kernel's own touch time can
    lag by a few milliseconds, so a tile written just before could look as new."""
    Path(path).touch()
    now = time.time()
    os.utime(path, (now, now))


def _run_tasks(args, proxy, options, progress, resume, start: float) -> int:  # noqa: ANN001
    from ..seed.config import load_seed_config
    from ..seed.summary import describe

    seed_conf = args.seed_conf or args.seed_conf_arg
    if not seed_conf:
        raise _UsageError("a seed configuration is needed: -s seed.yaml (or --retry-failed FILE)")
    proxy_dir = str(Path(args.proxy_conf).resolve().parent)
    conf = load_seed_config(seed_conf, proxy, start, proxy_dir=proxy_dir)
    if args.celery and args.status:  # follow a running job: no new cycle
        return _celery(args, conf_tasks(args, conf), options, progress, start, seed_conf)
    if args.touch_reseed_file and not args.summary:
        # a new cycle starts now; read again, as refresh_before/remove_before may use the file's mtime
        _start_cycle(args.reseed_file)
        args.touch_reseed_file = False
        conf = load_seed_config(seed_conf, proxy, start, proxy_dir=proxy_dir)
    tasks = conf_tasks(args, conf)
    if args.summary:
        for task in tasks:
            print(describe(task))
        return 0
    if not tasks:
        progress.message("no tasks to run")
        return 0
    if args.celery:
        return _celery(args, tasks, options, progress, start, seed_conf)
    return _run(tasks, args, options, progress, resume)


def conf_tasks(args: argparse.Namespace, conf) -> list:  # noqa: ANN001
    """The seed and cleanup tasks the command line selects."""
    seeds, cleanups = conf.seeds, conf.cleanups
    if args.seed or args.cleanup:
        seeds = _select(args.seed, seeds, "seed") if args.seed else []
        cleanups = _select(args.cleanup, cleanups, "cleanup") if args.cleanup else []
    return seeds + cleanups


def _check_celery_args(args: argparse.Namespace) -> None:
    if not args.celery:
        for flag, given in (("--status", args.status), ("--detach", args.detach)):
            if given:
                raise _UsageError(f"{flag} goes with --celery URL")
        return
    if not args.celery.startswith(("redis://", "rediss://")):
        raise _UsageError(f"--celery {args.celery}: expected a Redis URL, redis://host:6379/0")
    for flag, given in (("--shard", args.shard), ("--duration", args.duration), ("--processes", args.processes),
                        ("--dry-run", args.dry_run), ("--retry-failed", args.retry_failed),
                        ("--use-cache-lock", args.use_cache_lock), ("--interactive", args.interactive),
                        ("--progress-file", args.progress_file)):
        if given:
            raise _UsageError(f"{flag} does not go with --celery")
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        raise _UsageError("--celery needs Celery and redis-py: pip install 'tileproxy[celery]'") from None


def _celery(args, tasks, options, progress, start: float, seed_conf: str) -> int:  # noqa: ANN001
    """Enqueue the seed tasks as batches for Celery workers (unless --status) and follow the job."""
    from dataclasses import replace

    from ..seed.celery_queue import enqueue, follow, open_job

    seeds = [t for t in tasks if t.kind == "seed"]
    for task in tasks:
        if task.kind != "seed":
            progress.message(f"cleanup task '{task.name}' is not run on Celery: run it without --celery")
    options = replace(options, spread=True)
    mode = "silent" if args.quiet >= 2 else "quiet" if args.quiet else args.progress
    try:
        ref = open_job(args.celery, args.proxy_conf, seed_conf, seeds, options)
        if not args.status:
            if not seeds:
                progress.message("no seed tasks to run")
                return 0
            batches, units = enqueue(ref, seeds, options, start, args.continue_)
            progress.message(f"job {ref.job.id}: {units} work units in {batches} batches queued at {args.celery}")
            if args.detach:
                return 0
        return follow(ref, mode, args.failed_tiles)
    except LookupError as ex:
        raise _UsageError(str(ex)) from None
    except ImportError as ex:
        raise _UsageError(f"--celery: {ex}") from None
    except Exception as ex:
        if type(ex).__module__.split(".")[0] in ("redis", "kombu", "celery"):
            print(f"error: --celery {args.celery}: {ex}", file=sys.stderr)
            return 1
        raise


def _retry_failed(args, proxy, options, progress) -> int:  # noqa: ANN001
    from ..seed.config import Task
    from ..seed.failed import read_failed_tiles

    try:
        entries = read_failed_tiles(args.retry_failed)
    except OSError as ex:
        raise _UsageError(f"--retry-failed {args.retry_failed}: {ex.strerror}") from None
    except ValueError as ex:
        raise _UsageError(str(ex)) from None
    tasks = []
    for (cache, grid), coords in entries.items():
        if cache not in proxy.caches:
            raise _UsageError(f"{args.retry_failed}: unknown cache '{cache}'")
        manager = proxy.caches[cache].managers.get(grid)
        if manager is None:
            raise _UsageError(f"{args.retry_failed}: cache '{cache}' has no grid '{grid}'")
        levels = sorted({c[2] for c in coords})
        tasks.append((Task("retry", Path(args.retry_failed).name, cache, grid, manager, levels), coords))
    return _run([t for t, _ in tasks], args, options, progress, None, retry={t.key: c for t, c in tasks})


def _run(tasks, args, options, progress, resume, retry=None) -> int:  # noqa: ANN001
    """Run ``tasks``; the configuration is good by now, so the reseed file is touched
    and the failed-tiles file started (after --retry-failed read its own list)."""
    from concurrent.futures.process import BrokenProcessPool

    from ..seed.failed import FailedTilesLog
    from ..seed.meta import CannotStore
    from ..seed.retry import TooManyFailures
    from ..seed.summary import describe
    from ..seed.worker import Interrupted, Runner
    from ..stores.base import StoreUnwritable

    if args.touch_reseed_file:
        _start_cycle(args.reseed_file)
    if args.failed_tiles and not args.dry_run:
        try:
            options.failed_tiles = FailedTilesLog(args.failed_tiles, append=args.append_failed)
        except OSError as ex:
            raise _UsageError(f"--failed-tiles {args.failed_tiles}: {ex.strerror}") from None

    runner = Runner(options, progress, resume)
    failed = 0
    try:
        for task in tasks:
            if args.interactive:
                print(describe(task))
                try:
                    answer = input(f"{task.kind} this task? [y/N] ").strip().lower()
                except EOFError:
                    answer = ""
                if answer not in ("y", "yes"):
                    continue
            try:
                if retry is not None:
                    stats = runner.retry_failed(task, retry[task.key])
                elif task.kind == "seed":
                    stats = runner.seed(task)
                else:
                    stats = runner.cleanup(task)
            except Interrupted as ex:
                options.stopped_early = True
                progress.message(f"{ex}; run again with --continue to finish")
                return 0
            except TooManyFailures as ex:
                progress.message(f"error: {ex}")
                return 3
            except CannotStore as ex:
                progress.message(f"error: {ex}; stopping (run again with --continue once it can)")
                return 4
            except StoreUnwritable as ex:  # cleanup: tiles that cannot be removed
                progress.message(f"error: cache '{task.cache}' cannot remove tiles: {ex}; stopping")
                return 4
            except BrokenProcessPool as ex:
                progress.message(f"error: a worker process died: {ex}")
                return 1
            failed += stats.failed
    finally:
        runner.close()
    if failed:
        progress.message(f"{failed} tiles failed" + (f"; they are listed in {args.failed_tiles}"
                                                     if args.failed_tiles else ""))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
