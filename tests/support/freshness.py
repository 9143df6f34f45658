"""Shared pieces of the freshness tests: a config template, TMS URLs for internal
tile coordinates, and moving tile files back in time."""

from __future__ import annotations

import os
import time

from tileproxy.wsgi import TileProxyApp

# a 2x2 meta tile at level 3 of GLOBAL_WEBMERCATOR (internal coords, rows from the north)
META = [(2, 2, 3), (3, 2, 3), (2, 3, 3), (3, 3, 3)]
HOUR = 3600.0


def config(meta_size=(1, 1), on_error=None, refresh_mode="foreground", timeout=5.0, refresh_before=None,
           cache_opts=None, layer_source="c", more_caches=None) -> dict:
    """mapproxy.yaml: layer ``osm`` from cache ``c`` (refresh_before: hours: 1 unless
    ``refresh_before`` says otherwise; False: none) over the test WMS source ``wms``."""
    conf = {
        "services": {"tms": None},
        "layers": [{"name": "osm", "title": "OSM", "sources": [layer_source]}],
        "caches": {
            "c": {
                "grids": ["GLOBAL_WEBMERCATOR"],
                "sources": ["wms"],
                "meta_size": list(meta_size),
                "meta_buffer": 0,
                "refresh_before": refresh_before or {"hours": 1},
                "refresh_mode": refresh_mode,
                **(cache_opts or {}),
            },
            **(more_caches or {}),
        },
        "sources": {"wms": {"type": "wms", "req": {"url": "{source}/wms", "layers": "base"}}},
        "globals": {"cache": {"base_dir": "./cache_data"}, "http": {"client_timeout": timeout}},
    }
    if refresh_before is False:
        del conf["caches"]["c"]["refresh_before"]
    if on_error is not None:
        conf["sources"]["wms"]["on_error"] = on_error
    return conf


def url(coord: tuple[int, int, int]) -> str:
    """TMS URL of an internal GLOBAL_WEBMERCATOR tile (TMS rows count from the south, level 0 = grid level 1)."""
    x, y, z = coord
    return f"/tms/1.0.0/osm/EPSG3857/{z - 1}/{x}/{2 ** z - 1 - y}.png"


def manager(app: TileProxyApp):
    return app.tile_layers[0].manager


def tile_path(app: TileProxyApp, coord) -> str:
    return manager(app).store.path(coord)


def age(app: TileProxyApp, coords, seconds: float = 2 * HOUR) -> None:
    """Make cached tiles ``seconds`` old (older than refresh_before: hours: 1)."""
    then = time.time() - seconds
    for coord in coords:
        os.utime(tile_path(app, coord), (then, then), follow_symlinks=False)


def read(app: TileProxyApp, coord) -> bytes | None:
    try:
        with open(tile_path(app, coord), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def wait_for(condition, timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
