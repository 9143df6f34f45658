"""The ``tileproxy`` command: serve a configuration, and tools around it."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import __version__


def _serve(args: argparse.Namespace) -> int:
    from ..wsgi import make_wsgi_app

    if args.log_config:
        from ..logconfig import apply_log_config

        try:
            apply_log_config(args.log_config)
        except ValueError as ex:
            print(f"error: {ex}", file=sys.stderr)
            return 2

    if args.no_reload:
        app = make_wsgi_app(args.config)
    else:
        from ..wsgi import ReloadingApp

        app = ReloadingApp(args.config, check_interval=args.reload_interval)
    policy = args.policy or os.environ.get("TILEPROXY_AUTH_POLICY", "").strip()
    if policy:
        from ..auth import PolicyMiddleware

        app = PolicyMiddleware(app, policy)
        print(f"access policy {policy} in force", file=sys.stderr)

    from .devserver import run

    host, _, port = args.bind.rpartition(":")
    print(f"serving {args.config} on http://{host or '127.0.0.1'}:{port}/ (demo: /demo/)", file=sys.stderr)
    return run(app, args.bind)


def _check(args: argparse.Namespace) -> int:
    import getpass

    from ..config.build import load_proxy_config
    from ..storage_check import check_storage, format_size

    config = load_proxy_config(args.config)
    for w in config.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{args.config}: ok ({len(config.caches)} caches, {len(config.sources)} sources, {len(config.grids)} grids)")
    failed = False
    user = getpass.getuser()
    for report in check_storage(config):
        if report.problem is None:
            print(f"{report.what}: {report.path}: writable by {user}, {format_size(report.free or 0)} free")
        elif report.locks:
            print(f"warning: {report.what}: {report.path}: {report.problem} (each process then locks "
                  "tiles on its own)", file=sys.stderr)
        else:
            failed = True
            print(f"problem: {report.what}: {report.path}: {report.problem} (tiles are served, not stored)",
                  file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tileproxy", description="A tile proxy for MapProxy configurations")
    parser.add_argument("--version", action="version", version=f"tileproxy {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", aliases=["serve-develop"],
                           help="development server that reloads when the configuration changes")
    serve.add_argument("config", help="path of the mapproxy.yaml")
    serve.add_argument("-b", "--bind", default="127.0.0.1:8080", help="host:port (default 127.0.0.1:8080)")
    serve.add_argument("--no-reload", action="store_true", help="do not watch the configuration files")
    serve.add_argument("--reload-interval", type=float, default=1.0, metavar="SECONDS",
                       help="how often to check the configuration files for changes (default 1)")
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
        serve_multiapp,
        util_tools,
    )

    serve_multiapp.add_parser(sub)
    invalidate.add_parser(sub)
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
