"""SQLite caches keep a bounded pool of connections per file, shared by all threads:
short-lived threads (tile creators, gthread workers) leave no connection behind,
and the open file handles stay flat however many requests come."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from pathlib import Path

import pytest
from support.configs import write_debug_config
from support.wsgi import call

from tileproxy import make_wsgi_app
from tileproxy.stores.sqlite_pool import DEFAULT_SIZE, ConnectionPool, PoolTimeout

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts handles in /proc/self/fd")


BACKENDS = {"mbtiles": "type: mbtiles", "sqlite": "type: sqlite", "geopackage": "type: geopackage"}


def open_handles(under: Path) -> tuple[int, int]:
    """(all open file descriptors of this process, those on files below ``under``)."""
    total = mine = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        total += 1
        mine += target.startswith(str(under))
    return total, mine


def _urls(rnd: random.Random, n: int) -> list[str]:
    """Mostly cached tiles, some new ones, some WMS maps drawn from tiles."""
    urls = []
    for _ in range(n):
        pick = rnd.random()
        if pick < 0.9:
            urls.append(f"/tiles/c/GLOBAL_WEBMERCATOR/3/{rnd.randrange(8)}/{rnd.randrange(8)}.png?origin=nw")
        elif pick < 0.97:
            urls.append(f"/tiles/c/GLOBAL_WEBMERCATOR/5/{rnd.randrange(32)}/{rnd.randrange(32)}.png?origin=nw")
        else:
            urls.append("/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=c&STYLES=&SRS=EPSG:3857"
                        "&BBOX=-20037508.34,0,0,20037508.34&WIDTH=256&HEIGHT=256&FORMAT=image/png")
    return urls


def run_threads(app, rounds: int, threads: int, per_thread: int, seed: int) -> list[int]:
    """``rounds`` times, ``threads`` new threads each make ``per_thread`` requests and end."""
    statuses: list[int] = []
    rnd = random.Random(seed)
    for _ in range(rounds):
        work = [_urls(rnd, per_thread) for _ in range(threads)]

        def client(urls: list[str]) -> None:
            got = [call(app, u).status for u in urls]
            statuses.extend(got)

        pool = [threading.Thread(target=client, args=(w,)) for w in work]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    return statuses


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_handles_stay_flat_under_short_lived_threads(tmp_path, backend):
    write_debug_config(tmp_path, BACKENDS[backend])
    app = make_wsgi_app(tmp_path / "mapproxy.yaml")
    cache = tmp_path / "cache"
    # warm up: every level file exists and the pool has been as busy as it gets
    warm = run_threads(app, rounds=3, threads=2 * DEFAULT_SIZE, per_thread=20, seed=1)
    assert set(warm) == {200}
    before, before_db = open_handles(cache)
    statuses = run_threads(app, rounds=150, threads=8, per_thread=10, seed=2)
    after, after_db = open_handles(cache)
    assert len(statuses) == 12_000 and set(statuses) == {200}
    # nothing else is left open, and the cache files have at most a full pool each:
    # a connection holds the database and its -wal file, the -shm is one per process
    assert after - after_db <= before - before_db, (before, after, before_db, after_db)
    files = len([f for f in cache.rglob("*") if f.suffix in (".mbtiles", ".gpkg")])
    assert after_db <= files * (2 * DEFAULT_SIZE + 1), (files, after_db)


def test_the_pool_bounds_connections_and_waits_for_one(tmp_path):
    path = tmp_path / "t.db"
    pool = ConnectionPool(size=2)

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(path, check_same_thread=False)

    a, gen = pool.take(connect, timeout=1)
    b, _ = pool.take(connect, timeout=1)
    with pytest.raises(PoolTimeout):
        pool.take(connect, timeout=0.05)
    got = []
    waiter = threading.Thread(target=lambda: got.append(pool.take(connect, timeout=30)[0]))
    waiter.start()
    pool.give(a, gen)
    waiter.join()
    assert got == [a] and pool.open_count == 2  # reused, not opened anew
    # a connection left inside a transaction is rolled back before anyone else gets it
    b.execute("CREATE TABLE t (x)")
    b.execute("BEGIN")
    b.execute("INSERT INTO t VALUES (1)")
    pool.give(b, gen)
    again, _ = pool.take(connect, timeout=1)
    assert again is b and not b.in_transaction and b.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    pool.discard(again, gen)
    assert pool.open_count == 1


def _count_in_child(pool: ConnectionPool, path: str, out) -> None:
    conn, _ = pool.take(lambda: sqlite3.connect(path, check_same_thread=False), timeout=1)
    out.put((pool.open_count, conn.execute("SELECT 1").fetchone()[0]))


def test_a_forked_child_opens_its_own_connections(tmp_path):
    import multiprocessing

    path = str(tmp_path / "t.db")
    pool = ConnectionPool(size=1)
    conn, gen = pool.take(lambda: sqlite3.connect(path, check_same_thread=False), timeout=1)
    pool.give(conn, gen)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_count_in_child, args=(pool, path, out))
    child.start()
    # the parent's idle connection was not handed out in the child; the child opened its own
    assert out.get(timeout=60) == (1, 1)
    child.join(timeout=30)
    assert pool.take(lambda: None, timeout=1)[0] is conn
