"""A tiny threaded HTTP server on 127.0.0.1 that hands every GET (and POST) to a function."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


class StubServer:
    def __init__(self, on_get: Callable[[BaseHTTPRequestHandler], None] | None = None,
                 on_post: Callable[[BaseHTTPRequestHandler], None] | None = None):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                (on_get or _not_allowed)(self)

            def do_POST(self) -> None:
                (on_post or _not_allowed)(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _not_allowed(h: BaseHTTPRequestHandler) -> None:
    send(h, 405, b"method not allowed", "text/plain")


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
    try:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    except OSError:
        pass  # the client gave up


def pixel_at(img: Image.Image, grid, coord, x: float, y: float):
    """The pixel of tile ``coord`` (256 px) of ``grid`` at map coordinates x, y."""
    bbox = grid.tile_bbox(coord)
    px = int((x - bbox[0]) / (bbox[2] - bbox[0]) * 256)
    py = int((bbox[3] - y) / (bbox[3] - bbox[1]) * 256)
    return img.getpixel((px, py))
