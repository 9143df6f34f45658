"""Caches in SQLite tile tables: MBTiles (one file) and ``sqlite`` (one file per level).

Both use the MBTiles ``tiles`` table; rows hold y as the grid counts it (no flip).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator

from ..grid import TileCoord, TileGrid
from .base import Tile, TileStore, file_dir, usable_tile_data, warn_throttled
from .sqlite_db import SQLiteFile, has_column, local_time_text, parse_local_time, quote_path

log = logging.getLogger("tileproxy.stores")

TS_COLUMN = "last_modified"


class SQLiteTileStore(TileStore):
    """Shared logic of stores that keep tiles in ``table`` rows keyed by
    (zoom_level, tile_column, tile_row); subclasses say which file holds a level."""

    table = "tiles"

    def __init__(self, check_images: bool = True, readonly: bool = False, ts_column: str | None = None):
        self.check_images = check_images
        self.readonly = readonly
        self.ts_column = ts_column
        self.supports_timestamps = ts_column is not None

    def db(self, z: int) -> SQLiteFile:
        raise NotImplementedError

    def dbs(self) -> list[SQLiteFile]:
        """Every database file that exists now (for removing whole levels, export, ...)."""
        raise NotImplementedError

    # -- reads ---------------------------------------------------------------

    def _select(self, coord: TileCoord, columns: str) -> tuple | None:
        x, y, z = coord
        rows = self.db(z).query(
            f'SELECT {columns} FROM "{self.table}" WHERE zoom_level=? AND tile_column=? AND tile_row=?', (z, x, y)
        )
        return rows[0] if rows else None

    def load(self, tile: Tile) -> bool:
        cols = "tile_data" + (f", {self.ts_column}" if self.ts_column else "")
        row = self._select(tile.coord, cols)
        if row is None:
            return False
        if not usable_tile_data(row[0], self.check_images):
            path = self.db(tile.coord[2]).path
            warn_throttled(log, path, "%s: tile %s is not a usable image, fetching it again", path, tile.coord)
            return False
        tile.data = bytes(row[0])
        tile.timestamp = parse_local_time(row[1]) if self.ts_column else None
        return True

    def is_cached(self, coord: TileCoord) -> bool:
        return self._select(coord, "1") is not None

    def timestamp(self, coord: TileCoord) -> float | None:
        if not self.ts_column:
            return None
        row = self._select(coord, self.ts_column)
        return parse_local_time(row[0]) if row else None

    def load_many(self, tiles: Iterable[Tile]) -> list[Tile]:
        return [t for t in tiles if self.load(t)]

    # -- writes --------------------------------------------------------------

    def store(self, tile: Tile) -> None:
        self.store_many([tile])

    def store_many(self, tiles: Iterable[Tile]) -> None:
        """All tiles of one level go in one short transaction (a meta tile is one commit)."""
        by_level: dict[int, list[Tile]] = {}
        for tile in tiles:
            if tile.data is None:
                raise ValueError(f"tile {tile.coord} has no data to store")
            by_level.setdefault(tile.coord[2], []).append(tile)
        for z, level_tiles in by_level.items():
            if self.ts_column:
                sql = (f'INSERT OR REPLACE INTO "{self.table}" (zoom_level, tile_column, tile_row, tile_data, '
                       f'{self.ts_column}) VALUES (?, ?, ?, ?, ?)')
                rows = [(z, t.coord[0], t.coord[1], sqlite3.Binary(t.data), local_time_text(t.timestamp or _now()))
                        for t in level_tiles]
            else:
                sql = f'INSERT OR REPLACE INTO "{self.table}" (zoom_level, tile_column, tile_row, tile_data) VALUES (?, ?, ?, ?)'
                rows = [(z, t.coord[0], t.coord[1], sqlite3.Binary(t.data)) for t in level_tiles]  # type: ignore[arg-type]
            with self.db(z).write() as conn:
                conn.executemany(sql, rows)
            # the time a later load reports (whole seconds, or none), so that fresh and
            # cached answers carry the same Last-Modified and ETag
            for tile, row in zip(level_tiles, rows):
                tile.timestamp = parse_local_time(row[4]) if self.ts_column else None

    def remove(self, coord: TileCoord) -> None:
        self.remove_many([coord])

    def remove_many(self, coords: Iterable[TileCoord]) -> None:
        by_level: dict[int, list[TileCoord]] = {}
        for c in coords:
            by_level.setdefault(c[2], []).append(c)
        for z, level in by_level.items():
            db = self.db(z)
            if not os.path.exists(db.path):
                continue
            with db.write() as conn:
                conn.executemany(
                    f'DELETE FROM "{self.table}" WHERE zoom_level=? AND tile_column=? AND tile_row=?',
                    [(z, x, y) for x, y, _ in level],
                )

    def backdate_many(self, coords: Iterable[TileCoord], when: float) -> bool:
        if not self.ts_column:
            return False
        stamp = local_time_text(when)
        by_level: dict[int, list[TileCoord]] = {}
        for c in coords:
            by_level.setdefault(c[2], []).append(c)
        for z, level in by_level.items():
            db = self.db(z)
            if os.path.exists(db.path):
                with db.write() as conn:
                    conn.executemany(f'UPDATE "{self.table}" SET {self.ts_column}=? '
                                     'WHERE zoom_level=? AND tile_column=? AND tile_row=?',
                                     [(stamp, z, x, y) for x, y, _ in level])
        return True

    def remove_level(self, z: int) -> bool:
        db = self.db(z)
        if os.path.exists(db.path):
            with db.write() as conn:
                conn.execute(f'DELETE FROM "{self.table}" WHERE zoom_level=?', (z,))
        return True

    can_list = True

    def iter_coords(self, level: int) -> Iterator[TileCoord]:
        yield from self.coords([level])

    def coords(self, levels: Iterable[int] | None = None) -> Iterable[TileCoord]:
        """Every stored tile (for export)."""
        wanted = set(levels) if levels is not None else None
        for db in self.dbs():
            for x, y, z in db.query(f'SELECT tile_column, tile_row, zoom_level FROM "{self.table}"'):
                if wanted is None or z in wanted:
                    yield (x, y, z)


def _now() -> float:
    import time

    return time.time()


def _tiles_schema(conn: sqlite3.Connection, ts_column: str | None, ts_default: str = "") -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob"
        + (f", {ts_column} datetime{ts_default}" if ts_column else "") + ")"
    )
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS idx_tile ON tiles (zoom_level, tile_column, tile_row)")
    if ts_column and not has_column(conn, "tiles", ts_column):
        conn.execute(f"ALTER TABLE tiles ADD COLUMN {ts_column} datetime")


def _file_has_column(path: str, table: str, column: str) -> bool:
    """Whether an existing file's table has ``column`` (read-only peek, closed at once)."""
    if not os.path.exists(path):
        return False
    try:
        conn = sqlite3.connect("file:" + quote_path(os.path.abspath(path)) + "?mode=ro", uri=True, timeout=5)
        try:
            return has_column(conn, table, column)
        finally:
            conn.close()
    except sqlite3.Error:
        return False


MBTILES_FORMATS = {"png": "png", "jpeg": "jpg", "gif": "gif", "tiff": "tiff", "mvt": "pbf", "pbf": "pbf", "webp": "webp"}


class MBTilesStore(SQLiteTileStore):
    """One MBTiles file. Without ``timestamps`` (the default, as in MapProxy) the file has
    the plain MBTiles schema and tiles carry no time; with ``timestamps: true`` (or when
    the file already has one) a ``last_modified`` column keeps per-tile times."""

    def __init__(
        self,
        filename: str,
        grid: TileGrid | None = None,
        name: str = "",
        ext: str = "png",
        timeout: float = 30.0,
        wal: bool = True,
        timestamps: bool = False,
        check_images: bool = True,
        readonly: bool = False,
    ):
        ts = TS_COLUMN if timestamps or _file_has_column(filename, "tiles", TS_COLUMN) else None
        super().__init__(check_images=check_images, readonly=readonly, ts_column=ts)
        self.filename = filename
        self.lock_id = filename
        self.metadata = _mbtiles_metadata(name, ext, grid)
        self._db = SQLiteFile(filename, self._init, timeout=timeout, wal=wal, readonly=readonly)

    def write_dir(self) -> str | None:
        return file_dir(self.filename)

    def _init(self, conn: sqlite3.Connection) -> None:
        _tiles_schema(conn, self.ts_column)
        conn.execute("CREATE TABLE IF NOT EXISTS metadata (name text, value text)")
        if conn.execute("SELECT count(*) FROM metadata").fetchone()[0] == 0:
            conn.executemany("INSERT INTO metadata (name, value) VALUES (?, ?)", list(self.metadata.items()))

    def db(self, z: int) -> SQLiteFile:
        return self._db

    def dbs(self) -> list[SQLiteFile]:
        return [self._db] if os.path.exists(self.filename) else []


def _mbtiles_metadata(name: str, ext: str, grid: TileGrid | None) -> dict[str, str]:
    md = {"name": name or "tileproxy", "format": MBTILES_FORMATS.get(ext, ext), "type": "overlay"}
    if grid is not None:
        md["minzoom"] = "0"
        md["maxzoom"] = str(grid.levels - 1)
        try:
            from ..srs import get_srs

            b = grid.srs.transform_bbox_to(get_srs("EPSG:4326"), grid.bbox)
            b = (max(b[0], -180.0), max(b[1], -85.0511287798), min(b[2], 180.0), min(b[3], 85.0511287798))
            md["bounds"] = ",".join(f"{v:.6f}" for v in b)
        except Exception:  # a grid that cannot be expressed in lon/lat: leave bounds out
            pass
    return md


class LevelFilesStore(SQLiteTileStore):
    """A store with one database file per level: ``<directory>/<z><suffix>``."""

    suffix = ".mbtiles"

    def __init__(self, directory: str, timeout: float, wal: bool, check_images: bool, readonly: bool,
                 ts_column: str | None):
        super().__init__(check_images=check_images, readonly=readonly, ts_column=ts_column)
        self.directory = directory
        self.timeout = timeout
        self.wal = wal
        self._dbs: dict[int, SQLiteFile] = {}

    def write_dir(self) -> str | None:
        return self.directory

    def open_level(self, path: str) -> SQLiteFile:
        raise NotImplementedError

    def db(self, z: int) -> SQLiteFile:
        db = self._dbs.get(z)
        if db is None:
            db = self._dbs.setdefault(z, self.open_level(os.path.join(self.directory, f"{z}{self.suffix}")))
        return db

    def dbs(self) -> list[SQLiteFile]:
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        cut = len(self.suffix)
        levels = sorted(int(n[:-cut]) for n in names if n.endswith(self.suffix) and n[:-cut].isdigit())
        return [self.db(z) for z in levels]


class SQLiteLevelStore(LevelFilesStore):
    """MapProxy's ``sqlite`` cache: ``<directory>/<z>.mbtiles`` per level, each with a
    ``last_modified`` column in local time; ``ttl`` seconds (0 = unlimited) expire tiles."""

    def __init__(
        self,
        directory: str,
        timeout: float = 30.0,
        wal: bool = True,
        ttl: float = 0,
        check_images: bool = True,
        readonly: bool = False,
    ):
        super().__init__(directory, timeout, wal, check_images, readonly, ts_column=TS_COLUMN)
        self.lock_id = directory
        self.ttl = float(ttl or 0)

    def open_level(self, path: str) -> SQLiteFile:
        return SQLiteFile(path, _level_init, self.timeout, self.wal, self.readonly)

    def load(self, tile: Tile) -> bool:
        if not super().load(tile):
            return False
        if self.ttl and tile.timestamp is not None and tile.timestamp + self.ttl < _now():
            tile.data = None
            return False
        return True


def _level_init(conn: sqlite3.Connection) -> None:
    _tiles_schema(conn, TS_COLUMN, " DEFAULT (datetime('now','localtime'))")
