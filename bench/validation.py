#!/usr/bin/env python3
"""What checking source images costs: tileproxy's CPU for cache misses with and
without the check that every image from a source is whole (``tileproxy/image/whole.py``),
in one run, turn about.

Seeds (``tileproxy-seed``'s ``main``, in this process) and serves cache misses (the
WSGI app, in this process) from a local WMS and tile source that run in another
process, so that only tileproxy's CPU is counted (``getrusage``: every thread of
this process). "without" puts back what tileproxy did before the check: only a
look at the first and last bytes (``codec.check_image_bytes``), then the decode
where one is needed. See bench/README.md.

    python3 bench/validation.py                 # every scenario, 3 rounds (~3 minutes)
    python3 bench/validation.py --scenarios meta-png,tile-png --rounds 5
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

AREA = [5.0, 47.0, 15.0, 55.0]  # lon/lat, as bench/seed.py's full seed

# name: (what it is, cache options, source, source layer, cache format)
SCENARIOS = {
    "meta-png": ("4x4 meta tiles from a WMS, RGB PNG (decoded anyway; rows over 2 MB are inflated again)",
                 {"meta_size": [4, 4], "meta_buffer": 80}, "wms", "rgb", "image/png"),
    "meta-png8": ("4x4 meta tiles from a WMS, paletted PNG (decoded anyway: the check's rows are reused)",
                  {"meta_size": [4, 4], "meta_buffer": 80}, "wms", "png8", "image/png"),
    "meta-jpeg": ("4x4 meta tiles from a WMS, JPEG", {"meta_size": [4, 4], "meta_buffer": 80}, "wms", "rgb",
                  "image/jpeg"),
    "wms1x1-png": ("1x1 meta tiles from a WMS, RGB PNG passed through (inflated only for the check)",
                   {"meta_size": [1, 1], "meta_buffer": 0}, "wms", "rgb", "image/png"),
    "tile-png": ("tiles from a tile source, RGB PNG passed through", {}, "tile", "rgb", "image/png"),
    "tile-png8": ("tiles from a tile source, paletted PNG passed through", {}, "tile", "png8", "image/png"),
    "tile-jpeg": ("tiles from a tile source, JPEG passed through", {}, "tile", "rgb", "image/jpeg"),
}


# -- the sources, in their own process -------------------------------------------


def _source_main(ports, variants: int) -> None:
    from harness import LocalHTTPServer, render_source_tile
    from PIL import Image
    from wmssource import render_map

    cache: dict[tuple, bytes] = {}

    def recode(png: bytes, kind: str) -> bytes:
        if kind == "image/png":
            return png
        img = Image.open(io.BytesIO(png)).convert("RGB")
        buf = io.BytesIO()
        if kind == "png8":
            img.quantize(256).save(buf, "PNG")
        else:
            img.save(buf, "JPEG", quality=85)
        return buf.getvalue()

    class Source(LocalHTTPServer):
        def answer(self, path: str) -> tuple[int, str, bytes]:
            parts = urlsplit(path)
            if parts.path.startswith("/tiles"):  # /tiles-<layer>/z/x/y.ext
                layer = parts.path.split("/")[1].partition("-")[2]
                z, x, last = parts.path.split("/")[-3:]
                y, _, ext = last.partition(".")
                key = ("tile", layer, z, x, y, ext)
                if key not in cache:
                    cache[key] = recode(render_source_tile(int(z), int(x), int(y)),
                                        "image/jpeg" if ext == "jpeg" else "png8" if layer == "png8" else "image/png")
                return 200, "image/jpeg" if ext == "jpeg" else "image/png", cache[key]
            q = {k.upper(): v for k, v in parse_qsl(parts.query)}
            w, h = int(q["WIDTH"]), int(q["HEIGHT"])
            kind = "image/jpeg" if "jpeg" in q.get("FORMAT", "") else "png8" if q.get("LAYERS") == "png8" else "image/png"
            key = ("wms", w, h, kind, zlib.crc32(q.get("BBOX", "").encode()) % variants)
            if key not in cache:
                cache[key] = recode(render_map(w, h, str(key)), kind)
            return 200, "image/jpeg" if kind == "image/jpeg" else "image/png", cache[key]

    with Source() as server:
        ports.put(server.port)
        while True:
            time.sleep(3600)


# -- tileproxy, in this process ----------------------------------------------------


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _unchecked(data: bytes, size=None, exact: bool = True):  # noqa: ANN001, ANN202
    """What sources gave before the check: the bytes, after a look at their ends."""
    from tileproxy.image.codec import check_image_bytes
    from tileproxy.image.result import ImageResult

    return ImageResult(data=data, mime=check_image_bytes(data))


class _Clock:
    """CPU time (each thread's own, summed) spent in the check and in decoding source
    images: the image work the check changes. In the runs without the check, only
    decoding; with it, the check, and the decodes that reuse what it inflated."""

    def __init__(self) -> None:
        import threading

        self.check = 0.0
        self.decode = 0.0
        self._lock = threading.Lock()

    def add(self, what: str, seconds: float) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + seconds)


CLOCK = _Clock()


def _install_clock() -> None:
    """Time the check and ``ImageResult.image``'s decodes (once per image)."""
    from tileproxy.image.result import ImageResult

    decoding = ImageResult.image.fget

    def image(self):  # noqa: ANN001, ANN202
        if self._image is not None:
            return self._image
        t0 = time.thread_time()
        try:
            return decoding(self)
        finally:
            CLOCK.add("decode", time.thread_time() - t0)

    ImageResult.image = property(image)


def _checked(data: bytes, size=None, exact: bool = True):  # noqa: ANN001, ANN202
    from tileproxy.image.result import whole_image

    t0 = time.thread_time()
    try:
        return whole_image(data, size, exact)
    finally:
        CLOCK.add("check", time.thread_time() - t0)


def _switch(checked: bool) -> None:
    import tileproxy.sources.base as base

    base.whole_image = _checked if checked else _unchecked
    CLOCK.check = CLOCK.decode = 0.0


def _write_configs(work: Path, port: int, name: str, max_level: int) -> None:
    import yaml

    _, cache_opts, kind, layer, fmt = SCENARIOS[name]
    source = ({"type": "wms", "req": {"url": f"http://127.0.0.1:{port}/wms", "layers": layer}} if kind == "wms" else
              {"type": "tile", "grid": "GLOBAL_WEBMERCATOR",
               "url": f"http://127.0.0.1:{port}/tiles-{layer}/%(z)s/%(x)s/%(y)s.%(format)s"})
    proxy = {
        "services": {"wmts": None},
        "layers": [{"name": "bench", "title": "bench", "sources": ["bench_cache"]}],
        "caches": {"bench_cache": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["bench_source"], "format": fmt,
                                   "cache": {"type": "file", "directory_layout": "tc"}, **cache_opts}},
        "sources": {"bench_source": source},
        "globals": {"cache": {"base_dir": "./cache_data", "lock_dir": "./cache_data/locks",
                              "tile_lock_dir": "./cache_data/tile_locks"}},
    }
    seed = {"seeds": {"area": {"caches": ["bench_cache"], "grids": ["GLOBAL_WEBMERCATOR"], "coverages": ["area"],
                               "levels": {"to": max_level}}},
            "coverages": {"area": {"bbox": AREA, "srs": "EPSG:4326"}}}
    work.mkdir(parents=True, exist_ok=True)
    (work / "mapproxy.yaml").write_text(yaml.safe_dump(proxy, sort_keys=False))
    (work / "seed.yaml").write_text(yaml.safe_dump(seed, sort_keys=False))


def _tiles(cache_dir: Path) -> int:
    return sum(1 for p in cache_dir.rglob("*") if p.suffix in (".png", ".jpeg"))


def _seed(work: Path, concurrency: int) -> tuple[float, float, int, str]:
    """CPU seconds of a seed into an empty cache, of the same seed with nothing left
    to do (configuration, walk: subtracted), tiles written, the last output line."""
    from tileproxy.cli.seed import main as seed_main

    shutil.rmtree(work / "cache_data", ignore_errors=True)
    args = ["-f", str(work / "mapproxy.yaml"), "-s", str(work / "seed.yaml"), "-c", str(concurrency)]
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        with redirect_stdout(out), redirect_stderr(out):
            t0 = _cpu()
            status = seed_main(args)
            t1 = _cpu()
            seed_main(args)
            t2 = _cpu()
    finally:
        os.chdir(cwd)
    if status:
        raise SystemExit(f"tileproxy-seed failed in {work}:\n{out.getvalue()[-2000:]}")
    lines = [ln for ln in out.getvalue().splitlines() if "written" in ln]
    return t1 - t0, t2 - t1, _tiles(work / "cache_data"), lines[0] if lines else ""


def _serve(work: Path, urls: list[str]) -> tuple[float, int]:
    """CPU seconds of answering ``urls`` (all cache misses) in-process; the 200s."""
    from inprocess import environ_for

    from tileproxy import make_wsgi_app

    shutil.rmtree(work / "cache_data", ignore_errors=True)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        app = make_wsgi_app(str(work / "mapproxy.yaml"))
        ok = 0
        statuses: list[str] = []
        t0 = _cpu()
        for url in urls:
            body = app(environ_for(url), lambda status, headers, exc_info=None: statuses.append(status))
            for _ in body:
                pass
            ok += statuses.pop().startswith("200")
        return _cpu() - t0, ok
    finally:
        os.chdir(cwd)


def _miss_urls(name: str, count: int) -> list[str]:
    """WMTS URLs of ``count`` distinct tiles at level 12 over the area: one meta tile each."""
    import math

    ext = "jpeg" if SCENARIOS[name][4] == "image/jpeg" else "png"
    z = 12
    lon, lat = 8.0, 50.0
    x0 = int((lon + 180) / 360 * 2**z)
    y0 = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * 2**z)
    step = 4  # one tile per 4x4 meta tile
    side = math.ceil(math.sqrt(count))
    urls = []
    for i in range(count):
        x, y = x0 + step * (i % side), y0 + step * (i // side)
        urls.append(f"/wmts/bench/GLOBAL_WEBMERCATOR/{z}/{x}/{y}.{ext}")
    return urls


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--rounds", type=int, default=3, help="with and without, turn about (default 3)")
    p.add_argument("--meta-level", type=int, default=10, help="deepest level of the meta tile seeds (default 10)")
    p.add_argument("--tile-level", type=int, default=9, help="deepest level of the 1x1 seeds (default 9)")
    p.add_argument("--misses", type=int, default=200, help="cache misses served per scenario (0: none)")
    p.add_argument("-c", "--concurrency", type=int, default=2)
    p.add_argument("--variants", type=int, default=4, help="maps per size the WMS renders once (default 4)")
    args = p.parse_args(argv)
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if any(n not in SCENARIOS for n in names):
        p.error(f"--scenarios: choose from {', '.join(SCENARIOS)}")

    _install_clock()
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_source_main, args=(ports, args.variants), daemon=True)
    server.start()
    port = ports.get(timeout=60)
    root = Path(tempfile.mkdtemp(prefix="tileproxy-validation-"))
    rows = []
    try:
        for name in names:
            work = root / name
            meta = SCENARIOS[name][1].get("meta_size", [1, 1]) != [1, 1]
            _write_configs(work, port, name, args.meta_level if meta else args.tile_level)
            _switch(True)
            _seed(work, args.concurrency)  # warm-up: the source renders and keeps its answers
            if args.misses:
                _serve(work, _miss_urls(name, args.misses))
            # per run: CPU, and CPU of the image work (check + decodes); with and without the check
            seeds: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
            serves: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
            tiles = {}
            for r in range(args.rounds):
                for checked in ((True, False) if r % 2 == 0 else (False, True)):
                    _switch(checked)
                    cpu, idle, count, line = _seed(work, args.concurrency)
                    seeds[checked].append((cpu - idle, CLOCK.check + CLOCK.decode))
                    tiles[checked] = (count, line)
                    if args.misses:
                        _switch(checked)
                        cpu, ok = _serve(work, _miss_urls(name, args.misses))
                        if ok != args.misses:
                            raise SystemExit(f"{name}: {args.misses - ok} cache misses not answered with 200")
                        serves[checked].append((cpu / args.misses, (CLOCK.check + CLOCK.decode) / args.misses))
            _switch(True)
            if tiles[True][0] != tiles[False][0]:
                raise SystemExit(f"{name}: {tiles[True][0]} tiles with the check, {tiles[False][0]} without")
            rows.append((name, tiles[True][0], _medians(seeds), _medians(serves) if args.misses else None))
            print(_row(*rows[-1]), flush=True)
    finally:
        server.kill()
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"tileproxy's CPU (this process, every thread), median of {args.rounds} rounds, with and without the "
          f"check turn about. Seeds: -c {args.concurrency}, lon/lat {AREA}, levels 0-{args.meta_level} (meta "
          f"tiles) / 0-{args.tile_level} (1x1), configuration and walk subtracted. Misses: {args.misses} WMTS "
          "requests of uncached tiles at level 12, one per meta tile. A/B: CPU with / without - 1 (with the "
          "machine's noise). Image work: thread CPU in the check and in decoding source images. Cost: image "
          "work with - without, as a share of the CPU without.")
    print()
    print("| scenario | tiles | seed CPU s with / without | A/B | image work s with / without | seed cost |"
          " miss CPU us with / without | A/B | image work us with / without | miss cost |")
    print("|---|---:|---|---:|---|---:|---|---:|---|---:|")
    for name, count, seed, serve in rows:
        line = (f"| {name} | {count} | {seed['cpu'][0]:.2f} / {seed['cpu'][1]:.2f} | {_pct(seed['ab'])} | "
                f"{seed['work'][0]:.3f} / {seed['work'][1]:.3f} | {_pct(seed['cost'])} |")
        if serve:
            line += (f" {serve['cpu'][0] * 1e6:.0f} / {serve['cpu'][1] * 1e6:.0f} | {_pct(serve['ab'])} | "
                     f"{serve['work'][0] * 1e6:.0f} / {serve['work'][1] * 1e6:.0f} | {_pct(serve['cost'])} |")
        else:
            line += " | | | |"
        print(line)
    for name in names:
        print(f"  {name}: {SCENARIOS[name][0]}")
    return 0


def _pct(value: float) -> str:
    return f"{value * 100:+.1f} %"


def _medians(runs: dict[bool, list[tuple[float, float]]]) -> dict[str, tuple[float, float] | float]:
    """Median CPU and image work, with and without; the A/B ratio and the check's cost."""
    cpu = (statistics.median(c for c, _ in runs[True]), statistics.median(c for c, _ in runs[False]))
    work = (statistics.median(w for _, w in runs[True]), statistics.median(w for _, w in runs[False]))
    return {"cpu": cpu, "work": work, "ab": cpu[0] / cpu[1] - 1, "cost": (work[0] - work[1]) / cpu[1]}


def _row(name: str, count: int, seed: dict, serve: dict | None) -> str:
    text = (f"{name}: {count} tiles; seed CPU {seed['cpu'][0]:.2f} s with the check, {seed['cpu'][1]:.2f} s "
            f"without ({_pct(seed['ab'])}); the check costs {_pct(seed['cost'])}")
    if serve:
        text += (f"; a cache miss {serve['cpu'][0] * 1e6:.0f} us with, {serve['cpu'][1] * 1e6:.0f} us without "
                 f"({_pct(serve['ab'])}); the check costs {_pct(serve['cost'])}")
    return text


if __name__ == "__main__":
    sys.exit(main())
