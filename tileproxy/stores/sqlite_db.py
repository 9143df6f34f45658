"""One SQLite file shared by threads, processes and gunicorn workers.

Each thread of each process keeps its own connection (opened on first use,
dropped after a fork). Writes are short ``BEGIN IMMEDIATE`` transactions that
wait up to ``timeout`` seconds for other writers; WAL lets readers go on while
someone writes. A file that does not exist is never created by a read, and a
read-only store opens the file read-only and takes no write lock at all.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .base import StoreError, StoreUnwritable, warn_throttled, write_error

log = logging.getLogger("tileproxy.stores")

# connections inherited over a fork: kept referenced so that the child never
# closes (and so never disturbs) a connection its parent still uses
_INHERITED: list[sqlite3.Connection] = []


class SQLiteFile:
    """Connections to one database file; ``init`` creates the schema (inside a write
    transaction) the first time a writer uses the file."""

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
        self._local = threading.local()
        self._initialized = False  # schema checked by this process

    # -- connections -------------------------------------------------------

    def _current(self) -> sqlite3.Connection | None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid != os.getpid():
            _INHERITED.append(conn)
            self._local.conn = conn = None
            self._initialized = False
        return conn

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
        self._local.conn = conn
        self._local.pid = os.getpid()
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

    def reader(self) -> sqlite3.Connection | None:
        """This thread's connection, or None while the file does not exist."""
        conn = self._current()
        if conn is None:
            conn = self._open(create=False)
        return conn

    def _writer(self) -> sqlite3.Connection:
        if self.readonly:
            raise StoreError(f"{self.path} is a read-only cache")
        conn = self._current()
        if conn is None:
            conn = self._open(create=True)
            assert conn is not None
        if not self._initialized:
            self._prepare(conn)
        return conn

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
        """A short write transaction; any SQLite error becomes a StoreError naming the file."""
        try:
            conn = self._writer()
            with self._transaction(conn) as c:
                yield c
        except sqlite3.Error as ex:
            kind = StoreUnwritable if _unwritable(ex) else StoreError
            raise kind(f"cannot write to {self.path}: {ex}") from None

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read; a missing file or table reads as no rows. A damaged file
        is logged and reads as no rows, so that the tile is fetched again."""
        try:
            conn = self.reader()
            if conn is None:
                return []
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as ex:
            if "no such table" in str(ex) or "no such column" in str(ex):
                return []
            self._warn(ex)
            return []
        except (sqlite3.DatabaseError, StoreError) as ex:
            self._warn(ex)
            return []

    def _warn(self, ex: Exception) -> None:
        warn_throttled(log, self.path, "cannot read %s (tiles are fetched again): %s", self.path, ex)

    def close(self) -> None:
        conn = self._current()
        if conn is not None:
            conn.close()
            self._local.conn = None


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
