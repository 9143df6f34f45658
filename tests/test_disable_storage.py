"""A cache with ``disable_storage: true`` keeps nothing, so its tiles go out as the
source delivered them until they are sent: a tile clipped for a request (an
authorize callback's ``limited_to``) or drawn into a WMS map keeps the source's
exact pixels, and only a tile sent as it is gets encoded to the cache's format
(real JPEG for a JPEG cache, labelled so). Over a real local tile server."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from support.authorize import WEST_HALF_4326, Callbacks, partial
from support.configs import cache, fill, layer, tile_source
from support.http_stub import StubServer, send
from support.wsgi import call

PINK = (250, 10, 120)  # a colour a JPEG round trip does not keep exactly
NW_TILE = "/wmts/l/GLOBAL_WEBMERCATOR/1/0/0.jpeg"  # the north-west quarter of the world

CONFIG = {
    "globals": {"cache": {"base_dir": "./cache_data"}},
    "services": {"tms": None, "wmts": None, "wms": {"srs": ["EPSG:3857"], "md": {"title": "Maps"}}},
    "layers": [layer("l", "Unstored", "c")],
    "caches": {"c": cache("tiles", format="image/jpeg", disable_storage=True)},
    "sources": {"tiles": tile_source("{tiles}/%(tms_path)s.png")},
}


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def tiles():
    """A tile server that answers every tile with one pink PNG, and counts."""
    asked: list[str] = []
    body = png(PINK)

    def on_get(h):
        asked.append(h.path)
        send(h, 200, body, "image/png")

    stub = StubServer(on_get)
    stub.asked = asked  # type: ignore[attr-defined]
    yield stub
    stub.close()


@pytest.fixture
def app(make_app, tiles):
    return make_app(fill(CONFIG, tiles=tiles.url))


def test_a_jpeg_round_trip_would_change_the_colour() -> None:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), PINK).save(out, "JPEG")
    assert Image.open(out).convert("RGB").getpixel((128, 128)) != PINK  # so the tests below can fail


def test_a_clipped_tile_keeps_the_source_pixels(app, tiles, tmp_path) -> None:
    limited = Callbacks(app, partial({"l": {"tile": True, "limited_to": WEST_HALF_4326}}))
    answer = call(limited, NW_TILE)
    assert answer.status == 200 and answer.content_type == "image/png"
    img = answer.image.convert("RGBA")
    assert img.getpixel((10, 128)) == (*PINK, 255)  # west of 90°W: the source's own colour
    assert img.getpixel((240, 128))[3] == 0  # east of it: transparent
    assert len(tiles.asked) == 1
    assert not any(p.is_file() for p in (tmp_path / "cache_data").rglob("*"))


def test_an_unclipped_tile_is_real_jpeg(app, tiles, tmp_path) -> None:
    for url in (NW_TILE, "/tms/1.0.0/l/EPSG3857/1/0/1.jpeg"):
        answer = call(app, url)
        assert answer.status == 200 and answer.content_type == "image/jpeg"
        assert answer.body[:3] == b"\xff\xd8\xff"  # JPEG bytes, not the source's PNG
        assert answer.image.format == "JPEG"
    assert len(tiles.asked) == 2  # nothing kept: each request asks the source
    assert not any(p.is_file() for p in (tmp_path / "cache_data").rglob("*"))


def test_a_wms_map_keeps_the_source_pixels(app, tiles, tmp_path) -> None:
    merc = 20037508.342789244
    answer = call(app, "/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=l&STYLES=&SRS=EPSG:3857"
                       f"&BBOX={-merc},0,0,{merc}&WIDTH=256&HEIGHT=256&FORMAT=image/png")
    assert answer.status == 200 and answer.content_type == "image/png"
    assert answer.image.convert("RGB").getcolors() == [(256 * 256, PINK)]
    assert not any(p.is_file() for p in (tmp_path / "cache_data").rglob("*"))
