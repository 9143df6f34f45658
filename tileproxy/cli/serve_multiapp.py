"""``tileproxy serve-multiapp DIR``: a development server for every ``*.yaml`` of a
directory, each under ``/<name>/`` (MapProxy's ``serve-multiapp-develop``)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve-multiapp", aliases=["serve-multiapp-develop"], help="development server for every *.yaml of a directory, "
                       "each under /<name>/ (MultiMapProxy)")
    p.add_argument("config_dir", help="directory of the configurations")
    p.add_argument("-b", "--bind", default="127.0.0.1:8080", help="host:port (default 127.0.0.1:8080)")
    p.add_argument("--no-listing", action="store_true", help="do not list the projects at /")
    p.add_argument("--app-cache-size", type=int, default=100, metavar="N",
                   help="how many projects stay loaded (least recently used unloaded first; default 100)")
    p.add_argument("--reload-interval", type=float, default=1.0, metavar="SECONDS",
                   help="how often to check a project's files for changes (default 1)")
    p.add_argument("--debug", action="store_true", help="debug logging (as mapproxy-util's serve-multiapp-develop)")
    p.set_defaults(func=_serve_multiapp)


def _serve_multiapp(args: argparse.Namespace) -> int:
    from ..multiapp import make_multi_wsgi_app

    app = make_multi_wsgi_app(args.config_dir, allow_listing=not args.no_listing,
                              app_cache_size=args.app_cache_size, reload_interval=args.reload_interval)

    from .devserver import run

    host, _, port = args.bind.rpartition(":")
    print(f"serving {args.config_dir}/*.yaml on http://{host or '127.0.0.1'}:{port}/<name>/", file=sys.stderr)
    return run(app, args.bind)
