"""Points in time and durations as seed.yaml and the seed command line write them."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from typing import Any

from ..config.errors import ConfigError, join_path
from ..config.refresh import DURATION_KEYS, parse_refresh_before
from ..freshness import RefreshBefore

log = logging.getLogger("tileproxy.seed")

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*$")
_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_rule(value: Any, path: str, base_dir: str) -> RefreshBefore:
    """``refresh_before`` / ``remove_before`` of a seed or cleanup task: the rules of
    ``tileproxy.freshness`` (``time``, ``mtime`` relative to ``base_dir``, durations).
    A missing ``mtime`` file is an error here."""
    if isinstance(value, dict):
        for key in value:
            if key not in DURATION_KEYS and key not in ("time", "mtime"):
                log.warning("%s: unknown key, ignored (known: time, mtime, %s)", join_path(path, str(key)),
                            ", ".join(DURATION_KEYS))
    rule = parse_refresh_before(value, path, base_dir)
    if rule.mtime_file is not None and not os.path.exists(rule.mtime_file):
        raise ConfigError(f"cannot read the modification time of {rule.mtime_file}: no such file",
                          join_path(path, "mtime"))
    return rule


def parse_before(value: Any, path: str, start: float, base_dir: str) -> float:
    """``remove_before`` as a moment, durations counted back from ``start``."""
    cutoff = parse_rule(value, path, base_dir).cutoff(start)
    return start if cutoff is None else cutoff


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
