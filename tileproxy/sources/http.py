"""One pooled HTTP session per source, with timeouts, auth, TLS options and a
cross-process cap on concurrent requests."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .. import __version__
from ..access_log import add_source_time
from ..tilecache.locks import LockTimeout, Semaphore, Slots
from .base import SourceError, SourceTimeout

log = logging.getLogger("tileproxy.source.request")

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class HTTPOptions:
    client_timeout: float = 60.0
    headers: dict[str, str] = field(default_factory=dict)
    ssl_no_cert_checks: bool = False
    ssl_ca_certs: str | None = None
    hide_error_details: bool = True
    manage_cookies: bool = False
    method: str = "AUTO"


@dataclass(frozen=True)
class SourceAnswer:
    """A source's answer (always a 200: other statuses are SourceErrors), body read whole."""

    content: bytes
    headers: Mapping[str, str]  # names case-insensitive
    status_code: int = 200


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Remove ``user:pass@`` from a URL; returns the clean URL and the credentials."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    from urllib.parse import unquote

    return clean, (unquote(parts.username), unquote(parts.password or ""))


def read_file_url(url: str, label: str) -> bytes:
    """The bytes of a ``file://`` URL; errors as SourceError naming ``label``."""
    try:
        with open(url[len("file://"):], "rb") as f:
            return f.read()
    except OSError as ex:
        raise SourceError(f"{label}: {ex.strerror}") from None


class HTTPClient:
    def __init__(
        self,
        opts: HTTPOptions,
        base_url: str = "",
        concurrent_requests: int = 0,
        lock_dir: str | None = None,
    ):
        self.opts = opts
        self.session = requests.Session()
        pool = max(10, concurrent_requests or 0)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"tileproxy/{__version__}"
        self.session.headers.update({k: str(v) for k, v in opts.headers.items()})
        # passed with every request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE
        # override a session's verify setting, but not a request's
        self.verify: bool | str = True
        if opts.ssl_no_cert_checks:
            self.verify = False
        elif opts.ssl_ca_certs:
            self.verify = opts.ssl_ca_certs
        self.session.verify = self.verify
        self.semaphore: Slots | None = None
        if concurrent_requests and lock_dir:
            netloc = urlsplit(base_url).netloc.encode()
            name = hashlib.md5(netloc).hexdigest()
            self.semaphore = Semaphore(lock_dir, name, concurrent_requests, timeout=opts.client_timeout)

    def get(self, url: str, auth: tuple[str, str] | None = None,
            headers: Mapping[str, str] | None = None) -> SourceAnswer:
        """GET ``url`` (with extra request ``headers``); raises SourceError for
        transport errors and HTTP errors."""
        return self._held(url, auth, None, headers)

    def post(self, url: str, form: bytes, auth: tuple[str, str] | None = None) -> SourceAnswer:
        """POST the url-encoded ``form`` to ``url``; errors as for ``get``."""
        return self._held(url, auth, form, _FORM)

    def _held(self, url: str, auth: tuple[str, str] | None, form: bytes | None,
              headers: Mapping[str, str] | None) -> SourceAnswer:
        if self.semaphore is None:
            return self._send(url, auth, form, headers)
        try:
            with self.semaphore.hold():
                return self._send(url, auth, form, headers)
        except LockTimeout as ex:
            raise SourceTimeout(str(ex)) from None

    def _send(self, url: str, auth: tuple[str, str] | None, form: bytes | None,
              headers: Mapping[str, str] | None) -> SourceAnswer:
        start = time.monotonic()
        try:
            if form is None:
                resp = self.session.get(url, timeout=self.opts.client_timeout, auth=auth, verify=self.verify,
                                        stream=True, headers=headers)
            else:
                resp = self.session.post(url, data=form, timeout=self.opts.client_timeout, auth=auth,
                                         verify=self.verify, stream=True, headers=headers)
            # the body in one read of the urllib3 response: requests' own reading goes in
            # 10 kB steps, about 1 ms of Python per MB (a meta tile is often several hundred kB)
            body = resp.raw.read(decode_content=True)
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise SourceTimeout(self._message("No response from URL", url,
                                              f"timeout after {self.opts.client_timeout:g}s")) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as ex:
            raise SourceError(self._message("No response from URL", url, type(ex).__name__)) from None
        finally:
            add_source_time(time.monotonic() - start)  # the access log's source_ms
            if not self.opts.manage_cookies:
                self.session.cookies.clear()
        log.info("%s %s %.1fkB %dms", resp.status_code, url, len(body) / 1024, (time.monotonic() - start) * 1000)
        if resp.status_code != 200:
            raise SourceError(self._message("HTTP Error", url, f"HTTP {resp.status_code}"), status=resp.status_code)
        return SourceAnswer(body, resp.headers, resp.status_code)

    def _message(self, what: str, url: str, reason: str) -> str:
        """An error as MapProxy words it (clients and monitoring match on the words);
        with ``hide_error_details`` the URL and reason go to the log only."""
        full = f'{what} "{url}": {reason}'
        if self.opts.hide_error_details:
            log.warning("%s", full)
            return f"{what} ({reason}; see logs for the URL)."
        return full

