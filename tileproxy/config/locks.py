"""``globals.cache.lock``: where meta tile locks live. ``type: file`` (the default)
keeps them in each cache's lock directory; ``type: redis`` with ``url`` keeps them
in Redis, so that several tileproxy nodes sharing one cache ask the source once
per meta tile (``ttl``: seconds a lock of a node that died lives on, default 30;
``timeout``: the longest wait, default ``globals.http.client_timeout``;
``prefix`` of the keys, default ``tileproxy:lock:``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..tilecache.locks import FileLocks, LockMaker
from .errors import ConfigError

PATH = "globals.cache.lock"


def lock_maker_factory(conf: Any) -> Callable[[str], LockMaker]:
    """A function from a cache's lock directory to the locks of that cache."""
    conf = conf or {}
    kind = conf.get("type", "file")
    if kind == "file":
        extra = sorted(set(conf) - {"type"})
        if extra:
            raise ConfigError(f"'{extra[0]}' is an option of redis locks, not of file locks", f"{PATH}.{extra[0]}")
        return FileLocks
    if kind != "redis":
        raise ConfigError(f"expected 'file' or 'redis', got {kind!r}", f"{PATH}.type")
    url = conf.get("url")
    if not url:
        raise ConfigError("redis locks need a url (redis://host:port/db)", f"{PATH}.url")
    if not str(url).startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"expected a redis://host:port/db URL, got {url!r}", f"{PATH}.url")
    for key in ("ttl", "timeout"):
        if key in conf and not float(conf[key]) > 0:
            raise ConfigError("expected a positive number of seconds", f"{PATH}.{key}")
    try:
        from ..tilecache.redis_locks import DEFAULT_PREFIX, DEFAULT_TTL, RedisLockService
    except ImportError:
        raise ConfigError("redis locks need redis-py: pip install 'tileproxy[redis]'", f"{PATH}.type") from None
    try:
        service = RedisLockService(str(url), ttl=float(conf.get("ttl", DEFAULT_TTL)),
                                   prefix=str(conf.get("prefix", DEFAULT_PREFIX)),
                                   timeout=float(conf["timeout"]) if "timeout" in conf else None)
    except ValueError as ex:
        raise ConfigError(f"bad redis URL {url!r}: {ex}", f"{PATH}.url") from None
    return service.locks
