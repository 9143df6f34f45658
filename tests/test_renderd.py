"""globals.renderd.address: missing tiles are created by an external renderd
server (a real local HTTP server here) that stores them in the shared cache; the
proxy then serves them from the cache and never asks the sources itself."""

from __future__ import annotations

import hashlib
import io
import json
import socket
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from PIL import Image
from support.configs import cache, fill, layer, wms_source
from support.http_stub import StubServer, send
from support.source_server import SourceServer
from support.wsgi import call

from tileproxy.stores.base import Tile
from tileproxy.wsgi import TileProxyApp

CONFIG = {
    "globals": {
        "renderd": {"address": "{renderd}"},
        "cache": {"meta_size": [1, 1], "meta_buffer": 0},
    },
    "services": {"tms": None, "wms": {"srs": ["EPSG:3857"]}},
    "layers": [
        layer("tiles", "Tiles", "tiles_cache"),
        layer("meta", "Meta tiles", "meta_cache"),
        layer("unstored", "Not stored", "unstored_cache"),
    ],
    "caches": {
        "tiles_cache": cache("wms", meta_size=None),
        "meta_cache": {"grids": ["GLOBAL_MERCATOR"], "sources": ["wms"], "meta_size": [2, 2]},
        "unstored_cache": cache("wms", meta_size=None, disable_storage=True),
    },
    "sources": {"wms": wms_source()},
}

RED = (250, 0, 0)


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), color).save(out, "PNG")
    return out.getvalue()


class FakeRenderd:
    """A renderd server: records each task and answers with ``answer(task)``, a
    (status, body) pair; ``render`` stands for storing the tile in the cache."""

    def __init__(self) -> None:
        self.tasks: list[dict] = []
        self.answer: Callable[[dict], tuple[int, bytes]] = lambda task: (200, b'{"status": "ok"}')
        self.render: Callable[[dict], None] = lambda task: None
        self._stub = StubServer(on_post=self._handle)
        self.url = self._stub.url
        self.close = self._stub.close

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        task = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        self.tasks.append(task)
        status, body = self.answer(task)
        if status == 200 and b'"ok"' in body:
            self.render(task)
        send(h, status, body, "application/json")


@pytest.fixture
def renderd() -> Iterator[FakeRenderd]:
    server = FakeRenderd()
    yield server
    server.close()


@pytest.fixture
def app(make_app, renderd: FakeRenderd) -> TileProxyApp:
    app = make_app(fill(CONFIG, renderd=renderd.url))

    def store_main_tile(task: dict) -> None:
        """What a renderd shares with the proxy: the cache. It stores the tile it was asked for."""
        cache, _, grid = task["cache_identifier"].partition("_cache_")
        manager = app.config.caches[cache + "_cache"].managers[grid]
        x, y, z = task["tiles"][0]
        manager.store.store_many([Tile((x, y, z), data=png(RED))])

    renderd.render = store_main_tile
    return app


def test_missing_tile_is_created_by_renderd_and_served_from_the_cache(app, renderd, source: SourceServer) -> None:
    resp = call(app, "/tiles/tiles/EPSG3857/3/2/5.png?origin=nw")
    assert resp.status == 200, resp.body
    assert resp.image.convert("RGB").getpixel((10, 10)) == RED
    assert len(renderd.tasks) == 1
    task = renderd.tasks[0]
    # the cache's own coordinates (this grid counts rows from the top)
    assert task == {"command": "tile", "tiles": [[2, 5, 3]], "cache_identifier": "tiles_cache_GLOBAL_WEBMERCATOR",
                    "priority": 100, "id": task["id"]}
    # the id a renderd uses to join identical tasks: stable for the same tiles of a cache
    assert task["id"] == hashlib.sha1(b"('tiles_cache_GLOBAL_WEBMERCATOR', [(2, 5, 3)])").hexdigest()
    assert source.requests == []
    # now a cache hit: renderd is not asked again
    assert call(app, "/tiles/tiles/EPSG3857/3/2/5.png?origin=nw").status == 200
    assert len(renderd.tasks) == 1


def test_a_meta_tile_is_asked_for_by_its_top_left_tile(app, renderd) -> None:
    # GLOBAL_MERCATOR counts rows from the bottom; 2x2 meta tiles: (4..5, 2..3); top left is (4, 3)
    resp = call(app, "/tiles/meta/EPSG900913/3/5/2.png")
    # renderd stored only the tile it was named, not the one asked for
    assert [t["tiles"] for t in renderd.tasks] == [[[4, 3, 3]]]
    assert resp.status == 500
    assert resp.body == b"renderd reported success, but tile (5, 2, 3) is not in the cache"
    assert call(app, "/tiles/meta/EPSG900913/3/4/3.png").status == 200
    # the second tile was stored before its request: no new task
    assert len(renderd.tasks) == 1


def test_wms_maps_use_the_tiles_renderd_created(app, renderd, source: SourceServer) -> None:
    query = ("/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=tiles&STYLES=&SRS=EPSG:3857"
             "&BBOX=0,0,5009377.085697311,5009377.085697311&WIDTH=256&HEIGHT=256&FORMAT=image/png")
    resp = call(app, query)
    assert resp.status == 200 and resp.content_type == "image/png", resp.body
    assert resp.image.convert("RGB").getpixel((128, 128)) == RED
    assert renderd.tasks[0]["tiles"] == [[4, 3, 3]]
    assert source.requests == []


@pytest.mark.parametrize("answer, message", [
    ((200, b'{"status": "error", "error_message": "out of paper"}'), "Error from renderd: out of paper"),
    ((500, b'{"status": "error"}'), "Error from renderd: unknown error from renderd"),
    ((200, b'{"status'), "Error while communicating with renderd: invalid JSON"),
    ((502, b"<html>Bad gateway</html>"), "Error while communicating with renderd: invalid JSON"),
])
def test_renderd_errors_are_source_errors(app, renderd, answer, message) -> None:
    renderd.answer = lambda task: answer
    resp = call(app, "/tiles/tiles/EPSG3857/2/1/1.png")
    assert (resp.status, resp.content_type.split(";")[0], resp.text) == (500, "text/plain", message)
    wms = call(app, "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=tiles&STYLES=&SRS=EPSG:3857"
                    "&BBOX=0,0,10018754.17,10018754.17&WIDTH=256&HEIGHT=256&FORMAT=image/png&EXCEPTIONS=xml")
    assert "ServiceException" in wms.text and message in wms.text


def test_unreachable_renderd(make_app, source: SourceServer) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = make_app(fill(CONFIG, renderd=f"http://127.0.0.1:{port}"))
    resp = call(app, "/tiles/tiles/EPSG3857/2/1/1.png")
    assert resp.status == 500
    assert resp.text.startswith("Error while communicating with renderd: ")
    assert source.requests == []


def test_renderd_lock_timeout_is_503(app, renderd) -> None:
    renderd.answer = lambda task: (200, b'{"status": "lock", "error_message": "busy"}')
    assert call(app, "/tiles/tiles/EPSG3857/2/1/1.png").status == 503


def test_caches_without_storage_render_themselves(app, renderd, source: SourceServer) -> None:
    resp = call(app, "/tiles/unstored/EPSG3857/2/1/1.png")
    assert resp.status == 200
    assert renderd.tasks == []
    assert source.count("wms") == 1
