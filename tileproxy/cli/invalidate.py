"""``tileproxy invalidate``: remove the cached tiles of a cache or layer in an area,
levels and time, or mark them stale for refresh_before to fetch again."""

from __future__ import annotations

import argparse
import os
import sys
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("invalidate", help="remove cached tiles, or mark them stale, in an area and levels")
    p.add_argument("-f", "--mapproxy-conf", dest="config", required=True, help="the mapproxy.yaml")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--layer", help="the caches of this layer")
    what.add_argument("--cache", help="this cache")
    p.add_argument("--grid", help="only this grid of the caches (default: all their grids)")
    p.add_argument("--bbox", help="minx,miny,maxx,maxy (with --srs; write --bbox=-180,... when it starts with a minus)")
    p.add_argument("--srs", help="SRS of --bbox or --coverage-file (EPSG:4326 for a file by default)")
    p.add_argument("--coverage-file", help="a WKT, GeoJSON or OGR file with the area")
    p.add_argument("--levels", help="3..8, 5 or 1,3,5 (default: all levels)")
    p.add_argument("--before", help="only tiles written before: an ISO time (2026-01-31T12:00) or an age (6h, 2d)")
    p.add_argument("--mode", choices=("remove", "stale"), default="remove",
                   help="remove the tiles (default), or mark them stale so that refresh_before fetches them again")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config.build import load_proxy_config
    from ..seed import invalidate as inv

    config = load_proxy_config(args.config)  # ConfigError: answered by cli.main
    try:
        targets = inv.find_targets(config, args.layer, args.cache, args.grid)
        coverage = inv.request_coverage(args.bbox, args.srs, args.coverage_file, os.getcwd())
        before = inv.parse_before(args.before, time.time())
        jobs = [(t, inv.parse_levels(args.levels, t.manager.grid.levels - 1)) for t in targets]
        for target, levels in jobs:
            result = inv.invalidate(target, levels, coverage, before, args.mode)
            done = "removed" if result.mode == "remove" else "marked stale"
            note = f" ({result.note})" if result.note else ""
            print(f"{result.cache} ({result.grid}): {result.matched} tiles {done}{note}")
    except inv.InvalidateError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2
    return 0
