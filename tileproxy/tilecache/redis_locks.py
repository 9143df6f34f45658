"""Locks that every tileproxy node sees: redis-py's ``Lock`` (``globals.cache.lock``
with ``type: redis``), for several nodes that share one cache.

A held lock has a time to live (``ttl``) that one renewal thread per process
extends every ``ttl / 3`` seconds while the lock is held, so a long render keeps
its lock and the lock of a node that died (no more renewals) expires after at
most ``ttl``. Waiting polls Redis and is bounded by the lock timeout.

When Redis cannot be reached, a lock falls back to the file lock of the cache's
lock directory and a warning says so (once a minute): requests are still
answered, only other nodes are no longer kept out. redis-py is the optional extra
``tileproxy[redis]``, imported when such a lock is configured."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from .locks import FileLocks, Lock, LockTimeout

log = logging.getLogger("tileproxy.locks")

DEFAULT_TTL = 30.0
DEFAULT_PREFIX = "tileproxy:lock:"
POLL = 0.02  # seconds between two tries of a waiting lock


class RedisLockService:
    """One Redis client and renewal thread per process, shared by every cache's locks."""

    def __init__(self, url: str, ttl: float = DEFAULT_TTL, prefix: str = DEFAULT_PREFIX,
                 timeout: float | None = None):
        import redis

        self.url = url
        self.ttl = ttl
        self.prefix = prefix
        self.timeout = timeout  # the wait limit when set, else each cache's lock timeout
        self.errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.not_owned: type[BaseException] = redis.exceptions.LockNotOwnedError
        # the pool reconnects in forked children (gunicorn workers) by itself
        self.client = redis.Redis.from_url(url, socket_timeout=max(5.0, ttl / 3), socket_connect_timeout=5.0)
        self._held: set[Any] = set()
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._pid = 0  # the process whose renewal thread runs (threads do not survive a fork)
        self._renewing = False
        self._warned = -1e9

    def locks(self, lock_dir: str) -> RedisLocks:
        """The lock maker of one cache; ``lock_dir`` holds its fallback file locks."""
        return RedisLocks(self, FileLocks(lock_dir))

    # -- renewal ---------------------------------------------------------------

    def hold(self, lock: Any) -> None:
        with self._guard:
            if self._pid != os.getpid():  # a forked child: the parent's locks and thread are not ours
                self._pid = os.getpid()
                self._held = set()
                self._renewing = False
            self._held.add(lock)
            if not self._renewing:
                self._renewing = True
                threading.Thread(target=self._renew_loop, args=(self._pid,), name="redis-lock-renewal",
                                 daemon=True).start()

    def drop(self, lock: Any) -> None:
        with self._guard:
            self._held.discard(lock)

    def _renew_loop(self, pid: int) -> None:
        """Renews the held locks every ttl / 3; ends when none is held (the next
        ``hold`` starts it again), so a configuration that was replaced leaves no thread."""
        while True:
            self._wake.wait(self.ttl / 3)
            with self._guard:
                if self._pid != pid or not self._held:
                    if self._pid == pid:
                        self._renewing = False
                    return
                held = list(self._held)
            for lock in held:
                try:
                    lock.reacquire()
                except self.not_owned:
                    self.drop(lock)
                    log.error("redis lock %s expired before it was renewed; another node may build "
                              "the same tiles", _name(lock))
                except self.errors as ex:
                    log.warning("cannot renew redis lock %s: %s", _name(lock), ex)

    def warn_unreachable(self, ex: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned > 60:
            self._warned = now
            log.warning("redis at %s cannot be reached (%s): locking with local files, other nodes "
                        "may create the same tiles", self.url, ex)


class RedisLocks:
    """The ``LockMaker`` of one cache over a ``RedisLockService``."""

    def __init__(self, service: RedisLockService, fallback: FileLocks):
        self.service = service
        self.fallback = fallback
        self.lock_dir = fallback.lock_dir

    def lock(self, name: str, timeout: float) -> RedisLock:
        wait = self.service.timeout if self.service.timeout is not None else timeout
        return RedisLock(self, name, wait)


class RedisLock:
    """One redis-py lock, renewed while held; a file lock when Redis is away."""

    def __init__(self, maker: RedisLocks, name: str, timeout: float):
        self.maker = maker
        self.name = name
        self.timeout = timeout
        self._lock: Any = None
        self._local: Lock | None = None

    def acquire(self) -> None:
        service = self.maker.service
        deadline = time.monotonic() + self.timeout
        lock = service.client.lock(service.prefix + self.name, timeout=service.ttl, sleep=POLL,
                                   blocking_timeout=self.timeout, thread_local=False)
        try:
            got = lock.acquire()
        except service.errors as ex:
            service.warn_unreachable(ex)
            local = self.maker.fallback.lock(self.name, max(deadline - time.monotonic(), 0.0))
            local.acquire()
            self._local = local
            return
        if not got:
            raise LockTimeout(f"could not take redis lock {self.name} within {self.timeout:g}s")
        self._lock = lock
        service.hold(lock)

    def release(self) -> None:
        local, self._local = self._local, None
        if local is not None:
            local.release()
            return
        lock, self._lock = self._lock, None
        if lock is None:
            return
        service = self.maker.service
        service.drop(lock)
        try:
            lock.release()
        except service.not_owned:
            log.warning("redis lock %s had expired when it was released", self.name)
        except service.errors as ex:
            log.warning("cannot release redis lock %s (it expires by itself): %s", self.name, ex)

    def __enter__(self) -> RedisLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _name(lock: Any) -> str:
    name = lock.name
    return name.decode() if isinstance(name, bytes) else str(name)
