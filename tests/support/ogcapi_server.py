"""A small OGC API Tiles and Maps server on 127.0.0.1 for the ogcapitiles and
ogcapimaps source tests: real HTTP, its documents as dicts the tests may change,
every request recorded, and switchable to fail.

- ``/ogcapi`` (the landing page) and ``/ogcapi/collections/world``: links to the
  map tilesets and to the map (PNG, JPEG); the collection names its CRS.
- ``.../map/tiles?f=json``: map tilesets in WebMercatorQuad (EPSG:3857) and
  WorldCRS84Quad (CRS84); ``/ogcapi/tileMatrixSets/<id>``: their definitions.
- tiles ``.../map/tiles/<id>/<z>/<row>/<col>.png``: one colour each, ``tile_color(col, row, z)``.
- maps ``.../map.png?bbox=..&bbox-crs=..&crs=..&width=..&height=..``: the checkerboard
  of ``source_server.render_map`` for that bbox in that CRS.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from PIL import Image

from support.http_stub import StubServer, send
from support.source_server import encode, render_map, tile_color

REL = "http://www.opengis.net/def/rel/ogc/1.0/"
CRS = "http://www.opengis.net/def/crs/"
MERC = 20037508.342789244


def tile_matrix_set(ident: str, crs: str, origin: list[float], cell0: float, size0: tuple[int, int],
                    levels: int, corner: str = "topLeft") -> dict:
    """A tile matrix set whose levels halve the cell size and double the matrix."""
    return {
        "id": ident,
        "crs": crs,
        "tileMatrices": [
            {"id": str(z), "cellSize": cell0 / 2**z, "cornerOfOrigin": corner, "pointOfOrigin": origin,
             "matrixWidth": size0[0] * 2**z, "matrixHeight": size0[1] * 2**z, "tileWidth": 256, "tileHeight": 256}
            for z in range(levels)
        ],
    }


MATRIX_SETS = {
    "WebMercatorQuad": tile_matrix_set("WebMercatorQuad", CRS + "EPSG/0/3857", [-MERC, MERC], 2 * MERC / 256,
                                       (1, 1), 8),
    # CRS84: longitude first
    "WorldCRS84Quad": tile_matrix_set("WorldCRS84Quad", CRS + "OGC/1.3/CRS84", [-180, 90], 180 / 256, (2, 1), 6),
}


def _tileset_entry(base: str, ident: str) -> dict:
    return {
        "title": ident,
        "crs": MATRIX_SETS[ident]["crs"],
        "dataType": "map",
        "links": [
            {"rel": REL + "tiling-scheme", "type": "application/json", "href": f"/ogcapi/tileMatrixSets/{ident}"},
            {"rel": "self", "type": "application/json", "href": f"{base}/map/tiles/{ident}?f=json"},
        ],
    }


def _start_page(base: str) -> dict:
    return {
        "links": [
            {"rel": REL + "tilesets-map", "type": "application/json", "href": f"{base}/map/tiles?f=json"},
            {"rel": REL + "map", "type": "image/png", "href": f"{base}/map.png"},
            {"rel": "[ogc-rel:map]", "type": "image/jpeg", "href": f"{base}/map.jpg"},
        ],
    }


def documents() -> dict[str, dict]:
    """The server's JSON documents by path (and query), as it starts."""
    docs: dict[str, dict] = {}
    for base in ("/ogcapi", "/ogcapi/collections/world"):
        docs[base] = _start_page(base)
        docs[f"{base}/map/tiles?f=json"] = {"tilesets": [_tileset_entry(base, i) for i in MATRIX_SETS]}
        for ident in MATRIX_SETS:
            docs[f"{base}/map/tiles/{ident}?f=json"] = {
                "links": [{"rel": "item", "type": "image/png", "templated": True,
                           "href": f"{base}/map/tiles/{ident}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}.png"}],
            }
    docs["/ogcapi/collections/world"]["storageCrs"] = CRS + "EPSG/0/3857"
    docs["/ogcapi/collections/world"]["crs"] = [CRS + "OGC/1.3/CRS84", CRS + "EPSG/0/3857"]
    for ident, tms in MATRIX_SETS.items():
        docs[f"/ogcapi/tileMatrixSets/{ident}"] = copy.deepcopy(tms)
    return docs


def _srs_of(uri: str | None) -> str:
    if not uri or uri.endswith("/CRS84"):
        return "EPSG:4326"
    auth, _, code = uri[len(CRS):].split("/")
    return f"{auth}:{code}"


class OGCAPIServer:
    """The server; ``requests`` lists every path (with its query) asked for.
    ``fail`` maps a path prefix to the status it answers with."""

    def __init__(self) -> None:
        self.docs = documents()
        self.requests: list[str] = []
        self.fail: dict[str, int] = {}
        self._lock = threading.Lock()
        self.stub = StubServer(self._get)
        self.url = self.stub.url + "/ogcapi"

    def close(self) -> None:
        self.stub.close()

    def params(self, index: int = -1) -> dict[str, str]:
        """The query parameters of request ``index``."""
        return dict(parse_qsl(urlsplit(self.requests[index]).query))

    def paths(self) -> list[str]:
        return [urlsplit(r).path for r in self.requests]

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append(h.path)
        path = urlsplit(h.path).path
        for prefix, status in self.fail.items():
            if h.path.startswith(prefix):
                send(h, status, json.dumps({"code": "Failure", "description": "switched off"}).encode(),
                     "application/json")
                return
        if h.path in self.docs or path in self.docs:
            send(h, 200, json.dumps(self.docs.get(h.path) or self.docs[path]).encode(), "application/json")
        elif "/map/tiles/" in path and path.endswith(".png"):
            z, row, col = (int(v) for v in path[: -len(".png")].rsplit("/", 3)[1:])
            send(h, 200, *encode(Image.new("RGB", (256, 256), tile_color(col, row, z)), "png"))
        elif path.endswith(("/map.png", "/map.jpg")):
            self._map(h, path)
        else:
            send(h, 404, b'{"code": "NotFound"}', "application/json")

    def _map(self, h: BaseHTTPRequestHandler, path: str) -> None:
        args = dict(parse_qsl(urlsplit(h.path).query))
        srs = _srs_of(args.get("crs"))
        box = [float(v) for v in args["bbox"].split(",")]
        if args.get("bbox-crs") and srs == "EPSG:4326" and not args["bbox-crs"].endswith("/CRS84"):
            box = [box[1], box[0], box[3], box[2]]  # EPSG:4326 is latitude first
        img = render_map(tuple(box), (int(args["width"]), int(args["height"])), srs)  # type: ignore[arg-type]
        send(h, 200, *encode(img, "jpeg" if path.endswith(".jpg") else "png"))
