"""HTTP for the services: the WSGI request (with the public base URL behind proxies)
and response types, error statuses, and the caching headers of answers (ETag,
Last-Modified, Cache-Control/Expires, 304 Not Modified). Lean: the cached-tile
fast path uses it on every request."""

from __future__ import annotations

import hashlib
import math
import re
import time
import zlib
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote


class Request:
    __slots__ = ("environ", "method", "path", "_args", "_params")

    def __init__(self, environ: dict):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        # behind a proxy that passes its prefix in X-Script-Name, the path may still carry it
        script = (environ.get("HTTP_X_SCRIPT_NAME") or "").rstrip("/")
        if script and (path == script or path.startswith(script + "/")):
            path = path[len(script):] or "/"
        if not path.isascii():
            # WSGI hands the path over as latin-1 text of the raw bytes; URLs carry UTF-8
            # (layer names such as 'straße'); bytes that are no UTF-8 become U+FFFD
            try:
                path = path.encode("latin-1").decode("utf-8", "replace")
            except UnicodeEncodeError:
                pass  # already text (not from a WSGI server)
        self.path = path
        self._args: dict[str, str] | None = None
        self._params: list[tuple[str, str]] | None = None

    @property
    def params(self) -> list[tuple[str, str]]:
        """Query parameters in order, names as sent."""
        if self._params is None:
            self._params = parse_qsl(self.environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return self._params

    @property
    def args(self) -> dict[str, str]:
        """Query parameters with lower-case names (OGC names are case-insensitive); first wins."""
        if self._args is None:
            args: dict[str, str] = {}
            for key, value in self.params:
                args.setdefault(key.lower(), value)
            self._args = args
        return self._args

    def header(self, name: str) -> str | None:
        key = "HTTP_" + name.upper().replace("-", "_")
        return self.environ.get(key)

    @property
    def script_url(self) -> str:
        """The public base URL of the app, honouring proxy headers. Values that are
        no host name (or scheme) are ignored and the script name is percent-encoded,
        so that no header value can smuggle text into URLs, documents or headers."""
        env = self.environ
        scheme = (self.header("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
        if scheme not in ("http", "https"):
            scheme = env.get("wsgi.url_scheme", "http")
        host = (self.header("X-Forwarded-Host") or "").split(",")[0].strip()
        if not _HOST.match(host):
            host = (self.header("Host") or "").strip()
        if not _HOST.match(host):
            host = env.get("SERVER_NAME", "localhost")
            port = env.get("SERVER_PORT", "")
            if port:
                host += ":" + port
        # the scheme's default port is left out, as MapProxy does: http://localhost/service
        default_port = _DEFAULT_PORT.get(scheme)
        if default_port:
            host = host.removesuffix(default_port)
        script = self.header("X-Script-Name") or env.get("SCRIPT_NAME", "")
        if script and not script.startswith("/"):
            script = "/" + script  # a path, never part of the authority ('@evil.org')
        return f"{scheme}://{host}{quote(script.rstrip('/'), safe=_SCRIPT_SAFE, encoding='latin-1', errors='replace')}"


def unsafe_segment(segment: str) -> bool:
    """A URL path segment that is refused: dot segments, backslashes, NUL bytes."""
    return segment in ("..", ".") or "\\" in segment or "\x00" in segment


# a host name, IPv4 or bracketed IPv6 address with an optional port
_HOST = re.compile(r"^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?\Z")
_SCRIPT_SAFE = "/%!$&()*+,;=:@-._~"
_DEFAULT_PORT = {"http": ":80", "https": ":443"}


# documents carry URLs built from the proxy headers: shared caches must key on them
VARY = ("Vary", "X-Script-Name, X-Forwarded-Host, X-Forwarded-Proto")
DOCUMENT_TYPES = ("text/", "application/")


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, body: bytes | str = b"", status: int = 200, content_type: str | None = "text/plain; charset=utf-8",
                 headers: list[tuple[str, str]] | None = None):
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.status = status
        self.headers = headers if headers is not None else []
        if content_type:
            self.headers.append(("Content-Type", content_type))
            if content_type.startswith(DOCUMENT_TYPES) and VARY not in self.headers:
                self.headers.append(VARY)

    def set(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


STATUS_TEXT = {
    200: "200 OK",
    204: "204 No Content",
    301: "301 Moved Permanently",
    302: "302 Found",
    304: "304 Not Modified",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    500: "500 Internal Server Error",
    501: "501 Not Implemented",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
    504: "504 Gateway Timeout",
}


def status_line(code: int) -> str:
    return STATUS_TEXT.get(code, f"{code} Status")


class HTTPError(Exception):
    """Raised by services to answer with ``response``."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def tile_etag(timestamp: float | None, data: bytes) -> str:
    """MapProxy's ETag (md5 of timestamp and size) for tiles with a time; CRC-32 and
    size of the bytes for tiles from backends that keep none (MBTiles, GeoPackage,
    compact; MapProxy's ETag there is the same for every tile of the same size):
    several times cheaper than md5 on every answered tile, and it changes with any
    edit but one in four billion."""
    if timestamp is None:
        return f"{zlib.crc32(data):08x}{len(data):x}"
    return hashlib.md5(f"{timestamp}{len(data)}".encode()).hexdigest()


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TWO_DIGITS = tuple(f"{i:02d}" for i in range(62))  # days, hours, minutes, seconds (61: a leap second)


def http_date(timestamp: float) -> str:
    """An HTTP date (RFC 9110 IMF-fixdate), e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``;
    independent of the locale. Every stored tile's Last-Modified: the two-digit
    fields come from a table, the cheapest way Python formats them."""
    year, month, day, hour, minute, second, weekday = time.gmtime(timestamp)[:7]
    two = _TWO_DIGITS
    return (f"{_DAYS[weekday]}, {two[day]} {_MONTHS[month]} {year:04d} "
            f"{two[hour]}:{two[minute]}:{two[second]} GMT")


_expires: tuple[int, tuple[str, str]] = (-1, ("Expires", ""))


def expires_field(max_age: int) -> tuple[str, str]:
    """``("Expires", http_date(now + max_age))``, formatted at most once a second."""
    global _expires
    when = int(time.time()) + max_age
    if _expires[0] != when:
        _expires = (when, ("Expires", http_date(when)))
    return _expires[1]


def expires_header(max_age: int) -> str:
    """``http_date(now + max_age)``, formatted at most once a second."""
    return expires_field(max_age)[1]


_last_cache_control: tuple[int, str] = (-1, "")


def public_max_age(max_age: int) -> str:
    """The Cache-Control value of a tile clients and proxies may keep ``max_age`` seconds."""
    global _last_cache_control
    if _last_cache_control[0] != max_age:
        _last_cache_control = (max_age, f"public, max-age={max_age}, s-maxage={max_age}")
    return _last_cache_control[1]


Field = tuple[str, str]

# (time, size) of a tile -> its Last-Modified, ETag and Content-Length fields: the md5
# and the date cost more than the rest of a cached tile's answer, and a tile asked
# again gets them from here. Cleared when full: tiles asked often come back at once.
_timed_fields: dict[tuple[float, int], tuple[Field, Field, Field]] = {}
TIMED_FIELDS_KEPT = 8192


def timed_tile_fields(timestamp: float, size: int) -> tuple[Field, Field, Field]:
    """The Last-Modified, ETag and Content-Length fields of a tile of ``size`` bytes
    stored at ``timestamp`` (a float, as stores give it)."""
    key = (timestamp, size)
    fields = _timed_fields.get(key)
    if fields is None:
        if len(_timed_fields) >= TIMED_FIELDS_KEPT:
            _timed_fields.clear()
        fields = _timed_fields[key] = (("Last-Modified", _second_date(timestamp)),
                                       ("ETag", hashlib.md5(f"{timestamp}{size}".encode()).hexdigest()),
                                       ("Content-Length", str(size)))
    return fields


# Last-Modified dates by second: a seeded cache's tiles share their seconds by the thousand
_second_dates: dict[int, str] = {}


def _second_date(timestamp: float) -> str:
    second = math.floor(timestamp)  # as gmtime rounds
    date = _second_dates.get(second)
    if date is None:
        if len(_second_dates) >= TIMED_FIELDS_KEPT:
            _second_dates.clear()
        date = _second_dates[second] = http_date(second)
    return date


def validators(headers: list[tuple[str, str]], timestamp: float | None, data: bytes, etag: str | None = None) -> None:
    """Last-Modified (when the tile has a time) and ETag (``etag``, else the tile's).
    The ETag goes out bare, without quotes, as MapProxy sends it: clients echo it
    as they got it, and If-None-Match is matched with or without quotes."""
    if etag is None and type(timestamp) is float:
        headers += timed_tile_fields(timestamp, len(data))[:2]
        return
    if timestamp is not None:
        headers.append(("Last-Modified", http_date(timestamp)))
    headers.append(("ETag", etag or tile_etag(timestamp, data)))


def cache_headers(headers: list[tuple[str, str]], timestamp: float | None, data: bytes, max_age: int,
                  etag: str | None = None) -> None:
    """Last-Modified, ETag and Cache-Control/Expires for a tile response."""
    validators(headers, timestamp, data, etag)
    if max_age > 0:
        headers += (("Cache-Control", public_max_age(max_age)), expires_field(max_age))
    else:
        no_cache(headers)


def revalidate_headers(headers: list[tuple[str, str]], timestamp: float | None, data: bytes) -> None:
    """Validators plus ``no-cache``: clients may keep the tile but must ask again
    (cheap with If-None-Match) before using it; for stale tiles being refreshed."""
    validators(headers, timestamp, data)
    headers.append(("Cache-Control", "public, no-cache"))


def no_cache(headers: list[tuple[str, str]]) -> None:
    headers += [("Cache-Control", "no-cache, no-store"), ("Pragma", "no-cache"), ("Expires", "-1")]


def not_modified(req: Request, timestamp: float | None, data: bytes, etag: str | None = None) -> bool:
    """True when the client's copy (If-None-Match / If-Modified-Since) is current."""
    inm = req.environ.get("HTTP_IF_NONE_MATCH")
    if inm is not None:
        etag = etag or tile_etag(timestamp, data)
        return any(tag.strip().strip('"').removeprefix("W/").strip('"') in (etag, "*") for tag in inm.split(","))
    ims = req.environ.get("HTTP_IF_MODIFIED_SINCE")
    if ims and timestamp is not None:
        try:
            since = parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False  # not a date: answer in full
        return int(timestamp) <= since
    return False


def make_not_modified(resp: Response) -> Response:
    keep = ("etag", "last-modified", "cache-control", "expires", "access-control-allow-origin", "cache-status")
    return Response(b"", 304, content_type=None, headers=[h for h in resp.headers if h[0].lower() in keep])
