"""``tileproxy export`` and ``tileproxy defrag-compact-cache``, run in-process."""

from __future__ import annotations

import os
import sqlite3

import pytest
from support.stores import store_config, tile_png

from tileproxy.cli.main import main
from tileproxy.config.build import load_proxy_config
from tileproxy.grid import predefined_grid
from tileproxy.stores.base import Tile
from tileproxy.stores.compact import CompactStore
from tileproxy.stores.file import FileStore
from tileproxy.stores.geopackage import GeoPackageStore
from tileproxy.stores.sqlite_tiles import MBTilesStore, SQLiteLevelStore

CACHED = [(0, 0, 1), (1, 1, 1), (2, 1, 2), (3, 3, 2), (4, 4, 3)]
WEBMERC = predefined_grid("GLOBAL_WEBMERCATOR")


@pytest.fixture
def config(tmp_path):
    path = store_config(tmp_path, "type: mbtiles")
    store = load_proxy_config(path).caches["c"].managers["GLOBAL_WEBMERCATOR"].store
    store.store_many([Tile(c, data=tile_png(c, 256)) for c in CACHED])  # real tile size
    return path


def dest_store(kind: str, dest: str):
    if kind == "mbtile":
        return MBTilesStore(dest)
    if kind == "sqlite":
        return SQLiteLevelStore(os.path.join(dest, "GLOBAL_WEBMERCATOR"))
    if kind == "geopackage":
        return GeoPackageStore(dest, "c_GLOBAL_WEBMERCATOR", WEBMERC)
    if kind.startswith("compact"):
        return CompactStore(dest, version=int(kind[-1]))
    layout = {"tms": "tms", "tc": "tc", "mapproxy": "tc", "arcgis": "arcgis"}[kind]
    return FileStore(dest, layout=layout, ext="png")


@pytest.mark.parametrize("kind", ["tms", "tc", "mapproxy", "arcgis", "mbtile", "sqlite", "geopackage", "compact-v1", "compact-v2"])
def test_export_copies_cached_tiles_as_they_are(kind, config, tmp_path, capsys):
    dest = str(tmp_path / "out")
    rc = main(["export", "-f", config, "--source", "c", "--grid", "GLOBAL_WEBMERCATOR", "--dest", dest,
               "--type", kind, "--levels", "1..3"])
    assert rc == 0
    out = capsys.readouterr()
    assert "exported 5 tiles" in out.out
    assert "level  3: 64/64 tiles (100.0%)" in out.err  # the progress line
    store = dest_store(kind, dest)
    for c in CACHED:
        t = Tile(c)
        assert store.load(t), c
        assert t.data == tile_png(c, 256)  # passed through, not re-encoded
    assert not store.is_cached((0, 0, 2))


def test_export_levels_and_coverage(config, tmp_path, capsys):
    dest = str(tmp_path / "out.mbtiles")
    # north-east quarter of the world in lon/lat: at z=2 columns 2-3, rows 0-1
    rc = main(["export", "-f", config, "--source", "c", "--grid", "GLOBAL_WEBMERCATOR", "--dest", dest, "--type", "mbtile",
               "--levels", "1,2", "--coverage", "1,1,179,84", "--srs", "EPSG:4326", "-q"])
    assert rc == 0
    assert capsys.readouterr().err == ""  # -q: no progress line
    rows = sorted(sqlite3.connect(dest).execute("SELECT tile_column, tile_row, zoom_level FROM tiles"))
    assert rows == [(2, 1, 2)]  # the only cached tile inside


def test_export_dry_run_and_existing_destination(config, tmp_path, capsys):
    dest = tmp_path / "out"
    assert main(["export", "-f", config, "--source", "c", "--grid", "GLOBAL_WEBMERCATOR", "--dest", str(dest),
                 "--levels", "0..2", "-n"]) == 0
    out = capsys.readouterr().out
    assert "level  2: 16 tiles" in out and "would export 21 tiles" in out
    assert not dest.exists()
    dest.mkdir()
    assert main(["export", "-f", config, "--source", "c", "--grid", "GLOBAL_WEBMERCATOR", "--dest", str(dest),
                 "--levels", "1"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["export", "-f", config, "--source", "c", "--grid", "GLOBAL_WEBMERCATOR", "--dest", str(dest),
                 "--levels", "1", "--force"]) == 0
    assert (dest / "1" / "0" / "0.png").exists()


def test_export_fetches_missing_tiles_and_reprojects(config, tmp_path, capsys):
    dest = str(tmp_path / "geo.gpkg")
    rc = main(["export", "-f", config, "--source", "c", "--grid", "GLOBAL_GEODETIC", "--dest", dest,
               "--type", "geopackage", "--levels", "1", "--fetch-missing-tiles", "-c", "2"])
    assert rc == 0
    assert "exported 2 tiles" in capsys.readouterr().out
    conn = sqlite3.connect(dest)
    assert conn.execute("SELECT srs_id FROM gpkg_tile_matrix_set").fetchone()[0] == 4326
    assert conn.execute("SELECT count(*) FROM c_GLOBAL_GEODETIC").fetchone()[0] == 2


@pytest.mark.parametrize("argv, message", [
    (["--levels", "1..x"], "--levels"),
    (["--levels", "40"], "levels 0..19"),
    (["--levels", "1", "--source", "nope"], "no cache or source named 'nope'"),
    (["--levels", "1", "--grid", "NOPE"], "unknown grid"),
    (["--levels", "1", "--coverage", "1,2,3", "--srs", "EPSG:4326"], "--coverage"),
])
def test_export_errors(argv, message, config, tmp_path, capsys):
    base = ["export", "-f", config, "--source", "c", "--grid", "GLOBAL_WEBMERCATOR", "--dest", str(tmp_path / "o")]
    args = base + argv
    # later options win in argparse, so overriding --source/--grid works
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _compact_config(tmp_path, version: int) -> tuple[str, CompactStore]:
    path = store_config(tmp_path, f"type: compact\nversion: {version}")
    store = load_proxy_config(path).caches["c"].managers["GLOBAL_WEBMERCATOR"].store
    return path, store


@pytest.mark.parametrize("version", [1, 2])
def test_defrag_compact_cache(version, tmp_path, capsys):
    import io
    import random

    from PIL import Image

    def noisy(c) -> bytes:  # a ~200 kB PNG that does not compress
        img = Image.frombytes("RGB", (256, 256), random.Random(str(c)).randbytes(256 * 256 * 3))
        buf = io.BytesIO()
        img.save(buf, "PNG", compress_level=1)
        return buf.getvalue()

    path, store = _compact_config(tmp_path, version)
    coords = [(x, y, 4) for x in range(3) for y in range(3)]
    tiles = {c: noisy(c) for c in coords}
    for _ in range(4):  # replaced three times: 3/4 of the data is garbage
        store.store_many([Tile(c, data=tiles[c]) for c in coords])
    bundle = tmp_path / "cache" / "c" / "GLOBAL_WEBMERCATOR" / "L04" / "R0000C0000.bundle"
    before = bundle.stat().st_size
    assert main(["defrag-compact-cache", "-f", path, "-n"]) == 0
    out, err = capsys.readouterr()
    assert "fragmentation is" in out and "- defragmenting" in out and "would free" in err
    assert bundle.stat().st_size == before
    assert main(["defrag-compact-cache", "-f", path, "--min-mb", "100"]) == 0  # too little to bother
    assert bundle.stat().st_size == before
    assert main(["defrag-compact-cache", "-f", path, "--caches", "c"]) == 0
    after = bundle.stat().st_size
    assert after < before * 0.3
    for c in coords:
        t = Tile(c)
        assert store.load(t) and t.data == tiles[c]
    store.store(Tile((5, 5, 4), data=tile_png((5, 5, 4))))  # still appendable
    assert store.load(Tile((5, 5, 4)))
    assert main(["defrag-compact-cache", "-f", path, "--caches", "nope"]) == 2


def _lock_waiters() -> int:
    """Blocked lock requests on this machine (``->`` lines of /proc/locks)."""
    with open("/proc/locks") as f:
        return sum("->" in line for line in f)


def test_v1_reader_waiting_through_a_defrag_swap_reads_the_new_files(tmp_path):
    """A v1 reader that opened the old .bundlx and waits on its lock while a
    defragmentation swaps both files must not use old offsets in the new bundle."""
    import threading

    store = CompactStore(str(tmp_path), version=1)
    coords = [(x, 0, 3) for x in range(4)]
    for i in range(3):  # rewritten: the live records move to the front in the swap
        store.store_many([Tile(c, data=tile_png((c[0] + 10 * i, 0, 3))) for c in coords])
    final = {c: tile_png((c[0] + 20, 0, 3)) for c in coords}
    bundle = store.bundle(coords[0])
    waiters = _lock_waiters()
    result: dict = {}
    with bundle._readers_excluded():  # what defrag holds while it swaps
        fd = os.open(bundle.path, os.O_RDONLY)
        try:
            tiles = [(pos, os.pread(fd, size, offset)) for pos, offset, size in bundle.entries()]
        finally:
            os.close(fd)
        reader = threading.Thread(target=lambda: result.update(tile=store.load(t := Tile(coords[2])) and t))
        reader.start()
        while _lock_waiters() == waiters and reader.is_alive():  # until the reader waits on the lock
            pass
        for path, content in bundle.packed(tiles).items():
            tmp = path + ".new"
            with open(tmp, "wb") as f:
                f.write(content)
            os.replace(tmp, path)
    reader.join(10)
    assert result["tile"] and result["tile"].data == final[coords[2]]


def test_export_from_remote_caches(remote_space, tmp_path, capsys):
    """A cache in S3 (SeaweedFS), Azure Blob (Azurite) or Redis exports as any other."""
    path = store_config(tmp_path, remote_space.conf)
    store = load_proxy_config(path).caches["c"].managers["GLOBAL_WEBMERCATOR"].store
    store.store_many([Tile(c, data=tile_png(c, 256)) for c in CACHED])
    dest = str(tmp_path / "out.mbtiles")
    rc = main(["export", "-f", path, "--source", "c", "--grid", "GLOBAL_WEBMERCATOR", "--dest", dest,
               "--type", "mbtile", "--levels", "1..3"])
    assert rc == 0
    assert "exported 5 tiles" in capsys.readouterr().out
    exported = MBTilesStore(dest)
    for c in CACHED:
        t = Tile(c)
        assert exported.load(t) and t.data == tile_png(c, 256)
