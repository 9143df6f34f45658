#!/usr/bin/env python3
"""CPU per cached tile: tileproxy and MapProxy 7 side by side, under granian and gunicorn.

Both apps serve one file cache (``examples/basemap`` by default: 341 PNG tiles,
levels 0-4, read only) from the same ``mapproxy.yaml``, each in turn under the same
server settings; wrk (keep-alive, ``rotate.lua`` over the shuffled WMTS REST URLs of
every tile) drives it from its own core. Reported per app: req/s and the CPU time
the server's processes (master and workers, from /proc/<pid>/stat) spent per
request, and tileproxy/MapProxy as ratios of the same round. Two floors on the same
requests show what is left to cut: ``wsgi-floor``, a WSGI app answering every
request with one tile's bytes from memory (the server's own cost per WSGI request),
and under granian ``static``, granian's Rust file server on the same files (no
Python at all). See bench/README.md.

    python3 bench/hotpath.py                          # granian and gunicorn, 3 rounds
    python3 bench/hotpath.py --servers granian --duration 10 --rounds 5
    python3 bench/hotpath.py --py-spy bench/work/hotpath/profile   # plus a profile per app
    python3 bench/hotpath.py --callgrind --duration 20   # instructions per request instead of CPU time
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BENCH_DIR,
    REPO_DIR,
    GunicornServer,
    LoadResult,
    ServerSpec,
    baseline_spec,
    cache_fingerprint,
    cores_text,
    fetch,
    free_port,
    mapproxy_spec,
    process_tree,
    run_wrk,
    split_cores,
    tileproxy_spec,
)

LAYER = "basemap"
GRID = "basemap_grid"
WORK = BENCH_DIR / "work" / "hotpath"
STATIC = "static"  # granian's own file server, no app in the request's way


def write_config(tiles: Path, levels: int) -> Path:
    """The mapproxy.yaml both apps serve: one layer over a file cache of ``tiles``
    (``<z>/<x>/<y>.png``, rows from the top) without sources."""
    import yaml

    conf = {
        "services": {"tms": {"use_grid_names": True}, "wmts": {"restful": True, "kvp": True}},
        "layers": [{"name": LAYER, "title": "cached tiles", "sources": ["tiles_cache"]}],
        "caches": {"tiles_cache": {"grids": [GRID], "sources": [],
                                   "cache": {"type": "file", "directory": str(tiles), "directory_layout": "tms"}}},
        "grids": {GRID: {"base": "GLOBAL_WEBMERCATOR", "num_levels": levels}},
        "globals": {"cache": {"base_dir": str(WORK / "cache_data"), "lock_dir": str(WORK / "locks")}},
    }
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "mapproxy.yaml"
    path.write_text("# written by bench/hotpath.py\n" + yaml.safe_dump(conf, sort_keys=False))
    return path


def tile_paths(tiles: Path) -> list[str]:
    """``z/x/y`` of every stored tile."""
    return sorted(str(p.relative_to(tiles).with_suffix("")) for p in tiles.glob("*/*/*.png"))


def static_root(tiles: Path) -> Path:
    """A directory under which ``wmts/<layer>/<grid>/z/x/y.png`` is the tile's file
    (hard links where possible: granian's file server does not follow symlinks out)."""
    root = WORK / "static"
    shutil.rmtree(root, ignore_errors=True)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(tiles, root / "wmts" / LAYER / GRID, copy_function=link)
    return root


class GranianServer(GunicornServer):
    """``spec``'s app under granian's WSGI interface on a free port of 127.0.0.1:
    ``workers`` processes, each one Rust runtime thread and ``blocking_threads``
    Python threads; keep-alive on."""

    def __init__(self, spec: ServerSpec, log_path: Path, blocking_threads: int, static: Path | None = None):
        super().__init__(spec, log_path)
        self.blocking_threads = blocking_threads
        self.static = static

    def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TILEPROXY_CONFIG", "MAPPROXY_CONFIG")}
        env.update(self.spec.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.spec.chdir, env.get("PYTHONPATH")]))
        cmd = [self.spec.python, "-m", "granian", "--interface", "wsgi", "--workers", str(self.spec.workers),
               "--blocking-threads", str(self.blocking_threads), "--runtime-threads", "1",
               "--host", "127.0.0.1", "--port", str(self.port), "--working-dir", self.spec.chdir,
               "--no-access-log", "--log-level", "warning", "--no-ws"]
        if self.static is not None:
            cmd += ["--static-path-route", "/wmts", "--static-path-mount", str(self.static / "wmts")]
        cmd.append(self.spec.app)
        self._launch(cmd, self.log_path, self.spec.cpus, env)
        self._wait_ready(self.spec.workers, timeout, self.log_tail, self.spec.name)

    def workers(self) -> list[int]:
        assert self.proc is not None
        return process_tree(self.proc.pid)[1:]


@dataclass
class Run:
    app: str
    server: str
    result: LoadResult


def check(base: str, tiles: Path, sample: list[str], name: str) -> None:
    """Every sampled tile comes back as stored: 200, image/png, the file's bytes."""
    for zxy in sample:
        status, ctype, body = fetch(f"{base}/wmts/{LAYER}/{GRID}/{zxy}.png")
        want = (tiles / f"{zxy}.png").read_bytes()
        if status != 200 or ctype != "image/png" or body != want:
            raise SystemExit(f"{name}: /wmts/{LAYER}/{GRID}/{zxy}.png gave {status} {ctype}, "
                             f"{len(body)} bytes (want {len(want)} stored bytes)")


def py_spy(pids: list[int], out: Path, seconds: float) -> subprocess.Popen:
    """py-spy (native frames, collapsed stacks) on the first worker for ``seconds``."""
    return subprocess.Popen(["py-spy", "record", "--native", "--nonblocking", "--rate", "997", "--format", "raw",
                             "--duration", str(int(seconds)), "--pid", str(pids[0]), "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(server, args, urls: Path, load_cpus, headers=None, profile: Path | None = None) -> LoadResult:
    run_wrk(server.base, urls, 1, args.connections, args.threads, cpus=load_cpus)  # warm-up
    spy = py_spy(server.workers() if isinstance(server, GranianServer) else process_tree(server.proc.pid)[1:],
                 profile, args.duration) if profile else None
    result = run_wrk(server.base, urls, args.duration, args.connections, args.threads,
                     server_pid=server.proc.pid, cpus=load_cpus, headers=headers)
    if spy is not None:
        spy.wait(60)
    if result.error_count:
        raise SystemExit(f"{server.spec.name}: wrk errors {result.errors}")
    return result


SPAWNED_GRANIAN = """# written by bench/hotpath.py: granian whose workers are spawned (not forked), so that
# valgrind --trace-children=yes gives each worker its own callgrind, reachable by callgrind_control
import multiprocessing
import sys

from granian.cli import cli

if __name__ == "__main__":
    multiprocessing.set_start_method("spawn")
    sys.exit(cli())
"""


def callgrind_per_request(spec: ServerSpec, urls: Path, seconds: float) -> tuple[int, int]:
    """(requests, user-space instructions per request) of one granian worker under callgrind:
    counted from zero after a warm-up, over ``seconds`` of wrk -c 4; steady on a busy machine."""
    launcher = WORK / "spawned_granian.py"
    launcher.write_text(SPAWNED_GRANIAN)
    out = WORK / f"callgrind-{spec.name}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TILEPROXY_CONFIG", "MAPPROXY_CONFIG")}
    env.update(spec.env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [spec.chdir, env.get("PYTHONPATH")]))
    cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}/cg.%p",
           spec.python, str(launcher), "--interface", "wsgi", "--workers", "1", "--blocking-threads", "1",
           "--runtime-threads", "1", "--host", "127.0.0.1", "--port", str(port), "--working-dir", spec.chdir,
           "--no-access-log", "--log-level", "warning", "--no-ws", spec.app]
    base = f"http://127.0.0.1:{port}"
    with open(out / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 900
            while fetch_quietly(base + urls.read_text().split()[0]) != 200:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{spec.name} did not start under valgrind: see {out}/server.log")
                time.sleep(2)
            listing = subprocess.run(["callgrind_control"], capture_output=True, text=True).stdout
            worker = next(int(line.split()[1].rstrip(":")) for line in listing.splitlines()
                          if "spawn_main" in line and _under(int(line.split()[1].rstrip(":")), proc.pid))
            run_wrk(base, urls, 5, 4, 1)
            subprocess.run(["callgrind_control", "-z", str(worker)], capture_output=True, check=True)
            result = run_wrk(base, urls, seconds, 4, 1)
            subprocess.run(["callgrind_control", "-d", str(worker)], capture_output=True, check=True)
        finally:
            proc.terminate()
            proc.wait(60)
    dump = next(out.glob(f"cg.{worker}.*"))
    total = next(int(line.split()[1]) for line in dump.read_text().splitlines() if line.startswith("summary:"))
    return result.requests, total // max(1, result.requests)


def fetch_quietly(url: str) -> int:
    try:
        return fetch(url, timeout=5)[0]
    except OSError:
        return 0


def _under(pid: int, root: int) -> bool:
    return pid in process_tree(root)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="granian,gunicorn", help="granian, gunicorn or both (default)")
    ap.add_argument("--apps", default="tileproxy,mapproxy,wsgi-floor",
                    help="which of tileproxy, mapproxy, wsgi-floor, static (granian only) to run")
    ap.add_argument("--tiles", type=Path, default=REPO_DIR / "examples" / "basemap",
                    help="a directory of <z>/<x>/<y>.png tiles, rows from the top (default examples/basemap)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--blocking-threads", type=int, default=1, help="granian's Python threads per worker")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of each measured wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--shared-cores", action="store_true", help="server and wrk on every core")
    ap.add_argument("--compare-tree", type=Path, metavar="DIR",
                    help="also serve tileproxy from another checkout (app 'tileproxy-other'), e.g. "
                         "`git worktree add /tmp/tp-main main`: before/after in one run")
    ap.add_argument("--callgrind", action="store_true",
                    help="instead: user-space instructions per request of one granian worker under callgrind "
                         "(slow: minutes per app; includes granian's spin loops: compare similar request rates)")
    ap.add_argument("--py-spy", type=Path, metavar="DIR",
                    help="also record each app's first worker with py-spy --native (an extra, unmeasured round)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out

    tiles = args.tiles.resolve()
    zxys = tile_paths(tiles)
    if not zxys:
        raise SystemExit(f"no <z>/<x>/<y>.png tiles under {tiles}")
    levels = max(int(p.split("/")[0]) for p in zxys) + 1
    config = write_config(tiles, levels)
    url_list = [f"/wmts/{LAYER}/{GRID}/{zxy}.png" for zxy in zxys]
    random.Random(19).shuffle(url_list)
    urls = WORK / "urls.txt"
    urls.write_text("\n".join(url_list) + "\n")
    sample = random.Random(7).sample(zxys, min(30, len(zxys)))
    server_cpus, load_cpus = split_cores(args.shared_cores)
    before = cache_fingerprint(tiles)

    specs = {"tileproxy": tileproxy_spec(config, args.workers), "mapproxy": mapproxy_spec(config, args.workers),
             "wsgi-floor": baseline_spec(tiles / f"{zxys[len(zxys) // 2]}.png", args.workers),
             STATIC: baseline_spec(tiles / f"{zxys[0]}.png", args.workers)}
    specs["wsgi-floor"].name, specs[STATIC].name = "wsgi-floor", STATIC
    apps = [a for a in args.apps.split(",") if a]
    if args.compare_tree:
        other = specs["tileproxy-other"] = tileproxy_spec(config, args.workers)
        other.name, other.env["PYTHONPATH"] = "tileproxy-other", str(args.compare_tree.resolve())
        apps.insert(1, "tileproxy-other")
    for spec in specs.values():
        spec.cpus = server_cpus
    servers = [s for s in args.servers.split(",") if s]
    print(f"{len(url_list)} tiles of {tiles}, {args.workers} workers, wrk -c {args.connections} "
          f"-t {args.threads} keep-alive, {args.duration:g} s x {args.rounds} rounds; {cores_text(server_cpus, load_cpus)}")

    def start(app: str, kind: str):
        log = WORK / f"{app}-{kind}.log"
        if kind == "granian":
            return GranianServer(specs[app], log, args.blocking_threads,
                                 static_root(tiles) if app == STATIC else None)
        spec = specs[app]
        spec.worker_class = "sync"
        return GunicornServer(spec, log)

    if args.callgrind:
        print("| app | requests counted | instructions per request (granian worker, user space) |")
        print("|---|---|---|")
        for app in apps:
            if app != STATIC:
                n, per = callgrind_per_request(specs[app], urls, args.duration)
                print(f"| {app} | {n} | {per:,} |", flush=True)
        return 0

    runs: list[Run] = []
    for kind in servers:
        kind_apps = [a for a in apps if kind == "granian" or a != STATIC]
        for rnd in range(args.rounds):
            order = kind_apps if rnd % 2 == 0 else kind_apps[::-1]
            for app in order:
                with start(app, kind) as server:
                    if app != "wsgi-floor":
                        check(server.base, tiles, sample, f"{app} under {kind}")
                    result = measure(server, args, urls, load_cpus)
                runs.append(Run(app, kind, result))
                print(f"  {kind:8} round {rnd + 1} {app:10} {result.rps:8.0f} req/s "
                      f"{result.cpu_us_per_request:6.1f} us CPU/req", flush=True)
        if args.py_spy:
            args.py_spy.mkdir(parents=True, exist_ok=True)
            for app in ("tileproxy", "mapproxy"):
                if app in kind_apps:
                    with start(app, kind) as server:
                        measure(server, args, urls, load_cpus, profile=args.py_spy / f"{app}-{kind}.txt")
                    print(f"  py-spy: {args.py_spy / f'{app}-{kind}.txt'}")

    if cache_fingerprint(tiles) != before:
        raise SystemExit(f"files under {tiles} changed while serving")
    print()
    print("| server | app | req/s (median) | CPU us/req: median (min) | req/s: tileproxy / app "
          "| CPU/req: app / tileproxy |")
    print("|---|---|---|---|---|---|")
    for kind in servers:
        med = {}
        for app in apps:
            rs = [r.result for r in runs if r.app == app and r.server == kind]
            if rs:
                med[app] = (statistics.median(r.rps for r in rs), statistics.median(r.cpu_us_per_request for r in rs),
                            min(r.cpu_us_per_request for r in rs))
        tp = med.get("tileproxy")
        for app, (rps, cpu, low) in med.items():
            ratio = f"{tp[0] / rps:.2f}x | {cpu / tp[1]:.2f}x" if tp and app != "tileproxy" else "|"
            print(f"| {kind} | {app} | {rps:,.0f} | {cpu:.1f} ({low:.1f}) | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
