#!/usr/bin/env python3
"""The cost of the access log (tileproxy/access_log.py) on the cached-tile fast path,
in-process: CPU microseconds per request with the ``tileproxy.access`` logger off, on
(key=value lines to a file) and on with ``globals.log_format: json``, in interleaved
rounds; and the price of the check the app makes when the logger is off.

    PYTHONPATH=. python3 bench/access_log_cost.py [--requests 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import timeit
from pathlib import Path

import yaml

from bench.inprocess import environ_for
from tileproxy import make_wsgi_app
from tileproxy.access_log import ACCESS

PATHS = [f"/tms/1.0.0/l/EPSG3857/4/{x}/{y}.png" for x in range(4) for y in range(4)]


def _config(directory: Path, log_format: str) -> Path:
    conf = {
        "services": {"tms": None},
        "layers": [{"name": "l", "title": "L", "sources": ["c"]}],
        "caches": {"c": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["d"], "meta_size": [1, 1],
                         "cache": {"type": "file", "directory": str(directory / "tiles")}}},
        "sources": {"d": {"type": "debug"}},
        "globals": {"log_format": log_format, "cache": {"base_dir": str(directory)}},
    }
    path = directory / f"mapproxy-{log_format}.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


def _cpu_us(app, n: int) -> float:
    environs = [environ_for(p) for p in PATHS]

    def start(status: str, headers: list) -> None:
        if status[:3] != "200":
            raise SystemExit(f"answer {status}")

    begin = time.process_time()
    for i in range(n):
        app(dict(environs[i % len(environs)]), start)
    return (time.process_time() - begin) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        apps = {fmt: make_wsgi_app(_config(directory, fmt)) for fmt in ("text", "json")}
        handler = logging.FileHandler(directory / "access.log")
        handler.setFormatter(logging.Formatter("%(message)s"))
        ACCESS.addHandler(handler)
        ACCESS.propagate = False
        ACCESS.setLevel(logging.WARNING)
        _cpu_us(apps["text"], len(PATHS))  # the tiles are stored now
        results: dict[str, list[float]] = {"off": [], "on, text": [], "on, json": []}
        for _ in range(args.rounds):
            for mode in results:
                ACCESS.setLevel(logging.WARNING if mode == "off" else logging.INFO)
                results[mode].append(_cpu_us(apps["json" if "json" in mode else "text"], args.requests))
        ACCESS.setLevel(logging.WARNING)
        check = min(timeit.repeat(lambda: ACCESS.isEnabledFor(logging.INFO), number=100000, repeat=5)) / 100000
        lines = sum(1 for _ in open(directory / "access.log"))
    off = statistics.median(results["off"])
    print(f"cached TMS tiles, {args.requests} requests x {args.rounds} rounds, CPU us/request (median):")
    for mode, values in results.items():
        med = statistics.median(values)
        print(f"  access log {mode:9s} {med:7.2f} us  ({med / off:.2f}x off, +{med - off:.2f} us)")
    print(f"  the check made when off: ACCESS.isEnabledFor(INFO) {check * 1e9:.0f} ns")
    print(f"  {lines} lines written")


if __name__ == "__main__":
    main()
