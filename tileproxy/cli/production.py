"""``tileproxy serve`` in production: tileproxy.deploy under granian (Rust HTTP, WSGI).

The settings below were chosen by measurement with wrk on cached tiles and on a
slow source (bench/granian_settings.py; docs/deployment.md, "Choosing granian's
settings"): one worker per core; 16 Python threads per worker, enough for slow
sources, while 64 and more (granian's default for WSGI is backpressure / 2) cost
cached tiles CPU in GIL contention; granian's default backpressure (1024 / workers),
as one below the connections a worker holds cuts the rate of cached tiles by up to
3x; and the single-threaded runtime.
"""

from __future__ import annotations

import logging
import os
import sys

THREADS = 16  # blocking (Python) threads per worker
RUNTIME_MODE = "st"


def granian_installed() -> bool:
    try:
        import granian  # noqa: F401
    except ImportError:
        return False
    return True


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def run_granian(config: str, bind: str, workers: int, threads: int, backpressure: int | None,
                policy: str | None, reload: bool, access_log: bool = False, graceful_timeout: int = 30,
                log_config: str | None = None) -> int:
    """Serve ``config`` through tileproxy.deploy under granian until interrupted.

    The configuration reaches the workers as tileproxy.deploy's environment
    variables, so each worker builds its app (and its locks, connections and
    threads) after it started, as under gunicorn. A worker still busy (or holding a
    client's idle connection) ``graceful_timeout`` seconds after a stop or HUP is killed,
    as gunicorn's --graceful-timeout does; granian alone would wait for ever."""
    from granian.constants import Interfaces, RuntimeModes
    from granian.server import Server

    for name in ("MAPPROXY_CONFIG", "TILEPROXY_CONFIG_DIR", "TILEPROXY_AUTH_POLICY"):
        os.environ.pop(name, None)
    os.environ["TILEPROXY_CONFIG"] = os.path.abspath(config)
    os.environ["TILEPROXY_RELOAD"] = "1" if reload else "0"
    if policy:
        os.environ["TILEPROXY_AUTH_POLICY"] = os.path.abspath(policy)
    if log_config:  # applied here already; workers started by spawn apply it again
        os.environ["TILEPROXY_LOG_CONFIG"] = os.path.abspath(log_config)
    else:  # the line per request on tileproxy.access costs CPU: only when asked for
        os.environ["TILEPROXY_ACCESS_LOG"] = "1" if access_log else "0"
        logging.getLogger("tileproxy.access").setLevel(logging.INFO if access_log else logging.WARNING)
    host, port = split_bind(bind)
    server = Server(
        "tileproxy.deploy:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        backpressure=backpressure,
        runtime_mode=RuntimeModes(RUNTIME_MODE),
        websockets=False,
        respawn_failed_workers=True,
        workers_kill_timeout=graceful_timeout,
    )
    # granian warns about more threads than 2 x cores + 1; 16 was chosen by measurement
    logging.getLogger("_granian").addFilter(
        lambda record: "seems quite high compared to the number of CPU cores" not in record.getMessage())
    print(f"serving {config} with granian: {workers} worker(s) x {threads} thread(s) on "
          f"http://{host}:{port}/ (demo: /demo/)", file=sys.stderr, flush=True)
    server.serve()
    return 0
