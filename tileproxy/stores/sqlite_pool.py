"""A bounded pool of SQLite connections to one file, shared by every thread of a
process: a connection is taken for one read or one write transaction and given
back, so threads that come and go (tile creators, gthread workers) leave nothing
open behind them, and the file handles of a process stay at most ``size``
connections per file.

Connections are never carried over a fork: in the child, the inherited ones are
kept referenced (closing them there would drop the parent's POSIX locks on the
file) and the pool starts empty.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable

# connections inherited over a fork: kept referenced so that the child never
# closes (and so never disturbs) a connection its parent still uses
INHERITED: list[sqlite3.Connection] = []

DEFAULT_SIZE = 8


class PoolTimeout(Exception):
    """Every connection stayed in use for the whole timeout."""


class ConnectionPool:
    def __init__(self, size: int = DEFAULT_SIZE):
        self.size = max(1, size)
        self.generation = 0
        self._start()
        _POOLS.add(self)

    def _start(self) -> None:
        self._lock = threading.Lock()  # taken directly on the fast paths (no Python-level __enter__)
        self._cond = threading.Condition(self._lock)
        self._idle: list[sqlite3.Connection] = []
        self._open = 0
        self._waiting = 0
        self.generation += 1

    @property
    def open_count(self) -> int:
        return self._open

    def take(self, connect: Callable[[], sqlite3.Connection | None],
             timeout: float) -> tuple[sqlite3.Connection | None, int]:
        """An idle connection, or a new one from ``connect`` while fewer than ``size``
        are open (``connect`` may answer None: nothing to open yet); waits up to
        ``timeout`` seconds for one to come back. Returns it with the pool generation
        to hand back to ``give``/``discard``."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), self.generation
            if self._open >= self.size:
                self._wait(timeout)
                if self._idle:
                    return self._idle.pop(), self.generation
            self._open += 1
            generation = self.generation
        try:
            conn = connect()
        except BaseException:
            self._release_slot(generation)
            raise
        if conn is None:
            self._release_slot(generation)
        return conn, generation

    def _wait(self, timeout: float) -> None:
        """Wait (holding the condition) until a connection is idle or a slot is free."""
        deadline = time.monotonic() + timeout
        self._waiting += 1
        try:
            while not self._idle and self._open >= self.size:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PoolTimeout(f"all {self.size} connections stayed in use for {timeout:g}s")
                self._cond.wait(left)
        finally:
            self._waiting -= 1

    def give(self, conn: sqlite3.Connection, generation: int) -> None:
        """Hand a connection back; one left inside a transaction is rolled back or closed."""
        if generation != self.generation:  # taken before a fork: the parent's
            INHERITED.append(conn)
            return
        if conn.in_transaction:
            try:
                conn.rollback()
            except sqlite3.Error:
                self.discard(conn, generation)
                return
        with self._lock:
            self._idle.append(conn)
            if self._waiting:
                self._cond.notify()

    def discard(self, conn: sqlite3.Connection, generation: int) -> None:
        """Close a connection that may not be used again."""
        if generation != self.generation:
            INHERITED.append(conn)
            return
        try:
            conn.close()
        except sqlite3.Error:
            pass
        self._release_slot(generation)

    def close_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()

    def _release_slot(self, generation: int) -> None:
        if generation != self.generation:
            return
        with self._lock:
            self._open -= 1
            if self._waiting:
                self._cond.notify()

    def _after_fork(self) -> None:
        INHERITED.extend(self._idle)
        self._start()  # a new lock: the old one may be held by a thread that is gone

    def __del__(self) -> None:
        for conn in getattr(self, "_idle", ()):
            try:
                conn.close()
            except Exception:  # interpreter shutdown
                pass


_POOLS: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()
_SHARED: weakref.WeakValueDictionary[tuple, ConnectionPool] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_pool(path: str, *key: object, size: int = DEFAULT_SIZE) -> ConnectionPool:
    """The pool of ``path`` (opened alike: ``key``) in this process, shared by every
    store on that file (a reloaded configuration, two caches on one file) while any
    of them is alive."""
    full_key = (os.path.abspath(path), *key)
    with _SHARED_LOCK:
        pool = _SHARED.get(full_key)
        if pool is None:
            pool = _SHARED[full_key] = ConnectionPool(size)
        return pool


def _after_fork_in_child() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for pool in list(_POOLS):
        pool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
