#!/usr/bin/env python3
"""WMS GetMap throughput of tileproxy and MapProxy 7 from a seeded cache, side by side.

One mapproxy.yaml (the tiles.py cache of a local tile source on GLOBAL_WEBMERCATOR,
file backend) with a WMS service offering EPSG:3857, EPSG:4326 and EPSG:25832,
PNG and JPEG. Each server seeds the same area (Germany, levels 0..10) through its
own WMTS, then answers GetMap requests of several shapes (SRS, size, format,
transparency, scale) at random-but-fixed bboxes, under gunicorn or granian driven
by wrk. See bench/README.md.

    python3 bench/wms.py
    python3 bench/wms.py --shapes 4326-512-png,4326-512-jpeg --duration 5 --server granian
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BENCH_DIR,
    SERVERS,
    GunicornServer,
    MemorySampler,
    ServerError,
    ServerSpec,
    TileSourceServer,
    cache_fingerprint,
    fetch,
    granian_missing,
    mapproxy_spec,
    memory_kb,
    prerender_source_tiles,
    run_wrk,
    tileproxy_spec,
)
from tiles import (  # noqa: E402
    LAYER,
    ServerRun,
    memory_rows,
    preflight_mapproxy,
    preflight_tileproxy,
    seed,
    table_header,
    throughput_rows,
    write_config,
)

SRS = ["EPSG:3857", "EPSG:4326", "EPSG:25832"]
SEED_AREA = (4.0, 46.0, 14.0, 56.0)  # lon/lat, seeded at levels 0..SEED_LEVEL
SEED_LEVEL = 10
CENTERS = (8.0, 49.0, 10.0, 53.0)  # lon/lat range of map centres: inside UTM 32N (6..12 E) with the margins
FORMATS = {"png": "image/png", "jpeg": "image/jpeg"}


@dataclass(frozen=True)
class Shape:
    """One kind of GetMap request: maps at 1.1-1.6 (``spread``) times the resolution of
    ``levels``, ``size`` pixels square, in ``srs`` and ``fmt``."""

    name: str
    srs: str
    size: int = 512
    fmt: str = "png"
    transparent: bool = False
    levels: tuple[int, ...] = (8, 9, 10)
    spread: tuple[float, float] = (1.1, 1.6)


SHAPES = [
    Shape("3857-512-png", "EPSG:3857"),
    Shape("4326-512-png", "EPSG:4326"),
    Shape("25832-512-png", "EPSG:25832"),
    Shape("3857-512-jpeg", "EPSG:3857", fmt="jpeg"),
    Shape("4326-512-jpeg", "EPSG:4326", fmt="jpeg"),
    Shape("25832-512-jpeg", "EPSG:25832", fmt="jpeg"),
    Shape("4326-256-png", "EPSG:4326", size=256),
    Shape("4326-1024-png", "EPSG:4326", size=1024, levels=(9, 10)),
    Shape("25832-1024-jpeg", "EPSG:25832", size=1024, fmt="jpeg", levels=(9, 10)),
    Shape("4326-512-png-transp", "EPSG:4326", transparent=True),
    # Germany-wide maps (levels 6-7: the strongest bend of EPSG:4326 against the tiles)
    Shape("4326-512-png-z7", "EPSG:4326", levels=(7,), spread=(1.0, 1.2)),
    Shape("25832-512-png-z7", "EPSG:25832", levels=(7,), spread=(1.0, 1.2)),
    # about the cache's own resolution (level 10, the last seeded)
    Shape("4326-512-png-z10", "EPSG:4326", levels=(10,), spread=(1.0, 1.2)),
]
SHAPE_BY_NAME = {s.name: s for s in SHAPES}
ORIGIN = 20037508.342789244
RES0 = 2 * ORIGIN / 256


def mercator(lon: float, lat: float) -> tuple[float, float]:
    import math

    return lon * ORIGIN / 180, math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * ORIGIN / math.pi


def seed_tiles() -> list[tuple[int, int, int]]:
    """(z, x, row from the top) of every tile of SEED_AREA at levels 0..SEED_LEVEL."""
    (x0, y0), (x1, y1) = mercator(*SEED_AREA[:2]), mercator(*SEED_AREA[2:])
    out = []
    for z in range(SEED_LEVEL + 1):
        span = 2 * ORIGIN / 2**z
        cols = range(int((x0 + ORIGIN) // span), int((x1 + ORIGIN) // span) + 1)
        rows = range(int((ORIGIN - y1) // span), int((ORIGIN - y0) // span) + 1)
        out += [(z, x, y) for x in cols for y in rows]
    return out


def map_bboxes(n: int, shape: Shape, seed_value: int = 3) -> list[tuple[float, float, float, float]]:
    """``n`` square EPSG:3857 bboxes of ``shape``, random but fixed."""
    rnd = random.Random(seed_value)
    out = []
    for _ in range(n):
        cx, cy = mercator(rnd.uniform(CENTERS[0], CENTERS[2]), rnd.uniform(CENTERS[1], CENTERS[3]))
        res = RES0 / 2 ** rnd.choice(shape.levels) * rnd.uniform(*shape.spread)
        half = res * shape.size / 2
        out.append((cx - half, cy - half, cx + half, cy + half))
    return out


def to_srs(bbox: tuple[float, float, float, float], srs: str) -> tuple[float, float, float, float]:
    """The bounding box of ``bbox`` (EPSG:3857) in ``srs`` (x/y order: lon/lat for EPSG:4326)."""
    if srs == "EPSG:3857":
        return bbox
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:3857", srs, always_xy=True)
    x0, y0, x1, y1 = bbox
    xs, ys = [], []
    for i in range(11):  # the edges, not just the corners
        for px, py in ((x0 + (x1 - x0) * i / 10, y0), (x0 + (x1 - x0) * i / 10, y1),
                       (x0, y0 + (y1 - y0) * i / 10), (x1, y0 + (y1 - y0) * i / 10)):
            x, y = tr.transform(px, py)
            xs.append(x)
            ys.append(y)
    return min(xs), min(ys), max(xs), max(ys)


def getmap_path(bbox: tuple[float, float, float, float], shape: Shape) -> str:
    # WMS 1.1.1: x/y axis order in every SRS, so EPSG:4326 is lon,lat
    b = ",".join(f"{v:.6f}" if shape.srs == "EPSG:4326" else f"{v:.2f}" for v in bbox)
    return (f"/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS={LAYER}&STYLES=&SRS={shape.srs}"
            f"&BBOX={b}&WIDTH={shape.size}&HEIGHT={shape.size}&FORMAT={FORMATS[shape.fmt]}"
            + ("&TRANSPARENT=TRUE" if shape.transparent else ""))


def write_wms_config(path: Path, source_url: str) -> str:
    import yaml

    write_config(path, source_url, "file")
    conf = yaml.safe_load(path.read_text())
    conf["services"]["wms"] = {"srs": list(SRS), "image_formats": list(FORMATS.values()),
                               "md": {"title": "Benchmark WMS"}}
    text = "# written by bench/wms.py; read by tileproxy and by MapProxy\n" + yaml.safe_dump(conf, sort_keys=False)
    path.write_text(text)
    return text


def check_maps(base: str, paths: list[str], shape: Shape) -> tuple[list[str], dict[str, bytes]]:
    """Every path answers an image of the shape's format and size; returns failures and the bodies."""
    from PIL import Image

    failures, bodies = [], {}
    for path in paths:
        status, ctype, body = fetch(base + path)
        problem = None
        if status != 200 or ctype.split(";")[0] != FORMATS[shape.fmt]:
            problem = f"{status} {ctype} {body[:120]!r}"
        else:
            try:
                img = Image.open(io.BytesIO(body))
                img.load()
                if img.size != (shape.size, shape.size):
                    problem = f"size {img.size}"
            except Exception as ex:  # noqa: BLE001 - any decoding problem is a failure here
                problem = f"not decodable: {ex}"
        if problem:
            failures.append(f"{path}: {problem}")
        else:
            bodies[path] = body
    return failures, bodies


def mean_difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two images' RGBA pixels (0-255; opaque images have alpha 255)."""
    from PIL import Image, ImageChops, ImageStat

    ia = Image.open(io.BytesIO(a)).convert("RGBA")
    ib = Image.open(io.BytesIO(b)).convert("RGBA")
    return sum(ImageStat.Stat(ImageChops.difference(ia, ib)).mean) / 4


def serve_round(spec: ServerSpec, run: ServerRun, args, url_files: dict[str, Path], checks: dict[str, list[str]],
                source: TileSourceServer, cache_dir: Path, logs: Path, first: bool, bodies: dict) -> None:
    with SERVERS[args.server](spec, logs / f"{spec.name}-serve.log") as srv:
        pid = srv.proc.pid  # type: ignore[union-attr]
        if first:
            run.idle_kb = memory_kb(pid)
            before = source.requests
            for name, paths in checks.items():
                failures, got = check_maps(srv.base, paths, SHAPE_BY_NAME[name])
                run.sample_failures += failures
                bodies.update(got)
            run.seed_failures += [f"check pass: {source.requests - before} tile(s) fetched from the source"
                                  ] if source.requests != before else []
        cache_before = cache_fingerprint(cache_dir)
        source_before = source.requests
        with MemorySampler(pid) as mem:
            for name, url_file in url_files.items():
                print(f"[{spec.name}] {name}: warm-up {args.warmup:g} s, measure {args.duration:g} s", flush=True)
                run_wrk(srv.base, url_file, args.warmup, args.connections, args.threads)
                run.rounds.setdefault(name, []).append(
                    run_wrk(srv.base, url_file, args.duration, args.connections, args.threads, pid))
        run.peak_rss_kb = max(run.peak_rss_kb, mem.peak_rss)
        run.peak_pss_kb = max(run.peak_pss_kb, mem.peak_pss)
    run.tiles_created_while_serving += source.requests - source_before
    run.cache_changed_while_serving |= cache_fingerprint(cache_dir) != cache_before


def report(args, runs: dict[str, ServerRun], diffs: dict[str, float], n_maps: int) -> str:
    tp, mp = runs["tileproxy"], runs["MapProxy"]
    server = (f"gunicorn {args.workers} sync workers" if args.server == "gunicorn"
              else f"granian {args.workers} workers (WSGI, keep-alive)")
    out = [f"WMS GetMap from a file cache (GLOBAL_WEBMERCATOR, levels 0-{SEED_LEVEL} of lon/lat {SEED_AREA}), "
           f"{n_maps} bboxes per shape; {server}; wrk {args.threads} threads, {args.connections} connections, "
           f"{args.duration:g} s after {args.warmup:g} s warm-up, {args.rounds} round(s)", "",
           "shapes (SRS-size-format[-transparent][-level]; maps at 1.1-1.6x the resolution of levels 8-10 unless named):"]
    for name in args.shapes:
        sh = SHAPE_BY_NAME[name]
        out.append(f"  {name}: {sh.srs} {sh.size}x{sh.size} {FORMATS[sh.fmt]}{' transparent' if sh.transparent else ''}, "
                   f"{sh.spread[0]:g}-{sh.spread[1]:g}x the resolution of level(s) {','.join(map(str, sh.levels))}")
    out.append("")
    for run in (tp, mp):
        if run.skipped:
            out.append(f"{run.name}: skipped: {run.skipped}")
    width = max(len(n) for n in args.shapes) + 1
    out.append(table_header("shape", width))
    for name in args.shapes:
        out += throughput_rows(name, name, [tp, mp], tp, mp, width, rps_digits=1)
    out.append("")
    out += memory_rows(tp, mp)
    out.append("")
    for run in (tp, mp):
        if run.skipped:
            continue
        out.append(f"{run.name}: seeded {run.seeded} tiles in {run.seed_seconds:.1f} s; checked maps: "
                   + ("all of their format and size" if not run.sample_failures else f"{len(run.sample_failures)} FAILED")
                   + f"; tiles fetched from the source while measuring: {run.tiles_created_while_serving}"
                   + "; cache changed while measuring: " + ("YES" if run.cache_changed_while_serving else "no"))
        for failure in (run.seed_failures + run.sample_failures + run.round_failures)[:5]:
            out.append(f"  {failure}")
    if diffs:
        out.append("mean absolute RGBA difference tileproxy vs MapProxy (0-255), checked maps: "
                   + ", ".join(f"{name} {d:.1f}" for name, d in diffs.items()))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default=",".join(s.name for s in SHAPES),
                   help="comma-separated subset of " + ", ".join(s.name for s in SHAPES))
    p.add_argument("--server", choices=sorted(SERVERS), default="gunicorn")
    p.add_argument("--maps", type=int, default=200, help="bboxes per shape (default 200)")
    p.add_argument("--check", type=int, default=20, help="maps per shape checked before measuring")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed-concurrency", type=int, default=4)
    p.add_argument("--no-seed", action="store_true", help="reuse the caches of an earlier run")
    p.add_argument("--only", choices=["tileproxy", "mapproxy"])
    p.add_argument("--work", type=Path, default=BENCH_DIR / "work")
    args = p.parse_args(argv)
    args.shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if any(s not in SHAPE_BY_NAME for s in args.shapes):
        p.error(f"--shapes: choose from {', '.join(SHAPE_BY_NAME)}")

    work = (args.work / "wms-file").resolve()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    tiles = seed_tiles()
    url_files, checks = {}, {}
    for name in args.shapes:
        shape = SHAPE_BY_NAME[name]
        paths = [getmap_path(to_srs(b, shape.srs), shape) for b in map_bboxes(args.maps, shape)]
        url_files[name] = work / f"urls-{name}.txt"
        url_files[name].write_text("\n".join(paths) + "\n")
        checks[name] = paths[: args.check]
    source_dir = args.work.resolve() / "source-tiles"
    rendered = prerender_source_tiles(source_dir, tiles)
    if rendered:
        print(f"rendered {rendered} source tiles into {source_dir}", flush=True)

    runs = {name: ServerRun(name) for name in ("tileproxy", "MapProxy")}
    specs: dict[str, ServerSpec] = {}
    bodies: dict[str, dict[str, bytes]] = {"tileproxy": {}, "MapProxy": {}}
    load_start = os.getloadavg()[0]
    with TileSourceServer(source_dir) as source:
        text = write_wms_config(work / "mapproxy.yaml", source.url_template)
        sides = {"tileproxy": (tileproxy_spec, preflight_tileproxy),
                 "MapProxy": (mapproxy_spec, lambda _c: preflight_mapproxy())}
        for name, (make_spec, preflight) in sides.items():
            if args.only and args.only != name.lower():
                runs[name].skipped = "not selected (--only)"
                continue
            side = work / name.lower()
            side.mkdir(exist_ok=True)
            config = side / "mapproxy.yaml"
            config.write_text(text)
            why = preflight(config) or (granian_missing(make_spec(config, 1).python)
                                        if args.server == "granian" else None)
            if why:
                runs[name].skipped = why
                continue
            spec = make_spec(config, args.workers)
            specs[name] = spec
            if not args.no_seed:
                shutil.rmtree(side / "cache_data", ignore_errors=True)
                print(f"[{name}] seeding {len(tiles)} tiles through WMTS ...", flush=True)
                with GunicornServer(spec, logs / f"{name}-seed.log") as srv:
                    t0 = time.monotonic()
                    runs[name].seed_failures = seed(srv.base, tiles, args.seed_concurrency, {})
                    runs[name].seed_seconds = time.monotonic() - t0
                runs[name].seeded = len(tiles) - len(runs[name].seed_failures)
        for i in range(args.rounds):
            order = list(specs) if i % 2 == 0 else list(reversed(specs))
            for name in order:
                print(f"-- round {i + 1}/{args.rounds}: {name}", flush=True)
                try:
                    serve_round(specs[name], runs[name], args, url_files, checks, source,
                                work / name.lower() / "cache_data", logs, i == 0, bodies[name])
                except (ServerError, RuntimeError) as ex:
                    runs[name].round_failures.append(f"round {i + 1}: {ex}")
                    print(f"[{name}] round {i + 1} failed: {ex}", flush=True)

    diffs = {}
    for name, paths in checks.items():
        pairs = [(bodies["tileproxy"][q], bodies["MapProxy"][q]) for q in paths
                 if q in bodies["tileproxy"] and q in bodies["MapProxy"]]
        if pairs:
            diffs[name] = statistics.mean(mean_difference(a, b) for a, b in pairs)
    text = report(args, runs, diffs, args.maps)
    text += (f"\nmachine: {os.cpu_count()} cores; load average (1 min) {load_start:.1f} at start, "
             f"{os.getloadavg()[0]:.1f} at end")
    print()
    print(text)
    (work / "results.txt").write_text(text + "\n")
    (work / "results.json").write_text(json.dumps({
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "server": args.server,
        "runs": {n: {"rounds": {k: [{"rps": v.rps, "cpu_us_per_request": v.cpu_us_per_request,
                                     "latency_us": v.latency_us, "errors": v.errors} for v in rs]
                                for k, rs in r.rounds.items()},
                     "peak_rss_kb": r.peak_rss_kb, "failures": r.seed_failures + r.sample_failures + r.round_failures}
                 for n, r in runs.items()}}, indent=2) + "\n")
    bad = any(r.seed_failures or r.sample_failures or r.round_failures or r.tiles_created_while_serving
              or r.cache_changed_while_serving for r in runs.values() if not r.skipped)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
