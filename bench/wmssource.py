"""A local WMS source for the benchmarks: answers any GetMap with a cheap,
deterministic PNG of the requested size, after a fixed delay; counts requests."""

from __future__ import annotations

import io
import random
import threading
import time
import zlib
from urllib.parse import parse_qsl, urlsplit

from harness import LocalHTTPServer


def render_map(width: int, height: int, key: str) -> bytes:
    """Background colour and a few lines from ``key``; PNG at compression level 1, so
    the source costs little CPU next to the servers it feeds."""
    from PIL import Image, ImageDraw

    rnd = random.Random(key)
    img = Image.new("RGB", (width, height), tuple(rnd.randrange(60, 220) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        pts = [(rnd.randrange(width), rnd.randrange(height)) for _ in range(3)]
        draw.line(pts, fill=tuple(rnd.randrange(256) for _ in range(3)), width=2)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


class WMSSourceServer(LocalHTTPServer):
    """``http://127.0.0.1:<port>/wms?...REQUEST=GetMap...``; ``delay`` seconds before
    each answer; ``requests`` counts GetMap requests. With ``variants`` the server
    renders that many maps per size once and answers with one of them (chosen by the
    BBOX): a source whose rendering costs no CPU on the machine of the tools."""

    def __init__(self, delay: float = 0.0, variants: int | None = None) -> None:
        super().__init__()
        self.delay = delay
        self.variants = variants
        self._rendered: dict[tuple[int, int, str], bytes] = {}
        self.requests = 0
        self.first_request: float | None = None  # time.monotonic() of the first GetMap since reset
        self._lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.port}/wms"

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.first_request = None

    def answer(self, path: str) -> tuple[int, str, bytes]:
        params = {k.upper(): v for k, v in parse_qsl(urlsplit(path).query)}
        if params.get("REQUEST", "").lower() != "getmap":
            return 400, "text/plain", b"only GetMap"
        try:
            width, height = int(params["WIDTH"]), int(params["HEIGHT"])
        except (KeyError, ValueError):
            return 400, "text/plain", b"WIDTH/HEIGHT missing"
        if not (0 < width <= 4096 and 0 < height <= 4096):
            return 400, "text/plain", b"size out of range"
        with self._lock:
            self.requests += 1
            if self.first_request is None:
                self.first_request = time.monotonic()
        if self.delay:
            time.sleep(self.delay)
        key = params.get("BBOX", "")
        if not self.variants:
            return 200, "image/png", render_map(width, height, key)
        key = str(zlib.crc32(key.encode()) % self.variants)
        body = self._rendered.get((width, height, key))
        if body is None:
            body = self._rendered[(width, height, key)] = render_map(width, height, key)
        return 200, "image/png", body

