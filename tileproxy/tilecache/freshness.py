"""When is a cached tile too old? ``refresh_before`` rules, shared by serving and seeding.

A rule is one of (MapProxy's keys and order of precedence):

- ``time: <ISO datetime>``: tiles written before that moment are stale;
- ``mtime: <file>``: tiles older than the file's modification time are stale
  (the file is stat'ed once per call of :meth:`RefreshBefore.cutoff`);
- any sum of ``weeks``/``days``/``hours``/``minutes``/``seconds``: tiles older
  than that, counted back from ``now``, are stale.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass

from ..config.errors import ConfigError, join_path

log = logging.getLogger("tileproxy.freshness")

DURATION_KEYS = {"weeks": 7 * 86400.0, "days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


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


def parse_refresh_before(conf: object, path: str, base_dir: str = ".") -> RefreshBefore:
    """Build a rule from a ``refresh_before`` (or seed ``remove_before``) mapping;
    errors name the key path. Relative ``mtime`` paths resolve against ``base_dir``."""
    if not isinstance(conf, dict) or not conf:
        raise ConfigError("expected one of time, mtime or a duration (weeks, days, hours, minutes, seconds)", path)
    kinds = [k for k in ("time", "mtime") if k in conf] + (["duration"] if DURATION_KEYS.keys() & conf.keys() else [])
    if len(kinds) > 1:
        log.warning("%s: both %s given; %s wins (as in MapProxy)", path, " and ".join(kinds), kinds[0])
    if "time" in conf:
        return RefreshBefore(time=_parse_time(conf["time"], join_path(path, "time")))
    if "mtime" in conf:
        value = conf["mtime"]
        if not isinstance(value, str) or not value:
            raise ConfigError("expected a file name", join_path(path, "mtime"))
        file = os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))
        if not os.path.exists(file):
            log.warning("%s: %s does not exist (yet); no tile counts as stale until it does", join_path(path, "mtime"), file)
        return RefreshBefore(mtime_file=file)
    total = 0.0
    for key, factor in DURATION_KEYS.items():
        if key not in conf:
            continue
        value = conf[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"expected a number >= 0, got {value!r}", join_path(path, key))
        total += float(value) * factor
    if not DURATION_KEYS.keys() & conf.keys():
        raise ConfigError("expected one of time, mtime or a duration (weeks, days, hours, minutes, seconds)", path)
    return RefreshBefore(max_age=total)


def _parse_time(value: object, path: str) -> float:
    """ISO date/time (YAML may already have made it a datetime); naive times are local time."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"expected an ISO date/time such as 2024-05-01T12:00:00, got {value!r}", path) from None
    else:
        raise ConfigError(f"expected an ISO date/time, got {value!r}", path)
    return moment.timestamp()  # naive: local time


def seeding_rule(task_rule: RefreshBefore | None, cache_rule: RefreshBefore | None) -> RefreshBefore | None:
    """The rule a seed task applies to a cache: its own ``refresh_before`` wins;
    without one, the cache's serving rule, so that a seed run leaves no tile that
    serving would refresh at once. None: the seed only creates missing tiles."""
    return task_rule if task_rule is not None else cache_rule
