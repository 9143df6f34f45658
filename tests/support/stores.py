"""Shared bits of the store tests: tiles whose bytes tell their coordinate, and
a store of every backend."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from support.configs import write_debug_config
from tileproxy.grid import predefined_grid
from tileproxy.stores.base import TileStore
from tileproxy.stores.compact import CompactStore
from tileproxy.stores.geopackage import GeoPackageLevelStore, GeoPackageStore
from tileproxy.stores.sqlite_tiles import MBTilesStore, SQLiteLevelStore

BACKENDS = ["mbtiles", "mbtiles-ts", "sqlite", "geopackage", "geopackage-levels", "compact-v1", "compact-v2"]


def tile_png(coord: tuple[int, int, int], size: int = 16) -> bytes:
    """A small PNG whose colour encodes ``coord`` (distinct for the coords the tests use)."""
    x, y, z = coord
    img = Image.new("RGB", (size, size), (x % 256, y % 256, (z * 16 + x // 256 + y // 256) % 256))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def make_store(kind: str, base: str, readonly: bool = False, grid=None) -> TileStore:
    grid = grid or predefined_grid("GLOBAL_WEBMERCATOR")
    if kind == "mbtiles":
        return MBTilesStore(os.path.join(base, "c.mbtiles"), grid=grid, name="c", readonly=readonly)
    if kind == "mbtiles-ts":
        return MBTilesStore(os.path.join(base, "c.mbtiles"), grid=grid, name="c", timestamps=True, readonly=readonly)
    if kind == "sqlite":
        return SQLiteLevelStore(os.path.join(base, "c", "GLOBAL_WEBMERCATOR"), readonly=readonly)
    if kind == "geopackage":
        return GeoPackageStore(os.path.join(base, "c.gpkg"), "c_GLOBAL_WEBMERCATOR", grid, readonly=readonly)
    if kind == "geopackage-levels":
        return GeoPackageLevelStore(os.path.join(base, "c", "GLOBAL_WEBMERCATOR"), "c_GLOBAL_WEBMERCATOR", grid,
                                    readonly=readonly)
    if kind == "compact-v1":
        return CompactStore(os.path.join(base, "c", "GLOBAL_WEBMERCATOR"), version=1, readonly=readonly)
    if kind == "compact-v2":
        return CompactStore(os.path.join(base, "c", "GLOBAL_WEBMERCATOR"), version=2, readonly=readonly)
    raise ValueError(kind)


def store_config(tmp_path: Path, backend: dict | str, grid: str = "GLOBAL_WEBMERCATOR", sources: tuple[str, ...] = ("dbg",),
                 wms_url: str = "http://127.0.0.1:9") -> str:
    """mapproxy.yaml in ``tmp_path``: layer ``c`` over a 2x2-meta-tile cache of
    ``sources`` (``dbg``, a debug source, or ``wms``, the WMS at ``wms_url``, where meta
    tiles matter: debug sources are drawn tile by tile, as in MapProxy), stored as
    ``backend`` (the YAML of its ``cache:`` block) under ./cache, served over TMS with
    grid names; returns its path."""
    return str(write_debug_config(tmp_path, backend, grid=grid, sources=sources, meta_size=(2, 2), wms=False,
                                  wms_url=wms_url))


def gdalinfo(path: str) -> str:
    """gdalinfo's report of ``path``; skips the test when GDAL is not installed."""
    exe = shutil.which("gdalinfo")
    if exe is None:
        pytest.skip("gdalinfo not installed (apt-get install gdal-bin); GDAL cross-check not run")
    out = subprocess.run([exe, path], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr
