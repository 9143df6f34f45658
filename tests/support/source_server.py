"""A small WMS and tile server on 127.0.0.1 for tests: real HTTP, switchable to fail.

Maps are drawn from a world checkerboard so that tests can check that the right
content lands at the right place: ``expected_color(x, y, srs)`` is the colour the
server paints at a point. Tiles under ``/tiles/z/x/y.png`` get a colour computed
from their coordinates (``tile_color``), so pass-through can be checked exactly.
"""

from __future__ import annotations

import io
import json
import math
import ssl
import struct
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from PIL import Image, ImageDraw

from support.http_stub import send
from tileproxy.srs import get_srs

CELL = 1_000_000.0  # checkerboard cell edge in EPSG:3857 metres
COLORS = ((200, 30, 30), (30, 30, 200))


def expected_color(x: float, y: float, srs: str = "EPSG:3857") -> tuple[int, int, int]:
    """The colour the WMS paints at (x, y) in ``srs``."""
    if get_srs(srs) != get_srs("EPSG:3857"):
        ((x, y),) = get_srs(srs).transform_to(get_srs("EPSG:3857"), [(x, y)])
    return COLORS[(math.floor(x / CELL) + math.floor(y / CELL)) % 2]


def tile_color(x: int, y: int, z: int) -> tuple[int, int, int]:
    return ((x * 37 + 11) % 256, (y * 59 + 13) % 256, (z * 71 + 17) % 256)


def render_map(bbox: tuple[float, float, float, float], size: tuple[int, int], srs: str) -> Image.Image:
    """The checkerboard for ``bbox`` in ``srs``; each pixel coloured by its centre."""
    w, h = size
    img = Image.new("RGB", size)
    if get_srs(srs) == get_srs("EPSG:3857"):
        draw = ImageDraw.Draw(img)
        rx, ry = (bbox[2] - bbox[0]) / w, (bbox[3] - bbox[1]) / h
        c0, c1 = math.floor(bbox[0] / CELL), math.floor(bbox[2] / CELL)
        r0, r1 = math.floor(bbox[1] / CELL), math.floor(bbox[3] / CELL)
        for cx in range(c0, c1 + 1):
            for cy in range(r0, r1 + 1):
                # pixel columns whose centres fall in the cell
                px0 = math.ceil((cx * CELL - bbox[0]) / rx - 0.5)
                px1 = math.ceil(((cx + 1) * CELL - bbox[0]) / rx - 0.5) - 1
                py0 = math.ceil((bbox[3] - (cy + 1) * CELL) / ry - 0.5)
                py1 = math.ceil((bbox[3] - cy * CELL) / ry - 0.5) - 1
                if px1 >= px0 and py1 >= py0:
                    draw.rectangle((px0, py0, px1, py1), fill=COLORS[(cx + cy) % 2])
        return img
    # other SRS: colour a coarse mesh of pixels, then scale up (tests sample cell centres)
    step = 4
    small = Image.new("RGB", (math.ceil(w / step), math.ceil(h / step)))
    pts = []
    for j in range(small.size[1]):
        for i in range(small.size[0]):
            px, py = min(w - 1, i * step + step / 2), min(h - 1, j * step + step / 2)
            pts.append((bbox[0] + px * (bbox[2] - bbox[0]) / w, bbox[3] - py * (bbox[3] - bbox[1]) / h))
    merc = get_srs(srs).transform_to(get_srs("EPSG:3857"), pts)
    small.putdata([COLORS[(math.floor(x / CELL) + math.floor(y / CELL)) % 2] if math.isfinite(x) else (0, 0, 0)
                   for x, y in merc])
    return small.resize(size, Image.Resampling.NEAREST)


def legend_image(layer: str) -> tuple[bytes, str]:
    """A legend whose width tells the layer (10 px per character) and colour is fixed per layer."""
    return encode(Image.new("RGB", (10 * len(layer), 12), legend_color(layer)), "png")


def legend_color(layer: str) -> tuple[int, int, int]:
    return (sum(map(ord, layer)) % 256, 100, 150)


def feature_info(args: dict[str, str]) -> tuple[bytes, str]:
    """The queried point back, with the checkerboard colour there, in INFO_FORMAT."""
    srs = args.get("SRS") or args["CRS"]
    bbox = [float(v) for v in args["BBOX"].split(",")]
    if args.get("VERSION") == "1.3.0" and get_srs(srs).is_axis_order_ne:
        bbox = [bbox[1], bbox[0], bbox[3], bbox[2]]
    w, h = int(args["WIDTH"]), int(args["HEIGHT"])
    px, py = int(args.get("X") or args["I"]), int(args.get("Y") or args["J"])
    x = bbox[0] + (px + 0.5) * (bbox[2] - bbox[0]) / w
    y = bbox[3] - (py + 0.5) * (bbox[3] - bbox[1]) / h
    color = "red" if expected_color(x, y, srs) == COLORS[0] else "blue"
    layer = args.get("QUERY_LAYERS", "")
    fmt = args.get("INFO_FORMAT", "text/plain")
    if fmt == "text/html":
        return f"<html><head><title>{layer}</title></head><body><p>{layer}: {color}</p></body></html>".encode(), fmt
    if "xml" in fmt or "gml" in fmt:
        return f'<?xml version="1.0"?><features><feature layer="{layer}" color="{color}"/></features>'.encode(), fmt
    if "json" in fmt:
        doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None,
                                                          "properties": {"layer": layer, "color": color}}]}
        return json.dumps(doc).encode(), fmt
    return f"{layer}: {color}\n".encode(), "text/plain"


def encode(img: Image.Image, fmt: str) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if "jpeg" in fmt or "jpg" in fmt:
        img.convert("RGB").save(buf, "JPEG", quality=90)
        return buf.getvalue(), "image/jpeg"
    img.save(buf, "PNG")
    return buf.getvalue(), "image/png"


def damaged_png(data: bytes, keep_crc: bool) -> bytes:
    """``data`` with its first IDAT chunk damaged: 8 bytes in the middle flipped
    under the old CRC (``keep_crc``), or else the last 6 bytes of the zlib stream
    (its Adler-32 and the end of the last block) cut off under a correct CRC."""
    pos = 8
    while data[pos + 4:pos + 8] != b"IDAT":
        pos += 12 + struct.unpack_from(">I", data, pos)[0]
    length = struct.unpack_from(">I", data, pos)[0]
    body = bytearray(data[pos + 8:pos + 8 + length])
    crc = data[pos + 8 + length:pos + 12 + length]
    if keep_crc:
        mid = len(body) // 2
        body[mid:mid + 8] = bytes(b ^ 0x5A for b in body[mid:mid + 8])
    else:
        body = body[:-6]
        crc = struct.pack(">I", zlib.crc32(b"IDAT" + body))
    chunk = struct.pack(">I", len(body)) + b"IDAT" + bytes(body) + crc
    return data[:pos] + chunk + data[pos + 12 + length:]


class SourceServer:
    """Counts requests by kind and answers as ``mode`` says:
    ``ok``, ``error`` (HTTP 500), ``notfound`` (404), ``html`` (200 with HTML),
    ``truncated`` (200 with a cut-off PNG), ``empty`` (200 with no body), ``wrongsize`` (a complete image of 10x10
    pixels, whatever was asked), ``damaged`` (a PNG with damaged IDAT bytes, its CRC
    as it was; signature and IEND intact), ``shortstream`` (a PNG whose IDAT zlib stream
    ends early, with a correct CRC: only inflating it shows), ``exception`` (WMS service exception XML),
    ``hang`` (waits until released or ``hang_seconds``)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.mode = "ok"
        self.requests: list[str] = []
        self.counts: Counter[str] = Counter()
        # per request: path, headers and the client's (host, port), for checks on
        # authentication, sent headers and connection reuse
        self.log: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0  # most requests answered at the same time since reset
        self.delay = 0.0  # seconds to hold each ok answer (to make requests overlap)
        self.hang_seconds = 10.0
        self._release = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:  # a form post: answered like the GET of path?form
                length = int(self.headers.get("Content-Length") or 0)
                self.form = self.rfile.read(length).decode()
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if ssl_context is not None:  # HTTPS with the caller's certificate
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self, mode: str = "ok") -> None:
        with self._lock:
            self.mode = mode
            self.requests.clear()
            self.counts.clear()
            self.log.clear()
            self.max_in_flight = self.in_flight
            self._release.clear()

    def release(self) -> None:
        """Let hanging requests go."""
        self._release.set()

    def count(self, kind: str) -> int:
        return self.counts[kind]

    def params(self, index: int = -1) -> dict[str, str]:
        """Query parameters of a logged request (upper-case names)."""
        query = urlsplit(self.requests[index]).query
        return {k.upper(): v for k, v in parse_qsl(query, keep_blank_values=True)}

    # -- answering -------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = self._answer(h)
        finally:
            # over before the answer goes out: a client that has it may send its next
            # request at once, which must not count as overlapping this one
            with self._lock:
                self.in_flight -= 1
        send(h, *answer)

    def _answer(self, h: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        """The status, body and type of the answer (sent by ``_handle``)."""
        form = getattr(h, "form", None)
        path = h.path if form is None else f"{h.path}?{form}"
        parts = urlsplit(path)
        kind = "wms" if parts.path.startswith("/wms") else "tile" if parts.path.startswith("/tiles") else "other"
        with self._lock:
            self.requests.append(path)
            self.log.append({"path": path, "headers": dict(h.headers.items()), "client": h.client_address,
                             "method": h.command})
            self.counts[kind] += 1
            mode = self.mode
        if mode == "hang":
            self._release.wait(self.hang_seconds)
            return (500, b"released", "text/plain")
        if mode == "error":
            return (500, b"internal trouble", "text/plain")
        if mode == "notfound":
            return (404, b"no such thing", "text/plain")
        if mode == "empty":
            return (200, b"", "image/png")
        if mode == "html":
            return (200, b"<html><body>Service down</body></html>", "text/html")
        if mode == "exception":
            body = (b'<?xml version="1.0"?><ServiceExceptionReport version="1.1.1">'
                    b"<ServiceException>broken layer</ServiceException></ServiceExceptionReport>")
            return (200, body, "application/vnd.ogc.se_xml")
        if self.delay:
            time.sleep(self.delay)
        try:
            if kind == "wms":
                data, ctype = self._wms(dict((k.upper(), v) for k, v in parse_qsl(parts.query)))
            elif kind == "tile":
                data, ctype = self._tile(parts.path)
            else:
                return (404, b"not found", "text/plain")
        except (ValueError, KeyError) as ex:
            return (400, f"bad request: {ex}".encode(), "text/plain")
        if mode == "truncated":
            data = data[: len(data) // 2]
        elif mode == "wrongsize":
            data, ctype = encode(Image.new("RGB", (10, 10), (1, 2, 3)), ctype)
        elif mode in ("damaged", "shortstream") and ctype == "image/png":
            data = damaged_png(data, keep_crc=mode == "damaged")
        return (200, data, ctype)

    def _wms(self, args: dict[str, str]) -> tuple[bytes, str]:
        request = args.get("REQUEST", "").lower()
        if request == "getlegendgraphic":
            if args.get("FORMAT") == "application/json":
                return json.dumps({"Legend": [{"layerName": args["LAYER"]}]}).encode(), "application/json"
            return legend_image(args["LAYER"])
        if request == "getfeatureinfo":
            return feature_info(args)
        srs = args.get("SRS") or args["CRS"]
        bbox = [float(v) for v in args["BBOX"].split(",")]
        if args.get("VERSION") == "1.3.0" and get_srs(srs).is_axis_order_ne:
            bbox = [bbox[1], bbox[0], bbox[3], bbox[2]]
        size = (int(args["WIDTH"]), int(args["HEIGHT"]))
        img = render_map(tuple(bbox), size, srs)  # type: ignore[arg-type]
        if args.get("TRANSPARENT", "").upper() == "TRUE":
            img = img.convert("RGBA")
        return encode(img, args.get("FORMAT", "image/png").lower())

    def _tile(self, path: str) -> tuple[bytes, str]:
        z, x, last = path.split("/")[-3:]
        y, _, ext = last.partition(".")
        img = Image.new("RGB", (256, 256), tile_color(int(x), int(y), int(z)))
        return encode(img, ext)
