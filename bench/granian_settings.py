#!/usr/bin/env python3
"""Which granian settings serve tiles best: tileproxy under granian with each
combination of blocking threads, backpressure and runtime mode, on two loads:

- cached: cached tiles of a file cache over WMTS REST (the common case; CPU per
  request and req/s, keep-alive);
- slow source: tiles of a cache with ``disable_storage`` over a tile source that
  answers after ``--source-delay`` ms (every request waits on the source, as
  uncached tiles and slow WMS do), which needs enough threads in flight.

    python3 bench/granian_settings.py                     # the default grid of settings
    python3 bench/granian_settings.py --threads 1,4,8 --modes st --duration 5

Prints one row per setting; docs/deployment.md quotes the result.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BENCH_DIR,
    AppServer,
    TileSourceServer,
    cores_text,
    fetch,
    prerender_source_tiles,
    run_wrk,
    split_cores,
    tileproxy_spec,
)

GRID = "GLOBAL_WEBMERCATOR"


def write_config(path: Path, source_url: str) -> None:
    """Layer ``cached`` (a file cache) and layer ``slow`` (no storage: every tile from the source)."""
    conf = {
        "services": {"wmts": {"restful": True, "kvp": False}},
        "layers": [{"name": "cached", "title": "cached", "sources": ["cached_cache"]},
                   {"name": "slow", "title": "slow", "sources": ["slow_cache"]}],
        "caches": {
            "cached_cache": {"grids": [GRID], "sources": ["tiles"], "format": "image/png",
                             "cache": {"type": "file", "directory_layout": "tc"}},
            "slow_cache": {"grids": [GRID], "sources": ["tiles"], "format": "image/png", "disable_storage": True,
                           "meta_size": [1, 1], "meta_buffer": 0},
        },
        "sources": {"tiles": {"type": "tile", "url": source_url, "grid": GRID, "concurrent_requests": 0}},
        "globals": {"cache": {"base_dir": "./cache_data", "lock_dir": "./cache_data/locks",
                              "tile_lock_dir": "./cache_data/tile_locks"}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by bench/granian_settings.py\n" + yaml.safe_dump(conf, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2,4,8,32", help="blocking threads per worker to try")
    p.add_argument("--backpressure", default="threads,64",
                   help="backpressure values to try: numbers, or 'threads' (= the threads)")
    p.add_argument("--modes", default="st,mt", help="runtime modes to try")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-level", type=int, default=5)
    p.add_argument("--duration", type=float, default=6)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--source-delay", type=float, default=50, help="ms the slow source takes per tile")
    p.add_argument("--work", type=Path, default=BENCH_DIR / "work" / "granian-settings")
    args = p.parse_args(argv)
    server_cores, load_cores = split_cores(False)
    work = args.work.resolve()
    shutil.rmtree(work / "cache_data", ignore_errors=True)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    tiles = [(z, x, y) for z in range(args.max_level + 1) for x in range(2**z) for y in range(2**z)]
    source_dir = BENCH_DIR / "work" / "source-tiles"
    prerender_source_tiles(source_dir, tiles)
    rnd = random.Random(3)
    urls = {}
    for layer in ("cached", "slow"):
        paths = [f"/wmts/{layer}/{GRID}/{z}/{x}/{y}.png" for z, x, y in tiles]
        rnd.shuffle(paths)
        urls[layer] = work / f"urls-{layer}.txt"
        urls[layer].write_text("\n".join(paths) + "\n")

    rows = []
    with TileSourceServer(source_dir) as source:
        config = work / "mapproxy.yaml"
        write_config(config, source.url_template)
        spec = tileproxy_spec(config, args.workers)
        spec.server, spec.cpus = "granian", server_cores
        with AppServer(spec, work / "logs" / "seed.log") as srv:  # fill the file cache once
            for z, x, y in tiles:
                status, _, _ = fetch(f"{srv.base}/wmts/cached/{GRID}/{z}/{x}/{y}.png")
                assert status == 200, (z, x, y, status)
        settings = []
        for mode in args.modes.split(","):
            for threads in map(int, args.threads.split(",")):
                for bp in args.backpressure.split(","):
                    backpressure = threads if bp == "threads" else int(bp)
                    if backpressure >= threads and (mode, threads, backpressure) not in settings:
                        settings.append((mode, threads, backpressure))
        for mode, threads, backpressure in settings:
            spec.runtime_mode, spec.blocking_threads, spec.backpressure = mode, threads, backpressure
            result = {}
            with AppServer(spec, work / "logs" / f"{mode}-{threads}-{backpressure}.log") as srv:
                pid = srv.proc.pid  # type: ignore[union-attr]
                for layer in ("cached", "slow"):
                    source.delay = args.source_delay / 1000 if layer == "slow" else 0.0
                    run_wrk(srv.base, urls[layer], args.warmup, args.connections, 2, cpus=load_cores)
                    result[layer] = run_wrk(srv.base, urls[layer], args.duration, args.connections, 2, pid, load_cores)
            rows.append((mode, threads, backpressure, result))
            c, s = result["cached"], result["slow"]
            print(f"{mode} threads {threads:>3} backpressure {backpressure:>3}: cached {c.rps:>7.0f} req/s "
                  f"{c.cpu_us_per_request:>5.0f} us/req p99 {c.latency_us['p99'] / 1000:>6.2f} ms; slow source "
                  f"{s.rps:>6.0f} req/s p99 {s.latency_us['p99'] / 1000:>7.1f} ms errors {c.error_count + s.error_count}",
                  flush=True)
        source.delay = 0.0

    table = [
        f"tileproxy under granian, {args.workers} workers; wrk 2 threads, {args.connections} connections, "
          f"{args.duration:g} s after {args.warmup:g} s warm-up; {cores_text(server_cores, load_cores)}; "
          f"slow source: {args.source_delay:g} ms per tile, no storage",
        f"{'mode':<5} {'threads':>7} {'backpr.':>7} {'cached req/s':>12} {'CPU us/req':>10} {'p99 ms':>7} "
          f"{'slow req/s':>10} {'slow p99 ms':>11}"]
    for mode, threads, backpressure, r in rows:
        c, s = r["cached"], r["slow"]
        table.append(f"{mode:<5} {threads:>7} {backpressure:>7} {c.rps:>12.0f} {c.cpu_us_per_request:>10.0f} "
              f"{c.latency_us['p99'] / 1000:>7.2f} {s.rps:>10.0f} {s.latency_us['p99'] / 1000:>11.1f}")
    table.append(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}; "
                 + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    print("\n" + "\n".join(table))
    (work / "results.txt").write_text("\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
