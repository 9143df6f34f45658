"""One access log line per request on the ``tileproxy.access`` logger, at INFO.

Fields: time, remote, method, path (with the values of secret query parameters such
as ``token`` or ``api_key`` replaced by ``***``), status, bytes, duration_ms, service,
layer, cache (hit, miss, stale, bypass or -: the response's Cache-Status) and
source_ms (the time this request waited for HTTP sources, summed over all of them).
A JSON object with ``globals.log_format: json``, else ``key=value`` pairs. The health
probes (/healthz, /readyz) are logged at DEBUG only.

The app's entry asks ``ACCESS.isEnabledFor(INFO)`` once per request; with the logger
off, that is all it costs. Source time is summed through a context variable that the
HTTP client adds to (``add_source_time``); threads that fetch for a request get it
through ``carried``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote

from .metrics import LayerNames
from .tilecache.cache_status import HIT

ACCESS = logging.getLogger("tileproxy.access")
INFO = logging.INFO
LOGGED = "tileproxy.access_logged"  # in the environ of a request being logged (no second line)
PROBES = ("/healthz", "/readyz")
FORMATS = ("text", "json")
# query parameters whose values are secrets, lower case
SECRET_PARAMS = frozenset({"token", "access_token", "auth", "authorization", "api_key", "apikey", "api-key",
                           "key", "password", "passwd", "pwd", "secret", "signature", "sig", "sessionid"})
_HIT_HEADER = HIT.header()
_SECRET_HINTS = ("token", "auth", "key", "pass", "pwd", "secret", "sig", "session")

_source_times: ContextVar[list[float] | None] = ContextVar("tileproxy_source_times", default=None)

T = TypeVar("T")


def add_source_time(seconds: float) -> None:
    """Count ``seconds`` of waiting for a source towards the request being logged, if any."""
    times = _source_times.get()
    if times is not None:
        times.append(seconds)  # list.append is atomic: threads of one request may add at once


def carried(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` for a worker thread: its source time counts towards the calling request."""
    times = _source_times.get()
    if times is None:
        return fn

    def run(*args: Any) -> T:
        token = _source_times.set(times)
        try:
            return fn(*args)
        finally:
            _source_times.reset(token)

    return run


class AccessLog:
    """Logs the requests of one app; ``names`` maps URL layer names to layers."""

    def __init__(self, names: LayerNames, log_format: str = "text"):
        self.names = names
        self.json = log_format == "json"

    def logged(self, app: Callable, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """``app``'s answer to ``environ``, logged."""
        started = time.perf_counter()
        answer: list[Any] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            answer[:] = [status, headers]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        times: list[float] = []
        token = _source_times.set(times)
        environ[LOGGED] = True
        try:
            body = app(environ, start)
        finally:
            _source_times.reset(token)
        status, headers = answer if answer else ("500 Internal Server Error", [])
        nbytes = sum(len(part) for part in body) if isinstance(body, list) else -1
        self._write(environ, status, headers, nbytes, time.perf_counter() - started, sum(times, 0.0))
        return body

    def _write(self, environ: dict, status: str, headers: list[tuple[str, str]], nbytes: int,
               seconds: float, source_seconds: float) -> None:
        path = environ.get("PATH_INFO", "")
        level = logging.DEBUG if path in PROBES else INFO
        if not ACCESS.isEnabledFor(level):
            return
        query = environ.get("QUERY_STRING", "")
        service, layer = self.names.service_and_layer(path, query)
        shown_query = without_secrets(query)
        fields = {
            "time": _now_text(),
            "remote": environ.get("REMOTE_ADDR", "-"),
            "method": environ.get("REQUEST_METHOD", "-"),
            "path": environ.get("SCRIPT_NAME", "") + path + ("?" + shown_query if shown_query else ""),
            "status": int(status[:3]),
            "bytes": nbytes,
            "duration_ms": round(seconds * 1000, 2),
            "service": service,
            "layer": layer or "-",
            "cache": cache_result(headers),
            "source_ms": round(source_seconds * 1000, 2),
        }
        # a record made here, not through ACCESS.log: no look up the stack for the caller
        record = ACCESS.makeRecord(ACCESS.name, level, __file__, 0, "%s",
                                   (_JSONLine(fields) if self.json else _TextLine(fields),), None,
                                   extra={"access": fields})
        ACCESS.handle(record)


_clock: list[Any] = [0, ""]  # the second and its text, made once a second


def _now_text() -> str:
    now = int(time.time())
    if now != _clock[0]:
        _clock[:] = [now, time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now))]
    return _clock[1]


def cache_result(headers: list[tuple[str, str]]) -> str:
    """hit, stale (a stale tile sent), miss (asked the source), bypass, or - (no Cache-Status)."""
    value = next((v for k, v in headers if k == "Cache-Status"), None)
    if value is None:
        return "-"
    if value == _HIT_HEADER:
        return "hit"
    if "detail=stale" in value:  # stale, or stale-if-error
        return "stale"
    if "; hit" in value:
        return "hit"
    return "bypass" if "fwd=bypass" in value else "miss" if "fwd=" in value else "-"


def without_secrets(query: str) -> str:
    """``query`` with the values of secret parameters replaced by ``***``."""
    if not query:
        return query
    lowered = query.lower()
    if not any(hint in lowered for hint in _SECRET_HINTS):
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='')}={'***' if k.lower() in SECRET_PARAMS else quote(v, safe=',:/')}"
                    for k, v in pairs)


class _TextLine:
    """``key=value`` pairs, formatted only when a handler writes the record."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]):
        self.fields = fields

    def __str__(self) -> str:
        f = self.fields
        return (f"time={f['time']} remote={f['remote']} method={_text(f['method'])} "
                f"path={_text(f['path'])} status={f['status']} bytes={f['bytes']} "
                f"duration_ms={f['duration_ms']} service={f['service']} layer={_text(f['layer'])} "
                f"cache={f['cache']} source_ms={f['source_ms']}")


class _JSONLine(_TextLine):
    __slots__ = ()

    def __str__(self) -> str:
        return json.dumps(self.fields, separators=(",", ":"))


_NEEDS_QUOTES = re.compile(r'[\x00-\x20"\\\x7f-\xa0]|^$')


def _text(value: str) -> str:
    """``value``, in JSON quotes when it is empty or holds spaces, quotes, backslashes or
    control characters (so that the line splits into its pairs at spaces)."""
    return json.dumps(value) if _NEEDS_QUOTES.search(value) else value
