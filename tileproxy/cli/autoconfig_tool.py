"""``tileproxy autoconfig``: a mapproxy.yaml and a seed.yaml from a WMS's capabilities,
with the options and the output of ``mapproxy-util autoconfig`` (autoconfig_build.py)."""

from __future__ import annotations

import argparse
import datetime
import os
import sqlite3
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import yaml

from . import autoconfig_build as build
from .wms_capabilities_tool import Capabilities, parse_document


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("autoconfig", help="create a mapproxy.yaml and seed.yaml from a WMS's capabilities")
    p.add_argument("--capabilities", help="URL or filename of WMS 1.1.1/1.3.0 capabilities document")
    p.add_argument("--geopackage", help="filename of a GeoPackage: a config serving its tile tables")
    p.add_argument("--output", default="-", help="filename for created MapProxy config [default: -]")
    p.add_argument("--output-seed", help="filename for created seeding config")
    p.add_argument("--base", help="base config to include in created MapProxy config")
    p.add_argument("--overwrite", help="YAML file with overwrites for the created MapProxy config")
    p.add_argument("--overwrite-seed", help="YAML file with overwrites for the created seeding config")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.capabilities) == bool(args.geopackage):
        print("ERROR: --capabilities required or --geopackage required", file=sys.stderr)
        return 2
    if not args.output and not args.output_seed:
        print("ERROR: --output and/or --output-seed required", file=sys.stderr)
        return 2
    if not args.force:
        for name in (args.output, args.output_seed):
            if name and name != "-" and os.path.exists(name):
                print(f"ERROR: {name} already exists, use --force to overwrite", file=sys.stderr)
                return 2
    made_from: Any
    if args.geopackage:
        if not os.path.isfile(args.geopackage):
            print(f"ERROR: No file {args.geopackage} exists.")
            return 2
        try:
            made_from = build.geopackage_sections(args.geopackage)
        except sqlite3.Error as ex:
            print(f"ERROR: {args.geopackage}: not a GeoPackage with tiles ({ex})", file=sys.stderr)
            return 3
    else:
        made_from = _capabilities(args.capabilities)
        if made_from is None:
            return 3
    try:
        overwrite = _yaml_file(args.overwrite)
        overwrite_seed = _yaml_file(args.overwrite_seed)
        conf, seed_conf = configs(made_from, args.base, overwrite, overwrite_seed)
    except (OSError, yaml.YAMLError, ValueError) as ex:
        print(f"ERROR: {ex}", file=sys.stderr)
        return 2
    for name, content in ((args.output, conf), (args.output_seed, seed_conf)):
        if name:
            with _output(name) as out:
                out.write(header(args.capabilities or args.geopackage))
                yaml.dump(content, out, Dumper=MapProxyStyleDumper, default_flow_style=False, sort_keys=True)
    return 0


def _capabilities(where: str) -> Capabilities | None:
    """The parsed capabilities document at ``where`` (URL or file), or None after saying why not."""
    try:
        data = _read_capabilities(where)
    except OSError as ex:
        print(f"ERROR: cannot read the capabilities {where}: {ex}", file=sys.stderr)
        return None
    try:
        caps = parse_document(data)
    except ValueError as ex:
        print(ex, file=sys.stderr)
        print(data[:1000].decode("utf-8", "replace") + (" ..." if len(data) > 1000 else ""), file=sys.stderr)
        return None
    if not caps.root["url"]:
        print("ERROR: the capabilities give no GetMap URL", file=sys.stderr)
        return None
    return caps


def configs(made_from: Capabilities | dict, base: str | None, overwrite: dict | None,
            overwrite_seed: dict | None) -> tuple[dict, dict]:
    """The mapproxy.yaml and seed.yaml dicts from capabilities (or the sections of a
    GeoPackage); each section is made after the overwrites of the one it builds on are
    in (a source's overwritten supported_srs decides its caches)."""
    over: dict = dict(overwrite or {})
    conf: dict[str, Any] = {}
    grid_by_srs: dict[str, str] = {}
    if base:
        conf["base"] = os.path.abspath(base)
        grid_by_srs = _grids_by_srs(base)
    if isinstance(made_from, dict):  # a GeoPackage's: no sources
        conf["services"] = build.overwritten(made_from["services"], over.pop("service", {}))
        if "sources" in over:
            conf["sources"] = build.overwritten({}, over.pop("sources"))
        conf["caches"] = build.overwritten(made_from["caches"], over.pop("caches", {}))
        conf["layers"] = build.overwritten(made_from["layers"], over.pop("layers", {}))
        conf["grids"] = made_from["grids"]
    else:
        caps = made_from
        conf["services"] = build.overwritten({"wms": {"md": {"title": caps.title}}}, over.pop("service", {}))
        conf["sources"] = build.overwritten(build.sources(caps), over.pop("sources", {}))
        conf["caches"] = build.overwritten(build.caches(conf["sources"], grid_by_srs), over.pop("caches", {}))
        conf["layers"] = build.overwritten(build.layers(caps, conf["caches"]), over.pop("layers", {}))
    conf = build.overwritten(conf, over)
    seed_tasks, cleanups = build.seeds(conf["caches"])
    seed_conf = build.overwritten({"seeds": seed_tasks, "cleanups": cleanups}, overwrite_seed or {})
    return conf, seed_conf


def _grids_by_srs(base: str) -> dict[str, str]:
    """The SRS code -> name of the base configuration's own grids (the last of an SRS wins)."""
    from ..config.build import load_proxy_config

    config = load_proxy_config(base)
    return {grid.srs.code: name for name, grid in config.grids.items() if not name.startswith("GLOBAL_")}


def _read_capabilities(where: str) -> bytes:
    if not where.startswith(("http://", "https://")):
        return Path(where).read_bytes()
    import requests

    from .wms_capabilities_tool import capabilities_url

    version = next((v for k, v in _query(where) if k.lower() == "version" and v), "1.1.1")
    try:
        answer = requests.get(capabilities_url(where, version), timeout=60)
        answer.raise_for_status()
    except requests.RequestException as ex:
        raise OSError(str(ex)) from None
    return answer.content


def _query(url: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(url.partition("?")[2], keep_blank_values=True)


def _yaml_file(path: str | None) -> dict | None:
    if not path:
        return None
    with open(path, "rb") as f:
        content = yaml.safe_load(f)
    if content is not None and not isinstance(content, dict):
        raise ValueError(f"{path}: overwrites must be a YAML mapping")
    return content


def header(capabilities: str) -> str:
    """The comment mapproxy-util writes above both files: the input, a warning and the command."""
    command = " \\\n".join(textwrap.wrap(" ".join(sys.argv), initial_indent="# ", subsequent_indent="#    "))
    return (f"# MapProxy configuration automatically generated from:\n#   {capabilities}\n#\n"
            "# NOTE: The generated configuration can be highly inefficient,\n"
            "#       especially when multiple layers and caches are requested at once.\n"
            "#       Make sure you understand the generated configuration!\n#\n"
            f"# Created on {datetime.datetime.now()} with:\n{command}\n\n")


@contextmanager
def _output(name: str) -> Iterator[IO[str]]:
    if name == "-":
        yield sys.stdout
        return
    tmp = f"{name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            yield f
        os.replace(tmp, name)  # a failed run leaves no half-written config
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class MapProxyStyleDumper(yaml.SafeDumper):
    """YAML as mapproxy-util writes it: block style, lists of plain values in flow style
    (``[a, b]``), None as nothing, no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _sequence(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(item, (list, tuple, dict)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


MapProxyStyleDumper.add_representer(list, _sequence)
MapProxyStyleDumper.add_representer(tuple, _sequence)
MapProxyStyleDumper.add_representer(
    type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", ""))
