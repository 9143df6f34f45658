"""Helpers for the seed tests: configs around the local WMS, running the seed
command in-process, and the tiles a cache holds."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from support.configs import CACHE_DATA, OSM, wms_cache_config, write_config
from tileproxy.cli.seed import main as seed_main
from tileproxy.config.build import load_proxy_config
from tileproxy.grid import TileCoord


def write_configs(tmp_path: Path, source_url: str, seed: dict | str, grid: str = "GLOBAL_WEBMERCATOR",
                  meta: int = 2, cache_options: dict | None = None, source_options: dict | None = None,
                  base_dir: str = CACHE_DATA["cache"]["base_dir"]) -> tuple[Path, Path]:
    """mapproxy.yaml (the osm chain over the WMS at ``source_url``, caches in
    ``base_dir``) and seed.yaml (``seed``: a dict, or YAML text) in ``tmp_path``."""
    proxy = write_config(tmp_path / "mapproxy.yaml", wms_cache_config(
        **OSM, grid=grid, meta_size=(meta, meta), cache_options=cache_options, url=f"{source_url}/wms",
        source_options=source_options,
        globals={"cache": {"base_dir": base_dir}, "http": {"client_timeout": 5}}))
    seed_path = write_config(tmp_path / "seed.yaml", seed)
    return proxy, seed_path


def run_seed(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run tileproxy-seed in-process (cwd-independent paths); returns (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = seed_main(["-f", str(tmp_path / "mapproxy.yaml"), *args])
    return status, out.getvalue(), err.getvalue()


def manager(tmp_path: Path, cache: str = "osm_cache", grid: str = "GLOBAL_WEBMERCATOR"):  # noqa: ANN201
    return load_proxy_config(tmp_path / "mapproxy.yaml").caches[cache].managers[grid]


def cached(tmp_path: Path, levels: range = range(0, 20), cache: str = "osm_cache",
           grid: str = "GLOBAL_WEBMERCATOR") -> set[TileCoord]:
    store = manager(tmp_path, cache, grid).store
    return {c for z in levels for c in store.iter_coords(z)}


def metas_of(tiles: set[TileCoord], meta: int) -> set[TileCoord]:
    return {(x - x % meta, y - y % meta, z) for x, y, z in tiles}
