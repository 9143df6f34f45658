#!/usr/bin/env python3
"""Seeding past one process, side by side in one run: one tileproxy-seed process,
two Celery workers (``celery -A tileproxy.seed.celery worker``) and two shards
(``--shard 0/2`` and ``1/2`` at the same time), each with the same number of
source requests in flight in total (``--limit``), against the ideal that the
source's own limit allows: source requests x latency / limit.

The source is bench/wmssource.py with a fixed latency per request and pre-rendered
maps (it costs the tools' cores nothing, as a remote WMS would); the cache is a
file cache on GLOBAL_WEBMERCATOR with 4x4 meta tiles; Redis is a redis-server on
a free port (tests/support/servers.py). Every setup seeds an empty cache of its
own; their tile sets must be equal. Reports wall time, CPU time of every process
the setup started (tools and workers, from wait4) and source requests. Results
in bench/work/seed_distributed/results.{txt,json}.

    python3 bench/seed_distributed.py                      # ~2 minutes
    python3 bench/seed_distributed.py --latency 0.05 --max-level 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness import BENCH_DIR, REPO_DIR  # noqa: E402
from support.servers import redis_server  # noqa: E402
from wmssource import WMSSourceServer  # noqa: E402

AREA = [5.0, 47.0, 15.0, 55.0]  # lon/lat


def write_configs(directory: Path, source_url: str, max_level: int) -> None:
    import yaml

    proxy = {
        "services": {"tms": {"use_grid_names": False}},
        "layers": [{"name": "bench", "title": "Distributed seeding", "sources": ["bench_cache"]}],
        "caches": {"bench_cache": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["bench_wms"],
                                   "format": "image/png", "cache": {"type": "file", "directory_layout": "tc"}}},
        "sources": {"bench_wms": {"type": "wms", "req": {"url": source_url, "layers": "base"}}},
        "globals": {"cache": {"base_dir": "./cache_data", "lock_dir": "./cache_data/locks",
                              "tile_lock_dir": "./cache_data/tile_locks"}},
    }
    seed = {"seeds": {"area": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"], "coverages": ["area"],
                               "levels": {"to": max_level}}},
            "coverages": {"area": {"bbox": AREA, "srs": "EPSG:4326"}}}
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    (directory / "mapproxy.yaml").write_text(yaml.safe_dump(proxy, sort_keys=False))
    (directory / "seed.yaml").write_text(yaml.safe_dump(seed, sort_keys=False))


def tile_set(cache_dir: Path) -> set[str]:
    out = set()
    for root, dirs, files in os.walk(cache_dir):
        dirs[:] = [d for d in dirs if d not in ("locks", "tile_locks")]
        out.update(os.path.relpath(os.path.join(root, n), cache_dir) for n in files if n.endswith(".png"))
    return out


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(REPO_DIR)}


def seed_cmd(side: Path, concurrency: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tileproxy.cli.seed", "-f", str(side / "mapproxy.yaml"),
            "-s", str(side / "seed.yaml"), "-c", str(concurrency), "-q", *extra]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_all(procs: list[subprocess.Popen], logs: list) -> list[int]:
    codes = [p.wait() for p in procs]
    for f in logs:
        f.close()
    return codes


def one_process(side: Path, args: argparse.Namespace, logs: Path) -> dict:
    with open(logs / "one.log", "wb") as log:
        t0 = time.monotonic()
        code = subprocess.run(seed_cmd(side, args.limit), env=env(), stdout=log, stderr=subprocess.STDOUT).returncode
    return {"wall_s": time.monotonic() - t0, "returncode": code}


def shards(side: Path, args: argparse.Namespace, logs: Path) -> dict:
    n = args.machines
    files = [open(logs / f"shard-{i}.log", "wb") for i in range(n)]
    t0 = time.monotonic()
    procs = [subprocess.Popen(seed_cmd(side, args.limit // n, "--shard", f"{i}/{n}"), env=env(), stdout=f,
                              stderr=subprocess.STDOUT, cwd=side) for i, f in enumerate(files)]
    codes = wait_all(procs, files)
    return {"wall_s": time.monotonic() - t0, "returncode": max(codes)}


def celery(side: Path, args: argparse.Namespace, logs: Path, url: str) -> dict:
    n = args.machines
    files = [open(logs / f"worker-{i}.log", "w") for i in range(n)]
    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tileproxy.seed.celery", "-b", url, "worker", "-c", "1",
         "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
        env=env(), stdout=f, stderr=subprocess.STDOUT, start_new_session=True) for i, f in enumerate(files)]
    try:
        deadline = time.monotonic() + 120
        while not all(" ready." in (logs / f"worker-{i}.log").read_text() for i in range(n)):
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise RuntimeError("the Celery workers did not start; see " + str(logs))
            time.sleep(0.1)
        with open(logs / "celery-enqueue.log", "wb") as log:
            t0 = time.monotonic()
            code = subprocess.run(seed_cmd(side, args.limit // n, "--celery", url), env=env(), stdout=log,
                                  stderr=subprocess.STDOUT).returncode
            wall = time.monotonic() - t0
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
        wait_all(workers, files)
    return {"wall_s": wall, "returncode": code}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency", type=float, default=0.2, help="seconds per source request (default 0.2)")
    p.add_argument("--limit", type=int, default=4, help="source requests in flight in every setup (default 4)")
    p.add_argument("--machines", type=int, default=2, help="Celery workers and shards (default 2)")
    p.add_argument("--max-level", type=int, default=11, help="seed levels 0..N of lon/lat 5..15 E, 47..55 N")
    p.add_argument("--setups", default="one,celery,shards")
    p.add_argument("--work", type=Path, default=BENCH_DIR / "work" / "seed_distributed")
    args = p.parse_args()
    args.work = args.work.resolve()  # the shards run in their own directory
    if args.limit % args.machines:
        p.error("--limit must be a multiple of --machines")
    logs = args.work / "logs"
    shutil.rmtree(args.work, ignore_errors=True)
    logs.mkdir(parents=True)
    results = []
    tiles: dict[str, set[str]] = {}
    with WMSSourceServer(delay=args.latency, variants=4) as source, redis_server() as redis:
        for setup in args.setups.split(","):
            side = args.work / setup
            write_configs(side, source.url, args.max_level)
            source.reset()
            cpu0 = children_cpu()
            if setup == "one":
                run = one_process(side, args, logs)
            elif setup == "shards":
                run = shards(side, args, logs)
            else:
                run = celery(side, args, logs, redis.url)
            run.update(setup=setup, cpu_s=children_cpu() - cpu0, requests=source.requests)
            run["ideal_s"] = run["requests"] * args.latency / args.limit
            run["wall_vs_ideal"] = run["wall_s"] / run["ideal_s"] if run["ideal_s"] else 0.0
            tiles[setup] = tile_set(side / "cache_data")
            run["tiles"] = len(tiles[setup])
            results.append(run)
            print(json.dumps(run), flush=True)
    names = {"one": "1 process", "celery": f"{args.machines} Celery workers", "shards": f"{args.machines} shards"}
    per = f"-c {args.limit}" if args.machines == 1 else f"-c {args.limit // args.machines} each"
    lines = [f"latency {args.latency * 1000:.0f} ms, {args.limit} source requests in flight in every setup, "
             f"levels 0..{args.max_level} of lon/lat 5..15 E, 47..55 N (4x4 meta tiles)", "",
             "| setup | wall s | ideal s | wall / ideal | CPU s | source requests | tiles |", "|---|---|---|---|---|---|---|"]
    for r in results:
        concurrency = f"-c {args.limit}" if r["setup"] == "one" else per
        lines.append(f"| {names[r['setup']]} ({concurrency}) | {r['wall_s']:.1f} | {r['ideal_s']:.1f} | "
                     f"{r['wall_vs_ideal']:.2f} | {r['cpu_s']:.1f} | {r['requests']} | {r['tiles']} |")
    same = len({frozenset(t) for t in tiles.values()}) == 1
    lines += ["", f"same tile set in every setup: {'yes' if same else 'NO'}; "
              f"exit codes: {', '.join(str(r['returncode']) for r in results)}"]
    text = "\n".join(lines)
    print(text)
    (args.work / "results.txt").write_text(text + "\n")
    (args.work / "results.json").write_text(json.dumps(results, indent=1))
    return 0 if same and not any(r["returncode"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
