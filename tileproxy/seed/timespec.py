"""Points in time and durations as seed.yaml and the seed command line write them."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from typing import Any

from ..config.errors import ConfigError, join_path

_RELATIVE = {"weeks": 7 * 86400.0, "days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*$")
_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_before(value: Any, path: str, start: float, base_dir: str) -> float:
    """``refresh_before`` / ``remove_before``: ``time`` (ISO, local time when it has
    no zone), ``mtime`` (a file's modification time; relative to ``base_dir``) or
    ``weeks``/``days``/``hours``/``minutes``/``seconds`` before ``start``."""
    if not isinstance(value, dict) or not value:
        raise ConfigError("expected time, mtime or weeks/days/hours/minutes/seconds", path)
    unknown = [k for k in value if k not in _RELATIVE and k not in ("time", "mtime")]
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}' (use time, mtime or {', '.join(_RELATIVE)})",
                          join_path(path, unknown[0]))
    if "time" in value:
        return _absolute_time(value["time"], join_path(path, "time"))
    if "mtime" in value:
        file = os.path.join(base_dir, os.path.expanduser(str(value["mtime"])))
        try:
            return os.stat(file).st_mtime
        except OSError as ex:
            raise ConfigError(f"cannot read the modification time of {file}: {ex.strerror}",
                              join_path(path, "mtime")) from None
    seconds = 0.0
    for key, factor in _RELATIVE.items():
        if key in value:
            amount = value[key]
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
                raise ConfigError(f"expected a number >= 0, got {amount!r}", join_path(path, key))
            seconds += amount * factor
    return start - seconds


def _absolute_time(value: Any, path: str) -> float:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"'{value}' is not an ISO time like 2024-10-21T12:35:00", path) from None
    if not isinstance(value, dt.datetime):
        raise ConfigError(f"expected an ISO time like 2024-10-21T12:35:00, got {value!r}", path)
    if value.tzinfo is None:
        return time.mktime(value.timetuple()) + value.microsecond / 1e6
    return value.timestamp()


def parse_duration(text: str) -> float:
    """Seconds in ``120s``, ``15m``, ``4h``, ``0.5d``, ``2w`` (plain numbers are seconds)."""
    m = _DURATION_RE.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a duration like 120s, 15m, 4h or 0.5d")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def format_time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"
