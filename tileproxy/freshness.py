"""When is a cached tile too old? ``refresh_before`` rules, shared by serving and seeding.

A rule is one of (MapProxy's keys and order of precedence):

- ``time: <ISO datetime>``: tiles written before that moment are stale;
- ``mtime: <file>``: tiles older than the file's modification time are stale
  (the file is stat'ed once per call of :meth:`RefreshBefore.cutoff`);
- any sum of ``weeks``/``days``/``hours``/``minutes``/``seconds``: tiles older
  than that, counted back from ``now``, are stale.

config/refresh.py reads the rules from the configuration.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class RefreshBefore:
    """Exactly one of ``time`` (epoch seconds), ``mtime_file`` or ``max_age`` (seconds) is set."""

    time: float | None = None
    mtime_file: str | None = None
    max_age: float | None = None

    def cutoff(self, now: float) -> float | None:
        """Tiles with a timestamp before this are stale; None: nothing is stale
        (only when the ``mtime`` file does not exist)."""
        if self.time is not None:
            return self.time
        if self.mtime_file is not None:
            try:
                return os.stat(self.mtime_file).st_mtime
            except OSError:
                return None
        return now - (self.max_age or 0.0)

    def is_stale(self, timestamp: float | None, now: float) -> bool:
        """True when a tile written at ``timestamp`` must be refreshed at ``now``."""
        return is_older(timestamp, self.cutoff(now))

    def remaining(self, timestamp: float, now: float) -> float | None:
        """Seconds until a tile of ``timestamp`` turns stale (negative: stale since);
        None when that cannot be known in advance (``time`` and ``mtime`` rules)."""
        if self.max_age is None:
            return None
        return timestamp + self.max_age - now

    def describe(self) -> str:
        if self.time is not None:
            return f"written before {dt.datetime.fromtimestamp(self.time).isoformat(timespec='seconds')}"
        if self.mtime_file is not None:
            return f"older than {self.mtime_file}"
        return f"older than {self.max_age:g}s"


def is_older(timestamp: float | None, cutoff: float | None) -> bool:
    """The staleness test with a cutoff computed once: tiles without a timestamp
    never count as stale (their store cannot tell)."""
    return cutoff is not None and timestamp is not None and timestamp < cutoff


def seeding_rule(task_rule: RefreshBefore | None, cache_rule: RefreshBefore | None) -> RefreshBefore | None:
    """The rule a seed task applies to a cache: its own ``refresh_before`` wins;
    without one, the cache's serving rule, so that a seed run leaves no tile that
    serving would refresh at once. None: the seed only creates missing tiles."""
    return task_rule if task_rule is not None else cache_rule
