"""``cache.max_size``, ``cache.max_size_sweep_interval`` and ``cache.protect_levels``
of a cache: its ``Quota`` (stores/quota.py), attached to its file or compact stores."""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING, Any

from ..stores.base import TileStore
from .context import BuildContext
from .errors import ConfigError, join_path

if TYPE_CHECKING:
    from ..stores.quota import Quota

QUOTA_KEYS = ("max_size", "max_size_sweep_interval", "protect_levels")

_AMOUNT = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)
# binary multiples, as du -h and nginx's max_size count: 1 KB = 1024 bytes
_SIZE_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1}
for _i, _letter in enumerate("kmgt", start=1):
    for _suffix in ("", "b", "ib"):
        _SIZE_UNITS[_letter + _suffix] = 1024 ** _i

_INTERVAL_UNITS = {"": 1, "s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60,
                   "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600}


def parse_size(value: Any, path: str) -> int:
    """Bytes of ``20GB``, ``500 MB``, ``1.5TB``, ``64KiB``, ``1000 bytes`` or a number."""
    size = _amount(value, path, _SIZE_UNITS, "a size such as 20GB, 500MB, 64KB, 1TB or a number of bytes")
    if size < 1:
        raise ConfigError(f"expected a size above zero, got {value!r}", path)
    return int(size)


def parse_interval(value: Any, path: str) -> float:
    """Seconds of ``300``, ``30s``, ``5m``, ``5 min`` or ``1h``."""
    seconds = _amount(value, path, _INTERVAL_UNITS, "seconds or a duration such as 30s, 5m or 1h")
    if seconds < 0:
        raise ConfigError(f"expected zero or more seconds, got {value!r}", path)
    return seconds


def _amount(value: Any, path: str, units: dict[str, int], expected: str) -> float:
    """A number, or a number and one of ``units`` (case-insensitive), times the unit."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    found = _AMOUNT.fullmatch(value) if isinstance(value, str) else None
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in units:
        raise ConfigError(f"expected {expected}, got {value!r}", path)
    return float(found.group(1)) * units[unit]


def _level(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"expected a level number (0 or more), got {value!r}", path)
    return value


def parse_protect_levels(value: Any, path: str, top_level: int) -> frozenset[int]:
    """A level (``3``), a list of levels (``[0, 1, 2]``) or a range like seed.yaml's
    levels (``{from: 0, to: 8}``, both ends included; ``to`` defaults to the last level)."""
    if value is None:
        return frozenset()
    if isinstance(value, dict):
        unknown = [k for k in value if k not in ("from", "to")]
        if unknown:
            raise ConfigError(f"unknown key '{unknown[0]}' (use from and to)", join_path(path, str(unknown[0])))
        first = _level(value.get("from", 0), join_path(path, "from"))
        last = _level(value.get("to", top_level), join_path(path, "to"))
        if last < first:
            raise ConfigError(f"'to' ({last}) is below 'from' ({first})", path)
        return frozenset(range(first, last + 1))
    if isinstance(value, list):
        return frozenset(_level(v, join_path(path, i)) for i, v in enumerate(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return frozenset([_level(value, path)])
    raise ConfigError(f"expected a level, a list of levels or {{from: N, to: M}}, got {value!r}", path)


def cache_quota(ctx: BuildContext, name: str, backend: dict, path: str, stores: list[TileStore],
                lock_dir: str, readonly: bool, top_level: int) -> Quota | None:
    """The Quota of a cache whose ``cache:`` block (``backend``, at ``path``.cache) sets
    max_size, attached to its ``stores``; None without max_size."""
    key = join_path(path, "cache")
    if backend.get("max_size") is None:
        for other in QUOTA_KEYS[1:]:
            if other in backend:
                ctx.warn(join_path(key, other), "ignored without cache.max_size")
        return None
    max_size = parse_size(backend["max_size"], join_path(key, "max_size"))
    kind = backend.get("type", "file")
    if kind not in ("file", "compact"):
        raise ConfigError(f"max_size works on file and compact caches, not on '{kind}'", join_path(key, "max_size"))
    if readonly:
        raise ConfigError("a cache without sources cannot get removed tiles back: max_size would only lose them",
                          join_path(key, "max_size"))
    from ..stores.quota import DEFAULT_SWEEP_INTERVAL, Quota, area_of

    interval = DEFAULT_SWEEP_INTERVAL
    if backend.get("max_size_sweep_interval") is not None:
        interval = parse_interval(backend["max_size_sweep_interval"], join_path(key, "max_size_sweep_interval"))
    protect = parse_protect_levels(backend.get("protect_levels"), join_path(key, "protect_levels"), top_level)
    inner = [store.inner for store in stores]
    areas = [area_of(store) for store in inner]  # type: ignore[arg-type]
    digest = hashlib.md5("\0".join(a.directory for a in areas).encode()).hexdigest()[:12]
    quota = Quota(name, max_size, areas, os.path.join(lock_dir, f"quota-{name}-{digest}.lock"),
                  protect=protect, sweep_interval=interval)
    for store in inner:
        store.quota = quota
    return quota
