"""The ``tileproxy`` command: serve a configuration, and tools around it."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import __version__


def _serve(args: argparse.Namespace) -> int:
    from . import production

    if args.log_config:
        from ..logconfig import apply_log_config

        try:
            apply_log_config(args.log_config)
        except ValueError as ex:
            print(f"error: {ex}", file=sys.stderr)
            return 2
    policy = args.policy or os.environ.get("TILEPROXY_AUTH_POLICY", "").strip()
    production_asked = args.workers is not None or args.threads is not None or args.backpressure is not None
    if args.command == "serve-develop":  # mapproxy-util's name: the development server
        args.dev = True
    if not args.dev and not production.granian_installed():
        if production_asked:
            print("error: --workers, --threads and --backpressure need granian, the production server: "
                  "pip install 'tileproxy[serve]' (or serve with --dev)", file=sys.stderr)
            return 2
        print("note: granian is not installed (pip install 'tileproxy[serve]'), so this is the development "
              "server (threads, reloads on configuration changes; not for production)", file=sys.stderr)
        args.dev = True
    if args.dev:
        return _serve_dev(args, policy)
    from ..auth import load_policy
    from ..config.build import load_proxy_config

    load_proxy_config(args.config)  # a broken file stops here, naming the file and key path
    if policy:
        load_policy(policy)
        print(f"access policy {policy} in force", file=sys.stderr)
    return production.run_granian(
        args.config, args.bind, workers=args.workers or production.default_workers(),
        threads=args.threads or production.THREADS, backpressure=args.backpressure, policy=policy or None,
        reload=args.reload, access_log=args.access_log, graceful_timeout=args.graceful_timeout,
        log_config=args.log_config)


def _serve_dev(args: argparse.Namespace, policy: str) -> int:
    from ..wsgi import make_wsgi_app

    if args.no_reload:
        app = make_wsgi_app(args.config)
    else:
        from ..wsgi import ReloadingApp

        app = ReloadingApp(args.config, check_interval=args.reload_interval)
    if policy:
        from ..auth import PolicyMiddleware

        app = PolicyMiddleware(app, policy)
        print(f"access policy {policy} in force", file=sys.stderr)

    from .devserver import run

    host, _, port = args.bind.rpartition(":")
    print(f"serving {args.config} on http://{host or '127.0.0.1'}:{port}/ (development server; demo: /demo/)",
          file=sys.stderr)
    return run(app, args.bind)


def _check(args: argparse.Namespace) -> int:
    import getpass

    from ..config.build import load_proxy_config
    from ..storage_check import check_storage, format_size

    config = load_proxy_config(args.config)
    for w in config.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{args.config}: ok ({len(config.caches)} caches, {len(config.sources)} sources, {len(config.grids)} grids)")
    for name, cache in config.caches.items():
        if cache.quota is not None:
            print(f"cache {name}: {_describe_quota(cache.quota, format_size)}")
    failed = False
    user = getpass.getuser()
    for report in check_storage(config):
        if report.problem is None and report.remote:
            print(f"{report.what}: {report.path}: answers")
        elif report.problem is None:
            print(f"{report.what}: {report.path}: writable by {user}, {format_size(report.free or 0)} free")
        elif report.locks:
            print(f"warning: {report.what}: {report.path}: {report.problem} (each process then locks "
                  "tiles on its own)", file=sys.stderr)
        else:
            failed = True
            print(f"problem: {report.what}: {report.path}: {report.problem} (tiles are served, not stored)",
                  file=sys.stderr)
    return 1 if failed else 0


def _describe_quota(quota, format_size) -> str:  # noqa: ANN001
    levels = sorted(quota.protect)
    protected = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in _runs(levels)) or "none"
    return (f"max_size {format_size(quota.max_size)} ({quota.max_size} bytes) over "
            f"{', '.join(area.directory for area in quota.areas)}; swept at most every "
            f"{quota.sweep_interval:g} s; protected levels: {protected}")


def _runs(levels: list[int]) -> list[tuple[int, int]]:
    """Consecutive numbers as (first, last) pairs."""
    runs: list[tuple[int, int]] = []
    for level in levels:
        if runs and runs[-1][1] == level - 1:
            runs[-1] = (runs[-1][0], level)
        else:
            runs.append((level, level))
    return runs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tileproxy", description="A tile proxy for MapProxy configurations")
    parser.add_argument("--version", action="version", version=f"tileproxy {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", aliases=["serve-develop"],
                           help="serve a configuration: granian in production (pip install "
                           "'tileproxy[serve]'), --dev (or serve-develop) the reloading development server")
    serve.add_argument("config", help="path of the mapproxy.yaml")
    serve.add_argument("-b", "--bind", default="127.0.0.1:8080", help="host:port (default 127.0.0.1:8080)")
    serve.add_argument("--dev", action="store_true",
                       help="the development server: threads, reloads when the configuration changes")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="granian worker processes (default: one per core)")
    serve.add_argument("--threads", type=int, metavar="N",
                       help="Python threads per granian worker (default 16)")
    serve.add_argument("--backpressure", type=int, metavar="N",
                       help="requests one granian worker takes at once, running or waiting for a thread "
                            "(default granian's: 1024 / workers)")
    serve.add_argument("--reload", action="store_true",
                       help="granian: rebuild the app when the configuration changes (TILEPROXY_RELOAD=1); "
                            "the development server always does unless --no-reload")
    serve.add_argument("--access-log", action="store_true",
                       help="granian: a line per request on tileproxy.access (the development server always "
                            "logs them; with --log-config the file decides)")
    serve.add_argument("--graceful-timeout", type=int, default=30, metavar="SECONDS",
                       help="granian: kill a worker still busy this long after a stop or HUP (default 30)")
    serve.add_argument("--no-reload", action="store_true",
                       help="development server: do not watch the configuration files")
    serve.add_argument("--reload-interval", type=float, default=1.0, metavar="SECONDS",
                       help="development server: how often to check the configuration files (default 1)")
    serve.add_argument("--policy", metavar="POLICY_YAML",
                       help="serve behind an access policy (docs/security.md; default: $TILEPROXY_AUTH_POLICY)")
    serve.add_argument("--log-config", metavar="FILE",
                       help="logging configuration: an ini file as log.ini (tileproxy create -t log-ini), "
                            "or .json/.yaml for dictConfig")
    serve.add_argument("--debug", action="store_true", help="debug logging (as mapproxy-util's serve-develop)")
    serve.set_defaults(func=_serve)
    check = sub.add_parser("check", help="load a configuration, report errors and warnings, and whether "
                           "each cache's directory can be written (as the user running check) and has space")
    check.add_argument("config")
    check.set_defaults(func=_check)
    from . import defrag, export

    export.add_parser(sub)
    defrag.add_parser(sub)
    from . import (  # util_tools: mapproxy-util's grids, scales, wms-capabilities, create
        invalidate,
        quota,
        serve_multiapp,
        util_tools,
    )

    serve_multiapp.add_parser(sub)
    invalidate.add_parser(sub)
    quota.add_parser(sub)
    util_tools.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.verbose or getattr(args, "debug", False)
    if not getattr(args, "log_config", None):  # else the file configures logging
        logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..config.errors import ConfigError

    try:
        return args.func(args)
    except ConfigError as ex:  # names the file and the key path
        print(f"error: {ex}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
