"""``tileproxy create -t TEMPLATE DEST``: example files, as ``mapproxy-util create`` writes them."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import create_templates as t

TEMPLATES = ("base-config", "wsgi-app", "seed-config", "log-ini")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("create", help="create example configurations")
    p.add_argument("destination", nargs="?", help="file or directory to write")
    p.add_argument("-t", "--template", help="one of: " + ", ".join(TEMPLATES))
    p.add_argument("-l", "--list-templates", action="store_true", help="list the templates")
    p.add_argument("-f", "--mapproxy-conf", help="the mapproxy.yaml (wsgi-app needs it)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_templates:
        width = max(len(name) for name in TEMPLATES)
        print("Available templates:\n" + "\n".join(f"  {name:<{width}}" for name in TEMPLATES))
        return 1
    if not args.template:
        print("ERROR: give a template with -t (see --list-templates)", file=sys.stderr)
        return 1
    if args.template not in TEMPLATES:
        print(f"ERROR: unknown template {args.template}", file=sys.stderr)
        return 1
    if not args.destination:
        print("ERROR: template requires destination argument", file=sys.stderr)
        return 1
    if args.template == "base-config":
        files = {name: text for name, text in (
            ("mapproxy.yaml", t.MAPPROXY_YAML), ("seed.yaml", t.SEED_YAML),
            ("full_example.yaml", t.FULL_EXAMPLE_YAML), ("full_seed_example.yaml", t.FULL_SEED_EXAMPLE_YAML))}
        os.makedirs(args.destination, exist_ok=True)
        return _write({os.path.join(args.destination, n): text for n, text in files.items()}, args.force)
    if args.template == "seed-config":
        return _write({args.destination: t.SEED_YAML}, args.force)
    if args.template == "log-ini":
        return _write({args.destination: t.LOG_INI}, args.force, announce=False)
    if not args.mapproxy_conf:
        print("ERROR: template requires --mapproxy-conf option", file=sys.stderr)
        return 1
    app_file = args.destination if "." in os.path.basename(args.destination) else args.destination + ".py"
    conf = os.path.abspath(args.mapproxy_conf)
    text = t.WSGI_APP.format(module=Path(app_file).stem, here=os.path.dirname(conf), mapproxy_conf=conf)
    print(f"writing MapProxy app to {app_file}")
    return _write({app_file: text}, args.force, announce=False)


def _write(files: dict[str, str], force: bool, announce: bool = True) -> int:
    for path, text in files.items():
        if os.path.exists(path) and not force:
            print(f"ERROR: {path} already exists, use --force", file=sys.stderr)
            return 1
        if announce:
            print(f"writing {path}")
        Path(path).write_text(text, encoding="utf-8")
    return 0
