"""Bad seed.yaml input: a clear error naming the file, task and key, before any
tile is touched or any source asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.configs import merge
from support.seed import run_seed, write_configs

GOOD_TASK = {"seeds": {"myseed": {"caches": ["osm_cache"], "levels": [0, 1]}}}


@pytest.mark.parametrize("seed, message", [
    ({"seeds": {"myseed": {"caches": ["x"]}}},
     "seeds.myseed.caches[0]: unknown cache 'x' (known: osm_cache)"),
    ({"seeds": {"myseed": {"levels": [1]}}}, "seeds.myseed.caches: expected a list of cache names"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "grids": ["GLOBAL_GEODETIC"]}}},
     "seeds.myseed.grids[0]: cache 'osm_cache' has no grid 'GLOBAL_GEODETIC'"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "levels": [25, 30]}}},
     "seeds.myseed.levels: no level of [25, '...'] exists in grid 'GLOBAL_WEBMERCATOR' (levels 0 to 19)"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "levels": {"from": 5, "to": 2}}}},
     "seeds.myseed.levels: from (5) is after to (2)"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "levels": ["one"]}}},
     "seeds.myseed.levels[0]: expected a level number >= 0, got 'one'"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "resolutions": [-3]}}},
     "seeds.myseed.resolutions[0]: expected a resolution > 0, got -3"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "coverages": ["nowhere"]}}},
     "seeds.myseed.coverages[0]: unknown coverage 'nowhere' (known: none defined)"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "refresh_before": {"time": "yesterday"}}}},
     "seeds.myseed.refresh_before.time: expected an ISO date/time such as 2024-05-01T12:00:00, got 'yesterday'"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "refresh_before": {"mtime": "no-such-file"}}}},
     "seeds.myseed.refresh_before.mtime: cannot read the modification time of"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "refresh_before": {"fortnights": 1}}}},
     "seeds.myseed.refresh_before: expected one of time, mtime or a duration"),
    ({"cleanups": {"old": {"caches": ["osm_cache"], "remove_all": "maybe"}}},
     "cleanups.old.remove_all: expected true or false, got 'maybe'"),
    ({"coverages": {"c": {"bbox": [1, 2, 3], "srs": "EPSG:4326"}}},
     "coverages.c.bbox: expected four numbers (minx, miny, maxx, maxy), got 3"),
    ({"coverages": {"c": {"bbox": [5, 5, 1, 1], "srs": "EPSG:4326"}}},
     "coverages.c.bbox: bbox [5.0, 5.0, 1.0, 1.0] is empty"),
    ({"coverages": {"c": {"bbox": [1, 2, 3, 4], "srs": "EPSG:99999"}}},
     "coverages.c.srs: unknown SRS 'EPSG:99999'"),
    ({"coverages": {"c": {"bbox": [1, 2, 3, 4]}}}, "coverages.c: missing required key 'srs'"),
    ({"seeds": {"myseed": {"caches": ["osm_cache"], "coverages": ["c"]}},
      "coverages": {"c": {"bbox": [-30000000, -30000000, -25000000, -25000000], "srs": "EPSG:3857"}}},
     "seeds.myseed.coverages: the coverages c lie outside grid 'GLOBAL_WEBMERCATOR'"),
    ({"coverages": {"c": {"datasource": "missing.txt", "srs": "EPSG:4326"}}},
     "coverages.c.datasource: file not found: "),
    ({"coverages": {"c": {"datasource": "bad.wkt", "srs": "EPSG:4326"}}}, "coverages.c.datasource: "),
    ({"coverages": {"c": {"geometry": "POLYGON((0 0, 1 0, 1", "srs": "EPSG:4326"}}},
     "coverages.c.geometry: cannot read geometry"),
    ({"coverages": {"c": {"difference": ["a", "a"]}, "a": {"bbox": [1, 2, 3, 4], "srs": "EPSG:4326"}}},
     "coverages.c: the coverage is empty (no area)"),
    ({"coverages": {"c": {"union": ["c2"]}}}, "coverages.c: unknown coverage 'c2'"),
    ({"views": {"germany": {"bbox": [5, 50, 10, 55]}}},
     "views: the old seed.yaml format (views) is not supported"),
    ({"seeds": ["a", "b"]}, "seeds: expected a mapping of task names to tasks"),
])
def test_bad_seed_yaml_is_named_before_anything_runs(tmp_path: Path, source, seed: dict, message: str) -> None:
    """``seed`` next to the good task (in its place where it has seeds or views)."""
    (tmp_path / "bad.wkt").write_text("POLYGON((0 0, 10 0, 10 10\n")
    write_configs(tmp_path, source.url, seed if {"seeds", "views"} & set(seed) else {**GOOD_TASK, **seed})
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))
    assert status == 2
    assert f"seed.yaml: {message}" in err, err
    assert "Traceback" not in err
    assert source.count("wms") == 0 and not (tmp_path / "cache_data").exists()


def test_unknown_keys_warn_with_their_path(tmp_path: Path, source, caplog) -> None:
    typos = {"levles": [3], "refresh_before": {"days": 1, "fortnights": 2}}
    write_configs(tmp_path, source.url, {**merge(GOOD_TASK, {"seeds": {"myseed": typos}}), "extra": 1})
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--summary")[0] == 0
    assert "seeds.myseed.refresh_before.fortnights: unknown key, ignored" in caplog.text
    assert "seeds.myseed.levles: unknown key, ignored" in caplog.text
    assert "extra: unknown key, ignored" in caplog.text


def test_env_variables_and_level_range_defaults(tmp_path: Path, source, monkeypatch) -> None:
    monkeypatch.setenv("SEED_CACHE", "osm_cache")
    write_configs(tmp_path, source.url, {"seeds": {"s": {"caches": ["${SEED_CACHE}"], "levels": {"from": 18}}}})
    status, out, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--summary")
    assert status == 0, err
    assert "cache osm_cache" in out and "levels: 18, 19" in out
    # resolutions pick the closest levels, as in MapProxy
    write_configs(tmp_path, source.url, {"seeds": {"s": {"caches": ["osm_cache"], "resolutions": [1200, 611.5]}}})
    assert "levels: 7, 8" in run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--summary")[1]


@pytest.mark.parametrize("args, message", [
    (["--duration", "soon"], "'soon' is not a duration"),
    (["--reseed-interval", "1d"], "--reseed-interval needs --reseed-file"),
    (["-c", "0"], "--concurrency must be at least 1"),
    (["--retry-failed", "/no/such/file"], "--retry-failed /no/such/file"),
    ([], "a seed configuration is needed"),
])
def test_bad_command_lines(tmp_path: Path, source, args: list[str], message: str) -> None:
    write_configs(tmp_path, source.url, GOOD_TASK)
    status, _, err = run_seed(tmp_path, *args)
    assert status == 2 and message in err, err


def test_reseed_interval_skips_recent_runs(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, GOOD_TASK)
    stamp = tmp_path / "reseed.time"
    args = ["-s", str(tmp_path / "seed.yaml"), "--reseed-file", str(stamp), "--reseed-interval", "1d"]
    assert run_seed(tmp_path, *args)[0] == 0
    assert stamp.exists() and source.count("wms") == 2
    source.reset()
    status, _, err = run_seed(tmp_path, *args, "-n")
    assert status == 0 and "nothing to do" in err


def test_reseed_file_is_the_refresh_mtime_of_a_new_cycle(tmp_path: Path, source) -> None:
    """As in MapProxy's background seeding example: the file is touched when a new
    cycle starts, so refresh_before: {mtime: reseed.time} refreshes every older tile."""
    write_configs(tmp_path, source.url, merge(GOOD_TASK, {"seeds": {"myseed": {"refresh_before": {"mtime": "reseed.time"}}}}))
    stamp = tmp_path / "reseed.time"
    stamp.touch()
    args = ["-s", str(tmp_path / "seed.yaml"), "--reseed-file", str(stamp)]
    assert run_seed(tmp_path, *args)[0] == 0
    assert source.count("wms") == 2
    source.reset()
    assert run_seed(tmp_path, *args)[0] == 0
    assert source.count("wms") == 2  # everything again: the tiles are older than the new cycle


def test_bad_config_does_not_start_a_reseed_cycle_or_clear_failures(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, {"seeds": {"s": {"caches": ["nope"]}}})
    stamp, failed = tmp_path / "reseed.time", tmp_path / "failed.txt"
    failed.write_text("osm_cache GLOBAL_WEBMERCATOR 1/0/0\n")
    status, _, _ = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--reseed-file", str(stamp),
                            "--failed-tiles", str(failed))
    assert status == 2 and not stamp.exists() and failed.read_text() != ""
    # retrying a list and writing the failures of the retry to the same file works
    status, _, err = run_seed(tmp_path, "--retry-failed", str(failed), "--failed-tiles", str(failed))
    assert status == 0, err
    assert source.count("wms") == 1 and failed.read_text() == ""
