"""``tileproxy defrag-compact-cache``: rewrite compact cache bundles that carry many
replaced tiles, as ``mapproxy-util defrag-compact-cache`` does."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("defrag-compact-cache", help="shrink compact cache bundles that hold replaced tiles")
    p.add_argument("-f", "--mapproxy-conf", dest="config", required=True, help="the mapproxy.yaml")
    p.add_argument("--caches", help="comma separated cache names (default: every compact cache)")
    p.add_argument("--min-percent", type=float, default=10.0,
                   help="only bundles with at least this share of unused space (default 10)")
    p.add_argument("--min-mb", type=float, default=1.0, help="only bundles with at least this many unused MB (default 1)")
    p.add_argument("-n", "--dry-run", action="store_true", help="report, change nothing")
    p.set_defaults(func=run)


def compact_stores(config, names: list[str] | None) -> list[tuple[str, object]]:
    from ..stores.compact import CompactStore

    found = []
    for name, cache in config.caches.items():
        if names is not None and name not in names:
            continue
        for manager in cache.managers.values():
            store = manager.store.inner
            if isinstance(store, CompactStore):
                found.append((name, store))
    return found


def run(args: argparse.Namespace) -> int:
    from ..config.build import load_proxy_config
    from ..stores.compact import DamagedBundle

    print(f"[{_now()}] reading: {os.path.abspath(args.config)}")  # as mapproxy-util logs it
    config = load_proxy_config(args.config)  # ConfigError: answered by cli.main
    names = [n.strip() for n in args.caches.split(",") if n.strip()] if args.caches else None
    if names:
        unknown = [n for n in names if n not in config.caches]
        if unknown:
            print(f"error: --caches: unknown caches {', '.join(unknown)}", file=sys.stderr)
            return 2
    stores = compact_stores(config, names)
    if not stores:
        print("no compact caches to defragment", file=sys.stderr)
        return 0
    freed = 0
    for name, store in stores:
        bundles = [bundle for _z, bundle in store.bundles()]
        for i, bundle in enumerate(bundles, 1):
            try:
                size, unused = bundle.usage()
            except (DamagedBundle, OSError) as ex:
                print(f"{bundle.path}: skipped, damaged ({ex})", file=sys.stderr)
                continue
            pct = 100.0 * unused / size if size else 0.0
            wanted = pct >= args.min_percent and unused >= args.min_mb * 1024 * 1024
            # mapproxy-util's line for each bundle, with its time stamp
            print(f"[{_now()}] {name}: {i:3d}/{len(bundles)} ({bundle.path}) fragmentation is {pct:.1f}% "
                  f"({int(unused / 1024)}kb) - {'defragmenting' if wanted else 'skipping'}", flush=True)
            if not wanted:
                continue
            if args.dry_run:
                freed += unused
                continue
            old, new = bundle.defrag()
            freed += old - new
    verb = "would free" if args.dry_run else "freed"
    print(f"{verb} {freed / 1048576:.1f} MB", file=sys.stderr)
    return 0


def _now() -> str:
    """The time as Python's logging writes it (``2026-12-05 08:30:00,123``)."""
    import time

    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
