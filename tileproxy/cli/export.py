"""``tileproxy export``: copy a cache (or part of it) into another backend or layout,
as ``mapproxy-util export`` does."""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import yaml

from ..config.errors import ConfigError
from ..grid import PREDEFINED_GRIDS, GridError, TileCoord, TileGrid, build_grid
from ..srs import SRSError

EXPORT_TYPES: dict[str, dict] = {
    "tms": {"type": "file", "directory_layout": "tms"},
    "tc": {"type": "file", "directory_layout": "tc"},
    "mapproxy": {"type": "file", "directory_layout": "tc"},
    "arcgis": {"type": "file", "directory_layout": "arcgis"},
    "mbtile": {"type": "mbtiles"},
    "sqlite": {"type": "sqlite"},
    "geopackage": {"type": "geopackage"},
    "compact-v1": {"type": "compact", "version": 1},
    "compact-v2": {"type": "compact", "version": 2},
}
_FILE_KEY = {"mbtiles": "filename", "geopackage": "filename"}  # others take a directory


class ExportError(Exception):
    pass


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="copy a cache (or part of it) to another backend or directory layout")
    p.add_argument("config_arg", nargs="?", metavar="mapproxy_conf", help="the mapproxy.yaml (or use -f)")
    p.add_argument("-f", "--mapproxy-conf", dest="config", help="the mapproxy.yaml")
    p.add_argument("--source", required=True, help="the cache (or source) to export")
    p.add_argument("--grid", required=True, help="grid name, or a grid spec such as \"srs='EPSG:3857' bbox=[...]\"")
    p.add_argument("--dest", required=True, help="file or directory to write")
    p.add_argument("--type", default="tms", choices=list(EXPORT_TYPES), help="format of the export (default tms)")
    p.add_argument("--levels", required=True, help="levels to export, e.g. 1,3..6")
    p.add_argument("--fetch-missing-tiles", action="store_true", help="fetch tiles the cache does not have")
    p.add_argument("--coverage", help="limit to a bbox (minx,miny,maxx,maxy) or a WKT/GeoJSON file")
    p.add_argument("--srs", help="SRS of --coverage")
    p.add_argument("--where", help="OGR filter (not supported: export features to GeoJSON instead)")
    p.add_argument("-c", "--concurrency", type=int, default=1, help="parallel workers (default 1)")
    p.add_argument("-n", "--dry-run", action="store_true", help="show what would be exported")
    p.add_argument("--force", action="store_true", help="write into an existing destination")
    p.add_argument("-q", "--quiet", action="count", default=0, help="no progress (twice: no summary)")
    p.set_defaults(func=run)


def parse_levels(text: str, grid: TileGrid) -> list[int]:
    """``1,3..6`` -> [1, 3, 4, 5, 6]; every level must exist in the grid."""
    levels: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ".." in part:
                start, _, end = part.partition("..")
                levels.update(range(int(start), int(end) + 1))
            else:
                levels.add(int(part))
        except ValueError:
            raise ExportError(f"--levels: cannot read {part!r} (use e.g. 1,3..6)") from None
    bad = sorted(z for z in levels if not 0 <= z < grid.levels)
    if bad:
        raise ExportError(f"--levels: the grid has levels 0..{grid.levels - 1}, not {bad}")
    if not levels:
        raise ExportError("--levels: no levels given")
    return sorted(levels)


def resolve_grid(spec: str, config) -> tuple[str, TileGrid]:
    if "=" not in spec:
        if spec in config.grids:
            return spec, config.grids[spec]
        if spec in PREDEFINED_GRIDS:
            return spec, build_grid(name=spec, **PREDEFINED_GRIDS[spec])
        raise ExportError(f"--grid: unknown grid '{spec}' (known: {', '.join(sorted(config.grids))})")
    options = {}
    for item in shlex.split(spec):
        key, _, value = item.partition("=")
        options[key] = yaml.safe_load(value)
    allowed = {"srs", "bbox", "bbox_srs", "tile_size", "res", "res_factor", "num_levels", "min_res", "max_res", "origin"}
    unknown = set(options) - allowed
    if unknown:
        raise ExportError(f"--grid: unknown options {', '.join(sorted(unknown))}")
    try:
        return "export", build_grid(name="export", **options)
    except (GridError, SRSError, TypeError) as ex:
        raise ExportError(f"--grid: {ex}") from None


def _source_manager(config, name: str, grid: TileGrid, fetch: bool):
    """The tile manager to read from: the cache's manager in the grid closest to ``grid``,
    stripped of its sources unless missing tiles are to be fetched."""
    from ..sources.cache import CacheSource

    cache = config.caches.get(name)
    if cache is None:
        if name in config.sources:
            return None, config.sources[name]
        raise ExportError(f"--source: no cache or source named '{name}'")
    managers = list(cache.managers.values())
    manager = next((m for m in managers if m.grid.srs == grid.srs and m.grid.aligned_level(grid, 0) is not None),
                   next((m for m in managers if m.grid.srs == grid.srs), managers[0]))
    if not fetch:
        manager = copy.copy(manager)
        manager.sources = []
    return manager, CacheSource(name, manager, max_tile_limit=cache.max_tile_limit)


def _coverage(args: argparse.Namespace, grid: TileGrid):
    if not args.coverage:
        return None
    from ..coverage import CoverageError, load_coverage

    if args.where:
        raise ExportError("--where needs an OGR datasource, which tileproxy does not read; use a GeoJSON file")
    conf = {"datasource": args.coverage, "srs": args.srs or grid.srs.code}
    try:
        return load_coverage(conf, os.getcwd(), "--coverage")
    except (CoverageError, SRSError) as ex:
        raise ExportError(f"--coverage: {ex}") from None


def header(grid_name: str | None, grid: TileGrid, dest: str, levels: list[int], coverage) -> str:
    """What mapproxy-util export prints first: the grid, the area in lon/lat and the levels
    (the cache is called 'cache' there, whichever it is; a grid spec is a 'custom grid')."""
    from ..srs import get_srs

    wgs84 = get_srs("EPSG:4326")
    if coverage is None:
        area = grid.srs.transform_bbox_to(wgs84, grid.bbox)
    elif coverage.made_from == "bbox":
        area = coverage.srs.transform_bbox_to(wgs84, coverage.bbox)
    else:
        area = coverage.transform_to(wgs84).bbox
    which = f"grid '{grid_name}'" if grid_name else "custom grid"
    return (f"Exporting cache 'cache' to '{dest}' with {which} in {grid.srs.code}\n"
            f"  Limited to: {', '.join(f'{v:.5f}' for v in area)} (EPSG:4326)\n"
            f"  Levels: {levels}")


def level_coords(grid: TileGrid, z: int, coverage) -> Iterator[TileCoord]:
    """The tiles of level ``z`` that touch the coverage (all of the level without one)."""
    if coverage is None:
        w, h = grid.grid_sizes[z]
        x0, y0, x1, y1 = 0, 0, w - 1, h - 1
    else:
        x0, y0, x1, y1 = grid.tile_range(coverage.bbox, z)
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            if coverage is None or coverage.intersects(grid.tile_bbox((x, y, z))):
                yield (x, y, z)


def level_count(grid: TileGrid, z: int, coverage) -> int:
    if coverage is None:
        w, h = grid.grid_sizes[z]
        return w * h
    return sum(1 for _ in level_coords(grid, z, coverage))


def _chunks(items: Iterator[TileCoord], size: int) -> Iterator[list[TileCoord]]:
    chunk: list[TileCoord] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Progress:
    """One status line on stderr, rewritten at most five times a second."""

    def __init__(self, quiet: int):
        self.quiet = quiet
        self._last = 0.0

    def update(self, z: int, done: int, total: int, counts: dict[str, int], final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not final and now - self._last < 0.2:
            return
        self._last = now
        pct = 100.0 * done / total if total else 100.0
        line = (f"[{time.strftime('%H:%M:%S')}] level {z:2d}: {done}/{total} tiles ({pct:5.1f}%), "
                f"{counts['exported']} exported, {counts['existing']} existing, {counts['missing']} missing")
        print("\r" + line, end="\n" if final else "", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ExportError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from ..config.build import load_proxy_config
    from ..config.stores import StoreContext, build_store
    from ..sources.base import SourceError
    from ..tilecache.manager import TileManager
    from ..tilecache.options import TileManagerOptions
    from ..tilecache.outcomes import TileError

    if not (args.config or args.config_arg):
        raise ExportError("give the mapproxy.yaml (as argument or with -f)")
    config = load_proxy_config(args.config or args.config_arg)
    grid_name, grid = resolve_grid(args.grid, config)
    levels = parse_levels(args.levels, grid)
    given_coverage = _coverage(args, grid)
    coverage = given_coverage.transform_to(grid.srs) if given_coverage is not None else None
    src_manager, source = _source_manager(config, args.source, grid, args.fetch_missing_tiles)
    if src_manager is None:
        raise ExportError(f"--source: '{args.source}' is a source, not a cache; export a cache")
    dest = os.path.abspath(args.dest)
    if os.path.exists(dest) and not args.force and not args.dry_run:
        raise ExportError(f"destination {dest} exists (use --force to add to it)")
    backend = dict(EXPORT_TYPES[args.type])
    backend[_FILE_KEY.get(backend["type"], "directory")] = dest
    ctx = StoreContext(cache_name=args.source, grid_name=grid_name, grid=grid, cache_dir=os.getcwd(),
                       conf_dir=os.getcwd(), path="--dest", ext=src_manager.format.ext,
                       check_images=src_manager.format.is_image)
    print(header(None if "=" in args.grid else grid_name, grid, args.dest, levels, given_coverage))
    totals = {z: level_count(grid, z, coverage) for z in levels}
    if args.dry_run:
        if args.quiet < 2:
            for z in levels:
                print(f"level {z:2d}: {totals[z]} tiles")
            print(f"would export {sum(totals.values())} tiles of '{args.source}' to {dest} ({args.type})")
        return 0
    try:
        store = build_store(backend, ctx)
    except ConfigError as ex:
        raise ExportError(str(ex).replace("--dest.cache: ", "--dest: ")) from None
    lock_dir = tempfile.mkdtemp(prefix="tileproxy-export-")
    manager = TileManager(f"export-{args.source}", grid, store, [source], src_manager.image_opts,
                          src_manager.request_format, lock_dir=lock_dir, lock_id=dest,
                          opts=TileManagerOptions(meta_size=(1, 1), meta_buffer=0, concurrent_tile_creators=1))
    counts = {"exported": 0, "existing": 0, "missing": 0}
    errors: list[str] = []

    def one(coord: TileCoord) -> str:
        if store.is_cached(coord):
            return "existing"
        try:
            manager.load_tile(coord)
        except TileError:
            return "missing"
        except SourceError as ex:
            errors.append(f"{coord}: {ex}")
            return "missing"
        return "exported"

    progress = Progress(args.quiet)
    try:
        with ThreadPoolExecutor(max(1, args.concurrency)) as pool:
            for z in levels:
                done = 0
                level_counts = dict.fromkeys(counts, 0)
                for chunk in _chunks(level_coords(grid, z, coverage), 512):
                    for outcome in pool.map(one, chunk):
                        level_counts[outcome] += 1
                        done += 1
                        progress.update(z, done, totals[z], level_counts)
                progress.update(z, done, totals[z], level_counts, final=True)
                for key, value in level_counts.items():
                    counts[key] += value
    finally:
        shutil.rmtree(lock_dir, ignore_errors=True)
    for line in errors[:10]:
        print(f"warning: {line}", file=sys.stderr)
    if args.quiet < 2:
        print(f"exported {counts['exported']} tiles of '{args.source}' to {dest} ({args.type}); "
              f"{counts['existing']} were there already, {counts['missing']} not in the cache")
    return 0
