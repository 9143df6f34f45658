#!/usr/bin/env python3
"""Invalidation on a sparse deep cache: tileproxy's invalidate, which lists what the
store holds, against walking the grid (every tile of the area and levels asked
whether it is cached), side by side on copies of one cache.

The cache: a file cache (``tc`` layout) on GLOBAL_WEBMERCATOR with levels 0..19
filled only along a road, a diagonal across a square of ``--km`` kilometres near
Berlin, a few tiles wide at each level: sparse, as caches filled by clients are.
The invalidation removes every cached tile of that square at all 20 levels. Both
ways must remove the same tiles; the report gives their times and the ratio.

    python3 bench/invalidate_bench.py
    python3 bench/invalidate_bench.py --km 20 --width 3
"""

from __future__ import annotations

import argparse
import io
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tileproxy.config.build import load_proxy_config  # noqa: E402
from tileproxy.coverage import bbox_coverage  # noqa: E402
from tileproxy.seed import invalidate as inv  # noqa: E402
from tileproxy.stores.base import Tile  # noqa: E402

GRID = "GLOBAL_WEBMERCATOR"
LEVELS = 20
ORIGIN = 20037508.342789244
CENTRE = (1491000.0, 6893000.0)  # Berlin in EPSG:3857


def write_config(work: Path) -> Path:
    conf = {
        "services": {"tms": {}},
        "layers": [{"name": "road", "title": "road", "sources": ["road_cache"]}],
        "caches": {"road_cache": {"grids": [GRID], "sources": ["wms"], "cache": {"type": "file"}}},
        "sources": {"wms": {"type": "wms", "req": {"url": "http://127.0.0.1:9/wms", "layers": "x"}}},
        "globals": {"cache": {"base_dir": str(work / "cache")}},
    }
    path = work / "mapproxy.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


def road_tiles(bbox: tuple[float, float, float, float], width: int) -> list[tuple[int, int, int]]:
    """Tiles along the square's diagonal, ``width`` tiles wide, at each level."""
    coords = set()
    for z in range(LEVELS):
        size = 2 * ORIGIN / 2**z
        x0, x1 = (int((bbox[0] + ORIGIN) // size), int((bbox[2] + ORIGIN) // size))
        y0, y1 = (int((bbox[1] + ORIGIN) // size), int((bbox[3] + ORIGIN) // size))
        steps = max(x1 - x0, y1 - y0, 1)
        for i in range(steps + 1):
            x = x0 + round(i * (x1 - x0) / steps)
            y = y0 + round(i * (y1 - y0) / steps)
            for d in range(width):
                coords.add((min(x + d, x1), 2**z - 1 - y, z))  # the grid counts rows from the top
    return sorted(coords)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (90, 120, 60)).save(out, "PNG")
    return out.getvalue()


def run_invalidate(config: Path, bbox, walk: bool) -> tuple[float, int]:
    proxy = load_proxy_config(config)
    (target,) = inv.find_targets(proxy, cache="road_cache")
    if walk:
        target.manager.store.can_list = False  # ask about every tile of the area instead
    coverage = bbox_coverage(bbox, "EPSG:3857")
    start = time.perf_counter()
    result = inv.invalidate(target, list(range(LEVELS)), coverage, mode="remove")
    return time.perf_counter() - start, result.matched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--km", type=float, default=20.0, help="side of the square (default 20 km)")
    parser.add_argument("--width", type=int, default=2, help="road width in tiles (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each way; the fastest counts (default 3)")
    args = parser.parse_args()
    # a km on the ground is 1/cos(lat) metres of Web Mercator
    half = args.km * 1000 / 2 / math.cos(math.radians(52.5))
    bbox = (CENTRE[0] - half, CENTRE[1] - half, CENTRE[0] + half, CENTRE[1] + half)
    with tempfile.TemporaryDirectory(prefix="tp-invalidate-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        config = write_config(base)
        coords = road_tiles(bbox, args.width)
        store = load_proxy_config(config).caches["road_cache"].managers[GRID].store
        blob = png()
        store.store_many([Tile(c, blob) for c in coords])
        walked_tiles = sum(
            (int((bbox[2] + ORIGIN) // (2 * ORIGIN / 2**z)) - int((bbox[0] + ORIGIN) // (2 * ORIGIN / 2**z)) + 1)
            * (int((bbox[3] + ORIGIN) // (2 * ORIGIN / 2**z)) - int((bbox[1] + ORIGIN) // (2 * ORIGIN / 2**z)) + 1)
            for z in range(LEVELS))
        print(f"cache: {len(coords)} tiles on {LEVELS} levels along a {args.km:g} km road, {args.width} tiles "
              f"wide; the square holds {walked_tiles} grid tiles ({100 * len(coords) / walked_tiles:.2f}% cached)")
        times = {}
        for name, walk in (("listing the store", False), ("walking the grid", True)):
            best = None
            for i in range(args.rounds):
                work = Path(tmp) / f"{name.replace(' ', '-')}-{i}"
                shutil.copytree(base, work)
                seconds, matched = run_invalidate(write_config(work), bbox, walk)
                best = seconds if best is None else min(best, seconds)
                if matched != len(coords):
                    print(f"error: {name}: {matched} tiles removed, expected {len(coords)}", file=sys.stderr)
                    return 1
                shutil.rmtree(work)
            times[name] = best
            print(f"{name:>18}: {best:8.3f} s (fastest of {args.rounds}), {len(coords)} tiles removed")
        ratio = times["walking the grid"] / times["listing the store"]
        print(f"listing is {ratio:.0f}x faster than walking the grid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
