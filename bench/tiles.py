#!/usr/bin/env python3
"""Cached tile throughput of tileproxy and MapProxy 7, side by side.

Writes one mapproxy.yaml (a cache of a local tile source on GLOBAL_WEBMERCATOR),
seeds levels 0..N through each app, then serves the cached tiles under granian and
gunicorn (both apps under each) and drives each server with wrk over TMS, WMTS REST and
OGC API Tiles URLs; with a file cache, nginx serves the same tile files as the static
ceiling. Prints req/s, latency, CPU per request, memory and the ratios. See bench/README.md.

    bash bench/setup.sh              # once: MapProxy venv, gunicorn, granian, nginx, wrk
    python3 bench/tiles.py           # file cache, levels 0-6, granian and gunicorn, nginx
    python3 bench/tiles.py --server granian --protocols wmts --backend mbtiles --duration 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BENCH_DIR,
    GRANIAN_RUNTIME_MODE,
    GRANIAN_THREADS,
    MAPPROXY_VENV,
    REPO_DIR,
    AppServer,
    LoadResult,
    MemorySampler,
    NginxServer,
    ServerError,
    ServerSpec,
    TileSourceServer,
    access_log_spec,
    baseline_spec,
    cache_fingerprint,
    cores_text,
    fetch,
    is_png,
    mapproxy_spec,
    memory_kb,
    metrics_spec,
    policy_spec,
    prerender_source_tiles,
    run_wrk,
    server_text,
    split_cores,
    tileproxy_spec,
)

LAYER = "bench"
GRID = "GLOBAL_WEBMERCATOR"
TMS_GRID_ID = "EPSG3857"

# the cache: {...} block of each backend, as written in mapproxy.yaml
CACHE_BLOCKS: dict[str, dict] = {
    "file": {"type": "file", "directory_layout": "tc"},
    "mbtiles": {"type": "mbtiles"},
    "sqlite": {"type": "sqlite"},
    "geopackage": {"type": "geopackage"},
    "compact-v1": {"type": "compact", "version": 1},
    "compact-v2": {"type": "compact", "version": 2},
    # on local servers the bench starts (tests/support/servers.py); {...} filled in per server side,
    # so that each side seeds and serves its own bucket / container / key prefix
    "s3": {"type": "s3", "bucket_name": "{bucket}", "endpoint_url": "{s3_url}"},
    "azureblob": {"type": "azureblob", "container_name": "{container}", "connection_string": "{azure}"},
    "redis": {"type": "redis", "host": "127.0.0.1", "port": "{redis_port}", "prefix": "{prefix}", "default_ttl": 0},
}
REMOTE_SERVERS = {"s3": "s3_server", "azureblob": "azurite_server", "redis": "redis_server"}

Tile = tuple[int, int, int]  # (z, x, row from the top)


def write_config(path: Path, source_url: str, backend: str) -> str:
    """The mapproxy.yaml both servers read; relative paths resolve beside it."""
    import yaml

    conf = {
        "services": {"demo": None, "tms": {"use_grid_names": False}, "wmts": {"restful": True, "kvp": True},
                     "ogcapi": {"enable_tiles": True, "enable_maps": True}},
        "layers": [{"name": LAYER, "title": "Benchmark layer", "sources": ["bench_cache"]}],
        "caches": {
            "bench_cache": {
                "grids": [GRID],
                "sources": ["bench_tiles"],
                "format": "image/png",
                "cache": dict(CACHE_BLOCKS[backend]),
            }
        },
        "sources": {"bench_tiles": {"type": "tile", "url": source_url, "grid": GRID}},
        "globals": {"cache": {"base_dir": "./cache_data", "lock_dir": "./cache_data/locks",
                              "tile_lock_dir": "./cache_data/tile_locks"}},
    }
    text = "# written by bench/tiles.py; read by tileproxy and by MapProxy\n" + yaml.safe_dump(conf, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


@contextmanager
def backend_servers(backend: str, work: Path):
    """The server a remote backend needs (SeaweedFS, Azurite, redis-server), started
    for the run; yields a function giving each server side its cache block (None for
    local backends)."""
    if backend not in REMOTE_SERVERS:
        yield lambda side: None
        return
    sys.path.insert(0, str(REPO_DIR / "tests"))
    from support import servers

    with getattr(servers, REMOTE_SERVERS[backend])(str(work / f"{backend}-server")) as server:
        if backend == "s3":
            os.environ.update(server.credentials_env())  # read by both servers' boto3

        def block(side: str) -> dict:
            name = f"bench-{side.lower()}-{int(time.time())}"
            values = {"bucket": server.new_bucket(name) if backend == "s3" else "",
                      "container": server.new_container(name) if backend == "azureblob" else "",
                      "s3_url": getattr(server, "endpoint_url", ""), "azure": getattr(server, "connection_string", ""),
                      "redis_port": server.port, "prefix": name}
            return {k: (values[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v)
                    for k, v in CACHE_BLOCKS[backend].items()}

        print(f"{backend} server: {server.url}", flush=True)
        yield block


def side_config(text: str, block: dict | None) -> str:
    """The config text with this side's own cache block (remote backends)."""
    if block is None:
        return text
    import yaml

    conf = yaml.safe_load(text)
    conf["caches"]["bench_cache"]["cache"] = block
    return text.split("\n", 1)[0] + "\n" + yaml.safe_dump(conf, sort_keys=False)


def pyramid(max_level: int) -> list[Tile]:
    return [(z, x, y) for z in range(max_level + 1) for x in range(2**z) for y in range(2**z)]


def wmts_path(t: Tile) -> str:
    z, x, y = t
    return f"/wmts/{LAYER}/{GRID}/{z}/{x}/{y}.png"


def tms_path(t: Tile) -> str | None:
    """TMS numbers the global-mercator profile from the 2x2 level and rows from the south."""
    z, x, y = t
    if z < 1:
        return None
    return f"/tms/1.0.0/{LAYER}/{TMS_GRID_ID}/{z - 1}/{x}/{2**z - 1 - y}.png"


def ogcapi_path(t: Tile) -> str:
    """OGC API Tiles: the collection's map tiles in WebMercatorQuad (GLOBAL_WEBMERCATOR's
    registered id in both servers), rows from the top."""
    z, x, y = t
    return f"/ogcapi/collections/{LAYER}/map/tiles/WebMercatorQuad/{z}/{y}/{x}"


PROTOCOLS = {"tms": tms_path, "wmts": wmts_path, "ogcapi": ogcapi_path}
BYTE_PROTOCOLS = ("tms", "wmts")  # the stored bytes; MapProxy draws OGC API map tiles anew (same pixels)


@dataclass
class ServerRun:
    name: str
    server: str = "gunicorn"  # granian, gunicorn, or static (nginx)
    skipped: str | None = None
    seed_seconds: float = 0.0
    seeded: int = 0
    seed_failures: list[str] = field(default_factory=list)
    sample_failures: list[str] = field(default_factory=list)
    sample_digests: dict[str, str] = field(default_factory=dict)
    rounds: dict[str, list[LoadResult]] = field(default_factory=dict)  # protocol -> one result a round
    idle_kb: tuple[int, int] = (0, 0)
    peak_rss_kb: int = 0
    peak_pss_kb: int = 0
    tiles_created_while_serving: int = 0
    cache_changed_while_serving: bool = False
    cache_files: set[str] = field(default_factory=set)
    round_failures: list[str] = field(default_factory=list)

    def median(self, proto: str) -> LoadResult | None:
        """The round with the median req/s."""
        results = sorted(self.rounds.get(proto, []), key=lambda r: r.rps)
        return results[(len(results) - 1) // 2] if results else None

    def cpu_us(self, key: str) -> float:
        """Median server CPU per request over the rounds of ``key``."""
        return statistics.median(x.cpu_us_per_request for x in self.rounds[key])


def throughput_rows(key: str, label: str, runs: list[ServerRun], tp: ServerRun, mp: ServerRun,
                    width: int = 8, rps_digits: int = 0) -> list[str]:
    """The table rows of ``key`` (a protocol or an SRS): one per server, then the
    tileproxy / MapProxy ratios of req/s and CPU."""
    out = []
    for run in runs:
        r = run.median(key)
        if r is None:
            out.append(f"{label:<{width}} {run.name:<10} {'n/a':>9}")
            continue
        rates = [x.rps for x in run.rounds[key]]
        spread = f"({min(rates):.0f}-{max(rates):.0f})"
        errors = sum(x.error_count for x in run.rounds[key])
        out.append(f"{label:<{width}} {run.name:<10} {r.rps:>9.{rps_digits}f} {spread:>13} "
                   f"{r.latency_us['p50'] / 1000:>8.2f} {r.latency_us['p99'] / 1000:>8.2f} {run.cpu_us(key):>10.0f} {errors:>7}")
    a, b = tp.median(key), mp.median(key)
    if a and b and b.rps:
        cpu_a, cpu_b = tp.cpu_us(key), mp.cpu_us(key)
        out.append(f"{label:<{width}} {'ratio':<10} {a.rps / b.rps:>8.2f}x {'':>13} {'':>8} {'':>8} "
                   f"{cpu_b / cpu_a if cpu_a else 0:>9.2f}x   (req/s: tileproxy / MapProxy; CPU: MapProxy / tileproxy)")
    return out


def variant_rows(key: str, variant: ServerRun | None, tp: ServerRun, label: str, width: int = 8) -> list[str]:
    """With --policy or --metrics: the req/s and CPU of that tileproxy variant against tileproxy alone."""
    if variant is None or variant.skipped:
        return []
    a, b = variant.median(key), tp.median(key)
    if a is None or b is None or not b.rps:
        return []
    cpu_a, cpu_b = variant.cpu_us(key), tp.cpu_us(key)
    return [f"{key.upper():<{width}} {label:<10} {a.rps / b.rps:>8.2f}x {'':>13} {'':>8} {'':>8} "
            f"{cpu_b / cpu_a if cpu_a else 0:>9.2f}x   (req/s: {variant.name} / tileproxy; CPU: tileproxy / {variant.name})"]


def table_header(first: str, width: int = 8) -> str:
    return (f"{first:<{width}} {'server':<10} {'req/s':>9} {'(min-max)':>13} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'CPU us/req':>10} {'errors':>7}")


def memory_rows(tp: ServerRun, mp: ServerRun, note: str = "") -> list[str]:
    """Idle and peak memory of both servers (master + workers), and the ratios."""
    out = [f"{'memory (MiB)':<14} {'idle RSS':>9} {'peak RSS':>9} {'peak PSS':>9}{note}"]
    for run in (tp, mp):
        if not run.skipped:
            out.append(f"{run.name:<14} {mib(run.idle_kb[0]):>9} {mib(run.peak_rss_kb):>9} {mib(run.peak_pss_kb):>9}")
    if not (tp.skipped or mp.skipped) and mp.peak_rss_kb and mp.peak_pss_kb:
        out.append(f"{'ratio':<14} {'':>9} {tp.peak_rss_kb / mp.peak_rss_kb:>8.2f}x {tp.peak_pss_kb / mp.peak_pss_kb:>8.2f}x")
    return out


def seed(base: str, tiles: list[Tile], concurrency: int, headers: dict[str, str]) -> list[str]:
    """Request every tile once through the app; returns failures."""

    def one(t: Tile) -> str | None:
        status, ctype, body = fetch(base + wmts_path(t), headers=headers)
        if status != 200 or not is_png(body):
            return f"{wmts_path(t)}: {status} {ctype} {body[:80]!r}"
        return None

    with ThreadPoolExecutor(concurrency) as pool:
        return [r for r in pool.map(one, tiles) if r]


def same_pixels(a: bytes, b: bytes) -> bool:
    from io import BytesIO

    from PIL import Image

    img_a, img_b = (Image.open(BytesIO(x)).convert("RGBA") for x in (a, b))
    return img_a.size == img_b.size and img_a.tobytes() == img_b.tobytes()


def check_sample(base: str, sample: list[Tile], run: ServerRun, headers: dict[str, str]) -> None:
    """Each sample tile answers 200 with a PNG: the same bytes over TMS and WMTS, the
    same pixels over OGC API (MapProxy re-encodes its map tiles; tileproxy sends the
    stored bytes, checked too)."""
    for t in sample:
        bodies: dict[str, bytes] = {}
        for proto, to_path in PROTOCOLS.items():
            path = to_path(t)
            if path is None:
                continue
            status, ctype, body = fetch(base + path, headers=headers)
            if status != 200 or ctype.split(";")[0] != "image/png" or not is_png(body):
                run.sample_failures.append(f"{proto} {path}: {status} {ctype} {body[:80]!r}")
                continue
            bodies[proto] = body
        stored = {bodies[p] for p in BYTE_PROTOCOLS if p in bodies}
        if len(stored) > 1:
            run.sample_failures.append(f"tile {t}: TMS and WMTS answer different bytes")
        if "ogcapi" in bodies and "wmts" in bodies:
            if run.name == "tileproxy" and bodies["ogcapi"] != bodies["wmts"]:
                run.sample_failures.append(f"tile {t}: OGC API and WMTS answer different bytes")
            elif not same_pixels(bodies["ogcapi"], bodies["wmts"]):
                run.sample_failures.append(f"tile {t}: OGC API and WMTS answer different pixels")
        if "wmts" in bodies:
            run.sample_digests["/".join(map(str, t))] = hashlib.sha256(bodies["wmts"]).hexdigest()


def seed_server(spec: ServerSpec, run: ServerRun, args, tiles: list[Tile], cache_dir: Path, logs: Path) -> None:
    """A fresh cache, filled by requesting every tile through the app."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    print(f"[{spec.name}] seeding {len(tiles)} tiles through the app ...", flush=True)
    with AppServer(spec, logs / f"{spec.name}-{spec.server}-seed.log") as srv:
        t0 = time.monotonic()
        run.seed_failures = seed(srv.base, tiles, args.seed_concurrency, spec.headers)
        run.seed_seconds = time.monotonic() - t0
    run.seeded = len(tiles) - len(run.seed_failures)


def serve_round(spec: ServerSpec, run: ServerRun, args, sample: list[Tile], url_files: dict[str, Path],
                source: TileSourceServer | None, cache_dir: Path | None, logs: Path, first: bool) -> None:
    """Start the server fresh, check a sample (first round), then warm-up and measure
    each protocol while sampling memory; record whether anything was created."""
    before = cache_fingerprint(cache_dir) if cache_dir else {}
    source_before = source.requests if source else 0
    with AppServer(spec, logs / f"{spec.name}-{spec.server}-serve.log") as srv:
        pid = srv.proc.pid  # type: ignore[union-attr]
        if first:
            if cache_dir:
                check_sample(srv.base, sample, run, spec.headers)
            run.idle_kb = memory_kb(pid)  # booted, and each worker has served a few tiles
        with MemorySampler(pid) as mem:
            for proto, url_file in url_files.items():
                print(f"[{spec.name}] {proto}: warm-up {args.warmup:g} s, measure {args.duration:g} s", flush=True)
                run_wrk(srv.base, url_file, args.warmup, args.connections, args.threads, cpus=args.load_cores,
                        headers=spec.headers)
                run.rounds.setdefault(proto, []).append(
                    run_wrk(srv.base, url_file, args.duration, args.connections, args.threads, pid, args.load_cores,
                            headers=spec.headers))
        run.peak_rss_kb = max(run.peak_rss_kb, mem.peak_rss)
        run.peak_pss_kb = max(run.peak_pss_kb, mem.peak_pss)
    if cache_dir:
        run.tiles_created_while_serving += (source.requests if source else 0) - source_before
        after = cache_fingerprint(cache_dir)
        run.cache_changed_while_serving |= after != before
        run.cache_files = set(after)


def preflight_tileproxy(config: Path) -> str | None:
    """None when tileproxy can load ``config``; else why not."""
    code = "import sys; from tileproxy.config.build import load_proxy_config; load_proxy_config(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO_DIR), "PATH": "/usr/bin:/bin"})
    if proc.returncode == 0:
        return None
    last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
    if "not supported" in last:
        return f"not supported by tileproxy yet ({last})"
    return f"tileproxy cannot load the config: {last}"


def preflight_mapproxy() -> str | None:
    if not (MAPPROXY_VENV / "bin" / "python").exists():
        return f"MapProxy is not installed: run bash {BENCH_DIR.relative_to(REPO_DIR)}/setup.sh"
    return None


def with_workers(spec: ServerSpec, args, server: str) -> ServerSpec:
    spec.server = server
    spec.worker_class = args.worker_class
    spec.threads = args.worker_threads if args.worker_class == "gthread" else 1
    spec.blocking_threads = args.granian_threads
    spec.backpressure = args.backpressure
    spec.runtime_mode = args.runtime_mode
    spec.cpus = args.server_cores
    return spec


def nginx_round(run: ServerRun, args, cache_dir: Path, url_file: Path, work: Path, logs: Path) -> None:
    """nginx serving tileproxy's tile files (the static ceiling): warm-up, then measure."""
    with NginxServer(cache_dir, work / "nginx", args.workers, args.server_cores) as srv:
        pid = srv.proc.pid  # type: ignore[union-attr]
        if not run.idle_kb[0]:
            run.idle_kb = memory_kb(pid)
        print(f"[nginx] static: warm-up {args.warmup:g} s, measure {args.duration:g} s", flush=True)
        with MemorySampler(pid) as mem:
            run_wrk(srv.base, url_file, args.warmup, args.connections, args.threads, cpus=args.load_cores)
            run.rounds.setdefault("static", []).append(
                run_wrk(srv.base, url_file, args.duration, args.connections, args.threads, pid, args.load_cores))
        run.peak_rss_kb = max(run.peak_rss_kb, mem.peak_rss)
        run.peak_pss_kb = max(run.peak_pss_kb, mem.peak_pss)


def static_rows(protocols: list[str], tp: ServerRun, nginx: ServerRun | None) -> list[str]:
    """nginx's row, and tileproxy's req/s and CPU per request against it, protocol by protocol."""
    if nginx is None or nginx.skipped or nginx.median("static") is None:
        return []
    out = throughput_rows("static", "STATIC", [nginx], nginx, nginx)[:1]
    n = nginx.median("static")
    for proto in protocols:
        a = tp.median(proto)
        if a and n and n.rps:
            cpu_n, cpu_a = nginx.cpu_us("static"), tp.cpu_us(proto)
            out.append(f"{proto.upper():<8} {'/ nginx':<10} {a.rps / n.rps:>8.2f}x {'':>13} {'':>8} {'':>8} "
                       f"{cpu_n / cpu_a if cpu_a else 0:>9.2f}x   (req/s: tileproxy / nginx static; "
                       "CPU: nginx / tileproxy)")
    return out


def mib(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def report(args, runs: dict[tuple[str, str], ServerRun], n_tiles: int) -> str:
    out = [
        f"backend: {args.backend}   tiles: {n_tiles} (levels 0-{args.max_level})   "
        f"wrk: {args.threads} threads, {args.connections} connections, "
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up, {args.rounds} round(s); "
        + cores_text(args.server_cores, args.load_cores),
    ]
    nginx = runs.get(("nginx", "static"))
    if nginx is not None and nginx.skipped:
        out.append(f"nginx static: skipped: {nginx.skipped}")
    for server in args.servers:
        tp, mp = runs[("tileproxy", server)], runs[("MapProxy", server)]
        shown = [r for (name, srv), r in runs.items() if srv == server and (name != "baseline" or args.baseline)
                 and (name != "tp+policy" or args.policy) and (name != "tp+metrics" or args.metrics)
                 and (name != "tp+access" or args.access_log)]
        out.append("")
        out.append(f"== {server_text(with_workers(ServerSpec('', '', '', {}, '', args.workers), args, server))}")
        for run in shown:
            if run.skipped:
                out.append(f"{run.name}: skipped: {run.skipped}")
        out.append(table_header("protocol"))
        for proto in args.protocols:
            out += throughput_rows(proto, proto.upper(), shown, tp, mp)
            out += variant_rows(proto, runs.get(("tp+policy", server)), tp, "policy")
            out += variant_rows(proto, runs.get(("tp+metrics", server)), tp, "metrics")
            out += variant_rows(proto, runs.get(("tp+access", server)), tp, "access log")
        if server == args.servers[0]:
            out += static_rows(args.protocols, tp, nginx)
        out.append("")
        out += memory_rows(tp, mp, f"   ({server} master + workers; idle: after the sample check)")
    if nginx is not None and not nginx.skipped:
        out.append(f"{'nginx':<14} {mib(nginx.idle_kb[0]):>9} {mib(nginx.peak_rss_kb):>9} {mib(nginx.peak_pss_kb):>9}")
    out.append("")
    tp, mp = runs[("tileproxy", args.servers[0])], runs[("MapProxy", args.servers[0])]
    for run in (tp, mp):
        if run.skipped:
            continue
        checks = [
            f"seeded {run.seeded}/{n_tiles} in {run.seed_seconds:.1f} s" if not args.no_seed else "seeding skipped",
            f"sample {len(run.sample_digests)} tiles: " + ("ok" if not run.sample_failures else f"{len(run.sample_failures)} FAILED"),
            f"tiles fetched from the source while serving: {run.tiles_created_while_serving}",
            "cache files changed while serving: " + ("YES" if run.cache_changed_while_serving else "no"),
        ]
        out.append(f"{run.name}: " + "; ".join(checks))
        for failure in (run.seed_failures + run.sample_failures + run.round_failures)[:5]:
            out.append(f"  {failure}")
    if not (tp.skipped or mp.skipped):
        same = sum(1 for k, v in tp.sample_digests.items() if mp.sample_digests.get(k) == v)
        out.append(f"identical bytes from both servers: {same}/{len(tp.sample_digests)} sample tiles")
        files = "same" if tp.cache_files == mp.cache_files else "DIFFERENT"
        if args.backend != "file":
            files += ", informational: file names are the backend's own"
        out.append(f"cache files on disk: tileproxy {len(tp.cache_files)}, MapProxy {len(mp.cache_files)} ({files} paths)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=list(CACHE_BLOCKS), default="file")
    p.add_argument("--max-level", type=int, default=6, help="seed levels 0..N of the whole world (default 6: 5461 tiles)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per protocol, server and round")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3,
                   help="servers take turns this many times; the median round is reported (default 3)")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--server", default="granian,gunicorn",
                   help="comma-separated WSGI servers that each serve both apps: granian, gunicorn "
                        "(default both, granian first)")
    p.add_argument("--no-nginx", action="store_true",
                   help="leave out nginx serving the same tile files (file backend only)")
    p.add_argument("--workers", type=int, default=2, help="worker processes, every server")
    p.add_argument("--worker-class", choices=["sync", "gthread"], default="sync",
                   help="gunicorn worker class (gthread keeps connections alive)")
    p.add_argument("--worker-threads", type=int, default=4, help="threads per worker with --worker-class gthread")
    p.add_argument("--granian-threads", type=int, default=GRANIAN_THREADS,
                   help=f"granian blocking threads per worker (default {GRANIAN_THREADS}, as tileproxy serve)")
    p.add_argument("--backpressure", type=int, help="granian backpressure per worker (default: granian's)")
    p.add_argument("--runtime-mode", choices=["st", "mt"], default=GRANIAN_RUNTIME_MODE,
                   help=f"granian runtime mode (default {GRANIAN_RUNTIME_MODE}, as tileproxy serve)")
    p.add_argument("--protocols", default="tms,wmts,ogcapi", help="comma-separated: tms, wmts, ogcapi")
    p.add_argument("--shared-cores", action="store_true",
                   help="let wrk and the server share every core (default: wrk on the last core, the server on the others)")
    p.add_argument("--only", choices=["tileproxy", "mapproxy"], help="run one side only")
    p.add_argument("--baseline", action="store_true",
                   help="also measure a trivial WSGI app that returns one tile from memory (the ceiling)")
    p.add_argument("--policy", action="store_true",
                   help="also measure tileproxy behind tileproxy.auth.PolicyMiddleware (one API key, 10 layers), "
                        "serving tileproxy's cache")
    p.add_argument("--metrics", action="store_true",
                   help="also measure tileproxy with Prometheus metrics on (globals.metrics), serving tileproxy's cache")
    p.add_argument("--access-log", action="store_true",
                   help="also measure tileproxy with its access log on (the log.ini of tileproxy create -t log-ini, "
                        "a line per request to access.log), serving tileproxy's cache")
    p.add_argument("--sample", type=int, default=50, help="tiles checked before the measured runs")
    p.add_argument("--seed-concurrency", type=int, default=4)
    p.add_argument("--no-seed", action="store_true", help="reuse the caches of an earlier run")
    p.add_argument("--work", type=Path, default=BENCH_DIR / "work")
    args = p.parse_args(argv)
    args.protocols = [x.strip().lower() for x in args.protocols.split(",") if x.strip()]
    unknown = [x for x in args.protocols if x not in PROTOCOLS]
    if unknown:
        p.error(f"unknown protocol(s): {', '.join(unknown)}")
    args.servers = [x.strip().lower() for x in args.server.split(",") if x.strip()]
    if not args.servers or any(x not in ("granian", "gunicorn") for x in args.servers):
        p.error(f"--server takes granian and/or gunicorn, not {args.server!r}")
    args.server_cores, args.load_cores = split_cores(args.shared_cores)
    if shutil.which("wrk") is None:
        p.error("wrk is not installed: run bash bench/setup.sh")

    work = (args.work / f"tiles-{args.backend}").resolve()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    tiles = pyramid(args.max_level)
    sample = random.Random(1).sample(tiles, min(args.sample, len(tiles)))
    rnd = random.Random(2)
    url_files = {}
    for proto in args.protocols:
        paths = [x for x in map(PROTOCOLS[proto], tiles) if x]
        rnd.shuffle(paths)
        url_files[proto] = work / f"urls-{proto}.txt"
        url_files[proto].write_text("\n".join(paths) + "\n")
    source_dir = args.work.resolve() / "source-tiles"
    rendered = prerender_source_tiles(source_dir, tiles)
    if rendered:
        print(f"rendered {rendered} source tiles into {source_dir}", flush=True)

    load_start = os.getloadavg()[0]
    names = ("tileproxy", "MapProxy", "baseline", "tp+policy", "tp+metrics", "tp+access")
    runs = {(name, server): ServerRun(name, server) for server in args.servers for name in names}
    runs[("nginx", "static")] = ServerRun("nginx", "static")
    specs: dict[tuple[str, str], tuple[ServerSpec, Path | None]] = {}

    def skip(name: str, why: str) -> None:
        for server in args.servers:
            runs[(name, server)].skipped = why

    with TileSourceServer(source_dir) as source, backend_servers(args.backend, work) as cache_block:
        master = work / "mapproxy.yaml"
        text = write_config(master, source.url_template, args.backend)
        print(f"config: {master} (backend {args.backend}, source {source.url_template})", flush=True)
        sides = {
            "tileproxy": (tileproxy_spec, preflight_tileproxy),
            "MapProxy": (mapproxy_spec, lambda _config: preflight_mapproxy()),
        }
        first = args.servers[0]
        for name, (make_spec, preflight) in sides.items():
            if args.only and args.only != name.lower():
                skip(name, "not selected (--only)")
                continue
            side_dir = work / name.lower()
            config = side_dir / "mapproxy.yaml"
            side_dir.mkdir(exist_ok=True)
            config.write_text(side_config(text, cache_block(name)))  # the same bytes for both servers (local backends)
            why = preflight(config)
            if why:
                skip(name, why)
                print(f"[{name}] skipped: {why}", flush=True)
                continue
            try:
                if not args.no_seed:  # once, under the first server
                    seed_server(with_workers(make_spec(config, args.workers), args, first), runs[(name, first)],
                                args, tiles, side_dir / "cache_data", logs)
                for server in args.servers:
                    specs[(name, server)] = (with_workers(make_spec(config, args.workers), args, server),
                                             side_dir / "cache_data")
            except (ServerError, RuntimeError) as ex:
                skip(name, f"failed: {ex}")
                print(f"[{name}] failed: {ex}", flush=True)
        tp_config = work / "tileproxy" / "mapproxy.yaml"
        tp_cache = work / "tileproxy" / "cache_data"
        for server in args.servers:
            if ("tileproxy", server) not in specs:
                skip("tp+policy", "tileproxy not measured")
                skip("tp+metrics", "tileproxy not measured")
                skip("tp+access", "tileproxy not measured")
                continue
            if args.policy:
                specs[("tp+policy", server)] = (
                    with_workers(policy_spec(tp_config, args.workers, LAYER), args, server), tp_cache)
            if args.metrics:
                specs[("tp+metrics", server)] = (
                    with_workers(metrics_spec(tp_config, args.workers), args, server), tp_cache)
            if args.access_log:
                specs[("tp+access", server)] = (
                    with_workers(access_log_spec(tp_config, args.workers), args, server), tp_cache)
        if not args.policy:
            skip("tp+policy", "not selected (--policy)")
        if not args.metrics:
            skip("tp+metrics", "not selected (--metrics)")
        if not args.access_log:
            skip("tp+access", "not selected (--access-log)")
        if args.baseline:
            # one tile of about the mean size, so bytes per request match the real runs
            files = [(f.stat().st_size, f) for f in source_dir.glob("*/*/*.png")]
            mean = sum(size for size, _ in files) / len(files)
            typical = min(files, key=lambda sf: abs(sf[0] - mean))[1]
            for server in args.servers:
                specs[("baseline", server)] = (with_workers(baseline_spec(typical, args.workers), args, server), None)
        else:
            skip("baseline", "not selected (--baseline)")
        nginx = runs[("nginx", "static")]
        nginx_urls = work / "urls-static.txt"
        if args.no_nginx:
            nginx.skipped = "not selected (--no-nginx)"
        elif args.backend != "file":
            nginx.skipped = "serves files: with --backend file only"
        elif shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            nginx.skipped = "nginx is not installed: run bash bench/setup.sh"
        elif ("tileproxy", first) not in specs:
            nginx.skipped = "tileproxy's cache not there"
        else:  # tileproxy's tile files, in a random order as the apps' URLs
            paths = ["/" + k for k in cache_fingerprint(tp_cache) if k.endswith(".png")]
            rnd.shuffle(paths)
            nginx_urls.write_text("\n".join(paths) + "\n")

        turns = list(specs) + ([] if nginx.skipped else [("nginx", "static")])
        for i in range(args.rounds):
            order = turns if i % 2 == 0 else list(reversed(turns))  # take turns going first
            for key in order:
                run = runs[key]
                if run.skipped:
                    continue
                print(f"-- round {i + 1}/{args.rounds}: {key[0]} under {key[1]}", flush=True)
                try:
                    if key == ("nginx", "static"):
                        nginx_round(run, args, tp_cache, nginx_urls, work, logs)
                        continue
                    spec, cache_dir = specs[key]
                    serve_round(spec, run, args, sample, url_files, source, cache_dir, logs, first=i == 0)
                except (ServerError, RuntimeError) as ex:
                    run.round_failures.append(f"round {i + 1}: {ex}")
                    print(f"[{key[0]} under {key[1]}] round {i + 1} failed: {ex}", flush=True)

    text = report(args, runs, len(tiles))
    load_end = os.getloadavg()[0]
    text += (f"\nmachine: {os.cpu_count()} cores; load average (1 min) {load_start:.1f} at start, "
             f"{load_end:.1f} at end (other processes share the CPU: compare medians and CPU us/req)")
    print()
    print(text)
    results = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "runs": {
            f"{name} under {server}": {
                "skipped": r.skipped,
                "seeded": r.seeded,
                "seed_seconds": r.seed_seconds,
                "failures": r.seed_failures + r.sample_failures + r.round_failures,
                "rounds": {k: [{"rps": v.rps, "latency_us": v.latency_us, "errors": v.errors, "requests": v.requests,
                                "server_cpu_us_per_request": v.cpu_us_per_request}
                               for v in rs] for k, rs in r.rounds.items()},
                "idle_rss_kb": r.idle_kb[0],
                "peak_rss_kb": r.peak_rss_kb,
                "peak_pss_kb": r.peak_pss_kb,
                "tiles_created_while_serving": r.tiles_created_while_serving,
                "cache_changed_while_serving": r.cache_changed_while_serving,
            }
            for (name, server), r in runs.items()
        },
    }
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (work / "results.txt").write_text(text + "\n")
    bad = any(r.seed_failures or r.sample_failures or r.round_failures or r.tiles_created_while_serving
              or r.cache_changed_while_serving
              for r in runs.values() if not r.skipped)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
