"""Damaged caches: a clear error or a cache miss (the tile is fetched again),
never a crash, and the damaged file is left exactly as it was."""

from __future__ import annotations

import os
import sqlite3
import struct

import pytest
from support.stores import make_store, store_config, tile_png
from support.wsgi import call

from tileproxy import make_wsgi_app
from tileproxy.image.codec import check_image_bytes
from tileproxy.stores.base import StoreError, Tile

SQLITE_FILES = {"mbtiles": "c.mbtiles", "geopackage": "c.gpkg"}


@pytest.mark.parametrize("kind", list(SQLITE_FILES))
def test_file_that_is_not_a_database(kind, tmp_path):
    path = tmp_path / SQLITE_FILES[kind]
    garbage = b"this is not a database" * 100
    path.write_bytes(garbage)
    store = make_store(kind, str(tmp_path))
    assert not store.load(Tile((0, 0, 1)))
    assert not store.is_cached((0, 0, 1))
    with pytest.raises(StoreError, match=SQLITE_FILES[kind]):
        store.store(Tile((0, 0, 1), data=tile_png((0, 0, 1))))
    assert path.read_bytes() == garbage


def _truncated_mbtiles(tmp_path) -> bytes:
    store = make_store("mbtiles", str(tmp_path))
    store.store_many([Tile((x, y, 8), data=tile_png((x, y, 8), 64)) for x in range(30) for y in range(30)])
    store.db(0).close()
    conn = sqlite3.connect(tmp_path / "c.mbtiles")
    conn.execute("PRAGMA journal_mode=DELETE")  # folds the WAL into the file
    conn.close()
    path = tmp_path / "c.mbtiles"
    data = path.read_bytes()[: os.path.getsize(tmp_path / "c.mbtiles") // 2]
    path.write_bytes(data)
    return data


def test_truncated_mbtiles_reads_as_misses_and_refuses_writes(tmp_path):
    damaged = _truncated_mbtiles(tmp_path)
    store = make_store("mbtiles", str(tmp_path))
    for x in range(0, 30, 7):
        t = Tile((x, x, 8))
        assert not store.load(t) or t.data == tile_png((x, x, 8), 64)
    with pytest.raises(StoreError, match="malformed"):
        store.store(Tile((99, 99, 8), data=tile_png((99, 99, 8))))
    assert (tmp_path / "c.mbtiles").read_bytes() == damaged


def test_truncated_mbtiles_through_the_app(tmp_path, caplog):
    os.makedirs(tmp_path / "cache")
    damaged = _truncated_mbtiles(tmp_path / "cache")
    app = make_wsgi_app(store_config(tmp_path, "type: mbtiles"))
    resp = call(app, "/tiles/c/GLOBAL_WEBMERCATOR/3/1/2.png?origin=nw")
    assert resp.status == 200
    check_image_bytes(resp.body)
    assert (tmp_path / "cache" / "c.mbtiles").read_bytes() == damaged
    assert any("not stored" in r.getMessage() and "c.mbtiles" in r.getMessage() for r in caplog.records)


def test_blob_that_is_not_an_image_is_fetched_again_through_the_app(tmp_path):
    app = make_wsgi_app(store_config(tmp_path, "type: mbtiles"))
    url = "/tiles/c/GLOBAL_WEBMERCATOR/2/1/1.png?origin=nw"
    good = call(app, url).body
    conn = sqlite3.connect(tmp_path / "cache" / "c.mbtiles")
    conn.execute("UPDATE tiles SET tile_data = ? WHERE zoom_level=2 AND tile_column=1 AND tile_row=1", (b"<html>error</html>",))
    conn.commit()
    conn.close()
    again = call(app, url)
    assert again.status == 200 and again.body == good
    row = sqlite3.connect(tmp_path / "cache" / "c.mbtiles").execute(
        "SELECT tile_data FROM tiles WHERE zoom_level=2 AND tile_column=1 AND tile_row=1").fetchone()
    assert row[0] == good  # repaired


def _bundle(tmp_path, z: int = 3) -> str:
    return str(tmp_path / "c" / "GLOBAL_WEBMERCATOR" / f"L{z:02d}" / "R0000C0000.bundle")


def test_compact_v2_index_pointing_past_the_end(tmp_path):
    store = make_store("compact-v2", str(tmp_path))
    store.store_many([Tile((1, 1, 3), data=tile_png((1, 1, 3))), Tile((2, 1, 3), data=tile_png((2, 1, 3)))])
    path = _bundle(tmp_path)
    pos = 64 + (1 + 128 * 1) * 8
    with open(path, "r+b") as f:
        f.seek(pos)
        f.write(struct.pack("<Q", 500 << 40 | 10_000_000))
    assert not store.load(Tile((1, 1, 3)))
    assert store.load(Tile((2, 1, 3)))  # the rest of the bundle still serves
    store.store(Tile((1, 1, 3), data=tile_png((1, 1, 3))))  # appending repairs the entry
    t = Tile((1, 1, 3))
    assert store.load(t) and t.data == tile_png((1, 1, 3))


def test_compact_v2_entry_size_mismatch(tmp_path):
    store = make_store("compact-v2", str(tmp_path))
    store.store(Tile((1, 1, 3), data=tile_png((1, 1, 3))))
    path = _bundle(tmp_path)
    pos = 64 + (1 + 128 * 1) * 8
    with open(path, "r+b") as f:
        f.seek(pos)
        value = struct.unpack("<Q", f.read(8))[0]
        f.seek(pos)
        f.write(struct.pack("<Q", value + (3 << 40)))
    assert not store.load(Tile((1, 1, 3)))


@pytest.mark.parametrize("kind", ["compact-v1", "compact-v2"])
def test_cut_off_bundle_is_a_miss_and_not_written(kind, tmp_path):
    store = make_store(kind, str(tmp_path))
    store.store(Tile((1, 1, 3), data=tile_png((1, 1, 3))))
    path = _bundle(tmp_path)
    with open(path, "r+b") as f:
        f.truncate(1000)
    damaged = open(path, "rb").read()
    assert not store.load(Tile((1, 1, 3)))
    with pytest.raises(StoreError, match="damaged"):
        store.store(Tile((2, 2, 3), data=tile_png((2, 2, 3))))
    assert open(path, "rb").read() == damaged


def test_compact_v1_index_garbage(tmp_path):
    store = make_store("compact-v1", str(tmp_path))
    store.store(Tile((1, 1, 3), data=tile_png((1, 1, 3))))
    index = _bundle(tmp_path)[:-7] + ".bundlx"
    with open(index, "r+b") as f:
        f.seek(16 + (1 * 128 + 1) * 5)
        f.write((2**39).to_bytes(5, "little"))
    assert not store.load(Tile((1, 1, 3)))
    store.store(Tile((1, 1, 3), data=tile_png((1, 1, 3))))
    assert store.load(Tile((1, 1, 3)))
