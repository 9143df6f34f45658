"""Patience with weak sources: retries with exponential backoff per meta tile, a
failure budget per run, and a request rate limit per source. Clock and sleep are
injectable so that tests check the waiting without waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class TooManyFailures(Exception):
    """The run's failure budget is used up."""


@dataclass
class RetryPolicy:
    max_retries: int = 3  # further attempts per meta tile after the first
    delay: float = 2.0  # seconds before the first retry, doubled each time
    max_delay: float = 600.0
    max_failures: int | None = 100  # meta tiles that may fail for good before the run stops
    sleep: Sleep = field(default=time.sleep, repr=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return min(self.delay * 2 ** (attempt - 1), self.max_delay)

    def run(self, action: Callable[[], object], retry_on: tuple[type[BaseException], ...],
            on_retry: Callable[[int, BaseException, float], None] | None = None,
            stop: threading.Event | None = None) -> object:
        """``action()``, retried on ``retry_on`` up to ``max_retries`` times; the last
        error propagates. A set ``stop`` event ends the waiting early."""
        attempt = 0
        while True:
            try:
                return action()
            except retry_on as ex:
                attempt += 1
                if attempt > self.max_retries or (stop is not None and stop.is_set()):
                    raise
                wait = self.backoff(attempt)
                if on_retry:
                    on_retry(attempt, ex, wait)
                self.sleep(wait)


class FailureBudget:
    """Counts meta tiles that failed for good; raises once there are too many."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    def spend(self) -> None:
        with self._lock:
            self.count += 1
            if self.limit is not None and self.count > self.limit:
                raise TooManyFailures(f"more than {self.limit} meta tiles failed; stopping")


class RateLimiter:
    """At most ``rate`` acquisitions per second, spread evenly, shared by threads."""

    def __init__(self, rate: float, clock: Clock = time.monotonic, sleep: Sleep = time.sleep):
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for the next slot; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self.sleep(wait)
        return wait
