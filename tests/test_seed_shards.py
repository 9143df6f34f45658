"""tileproxy-seed --shard i/N: N disjoint parts of one job whose union is the job,
tile for tile, with as many source requests as one run; each shard continues on
its own progress file."""

from __future__ import annotations

import os
from pathlib import Path

from support.seed import cached, manager, run_seed, write_configs

from tileproxy.grid import TileCoord

# a polygon, so that the walk's area checks decide which units hold work
SEED = {
    "seeds": {"area": {"caches": ["osm_cache"], "levels": {"to": 8}, "coverages": ["tri"]}},
    "coverages": {"tri": {"geometry": "POLYGON((0 40, 30 40, 0 65, 0 40))", "srs": "EPSG:4326"}},
}


def tiles_of(directory: Path) -> dict[TileCoord, bytes]:
    store = manager(directory).store
    return {c: Path(store.path(c)).read_bytes() for c in cached(directory)}


def test_three_shards_make_one_run_tile_for_tile(tmp_path: Path, source) -> None:
    one, sharded = tmp_path / "one", tmp_path / "sharded"
    for d in (one, sharded):
        d.mkdir()
        write_configs(d, source.url, SEED, base_dir=str(d / "cache_data"))
    assert run_seed(one, "-s", str(one / "seed.yaml"))[0] == 0
    single_requests = source.count("wms")
    counts = []
    for shard in ("0/3", "1/3", "2/3"):
        source.reset()
        status, _, err = run_seed(sharded, "-s", str(sharded / "seed.yaml"), "--shard", shard)
        assert status == 0, err
        counts.append(source.count("wms"))
    assert min(counts) > 0.2 * single_requests  # the work is spread, not all in one shard
    assert sum(counts) == single_requests > 100
    expected = tiles_of(one)
    assert len(expected) > 500 and tiles_of(sharded) == expected


def test_an_interrupted_shard_continues_on_its_own_progress_file(tmp_path: Path, source, monkeypatch) -> None:
    write_configs(tmp_path, source.url, SEED)
    monkeypatch.chdir(tmp_path)
    seed = str(tmp_path / "seed.yaml")
    status, _, err = run_seed(tmp_path, "-s", seed, "--shard", "1/3", "--continue", "--stop-after-tiles", "100")
    assert status == 0 and "--continue" in err
    assert os.path.exists(".tileproxy_seed_progress.shard-1-of-3")
    first = source.count("wms")
    status, _, err = run_seed(tmp_path, "-s", seed, "--shard", "1/3", "--continue")
    assert status == 0, err
    assert not os.path.exists(".tileproxy_seed_progress.shard-1-of-3")
    source.reset()
    # the shard is complete: a fresh run of it finds every tile cached
    assert run_seed(tmp_path, "-s", seed, "--shard", "1/3")[0] == 0
    assert source.count("wms") == 0 and first > 0


def test_shards_write_their_failed_tiles_and_refresh_only_cached_tiles(tmp_path: Path, source) -> None:
    levels = {"seeds": {"s": {"caches": ["osm_cache"], "levels": {"to": 3}}}}  # 22 meta tiles, 85 tiles
    write_configs(tmp_path, source.url, levels)
    seed = str(tmp_path / "seed.yaml")
    source.reset("error")
    for i in range(2):
        status, _, _ = run_seed(tmp_path, "-s", seed, "--shard", f"{i}/2", "--max-retries", "0",
                                "--failed-tiles", str(tmp_path / f"failed-{i}.txt"))
        assert status == 1
    lists = [set((tmp_path / f"failed-{i}.txt").read_text().splitlines()) for i in range(2)]
    assert lists[0] and lists[1] and not lists[0] & lists[1] and len(lists[0] | lists[1]) == 85
    source.reset()
    assert run_seed(tmp_path, "-s", seed)[0] == 0
    write_configs(tmp_path, source.url, {"seeds": {"s": {"caches": ["osm_cache"], "levels": {"to": 4},
                                                         "refresh_before": {"seconds": 0}}}})
    source.reset()
    counts = []
    for i in range(2):
        assert run_seed(tmp_path, "-s", seed, "--shard", f"{i}/2", "--skip-uncached")[0] == 0
        counts.append(source.count("wms") - sum(counts))
    assert all(counts) and sum(counts) == 22  # each cached meta tile refreshed once, none created
    assert len(cached(tmp_path)) == 85
