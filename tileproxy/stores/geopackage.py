"""GeoPackage tile caches: one ``.gpkg`` file, or one per level (``levels: true``).

New files are valid GeoPackages (application_id 'GPKG', user_version 10200) with the
required ``gpkg_spatial_ref_sys`` rows, a ``gpkg_contents`` row of data_type ``tiles``,
the tile matrix set and one ``gpkg_tile_matrix`` row per grid level. Rows hold y as
the grid counts it (GeoPackage's own orientation with nw grids). An existing file is
completed where rows are missing; a file whose rows contradict the grid is refused.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sqlite3
from collections.abc import Callable

from ..grid import TileGrid
from .base import StoreError, file_dir
from .sqlite_db import SQLiteFile, quote_path
from .sqlite_tiles import LevelFilesStore, SQLiteTileStore

log = logging.getLogger("tileproxy.stores")

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10200
TABLE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_tile_matrix_set (
  table_name TEXT NOT NULL PRIMARY KEY, srs_id INTEGER NOT NULL,
  min_x DOUBLE NOT NULL, min_y DOUBLE NOT NULL, max_x DOUBLE NOT NULL, max_y DOUBLE NOT NULL,
  CONSTRAINT fk_gtms_table_name FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gtms_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE IF NOT EXISTS gpkg_tile_matrix (
  table_name TEXT NOT NULL, zoom_level INTEGER NOT NULL, matrix_width INTEGER NOT NULL,
  matrix_height INTEGER NOT NULL, tile_width INTEGER NOT NULL, tile_height INTEGER NOT NULL,
  pixel_x_size DOUBLE NOT NULL, pixel_y_size DOUBLE NOT NULL,
  CONSTRAINT pk_ttm PRIMARY KEY (table_name, zoom_level),
  CONSTRAINT fk_tmm_table_name FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name));
"""


# EPSG:3857 and the codes the same web mercator went by before it; a file that
# MapProxy wrote for an EPSG:900913 grid says 900913
WEB_MERCATOR_IDS = frozenset({3857, 900913, 3785, 102100, 102113, 41001})


def srs_id(grid: TileGrid) -> int:
    """The srs_id MapProxy writes for the grid: the number of its EPSG code (900913
    for EPSG:900913), so MapProxy opens the file with the same configuration."""
    code = grid.srs.code
    if code.upper().startswith("EPSG:") and code[5:].isdigit():
        return int(code[5:])
    return grid.srs.crs.to_epsg() or -1


def same_srs(file_id: int, grid_id: int) -> bool:
    """Do two EPSG numbers name the same projection (3857 and 900913 do)?"""
    return file_id == grid_id or (file_id in WEB_MERCATOR_IDS and grid_id in WEB_MERCATOR_IDS)


def _wkt(code: int, grid: TileGrid | None = None) -> str:
    """The definition GDAL reads when it does not know the code itself (900913)."""
    from pyproj import CRS

    try:
        crs = grid.srs.crs if grid is not None else CRS.from_epsg(code)
        return crs.to_wkt("WKT1_GDAL") or "undefined"
    except Exception:
        return "undefined"


class GeoPackageFile:
    """The GeoPackage tables that describe one tile table in one grid."""

    def __init__(self, table: str, grid: TileGrid, path: str, warn: Callable[[str], None] | None = None):
        self.table = table
        self.grid = grid
        self.path = path
        self.srs_id = srs_id(grid)
        self._warn = warn or (lambda message: log.warning("%s", message))
        self._warned: set[str] = set()

    def init(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA application_id").fetchone()[0] == 0:
            conn.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        self.check(conn)
        srs_rows = [
            ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, _wkt(4326), "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
        ]
        if self.srs_id not in (-1, 0, 4326):
            srs_rows.append((f"EPSG:{self.srs_id}", self.srs_id, "EPSG", self.srs_id, _wkt(self.srs_id, self.grid), ""))
        conn.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", srs_rows)
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{self.table}" (id INTEGER PRIMARY KEY AUTOINCREMENT, '
            "zoom_level INTEGER NOT NULL, tile_column INTEGER NOT NULL, tile_row INTEGER NOT NULL, "
            "tile_data BLOB NOT NULL, UNIQUE (zoom_level, tile_column, tile_row))"
        )
        b = self.grid.bbox
        conn.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, min_x, min_y, max_x, max_y, srs_id) "
            "VALUES (?, 'tiles', ?, '', ?, ?, ?, ?, ?)",
            (self.table, self.table, *b, self.srs_id),
        )
        conn.execute("INSERT OR IGNORE INTO gpkg_tile_matrix_set VALUES (?, ?, ?, ?, ?, ?)", (self.table, self.srs_id, *b))
        tw, th = self.grid.tile_size
        conn.executemany(
            "INSERT OR IGNORE INTO gpkg_tile_matrix VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(self.table, z, w, h, tw, th, res, res)
             for z, ((w, h), res) in enumerate(zip(self.grid.grid_sizes, self.grid.resolutions))],
        )

    def check(self, conn: sqlite3.Connection) -> None:
        """Raise StoreError when the file describes this table differently from the grid."""
        where = f"{self.path} (table {self.table})"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "gpkg_contents" in tables:
            row = conn.execute("SELECT data_type, srs_id FROM gpkg_contents WHERE table_name=?", (self.table,)).fetchone()
            if row and row[0] != "tiles":
                raise StoreError(f"{where}: gpkg_contents has data_type '{row[0]}', expected 'tiles'")
            if row and row[1] is not None:
                self._check_srs(conn, tables, "gpkg_contents", row[1], where)
        if "gpkg_tile_matrix_set" in tables:
            row = conn.execute("SELECT srs_id, min_x, min_y, max_x, max_y FROM gpkg_tile_matrix_set WHERE table_name=?",
                               (self.table,)).fetchone()
            if row:
                self._check_srs(conn, tables, "gpkg_tile_matrix_set", row[0], where)
                if not _close_bbox(row[1:], self.grid.bbox):
                    # MapProxy writes a cache coverage's bbox here and reads tiles by its grid
                    self.warn_once(f"{where}: gpkg_tile_matrix_set bbox {list(row[1:])} differs from the grid bbox "
                              f"{list(self.grid.bbox)}; tiles are read and written by the grid (as MapProxy "
                              "does), GDAL and QGIS place them by the file's bbox")
        if "gpkg_tile_matrix" in tables:
            rows = conn.execute("SELECT zoom_level, tile_width, tile_height, pixel_x_size, pixel_y_size FROM gpkg_tile_matrix "
                                "WHERE table_name=?", (self.table,)).fetchall()
            for z, tw, th, px, py in rows:
                if not 0 <= z < self.grid.levels:
                    continue
                res = self.grid.resolutions[z]
                if (tw, th) != tuple(self.grid.tile_size):
                    raise StoreError(f"{where}: level {z} has tiles of {tw}x{th}, the grid uses "
                                     f"{self.grid.tile_size[0]}x{self.grid.tile_size[1]}")
                if not (math.isclose(px, res, rel_tol=1e-6) and math.isclose(py, res, rel_tol=1e-6)):
                    raise StoreError(f"{where}: level {z} has resolution {px}, the grid has {res}")

    def warn_once(self, message: str) -> None:
        """Checks run at each connection; each doubt is said once."""
        if message not in self._warned:
            self._warned.add(message)
            self._warn(message)

    def _check_srs(self, conn: sqlite3.Connection, tables: set[str], table: str, file_id: int, where: str) -> None:
        """The file's SRS for this table must be the grid's: its srs_id, or the EPSG code
        its gpkg_spatial_ref_sys row gives it, names the same projection."""
        ids = {file_id}
        if "gpkg_spatial_ref_sys" in tables:
            row = conn.execute("SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys "
                               "WHERE srs_id=?", (file_id,)).fetchone()
            if row and str(row[0]).upper() == "EPSG" and isinstance(row[1], int):
                ids.add(row[1])
        if not any(same_srs(i, self.srs_id) for i in ids):
            raise StoreError(f"{where}: {table} has srs_id {file_id}, the grid is {self.grid.srs.code}")

    def check_existing(self) -> None:
        """Check a file that exists before anything is written (read-only peek)."""
        if not os.path.exists(self.path):
            return
        try:
            conn = sqlite3.connect("file:" + quote_path(os.path.abspath(self.path)) + "?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            return
        try:
            self.check(conn)
        except sqlite3.DatabaseError:
            return  # damaged files are reported when they are read
        finally:
            conn.close()


def _close_bbox(a, b) -> bool:
    scale = max(abs(v) for v in b) or 1.0
    return all(abs(x - y) <= scale * 1e-9 for x, y in zip(a, b))


class GeoPackageStore(SQLiteTileStore):
    """Tiles in the GeoPackage tile table ``table_name`` of ``filename``. GeoPackages
    keep no tile times (as in MapProxy)."""

    def __init__(
        self,
        filename: str,
        table_name: str,
        grid: TileGrid,
        timeout: float = 30.0,
        wal: bool = False,
        check_images: bool = True,
        readonly: bool = False,
        warn: Callable[[str], None] | None = None,
    ):
        super().__init__(check_images=check_images, readonly=readonly, ts_column=None)
        self.table = checked_table_name(table_name)
        self.filename = filename
        self.lock_id = f"{filename}:{table_name}"
        self.gpkg = GeoPackageFile(table_name, grid, filename, warn)
        self.gpkg.check_existing()
        self._db = SQLiteFile(filename, self.gpkg.init, timeout=timeout, wal=wal, readonly=readonly)

    def write_dir(self) -> str | None:
        return file_dir(self.filename)

    def db(self, z: int) -> SQLiteFile:
        return self._db

    def dbs(self) -> list[SQLiteFile]:
        return [self._db] if os.path.exists(self.filename) else []


class GeoPackageLevelStore(LevelFilesStore):
    """``levels: true``: ``<directory>/<z>.gpkg``, each a GeoPackage with the same table."""

    suffix = ".gpkg"

    def __init__(
        self,
        directory: str,
        table_name: str,
        grid: TileGrid,
        timeout: float = 30.0,
        wal: bool = False,
        check_images: bool = True,
        readonly: bool = False,
    ):
        super().__init__(directory, timeout, wal, check_images, readonly, ts_column=None)
        self.table = checked_table_name(table_name)
        self.lock_id = f"{directory}:{table_name}"
        self.grid = grid

    def open_level(self, path: str) -> SQLiteFile:
        gpkg = GeoPackageFile(self.table, self.grid, path)
        gpkg.check_existing()
        return SQLiteFile(path, gpkg.init, self.timeout, self.wal, self.readonly)


def checked_table_name(name: str) -> str:
    if not TABLE_NAME.match(name):
        raise ValueError(f"table_name '{name}' may only contain letters, digits, '_' and '-'")
    return name
