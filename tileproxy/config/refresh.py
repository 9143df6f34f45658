"""``refresh_before`` (a cache's) and ``refresh_before``/``remove_before`` (a seed
or cleanup task's): the configured rule as a RefreshBefore (see freshness.py)."""

from __future__ import annotations

import datetime as dt
import logging
import os

from ..freshness import RefreshBefore
from .errors import ConfigError, join_path

log = logging.getLogger("tileproxy.freshness")

DURATION_KEYS = {"weeks": 7 * 86400.0, "days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


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
