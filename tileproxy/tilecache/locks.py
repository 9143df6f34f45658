"""The lock protocol, and file locks shared by threads and processes on one machine.

Callers hold two kinds of lock, declared here as protocols so that a lock shared
by many machines (Redis, say) can stand in for the file-based ones:

- ``Lock``: one exclusive holder (a meta tile being built, a seed run of a cache):
  ``acquire()``, ``release()``, or ``with lock:``. ``FileLock`` implements it.
- ``Slots``: at most N holders (``concurrent_requests`` of a source):
  ``with slots.hold():``. ``Semaphore`` implements it.
- ``LockMaker``: makes the named ``Lock`` of a meta tile or a seed run.
  ``FileLocks`` makes file locks in one directory; ``redis_locks.RedisLocks``
  (``globals.cache.lock.type: redis``) makes locks that every node sees.

Waiting is bounded: both raise ``LockTimeout`` after their timeout, so no request
hangs forever.

A file lock is a file in a lock directory, held with ``flock``.

When the lock file cannot be made (a read-only or full disk, a lock directory
under a regular file, no permission), the lock falls back to one held within this
process only, and a warning says so (once a minute per directory): requests are
still answered, only other processes are no longer kept out.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

log = logging.getLogger("tileproxy.locks")  # (the name docs/deployment.md gives)


class LockTimeout(Exception):
    pass


class Lock(Protocol):
    """One exclusive holder at a time; ``acquire`` raises LockTimeout when it waited too long."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...

    def __enter__(self) -> Lock: ...

    def __exit__(self, *exc: object) -> None: ...


class LockMaker(Protocol):
    """Makes the lock called ``name`` (unique per cache and meta tile), waiting up to ``timeout``."""

    def lock(self, name: str, timeout: float) -> Lock: ...


class Slots(Protocol):
    """At most a fixed number of holders; ``hold`` raises LockTimeout when it waited too long."""

    def hold(self) -> AbstractContextManager[None]: ...


class _LocalLocks:
    """Named locks within this process, for lock files that cannot be made. An entry
    lives while someone holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[str, list] = {}  # name -> [lock, holders and waiters]

    def acquire(self, name: str, timeout: float) -> bool:
        with self._guard:
            entry = self._entries.setdefault(name, [threading.Lock(), 0])
            entry[1] += 1
        if entry[0].acquire(timeout=max(timeout, 0.0)):
            return True
        self._leave(name)
        return False

    def release(self, name: str) -> None:
        self._entries[name][0].release()
        self._leave(name)

    def _leave(self, name: str) -> None:
        with self._guard:
            entry = self._entries[name]
            entry[1] -= 1
            if not entry[1]:
                del self._entries[name]


_LOCAL = _LocalLocks()
_WARNED: dict[str, float] = {}


def _warn_local(directory: str, ex: OSError) -> None:
    now = time.monotonic()
    if now - _WARNED.get(directory, -1e9) > 60:
        _WARNED[directory] = now
        log.warning("cannot create lock files in %s (%s): locking within this process only, "
                    "other processes may create the same tiles", directory, ex.strerror or ex)


_BACKOFF = (0.002, 0.005, 0.01, 0.02, 0.05)


def _try_lock(path: str) -> int | None:
    """Take the lock at ``path`` without blocking; returns the fd or None."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as ex:
        os.close(fd)
        if ex.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    # the holder before us may have removed the file after we opened it
    try:
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None
    return fd


class FileLock:
    """An exclusive lock on ``path``; the file is removed on release."""

    def __init__(self, path: str, timeout: float = 60.0, remove_on_unlock: bool = True):
        self.path = path
        self.timeout = timeout
        self.remove_on_unlock = remove_on_unlock
        self._fd: int | None = None
        self._local = False  # held as a lock within this process

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            attempt = 0
            while True:
                fd = _try_lock(self.path)
                if fd is not None:
                    self._fd = fd
                    return
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"could not lock {self.path} within {self.timeout:g}s")
                time.sleep(_BACKOFF[min(attempt, len(_BACKOFF) - 1)])
                attempt += 1
        except OSError as ex:
            _warn_local(os.path.dirname(self.path), ex)
        if not _LOCAL.acquire(self.path, deadline - time.monotonic()):
            raise LockTimeout(f"could not lock {self.path} within {self.timeout:g}s")
        self._local = True

    def release(self) -> None:
        if self._local:
            self._local = False
            _LOCAL.release(self.path)
            return
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.remove_on_unlock:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileLocks:
    """File locks in ``lock_dir``: ``<name>.lck``."""

    def __init__(self, lock_dir: str):
        self.lock_dir = lock_dir

    def lock(self, name: str, timeout: float) -> FileLock:
        return FileLock(os.path.join(self.lock_dir, f"{name}.lck"), timeout=timeout)


class Semaphore:
    """At most ``count`` holders across processes: ``count`` lock files in ``lock_dir``."""

    def __init__(self, lock_dir: str, name: str, count: int, timeout: float = 60.0):
        self.paths = [os.path.join(lock_dir, f"{name}-{i}.lck") for i in range(count)]
        self.lock_dir = lock_dir
        self.timeout = timeout
        self._in_process = threading.BoundedSemaphore(count)  # when no lock file can be made

    @contextmanager
    def hold(self) -> Iterator[None]:
        deadline = time.monotonic() + self.timeout
        try:
            fd = self._take_slot(deadline)
        except OSError as ex:
            _warn_local(self.lock_dir, ex)
            fd = None
        if fd is None:
            if not self._in_process.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                raise self._timeout()
            try:
                yield
            finally:
                self._in_process.release()
            return
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _take_slot(self, deadline: float) -> int:
        os.makedirs(self.lock_dir, exist_ok=True)
        attempt = 0
        while True:
            for path in self.paths:
                fd = _try_lock(path)
                if fd is not None:
                    return fd
            if time.monotonic() >= deadline:
                raise self._timeout()
            time.sleep(_BACKOFF[min(attempt, len(_BACKOFF) - 1)])
            attempt += 1

    def _timeout(self) -> LockTimeout:
        return LockTimeout(f"no free slot of {len(self.paths)} concurrent requests within {self.timeout:g}s")
