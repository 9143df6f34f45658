#!/usr/bin/env python3
"""The cost of ``cache.max_size`` on the cached-tile fast path: the same cached
tiles served in-process from a file cache and a compact v2 cache, each without
and with a size limit, side by side in one run (docs/quota.md).

    PYTHONPATH=. python3 bench/quota.py                 # CPU us per request, best of rounds
    PYTHONPATH=. python3 bench/quota.py --callgrind     # plus instructions per request (valgrind)

With ``--callgrind`` each case runs twice under ``valgrind --tool=callgrind`` (once
without requests, once with ``-n``): the difference over ``n`` is the instructions
one request costs, the same from run to run on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inprocess import load_app, run  # noqa: E402

BACKENDS = {"file": {"type": "file"}, "compact-v2": {"type": "compact", "version": 2}}
LIMIT = {"max_size": "100GB", "protect_levels": [0, 1]}
LEVEL = 3  # 64 tiles, all cached before measuring


def write_config(directory: Path, backend: str, limited: bool) -> Path:
    cache = dict(BACKENDS[backend], **(LIMIT if limited else {}))
    config = {
        "services": {"tms": {"use_grid_names": True}},
        "layers": [{"name": "c", "title": "c", "sources": ["c"]}],
        "caches": {"c": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["dbg"], "meta_size": [1, 1],
                         "meta_buffer": 0, "cache": cache}},
        "sources": {"dbg": {"type": "debug"}},
        "globals": {"cache": {"base_dir": "./cache"}},
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mapproxy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def paths() -> list[str]:
    return [f"/tms/1.0.0/c/GLOBAL_WEBMERCATOR/{LEVEL}/{x}/{y}.png" for x in range(2 ** LEVEL) for y in range(2 ** LEVEL)]


def prepared_app(config: Path):  # noqa: ANN201
    app = load_app("tileproxy", str(config))
    seconds, bad = run(app, paths(), len(paths()))  # fills the cache
    assert bad == 0
    return app


def one(config: Path, n: int) -> None:
    """Serve ``n`` cached tiles (the body of a callgrind run)."""
    app = prepared_app(config)
    run(app, paths(), 200)  # warm
    run(app, paths(), n)


def instructions(config: Path, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                        "--one", str(config), "-n", str(n)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": "0"})
        summary = re.search(r"^summary: (\d+)", Path(out).read_text(), re.MULTILINE)
        assert summary
        return int(summary.group(1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=20000, help="requests per round")
    p.add_argument("--rounds", type=int, default=5, help="report the best of this many rounds")
    p.add_argument("--callgrind", action="store_true", help="also count instructions per request")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        one(Path(args.one), args.n)
        return 0
    work = Path(tempfile.mkdtemp(prefix="quota-bench-"))
    cases = {(b, limited): write_config(work / f"{b}-{'on' if limited else 'off'}", b, limited)
             for b in BACKENDS for limited in (False, True)}
    apps = {case: prepared_app(config) for case, config in cases.items()}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(args.rounds):  # interleaved: each round measures every case once
        for case, app in apps.items():
            seconds, bad = run(app, paths(), args.n)
            assert bad == 0
            best[case] = min(best[case], seconds / args.n * 1e6)
    print(f"CPU us per cached tile (in-process, {args.n} requests, best of {args.rounds} interleaved rounds)")
    for backend in BACKENDS:
        off, on = best[(backend, False)], best[(backend, True)]
        print(f"  {backend:10s} max_size off {off:6.2f}  on {on:6.2f}  ({(on / off - 1) * 100:+.1f}%)")
    if args.callgrind:
        n = min(args.n, 2000)
        print(f"instructions per cached tile (callgrind, ({n} requests - 0 requests) / {n})")
        for backend in BACKENDS:
            per = {}
            for limited in (False, True):
                config = cases[(backend, limited)]
                per[limited] = (instructions(config, n) - instructions(config, 0)) / n
            print(f"  {backend:10s} max_size off {per[False]:8.0f}  on {per[True]:8.0f}  "
                  f"({(per[True] / per[False] - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
