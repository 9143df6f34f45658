"""The files the backends write, checked against the specs (Python's sqlite3,
byte layouts, gdalinfo), and caches written the way MapProxy writes them,
built by hand from the specs, read back."""

from __future__ import annotations

import os
import sqlite3
import struct

import pytest
from support.stores import gdalinfo, make_store, tile_png

from tileproxy.grid import predefined_grid
from tileproxy.stores.base import Tile
from tileproxy.stores.compact import CompactStore
from tileproxy.stores.geopackage import GeoPackageStore
from tileproxy.stores.sqlite_tiles import MBTilesStore, SQLiteLevelStore

WEBMERC = predefined_grid("GLOBAL_WEBMERCATOR")


def _fill(store, coords):
    store.store_many([Tile(c, data=tile_png(c)) for c in coords])


# -- MBTiles ---------------------------------------------------------------


def test_mbtiles_schema_and_metadata(tmp_path):
    store = make_store("mbtiles", str(tmp_path))
    _fill(store, [(0, 0, 1), (1, 1, 1)])
    conn = sqlite3.connect(tmp_path / "c.mbtiles")
    cols = [(r[1], r[2].lower()) for r in conn.execute("PRAGMA table_info(tiles)")]
    assert cols == [("zoom_level", "integer"), ("tile_column", "integer"), ("tile_row", "integer"), ("tile_data", "blob")]
    idx = conn.execute("SELECT sql FROM sqlite_master WHERE name='idx_tile'").fetchone()[0]
    assert "UNIQUE" in idx.upper()
    md = dict(conn.execute("SELECT name, value FROM metadata"))
    assert md["name"] == "c" and md["format"] == "png"
    minx, miny, maxx, maxy = (float(v) for v in md["bounds"].split(","))
    assert (minx, maxx) == (-180.0, 180.0) and maxy == pytest.approx(85.0511, abs=1e-3)
    assert conn.execute("SELECT tile_data FROM tiles WHERE zoom_level=1 AND tile_column=1 AND tile_row=1").fetchone()[0] == tile_png((1, 1, 1))


def test_mbtiles_opens_in_gdal(tmp_path):
    store = MBTilesStore(str(tmp_path / "c.mbtiles"), grid=predefined_grid("GLOBAL_MERCATOR"), name="c")
    _fill(store, [(x, y, 2) for x in range(4) for y in range(4)])
    store.db(0).close()
    info = gdalinfo(str(tmp_path / "c.mbtiles"))
    assert "Driver: MBTiles" in info
    assert "Pseudo-Mercator" in info


def test_mapproxy_mbtiles_is_read(tmp_path):
    """MapProxy's MBTiles: the plain schema, an empty metadata table, no WAL."""
    path = tmp_path / "mp.mbtiles"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)")
    conn.execute("CREATE TABLE metadata (name text, value text)")
    conn.execute("CREATE UNIQUE INDEX idx_tile on tiles (zoom_level, tile_column, tile_row)")
    conn.execute("INSERT INTO tiles VALUES (3, 5, 2, ?)", (tile_png((5, 2, 3)),))
    conn.commit()
    conn.close()
    store = MBTilesStore(str(path), grid=WEBMERC)
    t = Tile((5, 2, 3))
    assert store.load(t) and t.data == tile_png((5, 2, 3)) and t.timestamp is None
    _fill(store, [(6, 2, 3)])
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM tiles").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM metadata").fetchone()[0] > 0  # filled once, was empty
    assert [r[1] for r in conn.execute("PRAGMA table_info(tiles)")] == ["zoom_level", "tile_column", "tile_row", "tile_data"]


# -- sqlite (one file per level) ---------------------------------------------


def test_sqlite_level_files(tmp_path):
    store = SQLiteLevelStore(str(tmp_path / "GLOBAL_WEBMERCATOR"))
    _fill(store, [(0, 0, 0), (1, 1, 1), (2, 3, 2)])
    names = sorted(n for n in os.listdir(tmp_path / "GLOBAL_WEBMERCATOR") if not n.endswith(("-wal", "-shm")))
    assert names == ["0.mbtiles", "1.mbtiles", "2.mbtiles"]
    conn = sqlite3.connect(tmp_path / "GLOBAL_WEBMERCATOR" / "2.mbtiles")
    cols = [r[1] for r in conn.execute("PRAGMA table_info(tiles)")]
    assert cols == ["zoom_level", "tile_column", "tile_row", "tile_data", "last_modified"]
    last = conn.execute("SELECT last_modified FROM tiles").fetchone()[0]
    assert len(last) == 19 and last[4] == "-" and last[13] == ":"  # local time text, whole seconds


def test_mapproxy_sqlite_level_is_read(tmp_path):
    level_dir = tmp_path / "GLOBAL_WEBMERCATOR"
    level_dir.mkdir()
    conn = sqlite3.connect(level_dir / "4.mbtiles")
    conn.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob, "
                 "last_modified datetime DEFAULT (datetime('now','localtime')))")
    conn.execute("CREATE UNIQUE INDEX idx_tile on tiles (zoom_level, tile_column, tile_row)")
    conn.execute("INSERT INTO tiles VALUES (4, 7, 8, ?, '2024-03-01 12:30:00')", (tile_png((7, 8, 4)),))
    conn.commit()
    conn.close()
    store = SQLiteLevelStore(str(level_dir))
    t = Tile((7, 8, 4))
    assert store.load(t) and t.data == tile_png((7, 8, 4))
    import time

    assert t.timestamp == time.mktime((2024, 3, 1, 12, 30, 0, 0, 0, -1))


# -- GeoPackage ---------------------------------------------------------------


def test_geopackage_tables(tmp_path):
    store = make_store("geopackage", str(tmp_path))
    _fill(store, [(0, 0, 0), (1, 0, 1)])
    conn = sqlite3.connect(tmp_path / "c.gpkg")
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 10200
    assert conn.execute("SELECT data_type, srs_id FROM gpkg_contents WHERE table_name='c_GLOBAL_WEBMERCATOR'").fetchone() == ("tiles", 3857)
    srs = {r[0] for r in conn.execute("SELECT srs_id FROM gpkg_spatial_ref_sys")}
    assert {-1, 0, 4326, 3857} <= srs
    tms = conn.execute("SELECT srs_id, min_x, min_y, max_x, max_y FROM gpkg_tile_matrix_set").fetchone()
    assert tms[0] == 3857 and tms[1:] == pytest.approx(WEBMERC.bbox)
    matrix = conn.execute("SELECT zoom_level, matrix_width, matrix_height, tile_width, tile_height, pixel_x_size "
                          "FROM gpkg_tile_matrix ORDER BY zoom_level").fetchall()
    assert len(matrix) == WEBMERC.levels
    assert matrix[3][:5] == (3, 8, 8, 256, 256) and matrix[3][5] == pytest.approx(WEBMERC.resolutions[3])
    cols = [(r[1], r[5]) for r in conn.execute("PRAGMA table_info(c_GLOBAL_WEBMERCATOR)")]
    assert cols[0] == ("id", 1) and [c for c, _ in cols] == ["id", "zoom_level", "tile_column", "tile_row", "tile_data"]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_geopackage_opens_in_gdal(tmp_path):
    store = make_store("geopackage", str(tmp_path))
    _fill(store, [(x, y, 2) for x in range(4) for y in range(4)])
    store.db(0).close()
    info = gdalinfo(str(tmp_path / "c.gpkg"))
    assert "Driver: GPKG" in info
    assert "Size is 1024, 1024" in info
    assert "Pseudo-Mercator" in info
    assert "Warning" not in info and "ERROR" not in info


def test_geopackage_for_an_epsg_900913_grid_says_900913_as_mapproxy_does(tmp_path):
    """MapProxy checks the srs_id against its grid's code, so a GLOBAL_MERCATOR cache
    says 900913; its definition is the projection's WKT, which GDAL reads."""
    store = GeoPackageStore(str(tmp_path / "m.gpkg"), "tiles", predefined_grid("GLOBAL_MERCATOR"))
    _fill(store, [(x, y, 1) for x in range(2) for y in range(2)])
    store.db(0).close()
    conn = sqlite3.connect(tmp_path / "m.gpkg")
    assert conn.execute("SELECT srs_id FROM gpkg_contents").fetchone() == (900913,)
    assert conn.execute("SELECT srs_id FROM gpkg_tile_matrix_set").fetchone() == (900913,)
    row = conn.execute("SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys "
                       "WHERE srs_id=900913").fetchone()
    assert row[:2] == ("EPSG", 900913) and row[2].startswith('PROJCS["WGS 84 / Pseudo-Mercator"')
    conn.close()
    info = gdalinfo(str(tmp_path / "m.gpkg"))
    assert "Size is 512, 512" in info and "Mercator" in info
    assert "Warning" not in info and "ERROR" not in info


def test_mapproxy_geopackage_is_read_and_completed(tmp_path):
    """A GeoPackage as MapProxy writes it: application_id 'GP10', matrix rows for levels 0-19 only."""
    path = tmp_path / "mp.gpkg"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1196437808")
    from tileproxy.stores.geopackage import _SCHEMA

    for stmt in _SCHEMA.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 / Pseudo-Mercator', 3857, 'epsg', 3857, 'PROJCS[]', NULL)")
    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, max_x, max_y, srs_id) "
                 "VALUES ('osm_tiles', 'tiles', 'osm_tiles', ?, ?, ?, ?, 3857)", WEBMERC.bbox)
    conn.execute("INSERT INTO gpkg_tile_matrix_set VALUES ('osm_tiles', 3857, ?, ?, ?, ?)", WEBMERC.bbox)
    for z in range(20):
        w, h = WEBMERC.grid_sizes[z]
        res = WEBMERC.resolutions[z]
        conn.execute("INSERT INTO gpkg_tile_matrix VALUES ('osm_tiles', ?, ?, ?, 256, 256, ?, ?)", (z, w, h, res, res))
    conn.execute("CREATE TABLE osm_tiles (id INTEGER PRIMARY KEY AUTOINCREMENT, zoom_level INTEGER NOT NULL, "
                 "tile_column INTEGER NOT NULL, tile_row INTEGER NOT NULL, tile_data BLOB NOT NULL, "
                 "UNIQUE (zoom_level, tile_column, tile_row))")
    conn.execute("INSERT INTO osm_tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (2, 1, 3, ?)", (tile_png((1, 3, 2)),))
    conn.commit()
    conn.close()
    store = GeoPackageStore(str(path), "osm_tiles", WEBMERC)
    t = Tile((1, 3, 2))
    assert store.load(t) and t.data == tile_png((1, 3, 2))
    _fill(store, [(2, 3, 2)])
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 1196437808  # left as it was
    assert conn.execute("SELECT count(*) FROM gpkg_tile_matrix").fetchone()[0] == WEBMERC.levels  # completed
    assert conn.execute("SELECT count(*) FROM osm_tiles").fetchone()[0] == 2


def test_geopackage_adds_a_table_to_an_existing_file(tmp_path):
    _fill(make_store("geopackage", str(tmp_path)), [(0, 0, 0)])
    other = GeoPackageStore(str(tmp_path / "c.gpkg"), "second", predefined_grid("GLOBAL_GEODETIC"))
    _fill(other, [(1, 0, 1)])
    conn = sqlite3.connect(tmp_path / "c.gpkg")
    assert dict(conn.execute("SELECT table_name, srs_id FROM gpkg_contents")) == {"c_GLOBAL_WEBMERCATOR": 3857, "second": 4326}


def test_geopackage_with_other_data_type_is_refused(tmp_path):
    from tileproxy.stores.base import StoreError

    _fill(make_store("geopackage", str(tmp_path)), [(0, 0, 0)])
    conn = sqlite3.connect(tmp_path / "c.gpkg")
    conn.execute("UPDATE gpkg_contents SET data_type='features'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="data_type 'features'"):
        make_store("geopackage", str(tmp_path))


# -- compact caches --------------------------------------------------------------


def test_compact_v2_bytes(tmp_path):
    store = make_store("compact-v2", str(tmp_path))
    coord = (130, 5, 8)  # bundle R0000C0080, entry x%128=2, y%128=5
    _fill(store, [coord])
    path = tmp_path / "c" / "GLOBAL_WEBMERCATOR" / "L08" / "R0000C0080.bundle"
    raw = path.read_bytes()
    header = struct.unpack("<4I3Q6I", raw[:64])
    assert header[0] == 3 and header[1] == 16384 and header[3] == 5 and header[5] == len(raw)
    assert header[2] == len(tile_png(coord))  # max record size
    entry = struct.unpack("<Q", raw[64 + (2 + 128 * 5) * 8: 64 + (2 + 128 * 5) * 8 + 8])[0]
    offset, size = entry & (2**40 - 1), entry >> 40
    assert raw[offset:offset + size] == tile_png(coord)
    assert struct.unpack("<I", raw[offset - 4:offset])[0] == size
    empty = struct.unpack("<Q", raw[64:72])[0]
    assert empty == 4


def test_compact_v1_bytes(tmp_path):
    store = make_store("compact-v1", str(tmp_path))
    coord = (3, 129, 8)  # bundle R0080C0000, entry (x%128)*128 + y%128 = 3*128 + 1
    _fill(store, [coord])
    base = tmp_path / "c" / "GLOBAL_WEBMERCATOR" / "L08" / "R0080C0000"
    index = (base.with_suffix(".bundlx")).read_bytes()
    bundle = (base.with_suffix(".bundle")).read_bytes()
    assert len(index) == 16 + 16384 * 5 + 16
    pos = 16 + (3 * 128 + 1) * 5
    offset = int.from_bytes(index[pos:pos + 5], "little")
    size = struct.unpack("<I", bundle[offset:offset + 4])[0]
    assert bundle[offset + 4:offset + 4 + size] == tile_png(coord)
    assert len(bundle) >= 60 + 65536


def _v2_bundle(tiles: dict[int, bytes]) -> bytes:
    """A v2 bundle built straight from the format description."""
    index = [4] * 16384
    data = b""
    start = 64 + 16384 * 8
    for pos, blob in tiles.items():
        offset = start + len(data) + 4
        data += struct.pack("<I", len(blob)) + blob
        index[pos] = len(blob) << 40 | offset
    header = struct.pack("<4I3Q6I", 3, 16384, max(len(b) for b in tiles.values()), 5, 0, start + len(data), 40,
                         20 + 16384 * 8, 3, 16, 16384, 5, 16384 * 8)
    return header + struct.pack("<16384Q", *index) + data


def test_hand_built_v2_bundle_is_read(tmp_path):
    level = tmp_path / "L05"
    level.mkdir()
    (level / "R0000C0000.bundle").write_bytes(_v2_bundle({7 + 128 * 9: tile_png((7, 9, 5))}))
    store = CompactStore(str(tmp_path), version=2)
    t = Tile((7, 9, 5))
    assert store.load(t) and t.data == tile_png((7, 9, 5))
    assert not store.load(Tile((9, 7, 5)))
    assert list(store.coords()) == [(7, 9, 5)]


def test_hand_built_v1_bundle_is_read(tmp_path):
    level = tmp_path / "L05"
    level.mkdir()
    blob = tile_png((2, 6, 5))
    bundle = struct.pack("<4I3Q5I", 3, 16384, len(blob), 5, 0, 0, 40, 0, 0, 127, 0, 127) + bytes(65536)
    offset = len(bundle)
    bundle += struct.pack("<I", len(blob)) + blob
    offsets = [60 + 4 * i for i in range(16384)]
    offsets[2 * 128 + 6] = offset
    bundlx = b"\x03\x00\x00\x00\x10\x00\x00\x00\x00\x40\x00\x00\x05\x00\x00\x00"
    bundlx += b"".join(o.to_bytes(5, "little") for o in offsets) + bytes(16)
    (level / "R0000C0000.bundle").write_bytes(bundle)
    (level / "R0000C0000.bundlx").write_bytes(bundlx)
    store = CompactStore(str(tmp_path), version=1)
    t = Tile((2, 6, 5))
    assert store.load(t) and t.data == blob
    assert not store.load(Tile((6, 2, 5)))
    _fill(store, [(6, 2, 5)])
    assert store.load(Tile((6, 2, 5))) and store.load(Tile((2, 6, 5)))
    assert sorted(store.coords()) == [(2, 6, 5), (6, 2, 5)]


def test_compact_appends_and_leaves_old_records(tmp_path):
    store = make_store("compact-v2", str(tmp_path))
    _fill(store, [(1, 1, 3)])
    path = tmp_path / "c" / "GLOBAL_WEBMERCATOR" / "L03" / "R0000C0000.bundle"
    size1 = path.stat().st_size
    store.store(Tile((1, 1, 3), data=tile_png((2, 2, 3))))
    assert path.stat().st_size == size1 + 4 + len(tile_png((2, 2, 3)))
    t = Tile((1, 1, 3))
    assert store.load(t) and t.data == tile_png((2, 2, 3))
