"""A local vector tile server: /.../{z}/{x}/{y}.pbf answers a stand-in Mapbox
Vector Tile (``payload``), and the levels in ``empty_levels`` an empty answer."""

from __future__ import annotations

import gzip

from support.http_stub import StubServer, send


def payload(z: int, x: int, y: int) -> bytes:
    """A stand-in vector tile: protobuf-looking bytes, gzip-compressed as many servers store them."""
    return gzip.compress(b"\x1a\x20\x78\x02\x0a\x05water" + f"{z}/{x}/{y}".encode(), mtime=0)


class VectorServer(StubServer):
    def __init__(self, empty_levels: tuple[int, ...] = ()) -> None:
        self.paths: list[str] = []
        self.empty_levels = empty_levels
        super().__init__(self._answer)

    def _answer(self, h) -> None:
        self.paths.append(h.path)
        z, x, last = h.path.split("/")[-3:]
        body = b"" if int(z) in self.empty_levels else payload(int(z), int(x), int(last.partition(".")[0]))
        send(h, 200, body, "application/x-protobuf")
