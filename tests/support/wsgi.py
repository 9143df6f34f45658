"""The one test client of tileproxy's WSGI app: ``call`` runs a request in-process,
``LiveServer`` serves an app through a real HTTP server and ``fetch`` asks any real
HTTP server (also one started as a process: ``free_port``, ``wait_for_server``).
All three speak in ``Answer``s."""

from __future__ import annotations

import io
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from urllib.parse import unquote, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from PIL import Image


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    header_list: list[tuple[str, str]] = field(default_factory=list)
    status_line: str = ""  # as the app or server said it, e.g. "200 OK"

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.body))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def environ(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> dict:
    """The WSGI environ of a request for ``url`` (path and query; the host part of an
    absolute URL is dropped). PATH_INFO is percent-decoded as WSGI servers do (so
    ``%2e%2e`` arrives as ``..``); ``headers`` become ``HTTP_*`` keys."""
    parts = urlsplit(url)
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": unquote(parts.path, "latin-1"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
    }
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def call(app: Callable, url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    """Call a WSGI app in-process with ``url`` (see ``environ``)."""
    got: list = []
    body = b"".join(app(environ(url, method, headers),
                        lambda status, hdrs, exc_info=None: got.append((status, hdrs))))
    status, hdrs = got[0]
    return Answer(int(status.split()[0]), dict(hdrs), body, list(hdrs), status)


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None, timeout: float = 30) -> Answer:
    """Ask a real HTTP server for the absolute ``url``; an error status is an Answer too."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return Answer(resp.status, dict(resp.headers.items()), resp.read(), list(resp.headers.items()),
                          f"{resp.status} {resp.reason}")
    except urllib.error.HTTPError as ex:
        with ex:
            return Answer(ex.code, dict(ex.headers.items()), ex.read(), list(ex.headers.items()),
                          f"{ex.code} {ex.reason}")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: many concurrent test clients connect at once


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class LiveServer:
    """A WSGI app served on 127.0.0.1 through a real, threaded HTTP server at ``url``."""

    def __init__(self, app: Callable) -> None:
        self._httpd = make_server("127.0.0.1", 0, app, _ThreadingServer, _QuietHandler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a server process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Poll until the server process at ``url`` accepts connections (bounded),
    failing early if it died."""
    port = urlsplit(url).port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read().decode()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server did not start")
