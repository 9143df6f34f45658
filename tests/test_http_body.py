"""HTTPClient reads a source's answer body in one go: the bytes must be exact (also
when large or gzip-encoded), a body cut short must be a SourceError, and the
connection must go back to the pool for the next request."""

from __future__ import annotations

import gzip
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tileproxy.sources.base import SourceError, SourceTimeout
from tileproxy.sources.http import HTTPClient, HTTPOptions

BIG = os.urandom(3 << 20)
TEXT = b"tileproxy " * 20000


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    clients: list = []

    def do_GET(self) -> None:  # noqa: N802
        self.clients.append(self.client_address)
        if self.path == "/big":
            self._send(BIG)
        elif self.path == "/gzip":
            self._send(gzip.compress(TEXT), [("Content-Encoding", "gzip")])
        elif self.path == "/chunked":  # no Content-Length: the body comes in chunks
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(BIG), 300_000):
                piece = BIG[i:i + 300_000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/short":  # promises 1000 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/stall":  # sends half, then waits longer than the client's timeout
            self.send_response(200)
            self.send_header("Content-Length", "20")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.server.release.wait(5)
            self.close_connection = True

    def _send(self, body: bytes, extra=()) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.release = threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Handler.clients = []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def test_large_bodies_are_exact_and_the_connection_is_reused(server):
    client = HTTPClient(HTTPOptions(client_timeout=10))
    for _ in range(3):
        resp = client.get(server + "/big")
        assert resp.content == BIG and resp.status_code == 200
        assert resp.headers.get("content-type") == resp.headers["Content-Type"] == "image/png"
    assert len(Handler.clients) == 3
    assert len(set(Handler.clients)) == 1  # one kept-alive connection for all three


def test_gzip_and_chunked_bodies_are_read_whole(server):
    client = HTTPClient(HTTPOptions(client_timeout=10))
    assert client.get(server + "/gzip").content == TEXT
    assert client.get(server + "/chunked").content == BIG


def test_a_body_cut_short_is_a_source_error(server):
    client = HTTPClient(HTTPOptions(client_timeout=10))
    with pytest.raises(SourceError, match="No response from URL"):
        client.get(server + "/short")
    assert client.get(server + "/big").content == BIG  # the client is still usable


def test_a_stalled_body_is_a_timeout(server):
    with pytest.raises(SourceTimeout):
        HTTPClient(HTTPOptions(client_timeout=0.3)).get(server + "/stall")
