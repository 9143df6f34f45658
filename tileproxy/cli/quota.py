"""``tileproxy quota``: the disk use of each cache with ``cache.max_size`` against its
limit, and with ``--sweep`` a sweep now (docs/quota.md), e.g. from cron."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quota", help="disk use of the caches with cache.max_size; --sweep removes the least "
                       "recently served tiles of those over their limit now")
    p.add_argument("-f", "--mapproxy-conf", dest="config", required=True, help="the mapproxy.yaml")
    p.add_argument("--caches", help="comma separated cache names (default: every cache with max_size)")
    p.add_argument("--sweep", action="store_true", help="sweep now (after another process's sweep, if one runs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config.build import load_proxy_config
    from ..storage_check import format_size

    config = load_proxy_config(args.config)  # ConfigError: answered by cli.main
    names = [n.strip() for n in args.caches.split(",") if n.strip()] if args.caches else None
    limited = {name: cache.quota for name, cache in config.caches.items() if cache.quota is not None}
    for name in names or []:
        if name not in limited:
            print(f"error: --caches: {name} is {'a cache without max_size' if name in config.caches else 'no cache'}",
                  file=sys.stderr)
            return 2
    if not limited:
        print("no cache has max_size", file=sys.stderr)
        return 0
    for name, quota in limited.items():
        if names is not None and name not in names:
            continue
        if args.sweep:
            result = quota.sweep()
            print(f"{name}: {format_size(result.before)} -> {format_size(result.after)} of "
                  f"{format_size(quota.max_size)}, {result.removed} tiles removed")
        else:
            used = quota.usage()
            print(f"{name}: {format_size(used)} of {format_size(quota.max_size)} ({100 * used / quota.max_size:.0f}%)")
    return 0
