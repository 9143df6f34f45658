"""Background refreshes: a few worker threads behind a bounded queue.

``submit`` never blocks: a job whose key is already pending is skipped (one
refresh per meta tile at a time), and a job that finds the queue full is dropped
and counted. Threads start on the first job, so forked servers start clean.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Hashable

log = logging.getLogger("tileproxy.refresh")


class RefreshPool:
    def __init__(self, workers: int = 2, queue_size: int = 256, name: str = "refresh", idle_seconds: float = 60.0):
        self.workers = max(1, workers)
        self.idle_seconds = idle_seconds  # idle workers end (a reloaded config leaves no threads behind)
        self.name = name
        self._queue: queue.Queue[tuple[Hashable, Callable[[], object]]] = queue.Queue(max(1, queue_size))
        self._pending: set[Hashable] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self.dropped = 0
        self.done = 0
        self.failed = 0

    def submit(self, key: Hashable, job: Callable[[], object]) -> bool:
        """Queue ``job`` unless ``key`` is pending or the queue is full; True when queued."""
        with self._lock:
            if key in self._pending:
                return False
            try:
                self._queue.put_nowait((key, job))
            except queue.Full:
                self.dropped += 1
                log.warning("%s: queue full, refresh of %s dropped (%d so far)", self.name, key, self.dropped)
                return False
            self._pending.add(key)
            self._start_workers()
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until no refresh is queued or running; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def _start_workers(self) -> None:
        """Called with the lock held."""
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            try:
                key, job = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    # submit() queues under this lock: an empty queue here stays empty until we are gone
                    if self._queue.empty():
                        self._threads.remove(threading.current_thread())
                        return
                continue
            try:
                job()
                ok = True
            except Exception:
                log.exception("%s: refresh of %s failed", self.name, key)
                ok = False
            with self._idle:
                self._pending.discard(key)
                if ok:
                    self.done += 1
                else:
                    self.failed += 1
                self._idle.notify_all()

    def thread_count(self) -> int:
        with self._lock:
            return len(self._threads)
