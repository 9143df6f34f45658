"""Seeding, refreshing and cleaning every cache backend through the store protocol."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from support.configs import CACHE_DATA, cache, tile_source, write_config
from support.seed import cached, manager, metas_of, run_seed, write_configs
from support.source_server import tile_color

BACKENDS = {
    "file_tms": {"type": "file", "directory_layout": "tms"},
    "file_quadkey": {"type": "file", "directory_layout": "quadkey"},
    "mbtiles": {"type": "mbtiles", "filename": "./osm.mbtiles"},
    "sqlite": {"type": "sqlite", "directory": "./sqlite_levels"},
    "geopackage": {"type": "geopackage", "filename": "./osm.gpkg"},
    "compact_v2": {"type": "compact", "version": 2, "directory": "./compact"},
}

SEED = {
    "seeds": {
        "world": {"caches": ["osm_cache"], "levels": {"to": 2}},
        "refresh": {"caches": ["osm_cache"], "levels": {"to": 2}, "refresh_before": {"seconds": 0}},
    },
    "cleanups": {"deep": {"caches": ["osm_cache"], "levels": [2], "remove_all": True}},
}
ALL = {(x, y, z) for z in range(3) for x in range(2**z) for y in range(2**z)}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_seed_refresh_and_cleanup_on_every_backend(tmp_path: Path, source, backend: str) -> None:
    _seed_refresh_and_cleanup(tmp_path, source, BACKENDS[backend])


def test_seed_refresh_and_cleanup_on_remote_backends(tmp_path: Path, source, remote_space) -> None:
    """s3 (SeaweedFS), azureblob (Azurite), redis (redis-server)."""
    _seed_refresh_and_cleanup(tmp_path, source, remote_space.conf)


def _seed_refresh_and_cleanup(tmp_path: Path, source, backend: dict) -> None:  # noqa: ANN001
    write_configs(tmp_path, source.url, SEED, cache_options={"cache": backend})
    seed = str(tmp_path / "seed.yaml")
    assert run_seed(tmp_path, "-s", seed, "--seed", "world")[0] == 0
    assert cached(tmp_path, range(3)) == ALL
    assert source.count("wms") == 6
    # refreshing only what is cached, driven by the store's own listing
    store = manager(tmp_path).store
    assert store.can_list
    store.remove_many([(0, 0, 2), (1, 0, 2), (0, 1, 2), (1, 1, 2)])
    source.reset()
    status, _, err = run_seed(tmp_path, "-s", seed, "--seed", "refresh", "--skip-uncached")
    assert status == 0, err
    assert source.count("wms") == len(metas_of(ALL, 2)) - 1
    assert cached(tmp_path, range(3)) == ALL - {(0, 0, 2), (1, 0, 2), (0, 1, 2), (1, 1, 2)}
    status, _, err = run_seed(tmp_path, "-s", seed, "--cleanup", "deep")
    assert status == 0, err
    assert cached(tmp_path, range(3)) == {c for c in ALL if c[2] < 2}


def test_seed_from_a_tile_source_and_a_cache_behind_a_cache(tmp_path: Path, source) -> None:
    """Tiled sources take no meta tiles: one request per tile, passed through as is;
    a cache whose source is another cache fills both."""
    write_config(tmp_path / "mapproxy.yaml", {
        "caches": {"tiles_cache": cache("tiles", meta_size=None), "second": cache("tiles_cache", meta_size=(2, 2))},
        "sources": {"tiles": tile_source(f"{source.url}/tiles/%(z)s/%(x)s/%(y)s.png")},
        "globals": CACHE_DATA,
    })
    write_config(tmp_path / "seed.yaml", {"seeds": {"s": {"caches": ["second"], "levels": {"to": 2}}}})
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))
    assert status == 0, err
    assert cached(tmp_path, range(3), cache="second") == ALL
    assert cached(tmp_path, range(3), cache="tiles_cache") == ALL
    assert source.count("tile") == len(ALL)
    tile = Image.open(BytesIO(open(manager(tmp_path, "second").store.path((1, 2, 2)), "rb").read()))
    assert tile.convert("RGB").getpixel((128, 128)) == tile_color(1, 2, 2)
