"""Meta tile locks in Redis (globals.cache.lock type: redis): one source request
per meta tile across nodes (three gunicorn nodes on one SeaweedFS bucket), locks of a dead node expire, renewal keeps a long
build's lock, and a Redis that is away falls back to file locks."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image
from support.configs import OSM, wms_cache_config, write_config
from support.gunicorn import Gunicorn
from support.servers import free_port
from support.source_server import render_map
from support.wsgi import fetch

from tileproxy.config.build import load_proxy_config
from tileproxy.config.errors import ConfigError
from tileproxy.tilecache.locks import LockTimeout

pytest.importorskip("redis")

from tileproxy.tilecache.redis_locks import RedisLockService  # noqa: E402 (needs redis-py)


def write_node(directory: Path, source_url: str, lock: dict, lock_dir: str, timeout: float = 30,
               backend: dict | None = None) -> Path:
    """mapproxy.yaml of one node: the osm cache (4x4 meta tiles) in ``directory``/cache_data
    (or the ``backend`` cache), its own lock directory (as on its own machine), ``lock`` as
    globals.cache.lock."""
    return write_config(directory / f"mapproxy-{lock_dir}.yaml", wms_cache_config(
        **OSM, meta_size=(4, 4), url=f"{source_url}/wms", cache_options={"cache": backend} if backend else None,
        globals={"http": {"client_timeout": timeout},
                 "cache": {"base_dir": "./cache_data", "tile_lock_dir": f"./{lock_dir}", "lock": lock}}))


# -- configuration -------------------------------------------------------------


def test_lock_config_errors_name_the_key(tmp_path: Path, source) -> None:
    cases = [({"type": "zookeeper"}, "globals.cache.lock.type"),
             ({"type": "redis"}, "globals.cache.lock.url"),
             ({"type": "redis", "url": "http://localhost"}, "globals.cache.lock.url"),
             ({"type": "redis", "url": "redis://localhost", "ttl": 0}, "globals.cache.lock.ttl"),
             ({"url": "redis://localhost"}, "globals.cache.lock.url")]
    for lock, key in cases:
        path = write_node(tmp_path, source.url, lock, "locks")
        with pytest.raises(ConfigError) as err:
            load_proxy_config(path)
        assert key in str(err.value) and "mapproxy-locks.yaml" in str(err.value), (lock, str(err.value))


def test_caches_take_redis_locks(tmp_path: Path, source, redis_server) -> None:
    path = write_node(tmp_path, source.url, {"type": "redis", "url": redis_server.url, "ttl": 5}, "locks")
    manager = load_proxy_config(path).caches["osm_cache"].managers["GLOBAL_WEBMERCATOR"]
    lock = manager.locks.lock(manager.creator.lock_name((0, 0, 2)), 1)
    with lock:
        ttl_ms = int(redis_server.command("PTTL", f"tileproxy:lock:{lock.name}").split(b":")[1])
        assert 0 < ttl_ms <= 5000
    assert redis_server.command("EXISTS", f"tileproxy:lock:{lock.name}") == b":0\r\n"


# -- the lock itself, two services standing for two nodes -------------------------


def test_a_lock_keeps_other_nodes_out_and_is_renewed_while_held(redis_server, tmp_path: Path) -> None:
    node_a = RedisLockService(redis_server.url, ttl=0.6).locks(str(tmp_path / "a"))
    node_b = RedisLockService(redis_server.url, ttl=0.6).locks(str(tmp_path / "b"))
    held = node_a.lock("meta-1", 5)
    held.acquire()
    try:
        # three TTLs later the lock is still held: renewed, not expired
        deadline = time.monotonic() + 1.8
        while time.monotonic() < deadline:
            with pytest.raises(LockTimeout):
                node_b.lock("meta-1", 0.2).acquire()
    finally:
        held.release()
    started = time.monotonic()
    with node_b.lock("meta-1", 5):
        assert time.monotonic() - started < 0.5  # free at once after the release
    # with no lock held, the renewal threads end (a replaced configuration leaves none)
    deadline = time.monotonic() + 5
    while any(t.name == "redis-lock-renewal" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(t.name == "redis-lock-renewal" for t in threading.enumerate())


HOLDER = """
import sys, time
from tileproxy.tilecache.redis_locks import RedisLockService
lock = RedisLockService(sys.argv[1], ttl=1.0).locks(sys.argv[2]).lock("meta-2", 5)
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_the_lock_of_a_killed_holder_expires(redis_server, tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, redis_server.url, str(tmp_path / "a")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        other = RedisLockService(redis_server.url, ttl=1.0).locks(str(tmp_path / "b"))
        with pytest.raises(LockTimeout):  # renewed past its TTL while the holder lives
            other.lock("meta-2", 1.5).acquire()
        holder.kill()
        holder.wait()
        started = time.monotonic()
        with other.lock("meta-2", 5):
            waited = time.monotonic() - started
        assert waited <= 1.5  # at most one TTL after the last renewal
    finally:
        holder.kill()
        holder.communicate()


def test_without_redis_the_lock_falls_back_to_files(tmp_path: Path, caplog) -> None:
    locks = RedisLockService(f"redis://127.0.0.1:{free_port()}/0", ttl=1.0).locks(str(tmp_path / "locks"))
    with locks.lock("meta-3", 2):
        assert (tmp_path / "locks" / "meta-3.lck").exists()
        with pytest.raises(LockTimeout):  # still exclusive within this machine
            locks.lock("meta-3", 0.1).acquire()
    assert "locking with local files" in caplog.text


# -- nodes under gunicorn ---------------------------------------------------------


def expected_tile(manager, coord: tuple[int, int, int]) -> bytes:  # noqa: ANN001
    """The tile's pixels as the source paints them (RGB)."""
    return render_map(manager.grid.tile_bbox(coord), (256, 256), "EPSG:3857").tobytes()


def start_nodes(tmp_path: Path, configs: list[Path], env: dict[str, str] | None = None) -> list[Gunicorn]:
    nodes: list[Gunicorn] = []
    try:
        for conf in configs:
            nodes.append(Gunicorn(tmp_path, {"TILEPROXY_CONFIG": str(conf), **(env or {})}, workers=2,
                                  args=("-k", "gthread", "--threads", "4")))
            assert nodes[-1].base, "".join(nodes[-1].log)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def test_three_nodes_150_clients_one_meta_tile_one_source_request(tmp_path: Path, source, redis_server,
                                                                   s3_server, monkeypatch) -> None:
    lock = {"type": "redis", "url": redis_server.url, "ttl": 10}
    for name, value in s3_server.credentials_env().items():
        monkeypatch.setenv(name, value)
    backend = {"type": "s3", "bucket_name": s3_server.new_bucket(), "endpoint_url": s3_server.endpoint_url}
    # one SeaweedFS bucket and one Redis lock; each node its own lock directory (as on its own machine)
    configs = [write_node(tmp_path, source.url, lock, f"locks-{i}", backend=backend) for i in range(3)]
    manager = load_proxy_config(configs[0]).caches["osm_cache"].managers["GLOBAL_WEBMERCATOR"]
    nodes = start_nodes(tmp_path, configs, s3_server.credentials_env())
    try:
        for node in nodes:  # every node answers (workers booted) before the burst
            assert fetch(f"{node.base}/tms/1.0.0/", timeout=60).status == 200
        source.delay = 0.5
        coords = [(x, y, 4) for x in range(4, 8) for y in range(4, 8)]  # one 4x4 meta tile
        asks = [(nodes[i % 3].base, coords[i % 16]) for i in range(150)]
        barrier = threading.Barrier(150)

        def ask(job: tuple[str, tuple[int, int, int]]) -> tuple[tuple[int, int, int], int, bytes]:
            base, (x, y, z) = job
            barrier.wait()
            resp = fetch(f"{base}/tiles/osm/EPSG3857/{z}/{x}/{y}.png", timeout=60)
            return (x, y, z), resp.status, resp.body

        with ThreadPoolExecutor(150) as pool:
            answers = list(pool.map(ask, asks))
    finally:
        for node in nodes:
            node.stop()
    assert source.count("wms") == 1
    assert [status for _, status, _ in answers] == [200] * 150
    for coord, _, body in answers:
        assert Image.open(io.BytesIO(body)).convert("RGB").tobytes() == expected_tile(manager, coord), coord
    assert all(manager.store.is_cached(c) for c in coords)  # and the bucket holds the meta tile's tiles


def test_a_node_killed_while_holding_a_lock_delays_the_others_by_its_ttl(tmp_path: Path, source,
                                                                          redis_server) -> None:
    lock = {"type": "redis", "url": redis_server.url, "ttl": 2}
    configs = [write_node(tmp_path, source.url, lock, f"locks-{i}") for i in range(2)]
    manager = load_proxy_config(configs[0]).caches["osm_cache"].managers["GLOBAL_WEBMERCATOR"]
    key = f"tileproxy:lock:{manager.creator.lock_name((4, 4, 4))}"
    doomed, survivor = start_nodes(tmp_path, configs)
    try:
        source.reset("hang")
        source.hang_seconds = 30
        def ask_the_doomed_node() -> None:
            with contextlib.suppress(OSError):  # the node is killed before it answers
                fetch(f"{doomed.base}/tiles/osm/EPSG3857/4/5/5.png", timeout=60)

        stuck = threading.Thread(target=ask_the_doomed_node)
        stuck.start()
        deadline = time.monotonic() + 30
        while source.count("wms") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert source.count("wms") == 1 and redis_server.command("EXISTS", key) == b":1\r\n"
        doomed.kill()
        source.release()
        stuck.join()
        source.reset()
        started = time.monotonic()
        resp = fetch(f"{survivor.base}/tiles/osm/EPSG3857/4/6/6.png", timeout=60)
        waited = time.monotonic() - started
    finally:
        source.hang_seconds = 10.0
        doomed.stop()
        survivor.stop()
    assert resp.status == 200 and source.count("wms") == 1
    assert Image.open(io.BytesIO(resp.body)).convert("RGB").tobytes() == expected_tile(manager, (6, 6, 4))
    assert waited < 10  # the dead node's lock expired (ttl 2 s), not the 30 s lock timeout
