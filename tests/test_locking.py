"""Tile locks: one source request per meta tile under concurrency, bounded waits,
lock files where the configuration puts them."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time

from support.configs import wms_cache_config
from support.wsgi import call, fetch


def config(timeout: float = 10, cache_options: dict | None = None, cache_globals: dict | None = None) -> dict:
    """Layer ``map`` over ``map_cache`` (2x2 meta tiles) over the WMS ``map_wms``,
    two requests at a time; ``cache_globals`` are more keys of globals.cache."""
    return wms_cache_config(
        layer_name="map", title="Map", cache_name="map_cache", source_name="map_wms", meta_size=(2, 2),
        cache_options=cache_options, source_options={"concurrent_requests": 2},
        globals={"http": {"client_timeout": timeout},
                 "cache": {"base_dir": "./cache_data", "lock_dir": "./source_locks", **(cache_globals or {})}},
    )


def get_all(urls: list[str]) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def get(url: str) -> None:
        status = fetch(url, timeout=30).status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=get, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_concurrent_requests_for_one_meta_tile_make_one_source_request(make_app, source, serve, tmp_path) -> None:
    app = make_app(config())
    base = serve(app)
    source.delay = 0.4
    # 8 clients, 4 tiles of the same 2x2 meta tile, each tile twice
    urls = [f"{base}/tiles/map/EPSG3857/3/{x}/{y}.png?origin=nw" for x in (2, 3) for y in (2, 3)] * 2
    assert get_all(urls) == [200] * 8
    assert source.count("wms") == 1
    assert len(list((tmp_path / "cache_data").rglob("*.png"))) == 4


def test_lock_files_in_tile_lock_dir(make_app, source, tmp_path) -> None:
    app = make_app(config(cache_options={"cache": {"tile_lock_dir": "./my_tile_locks"}}))
    manager = app.config.caches["map_cache"].managers["GLOBAL_WEBMERCATOR"]
    source.reset("hang")
    done = threading.Event()
    result = {}

    def run() -> None:
        result["answer"] = call(app, "/tiles/map/EPSG3857/3/3/3.png?origin=nw")
        done.set()

    threading.Thread(target=run, daemon=True).start()
    lock_dir = tmp_path / "my_tile_locks"
    cache_dir = str(tmp_path / "cache_data" / "map_cache_EPSG3857")
    expected = lock_dir / f"{hashlib.md5(cache_dir.encode()).hexdigest()}-2-2-3.lck"
    semaphore_dir = tmp_path / "source_locks"
    deadline = time.monotonic() + 20  # leaves as soon as both exist
    # The semaphore directory appears a moment before its lock file: wait for the file.
    while time.monotonic() < deadline:
        if expected.exists() and semaphore_dir.exists() and os.listdir(semaphore_dir):
            break
        time.sleep(0.01)
    assert expected.exists(), sorted(os.listdir(lock_dir)) if lock_dir.exists() else "no lock dir"
    assert manager.creator.lock_path((2, 2, 3)) == str(expected)
    netloc = source.url.removeprefix("http://")
    assert sorted(os.listdir(semaphore_dir))[0].startswith(hashlib.md5(netloc.encode()).hexdigest() + "-")
    source.release()
    assert done.wait(15)
    assert result["answer"].status == 500  # the released hang answers HTTP 500
    assert not expected.exists()  # released and removed


def test_default_tile_lock_dir_is_under_the_cache_base_dir(make_app, source, tmp_path) -> None:
    app = make_app(config())
    manager = app.config.caches["map_cache"].managers["GLOBAL_WEBMERCATOR"]
    assert os.path.dirname(manager.creator.lock_path((0, 0, 1))) == str(tmp_path / "cache_data" / "tile_locks")
    text = config(cache_globals={"tile_lock_dir": "./global_tile_locks"})
    manager = make_app(text).config.caches["map_cache"].managers["GLOBAL_WEBMERCATOR"]
    assert os.path.dirname(manager.creator.lock_path((0, 0, 1))) == str(tmp_path / "global_tile_locks")


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_lock_held_by_another_process_gives_503_after_the_timeout(make_app, source, tmp_path) -> None:
    app = make_app(config(timeout=0.5))
    manager = app.config.caches["map_cache"].managers["GLOBAL_WEBMERCATOR"]
    lock_path = manager.creator.lock_path((2, 2, 3))
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, lock_path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        answer = call(app, "/tiles/map/EPSG3857/3/3/3.png?origin=nw")
        elapsed = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert answer.status == 503
    assert "timed out" in answer.text
    assert 0.4 < elapsed < 3
    assert source.count("wms") == 0
    assert not list((tmp_path / "cache_data").rglob("*.png"))
    # once the other process is gone, the tile is created
    assert call(app, "/tiles/map/EPSG3857/3/3/3.png?origin=nw").status == 200
    assert source.count("wms") == 1


def test_many_clients_many_meta_tiles_each_meta_tile_once(make_app, source, serve, tmp_path) -> None:
    app = make_app(config())
    base = serve(app)
    source.delay = 0.1
    # 4 meta tiles of 2x2 at z=3, every tile asked for twice, 32 clients at once
    urls = [f"{base}/tiles/map/EPSG3857/3/{x}/{y}.png?origin=nw" for x in range(4) for y in range(4)] * 2
    assert get_all(urls) == [200] * 32
    assert source.count("wms") == 4
    assert source.max_in_flight <= 2  # the source's concurrent_requests
    assert len(list((tmp_path / "cache_data").rglob("*.png"))) == 16


def test_lock_file_left_by_a_crashed_process_does_not_block(make_app, source) -> None:
    app = make_app(config(timeout=5))
    manager = app.config.caches["map_cache"].managers["GLOBAL_WEBMERCATOR"]
    lock_path = manager.creator.lock_path((2, 2, 3))
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "w") as f:  # the file exists, but nobody holds the lock
        f.write("12345\n")
    start = time.monotonic()
    assert call(app, "/tiles/map/EPSG3857/3/3/3.png?origin=nw").status == 200
    assert time.monotonic() - start < 2
    assert not os.path.exists(lock_path)
