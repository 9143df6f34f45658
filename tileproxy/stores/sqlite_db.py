"""One SQLite file shared by threads, processes and gunicorn workers.

The threads of a process share a bounded pool of connections to the file (see
sqlite_pool.py): each read and each write transaction takes one and gives it back.
Writes are short ``BEGIN IMMEDIATE`` transactions that wait up to ``timeout``
seconds for other writers; WAL lets readers go on while someone writes. A file
that does not exist is never created by a read, and a read-only store opens the
file read-only and takes no write lock at all.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .base import StoreError, StoreUnwritable, warn_throttled, write_error
from .sqlite_pool import PoolTimeout, shared_pool

log = logging.getLogger("tileproxy.stores")


class SQLiteFile:
    """Connections to one database file; ``init`` creates the schema (inside a write
    transaction) the first time a writer of this process uses the file."""

    def __init__(
        self,
        path: str,
        init: Callable[[sqlite3.Connection], None],
        timeout: float = 30.0,
        wal: bool = True,
        readonly: bool = False,
    ):
        self.path = path
        self.init = init
        self.timeout = float(timeout)
        self.wal = wal
        self.readonly = readonly
        self.pool = shared_pool(path, readonly, self.timeout)
        self._initialized = False  # schema checked by this process

    # -- connections -------------------------------------------------------

    def _connect(self, mode: str) -> sqlite3.Connection:
        uri = "file:" + quote_path(os.path.abspath(self.path)) + f"?mode={mode}"
        conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return conn

    def _open(self, create: bool) -> sqlite3.Connection | None:
        if not create and not os.path.exists(self.path):
            return None
        if create:
            directory = os.path.dirname(self.path)
            try:
                os.makedirs(directory or ".", exist_ok=True)
            except OSError as ex:
                raise write_error(self.path, ex) from None
        mode = "ro" if self.readonly else ("rwc" if create else "rw")
        try:
            conn = self._connect(mode)
            if not create:
                conn.execute("PRAGMA schema_version").fetchone()  # fails here on damaged or unreachable files
        except sqlite3.Error as ex:
            conn = None if create else self._open_on_readonly_disk()
            if conn is None:
                kind = StoreUnwritable if create and _unwritable(ex) else StoreError
                raise kind(f"cannot open {self.path}: {ex}") from None
        return conn

    def _open_on_readonly_disk(self) -> sqlite3.Connection | None:
        """A WAL file in a directory we may not write (a read-only mount, a cache handed
        over read-only) cannot get its -shm file: read it as immutable instead."""
        directory = os.path.dirname(os.path.abspath(self.path))
        if os.access(directory, os.W_OK) and os.access(self.path, os.W_OK):
            return None
        try:
            conn = self._connect("ro&immutable=1")
            conn.execute("PRAGMA schema_version").fetchone()
            return conn
        except sqlite3.Error:
            return None

    def _open_reader(self) -> sqlite3.Connection | None:
        return self._open(create=False)

    def _open_writer(self) -> sqlite3.Connection | None:
        return self._open(create=True)

    def _prepare(self, conn: sqlite3.Connection) -> None:
        if self.wal:
            self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        with self._transaction(conn):
            self.init(conn)
        self._initialized = True

    def _retry_locked(self, func: Callable[[], object]) -> object:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return func()
            except sqlite3.OperationalError as ex:
                if "locked" not in str(ex) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- public ------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction on a connection of the pool; any SQLite error
        becomes a StoreError naming the file."""
        if self.readonly:
            raise StoreError(f"{self.path} is a read-only cache")
        conn, generation = self._take(self._open_writer)
        assert conn is not None
        try:
            if not self._initialized:
                self._prepare(conn)
            with self._transaction(conn) as c:
                yield c
        except sqlite3.Error as ex:
            kind = StoreUnwritable if _unwritable(ex) else StoreError
            raise kind(f"cannot write to {self.path}: {ex}") from None
        finally:
            self.pool.give(conn, generation)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read; a missing file or table reads as no rows. A damaged file
        is logged and reads as no rows, so that the tile is fetched again."""
        try:
            conn, generation = self._take(self._open_reader)
        except StoreError as ex:
            self._warn(ex)
            return []
        if conn is None:
            return []
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as ex:
            if "no such table" in str(ex) or "no such column" in str(ex):
                return []
            self._warn(ex)
            return []
        except sqlite3.DatabaseError as ex:
            self._warn(ex)
            return []
        finally:
            self.pool.give(conn, generation)

    def _take(self, connect: Callable[[], sqlite3.Connection | None]) -> tuple[sqlite3.Connection | None, int]:
        try:
            return self.pool.take(connect, self.timeout)
        except PoolTimeout as ex:
            raise StoreError(f"{self.path}: {ex}") from None

    def _warn(self, ex: Exception) -> None:
        warn_throttled(log, self.path, "cannot read %s (tiles are fetched again): %s", self.path, ex)

    def close(self) -> None:
        """Close the idle connections of this process to the file."""
        self.pool.close_idle()


# SQLite's result codes for a file that cannot take writes: SQLITE_PERM, SQLITE_READONLY,
# SQLITE_FULL, SQLITE_CANTOPEN, and SQLITE_IOERR_WRITE (a write refused: a file size limit)
_UNWRITABLE_CODES = {3, 8, 13, 14}
_SQLITE_IOERR_WRITE = 778


def _unwritable(ex: sqlite3.Error) -> bool:
    code = getattr(ex, "sqlite_errorcode", None)
    if code is None:
        return "disk is full" in str(ex) or "readonly" in str(ex)
    return code & 0xFF in _UNWRITABLE_CODES or code == _SQLITE_IOERR_WRITE


def quote_path(path: str) -> str:
    from urllib.parse import quote

    return quote(path)


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f'PRAGMA table_info("{table}")'))


def local_time_text(ts: float) -> str:
    """MapProxy's last_modified text: local time, whole seconds."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def parse_local_time(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value)
    try:  # "YYYY-MM-DD HH:MM:SS", sliced by hand: strptime is slow on the serving path
        fields = (int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]), int(text[17:19]))
    except ValueError:
        return None
    return time.mktime(fields + (0, 0, -1))
