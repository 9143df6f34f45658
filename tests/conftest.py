"""Shared fixtures: a real local source server, apps built from YAML text, and
calling an app in-process or through a real HTTP server."""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from urllib.parse import unquote, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from PIL import Image
from source_server import SourceServer

from tileproxy.wsgi import TileProxyApp, make_wsgi_app


@pytest.fixture(scope="session")
def _source_server() -> Iterator[SourceServer]:
    server = SourceServer()
    yield server
    server.close()


@pytest.fixture
def source(_source_server: SourceServer) -> Iterator[SourceServer]:
    """The local WMS/tile server, reset to answer ``ok`` with zeroed counters."""
    _source_server.reset()
    _source_server.delay = 0.0
    yield _source_server
    _source_server.release()
    _source_server.reset()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    header_list: list[tuple[str, str]] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.body))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def call(app: Callable, url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    """Call a WSGI app in-process with ``url`` (path and query). PATH_INFO is
    percent-decoded as WSGI servers do (so ``%2e%2e`` arrives as ``..``)."""
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
    got: list = []
    body = b"".join(app(env, lambda status, hdrs, exc_info=None: got.append((status, hdrs))))
    status, hdrs = got[0]
    return Answer(int(status.split()[0]), {k: v for k, v in hdrs}, body, list(hdrs))


@pytest.fixture
def make_app(tmp_path: Path, source: SourceServer) -> Callable[..., TileProxyApp]:
    """Build an app from YAML text; ``{source}`` in the text is the source server URL
    and relative paths resolve in the test's tmp_path."""

    def build(yaml_text: str, name: str = "mapproxy.yaml") -> TileProxyApp:
        path = tmp_path / name
        path.write_text(textwrap.dedent(yaml_text).replace("{source}", source.url))
        return make_wsgi_app(path)  # type: ignore[return-value]

    return build


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: many concurrent test clients connect at once


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Callable], str]]:
    """Serve a WSGI app on 127.0.0.1 through a real HTTP server; returns its base URL."""
    servers = []

    def start(app: Callable) -> str:
        httpd = make_server("127.0.0.1", 0, app, _ThreadingServer, _QuietHandler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
