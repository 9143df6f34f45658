"""``tileproxy grids``: the grids of a configuration with their levels, as ``mapproxy-util grids`` prints them."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from ..coverage import Coverage
from ..grid import TileGrid

# how MapProxy lists its built-in grids' own options
_BUILTIN_CONFS: dict[str, dict[str, Any]] = {
    "GLOBAL_GEODETIC": {"srs": "EPSG:4326", "origin": "sw"},
    "GLOBAL_MERCATOR": {"srs": "EPSG:900913", "origin": "sw"},
    "GLOBAL_WEBMERCATOR": {"srs": "EPSG:3857", "origin": "nw"},
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grids", help="show the configured grids, their resolutions and tile counts")
    p.add_argument("config", nargs="?", help="path of the mapproxy.yaml")
    p.add_argument("-f", "--mapproxy-conf", dest="mapproxy_conf", help="path of the mapproxy.yaml")
    p.add_argument("-g", "--grid", dest="grid_name", help="show only this grid (name in any case)")
    p.add_argument("--all", dest="show_all", action="store_true", help="also grids no cache uses")
    p.add_argument("-l", "--list", dest="list_grids", action="store_true", help="only the grid names")
    cov = p.add_argument_group("Approximate the number of tiles within a given coverage")
    cov.add_argument("-s", "--seed-conf", dest="seed_config", help="the seed.yaml that defines the coverage")
    cov.add_argument("-c", "--coverage-name", dest="coverage", help="the coverage (of --seed-conf) to count tiles in")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config.build import load_proxy_config
    from ..config.loader import load_config_files
    from .missing import given

    path = given(args.mapproxy_conf or args.config, "the mapproxy.yaml (as argument or with -f)")
    if path is None:
        return 1
    raw, _ = load_config_files(path)
    config = load_proxy_config(path)
    confs = _grid_confs(raw)
    if args.show_all or args.grid_name:
        names = set(confs) | set(_BUILTIN_CONFS)
    else:
        names = {g for cache in config.caches.values() for g in cache.grids}
    if args.grid_name:
        by_lower = {n.lower(): n for n in names}
        if args.grid_name.lower() not in by_lower:
            print(f"grid not found: {args.grid_name.lower()}")
            return 1
        names = {by_lower[args.grid_name.lower()]}
    if bool(args.coverage) != bool(args.seed_config):
        print("--coverage and --seed-conf can only be used together")
        return 1
    coverage = _coverage(args.seed_config, args.coverage, config, path) if args.coverage else None
    if args.coverage and coverage is None:
        return 1
    if coverage is not None:  # mapproxy-util shows the grids as loading the seed.yaml left them
        confs = {name: _resolved(name, confs) for name in set(confs) | set(_BUILTIN_CONFS)}
    grids = {name: _built(config, raw, name) for name in names}
    if args.list_grids:
        print("\n".join(sorted(names)))
        return 0
    print("\n\n".join(grid_report(name, confs.get(name, _BUILTIN_CONFS.get(name, {})), grids[name],
                                  coverage and (args.coverage, coverage))
                      for name in sorted(names)))
    return 0


def _coverage(seed_path: str, name: str, config: Any, proxy_path: str) -> Coverage | None:
    """The coverage ``name`` of the seed.yaml at ``seed_path`` (after the whole file loads)."""
    import time

    from ..config.loader import read_yaml
    from ..seed.config import load_seed_config
    from ..seed.coverages import load_coverages

    load_seed_config(seed_path, config, time.time(), proxy_dir=str(Path(proxy_path).resolve().parent))
    raw = read_yaml(Path(seed_path)) or {}
    coverages = load_coverages(raw.get("coverages"), str(Path(seed_path).resolve().parent),
                               str(Path(proxy_path).resolve().parent))
    if name not in coverages:
        print(f"ERROR: no coverage {name} in {seed_path} (known: {', '.join(sorted(coverages)) or 'none'})",
              file=sys.stderr)
        return None
    return coverages[name]


def coverage_ratio(coverage: Coverage, grid: TileGrid) -> float:
    """The share of the grid's bbox the coverage covers: by its bbox in the grid's SRS
    when it was given as a bbox, else by its area (as mapproxy-util estimates it)."""
    if coverage.made_from == "bbox":
        minx, miny, maxx, maxy = coverage.srs.transform_bbox_to(grid.srs, coverage.bbox)
        area = (maxx - minx) * (maxy - miny)
    elif coverage.srs == grid.srs:
        area = coverage.geom.area
    else:  # the corners moved, the edges kept straight: mapproxy-util's estimate
        import shapely

        src, dst = coverage.srs, grid.srs
        area = shapely.transform(coverage.geom, lambda xy: src.transform_to(dst, [tuple(p) for p in xy])).area
    gminx, gminy, gmaxx, gmaxy = grid.bbox
    return area / ((gmaxx - gminx) * (gmaxy - gminy))


def _resolved(name: str, confs: dict[str, dict], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A grid's options with those of its ``base`` grids under them (``base`` itself gone)."""
    own = dict(confs.get(name, _BUILTIN_CONFS.get(name, {})))
    base = own.pop("base", None)
    if base is None or base in seen:
        return own
    return {**_resolved(base, confs, (*seen, name)), **own}


def _grid_confs(raw: dict) -> dict[str, dict]:
    return {name: dict(conf or {}) for name, conf in (raw.get("grids") or {}).items()}


def _built(config: Any, raw: dict, name: str) -> TileGrid:
    if name in config.grids:
        return config.grids[name]
    from ..config.context import BuildContext
    from ..config.grids import grid

    return grid(BuildContext(raw, config.files[0].parent if config.files else "."), name, f"grids.{name}")


def grid_report(name: str, conf: dict[str, Any], grid: TileGrid,
                coverage: tuple[str, Coverage] | None = None) -> str:
    """One grid: its options (``key*`` for values it gets by default) and one line per
    level; with a (name, coverage), how much of it the coverage covers and the tiles in it."""
    shown = dict(conf)
    shown.pop("name", None)
    if "tile_size" not in shown:
        # mapproxy-util shows the default without its star once a seed.yaml is loaded
        shown["tile_size" if coverage else "tile_size*"] = list(grid.tile_size)
    if "bbox" not in shown:
        shown["bbox*"] = list(grid.bbox)
    if "origin" not in shown:
        shown["origin*"] = "ll" if grid.origin == "sw" else "ul"
    lines = [f"{name}:", "    Configuration:"]
    lines += [f"        {key}: {_py_repr(shown[key])}" for key in sorted(shown)]
    ratio = None
    if coverage is None:
        lines.append("    Levels: Resolutions, # x * y = total tiles")
    else:
        ratio = coverage_ratio(coverage[1], grid)
        lines.append(f"    Coverage: {coverage[0]} covers approx. {ratio * 100:.4f}% of the grid BBOX")
        lines.append("    Levels: Resolutions, # x * y = total tiles (approx. tiles within coverage)")
    res_texts = [repr(r) for r in _as_written(conf, grid.resolutions)]
    width = max(len(t) for t in res_texts)
    for level, (text, (nx, ny)) in enumerate(zip(res_texts, grid.grid_sizes)):
        pad = " " * (width - len(text) + 1)
        line = f"        {level:02d}:  {text},{pad}# {nx:6d} * {ny:<6d} = {_count(nx * ny):>10}"
        lines.append(line if ratio is None else f"{line} ({_count(nx * ny * ratio)})")
    return "\n".join(lines)


def _py_repr(value: Any) -> str:
    return repr(list(value) if isinstance(value, tuple) else value)


def _as_written(conf: dict[str, Any], resolutions: list[float]) -> list[float]:
    """The resolutions, with the numbers the configuration wrote (ints stay ints)."""
    written = list(resolutions)
    if isinstance(conf.get("res"), list) and len(conf["res"]) == len(written):
        return list(conf["res"])
    if conf.get("min_res") is not None and not conf.get("res") and math.isclose(conf["min_res"], written[0]):
        written[0] = conf["min_res"]
    return written


def _count(n: float) -> str:
    if n > 10**6:
        return f"{n / 10**6:7.2f}M"
    if math.isnan(n):
        return "?"
    return str(int(n))
