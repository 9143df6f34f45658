"""Cleanup tasks: remove_before, remove_all, levels and coverages, driven by the
tiles the cache lists."""

from __future__ import annotations

import os
import time
from pathlib import Path

from support.seed import cached, manager, run_seed, write_configs

SEED = {"seeds": {"world": {"caches": ["osm_cache"], "levels": {"to": 3}}}}


def _seeded(tmp_path: Path, source, cleanups: dict) -> set:
    write_configs(tmp_path, source.url, {**SEED, **cleanups})
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--seed", "world")[0] == 0
    return cached(tmp_path)


def test_remove_before_removes_only_older_tiles(tmp_path: Path, source) -> None:
    before = _seeded(tmp_path, source, {
        "cleanups": {"old": {"caches": ["osm_cache"], "remove_before": {"days": 1}}},
    })
    store = manager(tmp_path).store
    old = time.time() - 3 * 86400
    aged = {(0, 0, 3), (7, 7, 3), (0, 0, 0)}
    for coord in aged:
        os.utime(store.path(coord), (old, old))
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--cleanup", "old")
    assert status == 0, err
    assert cached(tmp_path) == before - aged
    assert source.count("wms") == 22  # the seed only; cleanup asks no source


def test_remove_all_by_levels_and_dry_run(tmp_path: Path, source) -> None:
    before = _seeded(tmp_path, source, {
        "cleanups": {"deep": {"caches": ["osm_cache"], "levels": {"from": 2}, "remove_all": True}},
    })
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--cleanup", "deep", "-n", "-q")
    assert status == 0 and cached(tmp_path) == before and "80 would remove" in err
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--cleanup", "deep")[0] == 0
    assert cached(tmp_path) == {c for c in before if c[2] < 2}


def test_cleanup_with_coverage_keeps_tiles_outside(tmp_path: Path, source) -> None:
    # the north-west quarter of the world in web mercator
    before = _seeded(tmp_path, source, {
        "cleanups": {"nw": {"caches": ["osm_cache"], "levels": [3], "coverages": ["nw"], "remove_all": True}},
        "coverages": {"nw": {"bbox": [-20037508.34, 0, 0, 20037508.34], "srs": "EPSG:3857"}},
    })
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--cleanup", "nw")[0] == 0
    removed = {(x, y, 3) for x in range(4) for y in range(4)}
    assert cached(tmp_path) == before - removed


def test_seed_and_cleanup_in_one_run_keeps_new_tiles(tmp_path: Path, source) -> None:
    """remove_before defaults to the start of the run: tiles seeded by it survive."""
    write_configs(tmp_path, source.url, {**SEED, "cleanups": {"all_old": {"caches": ["osm_cache"]}}})
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))[0] == 0
    assert len(cached(tmp_path)) == 85
