"""A small ArcGIS-REST-shaped server on 127.0.0.1 for tests.

``.../MapServer/export`` and ``.../ImageServer/exportImage`` paint the same
checkerboard as source_server's WMS; ``.../identify`` answers JSON or HTML that
echoes its parameters; ``/cache/Lzz/Rrrrrrrrr/Ccccccccc.png`` serves exploded
ArcGIS cache tiles coloured by ``tile_color``. ``mode = "jsonerror"`` answers
every request with an ArcGIS JSON error and HTTP 200.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from PIL import Image

from support.http_stub import StubServer, send
from support.source_server import encode, render_map, tile_color


class ArcGISServer:
    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.last_headers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stub = StubServer(self._handle)
        self.url = self._stub.url
        self.close = self._stub.close

    def reset(self, mode: str = "ok") -> None:
        with self._lock:
            self.mode = mode
            self.requests.clear()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        args = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self.requests.append((parts.path, args))
            self.last_headers = dict(h.headers.items())
            mode = self.mode
        if mode == "jsonerror":
            body = {"error": {"code": 400, "message": "Unable to complete operation.",
                              "details": ["Invalid layer ID: 99"]}}
            return send(h, 200, json.dumps(body).encode(), "text/plain;charset=utf-8")
        path = parts.path
        try:
            if path.endswith(("/MapServer/export", "/ImageServer/exportImage")):
                return self._export(h, args)
            if path.endswith("/identify"):
                return self._identify(h, args)
            if path.startswith("/cache/"):
                return self._cache_tile(h, path)
        except (KeyError, ValueError) as ex:
            body = {"error": {"code": 400, "message": f"bad request: {ex}", "details": []}}
            return send(h, 200, json.dumps(body).encode(), "application/json")
        send(h, 404, b"not found", "text/plain")

    def _export(self, h: BaseHTTPRequestHandler, args: dict[str, str]) -> None:
        if args.get("f") != "image":
            raise ValueError("f must be image")
        bbox = tuple(float(v) for v in args["bbox"].split(","))
        w, hgt = (int(v) for v in args["size"].split(","))
        srs = "EPSG:" + args["bboxSR"]
        if args.get("imageSR", args["bboxSR"]) != args["bboxSR"]:
            raise ValueError("imageSR differs from bboxSR")
        img = render_map(bbox, (w, hgt), srs)  # type: ignore[arg-type]
        fmt = args.get("format", "png")
        if args.get("transparent") == "true":
            img = img.convert("RGBA")
        data, ctype = encode(img, "image/jpeg" if fmt == "jpg" else "image/png")
        send(h, 200, data, ctype)

    def _identify(self, h: BaseHTTPRequestHandler, args: dict[str, str]) -> None:
        if args.get("f") == "html":
            body = f"<html><body><p>identify at {args['geometry']}</p></body></html>".encode()
            return send(h, 200, body, "text/html")
        doc = {"results": [{"layerId": 0, "layerName": "countries", "attributes": {"geometry": args["geometry"]},
                            "params": args}]}
        send(h, 200, json.dumps(doc).encode(), "application/json")

    def _cache_tile(self, h: BaseHTTPRequestHandler, path: str) -> None:
        level, row, col = path.split("/")[-3:]
        z = int(level[1:])
        y = int(row[1:], 16)
        x, _, ext = col[1:].partition(".")
        img = Image.new("RGB", (256, 256), tile_color(int(x, 16), y, z))
        data, ctype = encode(img, ext)
        send(h, 200, data, ctype)

