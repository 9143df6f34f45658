"""``on_error`` of a source: the configured answers as an ErrorPolicy (see sources/on_error.py)."""

from __future__ import annotations

from ..sources.on_error import ErrorAnswer, ErrorPolicy
from .colors import parse_color
from .errors import ConfigError, join_path


def parse_on_error(conf: object, path: str) -> ErrorPolicy:
    """Build the policy of an ``on_error`` mapping; errors name the key path."""
    if not isinstance(conf, dict):
        raise ConfigError("expected a mapping of HTTP status codes or 'other' to answers", path)
    by_status: dict[int, ErrorAnswer] = {}
    other = None
    for key, entry in conf.items():
        epath = join_path(path, str(key))
        answer = _answer(entry, epath)
        if str(key).strip().lower() == "other":
            other = answer
            continue
        try:
            status = int(str(key).strip())
        except ValueError:
            status = 0
        if not 100 <= status <= 599 or isinstance(key, bool):
            raise ConfigError(f"expected an HTTP status code (100-599) or 'other', got {key!r}", epath)
        by_status[status] = answer
    return ErrorPolicy(by_status, other)


def _answer(entry: object, path: str) -> ErrorAnswer:
    if not isinstance(entry, dict):
        raise ConfigError("expected a mapping with response, cache and authorize_stale", path)
    color = parse_color(entry["response"], join_path(path, "response")) if entry.get("response") is not None else None
    for key in ("cache", "authorize_stale"):
        if key in entry and not isinstance(entry[key], bool):
            raise ConfigError(f"expected true or false, got {entry[key]!r}", join_path(path, key))
    return ErrorAnswer(color, cache=bool(entry.get("cache", False)), authorize_stale=bool(entry.get("authorize_stale", False)))
