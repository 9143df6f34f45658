#!/usr/bin/env python3
"""Seeding with tileproxy-seed and MapProxy 7's mapproxy-seed, side by side.

The same mapproxy.yaml (a file cache on GLOBAL_WEBMERCATOR of a local WMS source
with a fixed delay per request) and seed.yaml for both tools, run with the same
options. Scenarios:

- full:    seed a bbox at levels 0..N (-c 2) into an empty cache
- refresh: ``--skip-uncached`` with ``refresh_before`` over a sparse cache
           (a few points at all 20 levels) inside a city-sized bbox, levels 0..19
- refresh-deep: the same over a region (a few hundred km) at levels 0..19 with ~70
           cached meta tiles at levels 14..19: millions of empty positions to walk
- cleanup: ``remove_before`` of the deeper levels of a full cache, within the
           seeded bbox (``cleanup``) and without a coverage (``cleanup-levels``)

Reports wall time, CPU time (the tool and all its processes), peak RSS (summed
over the process tree, and of the largest single process), requests the source saw, and whether both tools left the
same tile files. See bench/README.md.

    python3 bench/seed.py
    python3 bench/seed.py --delays 0 --scenarios full
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BENCH_DIR, MAPPROXY_VENV, REPO_DIR, MemorySampler  # noqa: E402
from wmssource import WMSSourceServer  # noqa: E402

AREA = [5.0, 47.0, 15.0, 55.0]  # lon/lat of the full seed and the cleanup
CITY = [6.9, 50.6, 7.3, 50.85]  # lon/lat of the refresh
SPARSE_POINTS = [(7.03, 50.67), (7.08, 50.71), (7.11, 50.74), (7.15, 50.69), (7.17, 50.78), (7.05, 50.77)]
POINT = 0.0005  # degrees: a point's bbox, so a few meta tiles per level
BOX = [5.0, 47.0, 11.0, 52.0]  # lon/lat of the memory scenario: 6x5 degrees at levels 0..12
BOX_LEVELS = 12
REGION = [6.0, 49.5, 9.0, 52.0]  # lon/lat of the deep refresh: about 210 x 280 km
DEEP_POINTS = 10  # seeded points in REGION, each one meta tile per level from DEEP_FROM
DEEP_FROM = 14
TOOLS = ("tileproxy", "MapProxy")


def deep_points() -> list[tuple[float, float]]:
    import random

    rnd = random.Random(6)
    w, s, e, n = REGION
    return [(round(rnd.uniform(w, e - POINT), 5), round(rnd.uniform(s, n - POINT), 5)) for _ in range(DEEP_POINTS)]


def region_meta_tiles(max_level: int, meta: int = 4) -> int:
    """Meta tiles (4x4) of GLOBAL_WEBMERCATOR intersecting REGION at levels 0..max_level:
    the positions a walk over the coverage visits."""
    import math

    def tx(lon: float, z: int) -> float:
        return (lon + 180) / 360 * 2**z

    def ty(lat: float, z: int) -> float:
        r = math.radians(lat)
        return (1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z

    w, s, e, n = REGION
    total = 0
    for z in range(max_level + 1):
        x0, x1 = int(tx(w, z)) // meta, int(tx(e, z)) // meta
        y0, y1 = int(ty(n, z)) // meta, int(ty(s, z)) // meta
        total += (x1 - x0 + 1) * (y1 - y0 + 1)
    return total


def write_configs(directory: Path, source_url: str, max_level: int, cleanup_from: int, deep_max: int = 16) -> None:
    import yaml

    proxy = {
        "services": {"tms": {"use_grid_names": False}},
        "layers": [{"name": "bench", "title": "Seed benchmark", "sources": ["bench_cache"]}],
        "caches": {"bench_cache": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["bench_wms"],
                                   "format": "image/png", "cache": {"type": "file", "directory_layout": "tc"}}},
        "sources": {"bench_wms": {"type": "wms", "req": {"url": source_url, "layers": "base"}}},
        "globals": {"cache": {"base_dir": "./cache_data", "lock_dir": "./cache_data/locks",
                              "tile_lock_dir": "./cache_data/tile_locks"}},
    }
    coverages = {"area": {"bbox": AREA, "srs": "EPSG:4326"}, "box": {"bbox": BOX, "srs": "EPSG:4326"}, "city": {"bbox": CITY, "srs": "EPSG:4326"},
                 "region": {"bbox": REGION, "srs": "EPSG:4326"}}
    for i, (x, y) in enumerate(deep_points()):
        coverages[f"deep{i}"] = {"bbox": [x, y, x + POINT, y + POINT], "srs": "EPSG:4326"}
    for i, (x, y) in enumerate(SPARSE_POINTS):
        coverages[f"point{i}"] = {"bbox": [x, y, x + POINT, y + POINT], "srs": "EPSG:4326"}
    seed = {
        "seeds": {
            "full": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"], "coverages": ["area"],
                     "levels": {"to": max_level}},
            "box": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"], "coverages": ["box"],
                    "levels": {"to": BOX_LEVELS}},
            "sparse": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"],
                       "coverages": [f"point{i}" for i in range(len(SPARSE_POINTS))], "levels": {"to": 19}},
            "refresh": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"], "coverages": ["city"],
                        "levels": {"to": 19}, "refresh_before": {"minutes": 0}},
            "deep_points": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"],
                            "coverages": [f"deep{i}" for i in range(DEEP_POINTS)],
                            "levels": {"from": DEEP_FROM, "to": deep_max}},
            "refresh_deep": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"], "coverages": ["region"],
                             "levels": {"to": deep_max}, "refresh_before": {"minutes": 0}},
        },
        "cleanups": {
            "remove": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"], "coverages": ["area"],
                       "levels": {"from": cleanup_from, "to": max_level}, "remove_before": {"minutes": 0}},
            "remove_levels": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"],
                              "levels": {"from": cleanup_from, "to": max_level}, "remove_before": {"minutes": 0}},
        },
        "coverages": coverages,
    }
    directory.mkdir(parents=True, exist_ok=True)
    head = "# written by bench/seed.py; read by tileproxy-seed and by mapproxy-seed\n"
    (directory / "mapproxy.yaml").write_text(head + yaml.safe_dump(proxy, sort_keys=False))
    (directory / "seed.yaml").write_text(head + yaml.safe_dump(seed, sort_keys=False))


def tool_command(tool: str, task_args: list[str], concurrency: int,
                 tileproxy_extra: list[str] = (), tileproxy_src: Path = REPO_DIR) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MAPPROXY_CONFIG")}
    common = ["-f", "mapproxy.yaml", "-s", "seed.yaml", "-c", str(concurrency), *task_args]
    if tool == "tileproxy":
        env["PYTHONPATH"] = str(tileproxy_src)
        return [sys.executable, "-m", "tileproxy.cli.seed", *common, *tileproxy_extra], env
    return [str(MAPPROXY_VENV / "bin" / "mapproxy-seed"), *common], env


def tile_set(cache_dir: Path) -> set[str]:
    out = set()
    for root, dirs, files in os.walk(cache_dir):
        dirs[:] = [d for d in dirs if d not in ("locks", "tile_locks")]
        for name in files:
            if name.endswith((".png", ".jpeg")):
                out.add(os.path.relpath(os.path.join(root, name), cache_dir))
    return out


def written_since(cache_dir: Path, when: float) -> set[str]:
    return {t for t in tile_set(cache_dir) if os.stat(cache_dir / t).st_mtime >= when - 1}


@dataclass
class Run:
    scenario: str
    delay_ms: float
    tool: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_kb: int = 0  # the process tree's RSS summed (sampled every 0.1 s)
    max_rss_kb: int = 0  # the largest single process (ru_maxrss of wait4)
    startup_s: float = 0.0  # from the start to the source's first request
    source_requests: int = 0
    tiles_before: int = 0
    tiles_after: int = 0
    refreshed: int = 0  # tile files written during the run
    returncode: int = 0
    tail: str = ""


def run_tool(tool: str, side: Path, task_args: list[str], args, source: WMSSourceServer, log: Path) -> Run:
    cmd, env = tool_command(tool, task_args, args.concurrency, args.tileproxy_args.split(), args.tileproxy_src)
    source.reset()
    before = len(tile_set(side / "cache_data"))
    started = time.time()
    with open(log, "wb") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=side, env=env, stdout=out, stderr=subprocess.STDOUT)
        with MemorySampler(proc.pid, interval=0.1) as mem:
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    run = Run("", 0, tool, wall, usage.ru_utime + usage.ru_stime, peak_rss_kb=max(mem.peak_rss, usage.ru_maxrss),
              max_rss_kb=usage.ru_maxrss, source_requests=source.requests, tiles_before=before,
              tiles_after=len(tile_set(side / "cache_data")), returncode=proc.returncode)
    if source.first_request is not None:
        run.startup_s = source.first_request - t0
    run.written = written_since(side / "cache_data", started)  # not in asdict: a set of paths
    run.refreshed = len(run.written)
    if proc.returncode:
        run.tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:])
    return run


def prepare(side: Path, template: Path | None) -> None:
    shutil.rmtree(side / "cache_data", ignore_errors=True)
    if template is not None:
        shutil.copytree(template, side / "cache_data", copy_function=shutil.copy2)  # keeps mtimes


SCENARIOS = {  # name: (task arguments, template cache or None)
    "full": (["--seed", "full"], None),
    "memory": (["--seed", "box"], None),
    "refresh": (["--seed", "refresh", "--skip-uncached"], "sparse"),
    "refresh-deep": (["--seed", "refresh_deep", "--skip-uncached"], "deep_points"),
    "cleanup": (["--cleanup", "remove"], "full"),
    "cleanup-levels": (["--cleanup", "remove_levels"], "full"),
}


def make_template(name: str, work: Path, args, source: WMSSourceServer) -> Path:
    """A cache made once by tileproxy-seed (no delay), copied to both tools before each run."""
    side = work / f"template-{name}"
    target = side / "cache_data"
    if target.exists() and not args.fresh_templates:
        return target
    side.mkdir(exist_ok=True)
    for f in ("mapproxy.yaml", "seed.yaml"):
        shutil.copy(work / f, side / f)
    shutil.rmtree(target, ignore_errors=True)
    delay, source.delay = source.delay, 0.0
    print(f"making the {name} template cache with tileproxy-seed ...", flush=True)
    run = run_tool("tileproxy", side, ["--seed", name], args, source, work / "logs" / f"template-{name}.log")
    source.delay = delay
    if run.returncode:
        raise SystemExit(f"could not make the {name} template:\n{run.tail}")
    day_ago = time.time() - 86400  # old tiles, as in a cache that needs the refresh
    for t in tile_set(target):
        os.utime(target / t, (day_ago, day_ago))
    time.sleep(1.1)  # the refresh/remove_before time ("now" at the tool's start) must be after the tiles' mtimes
    return target


def report(args, runs: list[Run], same: dict[tuple[str, float], str]) -> str:
    out = [f"seed benchmark: file cache (tc) on GLOBAL_WEBMERCATOR from a local WMS (meta tiles 4x4, default buffer); "
           f"-c {args.concurrency}; full: lon/lat {AREA} levels 0-{args.max_level}; refresh: lon/lat {CITY} "
           f"levels 0-19 over {len(SPARSE_POINTS)} seeded points; refresh-deep: lon/lat {REGION} levels "
           f"0-{args.deep_max_level} ({region_meta_tiles(args.deep_max_level)} meta tile positions) over {DEEP_POINTS} "
           f"seeded points at levels {DEEP_FROM}-{args.deep_max_level}; cleanup: levels {args.cleanup_from}-{args.max_level} "
           "of the full cache (cleanup: within the bbox; cleanup-levels: no coverage); source: "
           + (f"{args.prerendered} maps per size rendered once" if args.prerendered else "a new map per request")
           + (f"; tileproxy-seed {args.tileproxy_args}" if args.tileproxy_args else ""), "",
           f"{'scenario':<9} {'delay':>6} {'tool':<10} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13} {'1 proc MiB':>10} "
           f"{'source req':>10} {'tiles before':>12} {'tiles after':>11} {'written':>8}  same tiles"]
    rounds: dict[tuple[str, float], dict[str, list[Run]]] = {}
    for r in runs:
        rounds.setdefault((r.scenario, r.delay_ms), {}).setdefault(r.tool, []).append(r)
    by_key: dict[tuple[str, float], dict[str, Run]] = {}  # the round of median CPU per tool
    for key, per_tool in rounds.items():
        by_key[key] = {tool: sorted(rs, key=lambda r: r.cpu_s)[(len(rs) - 1) // 2] for tool, rs in per_tool.items()}
    for (scenario, delay), pair in by_key.items():
        for tool in TOOLS:
            r = pair.get(tool)
            if r is None:
                continue
            spread = sorted(x.cpu_s for x in rounds[(scenario, delay)][tool])
            failed = f"  FAILED (exit {r.returncode})" if r.returncode else ""
            if len(spread) > 1:
                failed += f"  (CPU of {len(spread)} rounds: {', '.join(f'{c:.2f}' for c in spread)})"
            out.append(f"{scenario:<9} {delay:>4.0f}ms {tool:<10} {r.wall_s:>8.2f} {r.cpu_s:>8.2f} "
                       f"{r.peak_rss_kb / 1024:>13.0f} {r.max_rss_kb / 1024:>10.0f} {r.source_requests:>10} {r.tiles_before:>12} {r.tiles_after:>11} {r.refreshed:>8}"
                       f"  {same.get((scenario, delay), '')}{failed}")
        a, b = pair.get("tileproxy"), pair.get("MapProxy")
        if a and b and a.wall_s and a.cpu_s:
            out.append(f"{scenario:<9} {delay:>4.0f}ms {'ratio':<10} {b.wall_s / a.wall_s:>7.2f}x {b.cpu_s / a.cpu_s:>7.2f}x "
                       f"{a.peak_rss_kb / b.peak_rss_kb if b.peak_rss_kb else 0:>12.2f}x "
                       f"{a.max_rss_kb / b.max_rss_kb if b.max_rss_kb else 0:>9.2f}x   "
                       "(wall, CPU: MapProxy / tileproxy; RSS: tileproxy / MapProxy)")
        for tool in TOOLS if delay else ():
            r = pair.get(tool)
            if r is not None and r.source_requests:
                # the source's floor: its requests, ``-c`` at a time, after the tool's start-up
                floor = r.startup_s + r.source_requests * delay / 1000 / args.concurrency
                out.append(f"{scenario:<9} {delay:>4.0f}ms {tool:<10} wall {r.wall_s:.2f} s = {r.wall_s / floor:.2f}x the "
                           f"floor of {floor:.2f} s (start-up {r.startup_s:.2f} s + {r.source_requests} requests x "
                           f"{delay:g} ms / {args.concurrency})")
    for r in runs:
        if r.returncode:
            out.append(f"{r.tool} {r.scenario} {r.delay_ms:g} ms failed:\n{r.tail}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--delays", default="0,50", help="source delays in ms, comma-separated (default 0,50)")
    p.add_argument("--max-level", type=int, default=11)
    p.add_argument("--deep-max-level", type=int, default=19, help="deepest level of the refresh-deep scenario")
    p.add_argument("--deep-region", help="lon/lat W,S,E,N of the refresh-deep scenario (use a new --work: "
                   "the template cache is kept)")
    p.add_argument("--cleanup-from", type=int, default=9)
    p.add_argument("-c", "--concurrency", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1, help="runs per tool and scenario, taking turns; "
                   "the report shows the run of median CPU time")
    p.add_argument("--tileproxy-args", default="", help="more tileproxy-seed options, e.g. --processes")
    p.add_argument("--tileproxy-src", type=Path, default=REPO_DIR,
                   help="the tileproxy tree to run (default: this one), e.g. another worktree for a before/after")
    p.add_argument("--fresh-templates", action="store_true", help="make the template caches again")
    p.add_argument("--only", choices=["tileproxy", "mapproxy"])
    p.add_argument("--work", type=Path, default=BENCH_DIR / "work")
    p.add_argument("--prerendered", type=int, metavar="N", help="the source renders N maps per size once and "
                   "serves them again: no source CPU on the tools' cores (default: a new map per request)")
    args = p.parse_args(argv)
    if args.deep_region:
        REGION[:] = [float(v) for v in args.deep_region.split(",")]
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if any(s not in SCENARIOS for s in scenarios):
        p.error(f"--scenarios: choose from {', '.join(SCENARIOS)}")
    delays = [float(d) for d in args.delays.split(",") if d.strip()]
    tools = [t for t in TOOLS if not args.only or args.only == t.lower()]
    if "MapProxy" in tools and not (MAPPROXY_VENV / "bin" / "mapproxy-seed").exists():
        p.error("MapProxy is not installed: run bash bench/setup.sh (or --only tileproxy)")

    work = (args.work / "seed").resolve()
    # tileproxy's bytecode, as an installed package has it (MapProxy's venv has its own):
    # under PYTHONDONTWRITEBYTECODE every run would compile the worktree's modules again
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(args.tileproxy_src / "tileproxy")], check=True,
                   stdout=subprocess.DEVNULL)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    same: dict[tuple[str, float], str] = {}
    with WMSSourceServer(variants=args.prerendered) as source:
        write_configs(work, source.url, args.max_level, args.cleanup_from, args.deep_max_level)
        for tool in tools:
            side = work / tool.lower()
            side.mkdir(exist_ok=True)
            for f in ("mapproxy.yaml", "seed.yaml"):
                shutil.copy(work / f, side / f)
        templates = {name: make_template(name, work, args, source)
                     for name in {SCENARIOS[s][1] for s in scenarios} if name}
        turn = 0
        for scenario in scenarios:
            task_args, template = SCENARIOS[scenario]
            for delay in delays:
                if scenario.startswith("cleanup") and delay != delays[0]:
                    continue  # no source requests: the delay changes nothing
                source.delay = delay / 1000
                sets = {}
                for _ in range(args.rounds):
                    order = tools if turn % 2 == 0 else list(reversed(tools))
                    turn += 1
                    for tool in order:
                        side = work / tool.lower()
                        prepare(side, templates.get(template) if template else None)
                        print(f"-- {scenario}, delay {delay:g} ms: {tool}", flush=True)
                        run = run_tool(tool, side, task_args, args, source,
                                       work / "logs" / f"{scenario}-{delay:g}ms-{tool}.log")
                        run.scenario, run.delay_ms = scenario, delay
                        runs.append(run)
                        sets[tool] = (tile_set(side / "cache_data"), run.written)
                        print(f"   {run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU, {run.source_requests} source requests, "
                              f"{run.tiles_after} tiles, exit {run.returncode}", flush=True)
                if len(sets) == 2:
                    (a, wa), (b, wb) = sets["tileproxy"], sets["MapProxy"]
                    same[(scenario, delay)] = ("yes" if a == b else f"NO ({len(a - b)} only tileproxy, {len(b - a)} only MapProxy)") \
                        + ("" if wa == wb else f"; written differ ({len(wa - wb)} only tileproxy, {len(wb - wa)} only MapProxy)")

    text = report(args, runs, same)
    print()
    print(text)
    (work / "results.txt").write_text(text + "\n")
    (work / "results.json").write_text(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                   "runs": [asdict(r) for r in runs]}, indent=2) + "\n")
    return 1 if any(r.returncode for r in runs) or any(v != "yes" for v in same.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
