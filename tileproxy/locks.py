"""File locks shared by threads and processes on one machine.

A lock is a file in a lock directory, held with ``flock``. Waiting is bounded:
``LockTimeout`` is raised after ``timeout`` seconds, so no request hangs forever.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class LockTimeout(Exception):
    pass


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

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        deadline = time.monotonic() + self.timeout
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

    def release(self) -> None:
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


class Semaphore:
    """At most ``count`` holders across processes: ``count`` lock files in ``lock_dir``."""

    def __init__(self, lock_dir: str, name: str, count: int, timeout: float = 60.0):
        self.paths = [os.path.join(lock_dir, f"{name}-{i}.lck") for i in range(count)]
        self.lock_dir = lock_dir
        self.timeout = timeout
        self._local = threading.local()

    @contextmanager
    def hold(self) -> Iterator[None]:
        os.makedirs(self.lock_dir, exist_ok=True)
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            for path in self.paths:
                fd = _try_lock(path)
                if fd is not None:
                    try:
                        yield
                    finally:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                        os.close(fd)
                    return
            if time.monotonic() >= deadline:
                raise LockTimeout(f"no free slot of {len(self.paths)} concurrent requests within {self.timeout:g}s")
            time.sleep(_BACKOFF[min(attempt, len(_BACKOFF) - 1)])
            attempt += 1
