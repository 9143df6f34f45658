"""Every backend through the store API: round trips, bulk forms, removal,
timestamps, unusable blobs, read-only stores and cache coverages."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
import zlib

import pytest
from support.stores import BACKENDS, make_store, tile_png

from tileproxy.coverage import bbox_coverage
from tileproxy.grid import predefined_grid
from tileproxy.stores.base import StoreError, Tile
from tileproxy.stores.covered import CoveredStore

COORDS = [(0, 0, 0), (1, 2, 2), (3, 3, 2), (5, 9, 4), (130, 140, 8), (127, 0, 8), (0, 127, 8), (255, 255, 8)]


@pytest.mark.parametrize("kind", BACKENDS)
def test_round_trip(kind, tmp_path):
    store = make_store(kind, str(tmp_path))
    assert not store.load(Tile((1, 2, 2)))
    assert not store.is_cached((1, 2, 2))
    store.store_many([Tile(c, data=tile_png(c), timestamp=time.time()) for c in COORDS])
    # a fresh store object (as another worker would open it) sees every tile
    other = make_store(kind, str(tmp_path))
    for c in COORDS:
        t = Tile(c)
        assert other.load(t), c
        assert t.data == tile_png(c)
        assert other.is_cached(c)
    assert [t.coord for t in other.load_many([Tile(c) for c in COORDS[:3]] + [Tile((7, 7, 3))])] == COORDS[:3]
    assert not other.is_cached((7, 7, 3))


def _png_of_size(size: int) -> bytes:
    """A valid PNG of exactly ``size`` bytes: a tile with a text chunk before IEND."""
    png = tile_png((0, 0, 0))
    text = b"pad\x00" + b"x" * (size - len(png) - 16)
    chunk = len(text).to_bytes(4, "big") + b"tEXt" + text + zlib.crc32(b"tEXt" + text).to_bytes(4, "big")
    return png[:-12] + chunk + png[-12:]


@pytest.mark.parametrize("kind", BACKENDS)
def test_tiles_of_every_size_come_back_whole(kind, tmp_path):
    """Sizes around the compact v1 reader's first read (16 KiB with the 4-byte prefix)."""
    store = make_store(kind, str(tmp_path))
    tiles = [Tile((0, 0, 3), data=tile_png((0, 0, 3)))]
    tiles += [Tile((i + 1, 0, 3), data=_png_of_size(n)) for i, n in enumerate([16_379, 16_380, 16_381, 200_000])]
    assert [len(t.data) for t in tiles[1:]] == [16_379, 16_380, 16_381, 200_000]
    store.store_many(tiles)
    other = make_store(kind, str(tmp_path))
    for tile in tiles:
        again = Tile(tile.coord)
        assert other.load(again) and again.data == tile.data, len(tile.data)


@pytest.mark.parametrize("kind", BACKENDS)
def test_replace_and_remove(kind, tmp_path):
    store = make_store(kind, str(tmp_path))
    c = (3, 4, 5)
    store.store(Tile(c, data=tile_png((9, 9, 9))))
    store.store(Tile(c, data=tile_png(c)))
    t = Tile(c)
    assert store.load(t) and t.data == tile_png(c)
    store.store_many([Tile((4, 4, 5), data=tile_png((4, 4, 5)))])
    store.remove(c)
    assert not store.is_cached(c)
    assert not store.load(Tile(c))
    assert store.is_cached((4, 4, 5))
    store.remove_many([(4, 4, 5), (6, 6, 5)])  # removing what is not there is fine
    assert not store.is_cached((4, 4, 5))


@pytest.mark.parametrize("kind", ["sqlite", "mbtiles-ts"])
def test_timestamps_kept(kind, tmp_path):
    store = make_store(kind, str(tmp_path))
    assert store.supports_timestamps
    then = time.time() - 7200
    store.store(Tile((1, 1, 3), data=tile_png((1, 1, 3)), timestamp=then))
    assert store.timestamp((1, 1, 3)) == pytest.approx(then, abs=1.0)
    t = Tile((1, 1, 3))
    assert store.load(t) and t.timestamp == pytest.approx(then, abs=1.0)
    assert store.timestamp((2, 2, 3)) is None


@pytest.mark.parametrize("kind", ["mbtiles", "geopackage", "compact-v1", "compact-v2"])
def test_no_timestamps_by_default(kind, tmp_path):
    store = make_store(kind, str(tmp_path))
    assert not store.supports_timestamps
    store.store(Tile((1, 1, 3), data=tile_png((1, 1, 3)), timestamp=time.time()))
    assert store.timestamp((1, 1, 3)) is None
    assert store.is_cached((1, 1, 3))


def test_mbtiles_timestamps_column_found_in_existing_file(tmp_path):
    make_store("mbtiles-ts", str(tmp_path)).store(Tile((0, 0, 1), data=tile_png((0, 0, 1)), timestamp=1.7e9))
    plain = make_store("mbtiles", str(tmp_path))  # not configured, but the file has the column
    assert plain.supports_timestamps
    assert plain.timestamp((0, 0, 1)) == pytest.approx(1.7e9, abs=1.0)


def test_sqlite_ttl_expires_tiles(tmp_path):
    from tileproxy.stores.sqlite_tiles import SQLiteLevelStore

    store = SQLiteLevelStore(str(tmp_path / "lv"), ttl=60)
    store.store(Tile((0, 0, 1), data=tile_png((0, 0, 1)), timestamp=time.time() - 3600))
    store.store(Tile((1, 0, 1), data=tile_png((1, 0, 1)), timestamp=time.time()))
    assert not store.load(Tile((0, 0, 1)))
    assert store.load(Tile((1, 0, 1)))


@pytest.mark.parametrize("kind", BACKENDS)
def test_blob_that_is_not_an_image_is_a_miss(kind, tmp_path):
    store = make_store(kind, str(tmp_path))
    store.store(Tile((2, 2, 3), data=b"<html>proxy error</html>"))
    store.store(Tile((3, 2, 3), data=tile_png((3, 2, 3))[:-20]))  # cut off
    assert not store.load(Tile((2, 2, 3)))
    assert not store.load(Tile((3, 2, 3)))
    # storing a good tile over it repairs it
    store.store(Tile((2, 2, 3), data=tile_png((2, 2, 3))))
    t = Tile((2, 2, 3))
    assert store.load(t) and t.data == tile_png((2, 2, 3))


@pytest.mark.parametrize("kind", BACKENDS)
def test_readonly_store_reads_and_never_writes(kind, tmp_path):
    make_store(kind, str(tmp_path)).store(Tile((1, 1, 2), data=tile_png((1, 1, 2))))
    before = sorted(os.path.relpath(os.path.join(d, n), tmp_path) for d, _, ns in os.walk(tmp_path) for n in ns)
    ro = make_store(kind, str(tmp_path), readonly=True)
    t = Tile((1, 1, 2))
    assert ro.load(t) and t.data == tile_png((1, 1, 2))
    assert not ro.load(Tile((0, 0, 2)))
    with pytest.raises(StoreError):
        ro.store(Tile((0, 0, 2), data=tile_png((0, 0, 2))))
    after = sorted(os.path.relpath(os.path.join(d, n), tmp_path) for d, _, ns in os.walk(tmp_path) for n in ns)
    assert [p for p in after if not p.endswith(("-wal", "-shm"))] == [p for p in before if not p.endswith(("-wal", "-shm"))]


@pytest.mark.parametrize("kind", BACKENDS)
def test_reading_a_missing_cache_creates_nothing(kind, tmp_path):
    store = make_store(kind, str(tmp_path))
    assert not store.load(Tile((0, 0, 0)))
    assert not store.is_cached((0, 0, 0))
    assert os.listdir(tmp_path) == []


def _as_unprivileged(func, *args) -> None:
    """Run ``func`` where file permissions apply: in a child as 'nobody' when we are root."""
    if os.geteuid() != 0:
        func(*args)
        return
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()

    def child():
        try:
            os.setgid(65534)
            os.setuid(65534)
            func(*args)
            out.put(None)
        except BaseException as ex:  # reported to the parent
            import traceback

            out.put("".join(traceback.format_exception(ex)))

    proc = ctx.Process(target=child)
    proc.start()
    result = out.get(timeout=60)
    proc.join(timeout=10)
    assert result is None, result


def _check_readonly_files(kind: str, base: str) -> None:
    reader = make_store(kind, base)
    t = Tile((1, 1, 2))
    assert reader.load(t) and t.data == tile_png((1, 1, 2))
    assert not reader.load(Tile((0, 0, 2)))
    with pytest.raises(StoreError):
        reader.store_many([Tile((0, 0, 2), data=tile_png((0, 0, 2)))])
    with pytest.raises(StoreError):
        reader.store(Tile((0, 0, 5), data=tile_png((0, 0, 5))))  # a new level file or bundle


@pytest.mark.parametrize("kind", BACKENDS)
def test_read_only_files_are_served_and_writes_fail_loudly(kind):
    """A cache on a read-only disk (files 0444, directories 0555): served, never written,
    writes raise StoreError. (As root, checked in a child that runs as 'nobody'.)"""
    base = tempfile.mkdtemp(prefix="tileproxy-ro-")
    try:
        store = make_store(kind, base)
        store.store(Tile((1, 1, 2), data=tile_png((1, 1, 2))))
        for db in getattr(store, "dbs", lambda: [])():
            db.close()
        snapshot = _snapshot(base)
        for d, _dirs, files in os.walk(base):
            for n in files:
                os.chmod(os.path.join(d, n), 0o444)
        for d, _, _ in os.walk(base):
            os.chmod(d, 0o555)
        _as_unprivileged(_check_readonly_files, kind, base)
        assert _snapshot(base) == snapshot
    finally:
        for d, _, _ in os.walk(base):
            os.chmod(d, 0o755)
        shutil.rmtree(base)


def _snapshot(base: str) -> dict[str, bytes]:
    result = {}
    for d, _, files in os.walk(base):
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                result[os.path.relpath(os.path.join(d, n), base)] = f.read()
    return result


@pytest.mark.parametrize("kind", ["mbtiles", "compact-v2"])
def test_covered_store_keeps_only_tiles_inside(kind, tmp_path):
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    cov = bbox_coverage((0, 0, 20, 20), "EPSG:4326")  # north-east of 0/0: tile x>=2, y<=1 at z=2
    store = CoveredStore(make_store(kind, str(tmp_path)), cov, grid)
    inside, outside = (2, 1, 2), (0, 3, 2)
    assert store.covers(inside) and not store.covers(outside)
    store.store_many([Tile(inside, data=tile_png(inside)), Tile(outside, data=tile_png(outside))])
    raw = make_store(kind, str(tmp_path))
    assert raw.is_cached(inside) and not raw.is_cached(outside)
    raw.store(Tile(outside, data=tile_png(outside)))
    assert not store.load(Tile(outside))  # never served, even when the file has it
    assert store.load(Tile(inside))


@pytest.mark.parametrize("kind", BACKENDS)
def test_store_protocol_answers_for_wrapped_stores(kind, tmp_path):
    """A covered store answers the protocol for its backend: where it writes, its
    locks, its configured coverage; ``inner`` is the backend itself, and attributes
    the protocol does not declare are not passed through."""
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    raw = make_store(kind, str(tmp_path))
    assert raw.inner is raw and raw.coverage is None
    assert raw.write_dir() is not None and str(tmp_path) in raw.write_dir()
    cov = bbox_coverage((0, 0, 20, 20), "EPSG:4326")
    store = CoveredStore(raw, cov, grid)
    assert store.inner is raw and store.coverage is cov
    assert store.write_dir() == raw.write_dir() and store.lock_id == raw.lock_id
    assert store.for_dimensions(()) is None or store.for_dimensions(()).coverage is cov
    with pytest.raises(AttributeError):
        store.check_images  # noqa: B018


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_compact_v2_keeps_bundles_open_and_notices_replacement_and_removal(tmp_path):
    """Read descriptors stay open between reads, see appended tiles, are opened anew
    after a defragmentation replaced the bundle or a cleanup removed it, and stay
    within their limit."""
    store = make_store("compact-v2", str(tmp_path))
    coord = (1, 2, 4)
    store.store(Tile(coord, data=tile_png((9, 9, 9))))
    store.store(Tile(coord, data=tile_png(coord)))  # an older record stays behind
    t = Tile(coord)
    assert store.load(t) and t.data == tile_png(coord)
    fds = _open_fds()
    store.store(Tile(coord, data=tile_png((2, 2, 2))))  # appended: the kept descriptor sees it
    assert store.load(t) and t.data == tile_png((2, 2, 2)) and _open_fds() == fds
    bundle = store.bundle(coord)
    before = os.stat(bundle.path).st_ino
    bundle.defrag()
    assert os.stat(bundle.path).st_ino != before
    store.store(Tile((3, 3, 4), data=tile_png((3, 3, 4))))  # only in the new file
    again = Tile((3, 3, 4))
    assert store.load(again) and again.data == tile_png((3, 3, 4)) and _open_fds() == fds
    shutil.rmtree(os.path.dirname(bundle.path))  # the level directory
    assert not store.load(Tile(coord)) and _open_fds() == fds - 1
    # many bundles: no more descriptors than the limit
    tiles = [Tile((128 * i, 0, 10), data=tile_png((i, 0, 10))) for i in range(80)]
    store.store_many(tiles)
    for tile in tiles:
        assert store.load(Tile(tile.coord))
    assert _open_fds() <= fds - 1 + store._open_files.limit
