"""tileproxy-seed --celery: batches of work units run by real `celery worker`
processes through a real redis-server; the same source requests as one run, and
a worker killed mid-run loses nothing."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from support.configs import OSM, wms_cache_config, write_config
from support.seed import cached, run_seed, write_configs

from tileproxy.config.build import load_proxy_config

pytest.importorskip("celery")
pytest.importorskip("redis")

ROOT = Path(__file__).resolve().parent.parent
GRID = "small"  # 64 px tiles: many tiles for little image work
LEVELS = 7  # levels 0..6 over the northern half: 2,733 tiles, 684 meta tiles of 2x2


def write_job(directory: Path, source_url: str) -> None:
    config = wms_cache_config(**OSM, grid=GRID, meta_size=(2, 2), url=f"{source_url}/wms",
                              globals={"cache": {"base_dir": str(directory / "cache_data")},
                                       "http": {"client_timeout": 10}})
    config["grids"] = {GRID: {"base": "GLOBAL_WEBMERCATOR", "tile_size": [64, 64]}}
    write_config(directory / "mapproxy.yaml", config)
    write_config(directory / "seed.yaml", {
        "seeds": {"north": {"caches": ["osm_cache"], "grids": [GRID], "levels": {"to": LEVELS - 1},
                            "coverages": ["north"]}},
        "coverages": {"north": {"bbox": [-20037508.34, 1.0, 20037508.34, 20037508.34], "srs": "EPSG:3857"}}})


def tiles_of(directory: Path) -> dict[tuple[int, int, int], bytes]:
    store = load_proxy_config(directory / "mapproxy.yaml").caches["osm_cache"].managers[GRID].store
    return {c: Path(store.path(c)).read_bytes() for z in range(LEVELS) for c in store.iter_coords(z)}


class Workers:
    """`celery worker` processes, each in its own process group (killed as a whole)."""

    def __init__(self, url: str, count: int, env: dict[str, str]):
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tileproxy.seed.celery", "-b", url, "worker", "-c", "1",
             "-n", f"w{i}-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-l", "warning"],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env}, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(count)]

    def kill(self, index: int) -> None:
        os.killpg(self.procs[index].pid, signal.SIGKILL)
        self.procs[index].wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


def seed_cmd(directory: Path, url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tileproxy.cli.seed", "-f", str(directory / "mapproxy.yaml"),
            "-s", str(directory / "seed.yaml"), "--celery", url, "-c", "2", *args]


def run(cmd: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory, _source_server) -> tuple[dict, int]:  # noqa: ANN001
    """The job's tiles and source requests in one process (once for the module)."""
    one = tmp_path_factory.mktemp("one")
    write_job(one, _source_server.url)
    _source_server.reset()
    _source_server.delay = 0.0
    status, _, err = run_seed(one, "-s", str(one / "seed.yaml"), "-c", "4")
    assert status == 0, err
    requests = _source_server.count("wms")
    _source_server.reset()
    return tiles_of(one), requests


def test_two_workers_seed_a_job_with_the_requests_of_one_run(single_run, tmp_path: Path, source,
                                                             redis_server) -> None:
    expected, single_requests = single_run
    assert len(expected) >= 2000 and single_requests == 684
    job = tmp_path / "celery"
    job.mkdir()
    write_job(job, source.url)
    source.delay = 0.05
    workers = Workers(redis_server.url, 2, {})
    try:
        done = run(seed_cmd(job, redis_server.url, "--failed-tiles", str(job / "failed.txt")))
    finally:
        workers.stop()
    assert done.returncode == 0, done.stderr
    assert re.search(r"done (\d+)/\1 units", done.stderr)
    assert source.count("wms") == single_requests
    assert tiles_of(job) == expected
    assert (job / "failed.txt").read_text() == ""


def test_a_worker_killed_mid_run_loses_nothing(single_run, tmp_path: Path, source, redis_server) -> None:
    expected, _ = single_run
    job = tmp_path / "celery"
    job.mkdir()
    write_job(job, source.url)
    source.delay = 0.05
    # a dead worker's batch goes back to the queue 3 s after it was taken
    workers = Workers(redis_server.url, 2, {"TILEPROXY_CELERY_VISIBILITY_TIMEOUT": "3"})
    try:
        queued = run(seed_cmd(job, redis_server.url, "--detach"))
        assert queued.returncode == 0, queued.stderr
        deadline = time.monotonic() + 120
        while source.count("wms") < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.count("wms") >= 150
        workers.kill(0)
        killed_at = source.count("wms")
        status = run(seed_cmd(job, redis_server.url, "--status", "--progress", "json"))
    finally:
        workers.stop()
    assert status.returncode == 0, status.stderr
    assert '"event": "done"' in status.stderr and killed_at < 684
    assert source.count("wms") < 684 + 64  # at most the killed worker's batch again
    tiles = tiles_of(job)
    assert tiles.keys() == expected.keys()
    for coord, data in tiles.items():
        image = Image.open(io.BytesIO(data))
        image.load()  # whole and decodable
        assert data == expected[coord], coord


def test_status_of_an_unknown_job_and_bad_arguments(tmp_path: Path, source, redis_server) -> None:
    write_job(tmp_path, source.url)
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--celery", redis_server.url, "--status")
    assert status == 2 and "no seed job" in err
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--celery", "amqp://x", "--detach")
    assert status == 2 and "expected a Redis URL" in err
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--celery", redis_server.url,
                              "--shard", "0/2")
    assert status == 2 and "--shard does not go with --celery" in err
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--status")
    assert status == 2 and "--status goes with --celery" in err


def levels_job(directory: Path, source_url: str, levels: int, refresh: bool = False) -> None:
    """The osm cache (256 px, 2x2 meta tiles), one seed task over levels 0..levels-1."""
    task: dict = {"caches": ["osm_cache"], "levels": {"to": levels - 1}}
    if refresh:
        task["refresh_before"] = {"seconds": 0}
    write_configs(directory, source_url, {"seeds": {"s": task}}, base_dir=str(directory / "cache_data"))


def test_failures_budget_continue_and_skip_uncached_on_celery(tmp_path: Path, source, redis_server) -> None:
    levels_job(tmp_path, source.url, 4)  # 22 meta tiles, 85 tiles
    failed = tmp_path / "failed.txt"
    no_retry = ("--max-retries", "0", "--retry-delay", "0")
    workers = Workers(redis_server.url, 1, {})
    try:
        source.reset("error")
        budget = run(seed_cmd(tmp_path, redis_server.url, *no_retry, "--max-failures", "2"))
        assert budget.returncode == 3 and "more than 2 meta tiles failed" in budget.stderr, budget.stderr
        assert source.count("wms") < 22

        source.reset("error")
        broken = run(seed_cmd(tmp_path, redis_server.url, *no_retry, "--max-failures", "-1",
                              "--failed-tiles", str(failed)))
        assert broken.returncode == 1, broken.stderr
        assert source.count("wms") == 22 and len(failed.read_text().splitlines()) == 85
        assert "osm_cache GLOBAL_WEBMERCATOR 0/0/0" in failed.read_text().splitlines()

        source.reset()
        resumed = run(seed_cmd(tmp_path, redis_server.url, "--continue", "--failed-tiles", str(failed)))
        assert resumed.returncode == 0, resumed.stderr
        assert source.count("wms") == 22 and len(cached(tmp_path)) == 85 and failed.read_text() == ""
        source.reset()
        again = run(seed_cmd(tmp_path, redis_server.url, "--continue"))
        assert again.returncode == 0 and source.count("wms") == 0  # every unit finished before

        levels_job(tmp_path, source.url, 5, refresh=True)  # level 4 is not cached
        source.reset()
        refreshed = run(seed_cmd(tmp_path, redis_server.url, "--skip-uncached"))
        assert refreshed.returncode == 0, refreshed.stderr
        assert source.count("wms") == 22 and len(cached(tmp_path)) == 85  # refreshed, none created
    finally:
        workers.stop()


def test_a_worker_that_sees_other_files_stops_the_job_with_a_reason(tmp_path: Path, source, redis_server) -> None:
    levels_job(tmp_path, source.url, 3)
    queued = run(seed_cmd(tmp_path, redis_server.url, "--detach"))
    assert queued.returncode == 0, queued.stderr
    levels_job(tmp_path, source.url, 4)  # seed.yaml changed before any worker ran the job
    workers = Workers(redis_server.url, 1, {})
    try:
        status = run(seed_cmd(tmp_path, redis_server.url, "--status"))
    finally:
        workers.stop()
    assert status.returncode == 3 and "is not what the command enqueued" in status.stderr, status.stderr
    assert source.count("wms") == 0
