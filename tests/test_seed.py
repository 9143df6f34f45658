"""tileproxy-seed against the local WMS: tiles on disk and source requests counted."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from support.configs import merge
from support.seed import cached, manager, metas_of, run_seed, write_configs

E = 20037508.342789244

SEED_ALL = {"seeds": {"world": {"caches": ["osm_cache"], "levels": {"to": 3}}}}


def _tiles_in(bbox: tuple[float, float, float, float], z: int, meta: int) -> set[tuple[int, int, int]]:
    """Tiles of the meta tiles that meet ``bbox`` (EPSG:3857) at level z of GLOBAL_WEBMERCATOR."""
    n = 2**z
    w = 2 * E / n
    x0, x1 = math.floor((bbox[0] + E) / w), math.ceil((bbox[2] + E) / w) - 1
    y0, y1 = math.floor((E - bbox[3]) / w), math.ceil((E - bbox[1]) / w) - 1
    out = set()
    for x in range(x0 - x0 % meta, x1 + 1, meta):
        for y in range(y0 - y0 % meta, y1 + 1, meta):
            out |= {(i, j, z) for i in range(x, min(x + meta, n)) for j in range(y, min(y + meta, n))}
    return out


def test_seeds_whole_pyramid_with_one_request_per_meta_tile(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, SEED_ALL)
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "-c", "3")
    assert status == 0, err
    tiles = cached(tmp_path)
    assert len(tiles) == 1 + 4 + 16 + 64
    assert source.count("wms") == 1 + 1 + 4 + 16  # 2x2 meta tiles, level 0 is one tile
    # a second run finds everything cached
    source.reset()
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))[0] == 0
    assert source.count("wms") == 0


def test_seed_stays_inside_the_coverage(tmp_path: Path, source) -> None:
    bbox = (1_000_000.0, 5_000_000.0, 3_500_000.0, 6_200_000.0)
    write_configs(tmp_path, source.url, {
        "seeds": {"area": {"caches": ["osm_cache"], "levels": [2, 4, 6], "coverages": ["box"]}},
        "coverages": {"box": {"bbox": list(bbox), "srs": "EPSG:3857"}},
    })
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))
    assert status == 0, err
    expected = _tiles_in(bbox, 2, 2) | _tiles_in(bbox, 4, 2) | _tiles_in(bbox, 6, 2)
    assert cached(tmp_path) == expected
    assert source.count("wms") == len(metas_of(expected, 2))


def test_coverage_in_another_srs(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, {
        "seeds": {"area": {"caches": ["osm_cache"], "levels": [5], "coverages": ["de"]}},
        "coverages": {"de": {"bbox": "6,47,15,55", "srs": "EPSG:4326"}},
    })
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))[0] == 0
    # 6..15 E and 47..55 N at level 5 (tiles 11.25 degrees wide): x 16-17, y 10-11
    assert {(x, y) for x, y, _ in cached(tmp_path)} == {(16, 10), (17, 10), (16, 11), (17, 11)}


def test_refresh_before_recreates_only_old_tiles(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, merge(SEED_ALL, {"seeds": {"world": {"refresh_before": {"hours": 1}}}}))
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))[0] == 0
    store = manager(tmp_path).store
    old = time.time() - 7200
    for coord in [(0, 0, 3), (5, 5, 3)]:  # two different meta tiles
        os.utime(store.path(coord), (old, old))
    source.reset()
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))[0] == 0
    assert source.count("wms") == 2
    assert store.timestamp((0, 0, 3)) > old + 3600
    # the other tiles of those meta tiles were fresh and are left alone
    assert store.timestamp((1, 1, 3)) < time.time() + 1


def test_dry_run_requests_and_writes_nothing(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, SEED_ALL)
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "-n", "--progress", "json")
    assert status == 0
    assert source.count("wms") == 0 and cached(tmp_path) == set()
    done = [json.loads(line) for line in err.splitlines() if line.startswith("{")][-1]
    assert done["event"] == "done" and done["created"] == 85


def test_json_progress_lines_for_cron(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, SEED_ALL)
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--progress", "json")
    assert status == 0
    events = [json.loads(line) for line in err.splitlines()]
    assert events[0]["event"] == "start" and events[0]["total"] == 85
    last = events[-1]
    assert last["event"] == "done" and last["created"] == 85 and last["requests"] == 22 and last["percent"] == 100.0


def test_quiet_prints_only_the_task_summary(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, SEED_ALL)
    _, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "-q")
    assert len(err.strip().splitlines()) == 1 and "85 written" in err
    source.reset()
    _, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "-qq")
    assert err == ""


def test_summary_and_task_selection(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, merge(SEED_ALL, {
        "seeds": {"other": {"caches": ["osm_cache"], "levels": [1]}},
        "cleanups": {"old": {"caches": ["osm_cache"], "remove_before": {"days": 3}}},
    }))
    status, out, _ = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--summary")
    assert status == 0 and "seed task 'world'" in out and "cleanup task 'old'" in out
    status, out, _ = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--summary", "--seed", "other")
    assert "'other'" in out and "'world'" not in out and "cleanup" not in out
    assert source.count("wms") == 0
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--seed", "nope")
    assert status == 2 and "unknown seed task 'nope'" in err
    # positional seed.yaml as with mapproxy-seed; only the selected task runs
    assert run_seed(tmp_path, str(tmp_path / "seed.yaml"), "--seed", "other")[0] == 0
    assert cached(tmp_path) == {(x, y, 1) for x in range(2) for y in range(2)}


def test_polygon_coverages_from_files_inline_and_combined(tmp_path: Path, source) -> None:
    """WKT next to seed.yaml, GeoJSON next to mapproxy.yaml, inline WKT, and a
    difference that cuts a hole: level 3 tiles are 5 009 377 m wide."""
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "west.wkt").write_text(
        "POLYGON((-20000000 0, -10100000 0, -10100000 10000000, -20000000 10000000, -20000000 0))\n")
    (tmp_path / "east.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
            [[10100000, 0], [20000000, 0], [20000000, 10000000], [10100000, 10000000], [10100000, 0]]]}}]}))
    write_configs(tmp_path, source.url, {
        "seeds": {"parts": {"caches": ["osm_cache"], "levels": [3], "coverages": ["sides", "holed"]}},
        "coverages": {
            "west": {"datasource": "west.wkt", "srs": "EPSG:3857"},
            "sides": {"union": ["west", {"datasource": "east.geojson", "srs": "EPSG:3857"}]},
            "holed": {
                "difference": [
                    {"bbox": [-5000000, -15000000, 5000000, -5100000], "srs": "EPSG:3857"},
                    {
                        "geometry": "POLYGON((-5000000 -15000000, 0 -15000000, 0 -5100000, -5000000 -5100000, -5000000 -15000000))",
                        "srs": "EPSG:3857",
                    },
                ],
            },
        },
    })
    (tmp_path / "seed.yaml").rename(tmp_path / "seeds" / "seed.yaml")
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seeds" / "seed.yaml"))
    assert status == 0, err
    west = _tiles_in((-20000000, 0, -10100000, 10000000), 3, 2)
    east = _tiles_in((10100000, 0, 20000000, 10000000), 3, 2)
    south = _tiles_in((0, -15000000, 5000000, -5100000), 3, 2)
    assert cached(tmp_path) == west | east | south


def test_cache_refresh_before_applies_when_the_task_has_none(tmp_path: Path, source) -> None:
    """As docs/freshness.md says: a seed run leaves no tile that serving would refresh."""
    write_configs(tmp_path, source.url, SEED_ALL, cache_options={"refresh_before": {"hours": 1}})
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))[0] == 0
    store = manager(tmp_path).store
    old = time.time() - 7200
    os.utime(store.path((2, 2, 3)), (old, old))
    source.reset()
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))[0] == 0
    assert source.count("wms") == 1 and store.timestamp((2, 2, 3)) > old + 3600


def test_at_most_concurrency_source_requests_in_flight(tmp_path: Path, source) -> None:
    """More workers than -c do the image work, but only -c of them ask the sources at
    a time; with enough meta tiles all -c request slots are used."""
    write_configs(tmp_path, source.url, SEED_ALL)
    source.delay = 0.03  # long enough for the requests of the workers to overlap
    store = manager(tmp_path).store
    for concurrency, requests in ((1, 22), (2, 16)):  # the whole pyramid, then level 3 again
        for tile in list(store.iter_coords(3)):
            store.remove(tile)
        source.reset()
        status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "-c", str(concurrency))
        assert status == 0, err
        assert source.max_in_flight == concurrency
        assert source.count("wms") == requests
        assert len(cached(tmp_path)) == 1 + 4 + 16 + 64
