"""Weak sources and interrupted runs: stale tiles kept on errors, failed tiles
listed and retried, backoff and rate limits, resume with --continue, and
--skip-uncached refreshing a sparse cache from its own listing."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from support.configs import merge, put, write_config
from support.seed import cached, manager, metas_of, run_seed, write_configs

from tileproxy.seed.resume import ResumeState
from tileproxy.seed.retry import FailureBudget, RateLimiter, RetryPolicy, TooManyFailures
from tileproxy.sources.base import SourceError
from tileproxy.stores.base import Tile

REFRESH = {"seeds": {"world": {"caches": ["osm_cache"], "levels": {"to": 2}, "refresh_before": {"hours": 1}}}}


def _age(store, coords, seconds: float = 7200) -> float:  # noqa: ANN001
    old = time.time() - seconds
    for c in coords:
        os.utime(store.path(c), (old, old))
    return old


def test_source_errors_keep_stale_tiles_and_list_them(tmp_path: Path, source, caplog) -> None:
    write_configs(tmp_path, source.url, REFRESH)
    seed = str(tmp_path / "seed.yaml")
    assert run_seed(tmp_path, "-s", seed)[0] == 0
    store = manager(tmp_path).store
    tiles = cached(tmp_path)
    old = _age(store, tiles)
    before = {c: open(store.path(c), "rb").read() for c in tiles}
    source.reset("error")
    failed = tmp_path / "failed.txt"
    status, _, err = run_seed(tmp_path, "-s", seed, "--max-retries", "1", "--retry-delay", "0",
                              "--failed-tiles", str(failed))
    assert status == 1
    assert source.count("wms") == 6 * 2  # six meta tiles, each tried twice
    for c in tiles:  # untouched: same bytes, same age
        assert open(store.path(c), "rb").read() == before[c] and store.timestamp(c) == pytest.approx(old, abs=1)
    listed = failed.read_text().split("\n")
    assert sorted(line for line in listed if line) == sorted(
        f"osm_cache GLOBAL_WEBMERCATOR {z}/{x}/{y}" for x, y, z in tiles)
    assert "2/3/3" in caplog.text and "cached tiles kept" in caplog.text  # the log names the tiles
    # the source is back: retry exactly the failed tiles
    source.reset("ok")
    status, _, err = run_seed(tmp_path, "--retry-failed", str(failed))
    assert status == 0, err
    assert source.count("wms") == 6
    assert all(store.timestamp(c) > old + 3600 for c in tiles)


def test_missing_tiles_stay_missing_when_the_source_fails(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, REFRESH)
    source.reset("html")
    status, _, _ = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--max-retries", "0")
    assert status == 1 and cached(tmp_path) == set()


def test_run_stops_when_the_failure_budget_is_spent(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, merge(REFRESH, {"seeds": {"world": {"levels": {"to": 4}}}}))
    source.reset("error")
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--max-retries", "0",
                              "--max-failures", "3", "-c", "1")
    assert status == 3 and "more than 3" in err
    # not the 86 meta tiles of the task: the 4 failures, and at most one more meta tile
    # whose request was next in line (-c 1: one request in flight, a second worker waits)
    assert 4 <= source.count("wms") <= 5


def test_backoff_doubles_up_to_the_cap_without_waiting() -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_retries=5, delay=2.0, max_delay=10.0, sleep=waits.append)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 5:
            raise SourceError("down")
        return "ok"

    assert policy.run(flaky, (SourceError,)) == "ok"
    assert waits == [2.0, 4.0, 8.0, 10.0]
    waits.clear()
    with pytest.raises(SourceError):
        RetryPolicy(max_retries=2, delay=1.0, sleep=waits.append).run(lambda: (_ for _ in ()).throw(SourceError("x")),
                                                                       (SourceError,))
    assert waits == [1.0, 2.0]
    budget = FailureBudget(2)
    budget.spend()
    budget.spend()
    with pytest.raises(TooManyFailures):
        budget.spend()


def test_rate_limiter_spreads_requests() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert waits == [0.25] * 4 and now[0] == pytest.approx(101.0)


def test_rate_limit_option_slows_the_run(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, REFRESH)
    t0 = time.monotonic()
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--rate-limit", "20", "-c", "4")[0] == 0
    assert time.monotonic() - t0 >= 5 / 20  # six requests: five gaps of 1/20 s
    assert source.count("wms") == 6


SEED_DEEP = {"seeds": {"world": {"caches": ["osm_cache"], "levels": {"to": 3}}}}
ALL_DEEP = {(x, y, z) for z in range(4) for x in range(2**z) for y in range(2**z)}


def test_continue_finishes_exactly_the_missing_tiles(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, SEED_DEEP)
    seed, prog = str(tmp_path / "seed.yaml"), str(tmp_path / "progress")
    status, _, err = run_seed(tmp_path, "-s", seed, "--progress-file", prog, "-c", "1", "--stop-after-tiles", "30")
    assert status == 0 and "--continue" in err
    first = cached(tmp_path)
    assert 30 <= len(first) < len(ALL_DEEP) and os.path.exists(prog)
    assert ResumeState.load(prog, 0).tasks  # some units are recorded as finished
    missing_metas = metas_of(ALL_DEEP, 2) - metas_of(first, 2)
    source.reset()
    status, _, err = run_seed(tmp_path, "-s", seed, "--continue", "--progress-file", prog, "-c", "2")
    assert status == 0, err
    assert cached(tmp_path) == ALL_DEEP
    assert source.count("wms") == len(missing_metas)
    assert not os.path.exists(prog)  # removed after a complete run


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_run_leaves_whole_tiles_and_continues(tmp_path: Path, source, sig) -> None:
    write_configs(tmp_path, source.url, SEED_DEEP)
    seed, prog = str(tmp_path / "seed.yaml"), str(tmp_path / "progress")
    source.delay = 0.05
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "tileproxy.cli.seed", "-f", str(tmp_path / "mapproxy.yaml"),
                             "-s", seed, "--progress-file", prog, "-c", "2", "-q"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while source.count("wms") < 8 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)  # poll until the run is well under way
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "--continue" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    first = cached(tmp_path)
    assert 0 < len(first) < len(ALL_DEEP)
    leftovers = [p for p in (tmp_path / "cache_data").rglob("*") if p.name.startswith(".tmp-")]
    if sig == signal.SIGINT:  # a clean stop removes its temporary files
        assert not leftovers
    # (SIGKILL can strand a temporary file; it never stands at a tile's path and listings skip it)
    assert all(p.suffix == ".part" for p in leftovers)
    store = manager(tmp_path).store
    assert all(open(store.path(c), "rb").read().startswith(b"\x89PNG") for c in first)
    source.delay = 0.0
    source.reset()
    status, _, err = run_seed(tmp_path, "-s", seed, "--continue", "--progress-file", prog)
    assert status == 0, err
    assert cached(tmp_path) == ALL_DEEP
    # exactly the meta tiles that were not whole: missing ones and ones the kill cut
    # short (some of their tiles written, others not)
    whole = {m for m in metas_of(first, 2)
             if {t for t in ALL_DEEP if metas_of({t}, 2) == {m}} <= first}
    assert source.count("wms") == len(metas_of(ALL_DEEP, 2) - whole)


REFRESH_ALL_LEVELS = {"seeds": {"refresh": {"caches": ["osm_cache"], "refresh_before": {"hours": 1}}}}


def _sparse(groups: int) -> set:
    """Full 2x2 meta tiles and lone tiles spread over levels 5 to 19."""
    sparse = set()
    for i in range(groups):
        z = 5 + i % 15
        x, y = (i * 7919) % 2**z & ~1, (i * 104729) % 2**z & ~1
        sparse |= {(x, y, z), (x + 1, y, z), (x, y + 1, z), (x + 1, y + 1, z)}
        sparse.add(((x + 4) % 2**z, y, z))
    return sparse


def test_skip_uncached_refreshes_a_sparse_cache_from_its_listing(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, REFRESH_ALL_LEVELS)
    store = manager(tmp_path).store
    sparse = _sparse(20)
    for c in sparse:
        store.store(Tile(c, data=b"old"))
    old = _age(store, sparse)
    recent = {min(sparse)}
    _age(store, recent, 60)  # one tile is fresh and stays as it is
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--skip-uncached", "-c", "4")
    assert status == 0, err
    assert cached(tmp_path) == sparse  # nothing new created
    stale = sparse - recent
    assert all(store.timestamp(c) > old + 3600 for c in stale)
    assert open(store.path(min(sparse)), "rb").read() == b"old"
    assert source.count("wms") == len(metas_of(stale, 2))


def test_skip_uncached_plans_a_thousand_tiles_in_twenty_levels_quickly(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, REFRESH_ALL_LEVELS)
    store = manager(tmp_path).store
    sparse = _sparse(200)
    for c in sparse:
        store.store(Tile(c, data=b"old"))
    _age(store, sparse)
    t0 = time.monotonic()
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--skip-uncached", "-n", "-q")
    assert status == 0, err
    assert time.monotonic() - t0 < 5  # walking the 20-level pyramid instead would take hours
    assert f"{len(sparse)} would write" in err and len(sparse) == 1000


def test_skip_uncached_without_refresh_before_does_nothing(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, SEED_DEEP)
    store = manager(tmp_path).store
    store.store(Tile((3, 3, 4), data=b"x"))
    assert run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--skip-uncached")[0] == 0
    assert source.count("wms") == 0 and cached(tmp_path) == {(3, 3, 4)}


def test_continue_after_seed_yaml_changed_starts_the_task_over(tmp_path: Path, source, caplog) -> None:
    write_configs(tmp_path, source.url, SEED_DEEP)
    seed, prog = str(tmp_path / "seed.yaml"), str(tmp_path / "progress")
    run_seed(tmp_path, "-s", seed, "--progress-file", prog, "-c", "1", "--stop-after-tiles", "40")
    assert ResumeState.load(prog, 0).tasks
    write_config(tmp_path / "seed.yaml", put(copy.deepcopy(SEED_DEEP), "seeds.world.levels", [3, 4]))
    status, _, err = run_seed(tmp_path, "-s", seed, "--continue", "--progress-file", prog)
    assert status == 0, err
    assert "changed since the interrupted run" in caplog.text
    assert {c for c in cached(tmp_path) if c[2] >= 3} == {(x, y, z) for z in (3, 4) for x in range(2**z)
                                                           for y in range(2**z)}


def test_worker_processes_seed_resume_and_keep_stale_tiles(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, REFRESH)
    seed = str(tmp_path / "seed.yaml")
    source.delay = 0.03  # so that requests overlap
    status, _, err = run_seed(tmp_path, "-s", seed, "--processes", "-c", "2")
    assert status == 0, err
    tiles = cached(tmp_path)
    assert len(tiles) == 21 and source.count("wms") == 6
    assert source.max_in_flight <= 2  # four worker processes, two requests at a time
    store = manager(tmp_path).store
    old = _age(store, tiles)
    source.reset("error")
    failed = tmp_path / "failed.txt"
    status, _, _ = run_seed(tmp_path, "-s", seed, "--processes", "-c", "2", "--max-retries", "0",
                            "--failed-tiles", str(failed))
    assert status == 1 and source.count("wms") == 6
    assert all(store.timestamp(c) == pytest.approx(old, abs=1) for c in tiles)
    assert len(failed.read_text().splitlines()) == 21


def test_on_error_answers_with_cache_true_are_seeded_others_fail(tmp_path: Path, source) -> None:
    """A source's on_error answer with ``cache: true`` is stored as serving stores it
    (MapProxy's way to seed sparse sources); without it the tiles fail and stay missing."""
    on_error = {500: {"response": "#ff0000", "cache": True}, "other": {"response": "transparent"}}
    write_configs(tmp_path, source.url, REFRESH, source_options={"on_error": on_error})
    source.reset("error")
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--max-retries", "0")
    assert status == 0, err
    assert len(cached(tmp_path)) == 21
    store = manager(tmp_path).store
    tile = Tile((0, 0, 1))
    assert store.load(tile) and Image.open(BytesIO(tile.data)).convert("RGB").getpixel((5, 5)) == (255, 0, 0)
    for c in cached(tmp_path):
        store.remove(c)
    source.reset("html")  # 200 with HTML: 'other', which is not cached
    status, _, _ = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--max-retries", "0")
    assert status == 1 and cached(tmp_path) == set()


def test_meta_tile_waiting_for_its_turn_at_the_source_gives_up_when_the_run_stops(tmp_path: Path, source) -> None:
    """A worker that waits for a source request slot while the run stops (--duration,
    Ctrl-C, failure budget) asks nothing and writes nothing."""
    import threading

    from tileproxy.seed.meta import MetaWorker, SeedOptions

    write_configs(tmp_path, source.url, REFRESH)
    m = manager(tmp_path)
    gate = threading.BoundedSemaphore(1)
    gate.acquire()  # the one slot is taken by another worker's request
    worker = MetaWorker(SeedOptions(concurrency=1), gate=gate)
    stop = threading.Event()
    results = []
    thread = threading.Thread(target=lambda: results.append(
        worker.work(m, m.meta_grid.meta_tile((0, 0, 1)), None, None, "test", stop)))
    thread.start()
    stop.set()
    gate.release()  # that request ends; the waiting worker gets the slot after the stop
    thread.join(10)
    assert results and results[0].stopped and not results[0].failed and results[0].visited == 0
    assert source.count("wms") == 0 and not cached(tmp_path)
    # the slot is free again, and without a stop the same worker does its work
    result = worker.work(m, m.meta_grid.meta_tile((0, 0, 1)), None, None, "test", threading.Event())
    assert result.rendered and source.count("wms") == 1 and len(cached(tmp_path)) == 4
