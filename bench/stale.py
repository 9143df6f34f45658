#!/usr/bin/env python3
"""Requests for stale cached tiles with a slow source: MapProxy 7 (refresh while
the client waits), tileproxy ``refresh_mode: foreground`` (the default, same
behaviour) and tileproxy ``refresh_mode: background`` (serve the stale tile, refresh
later), side by side under gunicorn.

For each server: the same cache of N tiles (each in its own 4x4 meta tile), first
requested fresh (the baseline: cached-tile speed), then made stale (file mtimes one
hour back, ``refresh_before: {minutes: 1}``) and requested again, once each, by a few
client threads. Reports latency percentiles, req/s, the source requests and whether
the tiles were refreshed (background: after waiting, bounded, for the queue).

    python3 bench/stale.py
    python3 bench/stale.py --tiles 100 --delay 500 --clients 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BENCH_DIR,
    MAPPROXY_VENV,
    GunicornServer,
    fetch,
    is_png,
    mapproxy_spec,
    tileproxy_spec,
)
from wmssource import WMSSourceServer  # noqa: E402

LEVEL = 12
MODES = ("MapProxy", "tileproxy-foreground", "tileproxy-background")


def write_config(path: Path, source_url: str, refresh_mode: str | None) -> None:
    import yaml

    cache = {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["bench_wms"], "format": "image/png",
             "cache": {"type": "file", "directory_layout": "tc"}, "refresh_before": {"minutes": 1}}
    if refresh_mode:
        cache["refresh_mode"] = refresh_mode
    conf = {
        "services": {"tms": {"use_grid_names": False}, "wmts": {}},
        "layers": [{"name": "bench", "title": "Stale benchmark", "sources": ["bench_cache"]}],
        "caches": {"bench_cache": cache},
        "sources": {"bench_wms": {"type": "wms", "req": {"url": source_url, "layers": "base"}}},
        "globals": {"cache": {"base_dir": "./cache_data", "lock_dir": "./cache_data/locks",
                              "tile_lock_dir": "./cache_data/tile_locks"},
                    "http": {"client_timeout": 60}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by bench/stale.py\n" + yaml.safe_dump(conf, sort_keys=False))


def tile_paths(n: int) -> list[str]:
    """TMS paths of ``n`` tiles at LEVEL, 4 apart in x and y: one tile per 4x4 meta tile."""
    x0, y0 = 2100, 2700  # around central Europe at level 12 (TMS y from the bottom)
    side = int(n ** 0.5) + 1
    out = [f"/tms/1.0.0/bench/EPSG3857/{LEVEL}/{x0 + 4 * (i % side)}/{y0 + 4 * (i // side)}.png" for i in range(n)]
    return out


def tile_files(cache_dir: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(cache_dir):
        dirs[:] = [d for d in dirs if d not in ("locks", "tile_locks")]
        out.extend(Path(root) / f for f in files if f.endswith(".png"))
    return out


def set_mtimes(cache_dir: Path, when: float) -> int:
    files = tile_files(cache_dir)
    for f in files:
        os.utime(f, (when, when))
    return len(files)


@dataclass
class Pass:
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    errors: int = 0
    source_requests: int = 0

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0


def request_all(base: str, paths: list[str], clients: int, source: WMSSourceServer) -> Pass:
    def one(path: str) -> tuple[float, bool]:
        t0 = time.perf_counter()
        status, ctype, body = fetch(base + path, timeout=120)
        return (time.perf_counter() - t0) * 1000, status == 200 and is_png(body)

    source.reset()
    result = Pass()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for ms, ok in pool.map(one, paths):
            result.latencies_ms.append(ms)
            result.errors += not ok
    result.wall_s = time.perf_counter() - t0
    result.source_requests = source.requests
    return result


@dataclass
class ModeRun:
    mode: str
    fresh: Pass
    stale: Pass
    refreshed_at_answer: int  # tiles with a new mtime when the last stale answer arrived
    refreshed_after: int  # ... after waiting for the source to go quiet
    wait_s: float
    source_requests_total: int  # during the stale pass and the wait


def run_mode(mode: str, work: Path, template: Path, paths: list[str], args, source: WMSSourceServer) -> ModeRun:
    side = work / mode
    refresh_mode = {"tileproxy-foreground": None, "tileproxy-background": "background"}.get(mode)
    write_config(side / "mapproxy.yaml", source.url, refresh_mode)
    cache = side / "cache_data"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(template, cache)
    spec = mapproxy_spec(side / "mapproxy.yaml", 2) if mode == "MapProxy" else tileproxy_spec(side / "mapproxy.yaml", 2)
    (work / "logs").mkdir(exist_ok=True)
    with GunicornServer(spec, work / "logs" / f"{mode}.log") as server:
        set_mtimes(cache, time.time())
        fetch(server.base + paths[0])  # warm the workers' imports; a fresh tile
        fresh = [request_all(server.base, paths, args.clients, source) for _ in range(args.fresh_passes)]
        fresh_pass = sorted(fresh, key=lambda p: p.pct(50))[len(fresh) // 2]
        stale_at = time.time() - 3600
        set_mtimes(cache, stale_at)
        stale = request_all(server.base, paths, args.clients, source)
        refreshed_at_answer = sum(1 for f in tile_files(cache) if f.stat().st_mtime > stale_at + 1)
        # wait for the source to go quiet (background refreshes), bounded
        t0 = time.monotonic()
        last, quiet_since = source.requests, time.monotonic()
        while time.monotonic() - t0 < args.max_wait:
            time.sleep(0.5)
            if source.requests != last:
                last, quiet_since = source.requests, time.monotonic()
            elif time.monotonic() - quiet_since > max(2.0, 3 * args.delay / 1000):
                break
        wait = time.monotonic() - t0
        total = source.requests
        refreshed_after = sum(1 for f in tile_files(cache) if f.stat().st_mtime > stale_at + 1)
    return ModeRun(mode, fresh_pass, stale, refreshed_at_answer, refreshed_after, wait, total)


def make_template(work: Path, paths: list[str], source: WMSSourceServer) -> Path:
    """The cache of all ``paths``, built once through tileproxy (source without delay)."""
    side = work / "template"
    write_config(side / "mapproxy.yaml", source.url, None)
    shutil.rmtree(side / "cache_data", ignore_errors=True)
    delay, source.delay = source.delay, 0.0
    with GunicornServer(tileproxy_spec(side / "mapproxy.yaml", 2), work / "logs" / "template.log") as server:
        bad = [p for p in paths if fetch(server.base + p)[0] != 200]
    source.delay = delay
    if bad:
        raise SystemExit(f"could not build the template cache: {len(bad)} failed, e.g. {bad[0]}")
    return side / "cache_data"


def report(args, runs: list[ModeRun], n_files: int) -> str:
    out = [f"stale tiles: {args.tiles} distinct tiles at level {LEVEL}, one per 4x4 meta tile ({n_files} files cached); "
           f"WMS source delay {args.delay:g} ms; gunicorn 2 sync workers; {args.clients} client threads, "
           f"each tile requested once per pass; refresh_before 1 min, stale mtimes 1 h old", "",
           f"{'server / mode':<22} {'pass':<6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8} "
           f"{'errors':>6} {'source req':>10}"]
    for r in runs:
        for name, p in (("fresh", r.fresh), ("stale", r.stale)):
            out.append(f"{r.mode:<22} {name:<6} {p.pct(50):>8.1f} {p.pct(95):>8.1f} {p.pct(99):>8.1f} "
                       f"{max(p.latencies_ms):>8.1f} {p.rps:>8.1f} {p.errors:>6} {p.source_requests:>10}")
    out.append("")
    out.append(f"{'server / mode':<22} refreshed when answered  refreshed after wait  wait s  source req (stale pass + wait)")
    for r in runs:
        out.append(f"{r.mode:<22} {r.refreshed_at_answer:>23}  {r.refreshed_after:>19}  {r.wait_s:>6.1f}  "
                   f"{r.source_requests_total:>10}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiles", type=int, default=200)
    p.add_argument("--delay", type=float, default=500, help="source delay in ms (default 500)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--fresh-passes", type=int, default=3, help="fresh passes per server; the median p50 is shown")
    p.add_argument("--max-wait", type=float, default=120, help="seconds to wait for background refreshes")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--work", type=Path, default=BENCH_DIR / "work")
    args = p.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if "MapProxy" in modes and not (MAPPROXY_VENV / "bin" / "python").exists():
        p.error("MapProxy is not installed: run bash bench/setup.sh")
    work = (args.work / "stale").resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    paths = tile_paths(args.tiles)
    runs = []
    with WMSSourceServer(delay=args.delay / 1000) as source:
        template = make_template(work, paths, source)
        n_files = len(tile_files(template))
        for mode in modes:
            print(f"-- {mode}", flush=True)
            r = run_mode(mode, work, template, paths, args, source)
            print(f"   fresh p50 {r.fresh.pct(50):.1f} ms, stale p50 {r.stale.pct(50):.1f} ms, "
                  f"stale source requests {r.stale.source_requests}, refreshed {r.refreshed_after}", flush=True)
            runs.append(r)
    text = report(args, runs, n_files)
    print()
    print(text)
    (work / "results.txt").write_text(text + "\n")
    return 1 if any(r.fresh.errors or r.stale.errors for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
