"""Several processes write and read one cache at the same time (as gunicorn
workers do); afterwards every tile must be there and whole, and no process
may have seen a half-written tile or a "database is locked" error."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3

import pytest
from support.stores import make_store, store_config, tile_png

from tileproxy.stores.base import Tile

WORKERS = 4
LEVEL = 8
# overlapping work: every tile is written by two workers, in meta-tile batches of 4
COORDS = [(x, y, LEVEL) for x in range(120, 140) for y in range(0, 12)]


def _work(kind: str, base: str, seed: int, out) -> None:
    try:
        store = make_store(kind, base)
        rnd = random.Random(seed)
        mine = [c for i, c in enumerate(COORDS) if i % WORKERS in (seed, (seed + 1) % WORKERS)]
        rnd.shuffle(mine)
        bad = 0
        for i in range(0, len(mine), 4):
            batch = mine[i:i + 4]
            store.store_many([Tile(c, data=tile_png(c)) for c in batch])
            for c in rnd.sample(COORDS, 6):
                t = Tile(c)
                if store.load(t) and t.data != tile_png(c):
                    bad += 1
        out.put((seed, bad, None))
    except Exception as ex:  # reported to the parent, which fails the test
        out.put((seed, -1, f"{type(ex).__name__}: {ex}"))


@pytest.mark.parametrize("kind", ["mbtiles", "sqlite", "geopackage", "compact-v1", "compact-v2"])
@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_processes_write_and_read_at_once(kind, start, tmp_path):
    base = str(tmp_path)
    parent = make_store(kind, base)
    # the parent holds an open connection before forking, as a preloading gunicorn master would
    parent.store(Tile((0, 0, 0), data=tile_png((0, 0, 0))))
    assert parent.load(Tile((0, 0, 0)))
    ctx = multiprocessing.get_context(start)
    out = ctx.Queue()
    procs = [ctx.Process(target=_work, args=(kind, base, i, out)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(err is None for _, _, err in results), results
    assert all(bad == 0 for _, bad, _ in results), results
    check = make_store(kind, base)
    for c in COORDS + [(0, 0, 0)]:
        t = Tile(c)
        assert check.load(t), c
        assert t.data == tile_png(c), c
    # the parent's connection still works after its children wrote
    assert parent.load(Tile(COORDS[0]))
    if kind in ("mbtiles", "geopackage"):
        name = "c.mbtiles" if kind == "mbtiles" else "c.gpkg"
        conn = sqlite3.connect(tmp_path / name)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        table = "tiles" if kind == "mbtiles" else "c_GLOBAL_WEBMERCATOR"
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == len(COORDS) + 1


def _serve_requests(config: str, seed: int, out) -> None:
    try:
        from support.wsgi import call

        from tileproxy import make_wsgi_app

        app = make_wsgi_app(config)
        rnd = random.Random(seed)
        urls = [f"/tiles/c/GLOBAL_WEBMERCATOR/4/{x}/{y}.png?origin=nw" for x in range(8) for y in range(4)]
        rnd.shuffle(urls)
        statuses = [call(app, u).status for u in urls]
        out.put((seed, statuses, None))
    except Exception as ex:  # reported to the parent
        out.put((seed, [], f"{type(ex).__name__}: {ex}"))


@pytest.mark.parametrize("backend", ["type: mbtiles", "type: geopackage", "type: compact\nversion: 2"])
def test_app_workers_fill_one_cache(backend, tmp_path):
    """Four app processes (as gunicorn workers) ask for the same tiles at once: every
    answer is 200 and the cache ends up with each tile once, as the source drew it."""
    from tileproxy.config.build import load_proxy_config

    config = store_config(tmp_path, backend)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_serve_requests, args=(config, i, out)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(err is None and set(statuses) == {200} for _, statuses, err in results), results
    store = load_proxy_config(config).caches["c"].managers["GLOBAL_WEBMERCATOR"].store
    from tileproxy.image.codec import check_image_bytes

    stored = 0
    for x in range(8):
        for y in range(4):
            t = Tile((x, y, 4))
            assert store.load(t), (x, y)
            check_image_bytes(t.data)
            stored += 4 + len(t.data)
    if "compact" in backend:
        # append-only: a tile drawn twice would leave a second record behind
        bundle = tmp_path / "cache" / "c" / "GLOBAL_WEBMERCATOR" / "L04" / "R0000C0000.bundle"
        assert bundle.stat().st_size == 64 + 16384 * 8 + stored
