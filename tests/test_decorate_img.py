"""MapProxy's decorate_img API (``environ['mapproxy.decorate_img']``): a
middleware's callback gets each image before it is sent, with MapProxy's
arguments, and what it returns is what the client gets, encoded as asked. Run
through the real WSGI app over a real local source server."""

from __future__ import annotations

import pytest
from PIL import Image
from support.authorize import CONFIG, MAP, MERC, NW_BBOX, NW_TILE, Callbacks
from support.wsgi import call

from tileproxy.services.decorate import CallbackImage

MAGENTA = (255, 0, 255)


class Decorator(Callbacks):
    """A WSGI middleware that paints every image magenta and keeps the calls."""

    def __init__(self, app, paint=MAGENTA, returns="wrapped"):
        super().__init__(app, {"authorized": "full"})
        self.paint = paint
        self.returns = returns
        self.calls: list[dict] = []

    def decorate(self, image, service, layers, environ=None, query_extent=None, **kw):
        img = image.as_image()
        self.calls.append({"service": service, "layers": layers, "query_extent": query_extent,
                           "environ": environ, "mode": img.mode, "size": image.size,
                           "transparent": image.image_opts.transparent})
        painted = Image.new(img.mode, img.size, self.paint if img.mode != "RGBA" else (*self.paint, 255))
        if self.returns == "wrapped":
            return CallbackImage(painted, image.image_opts)
        if self.returns == "pil":
            return painted
        return "not an image"

    def callbacks(self) -> dict:
        return {"mapproxy.decorate_img": self.decorate}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def test_wms_maps_are_decorated_with_mapproxys_arguments(app):
    deco = Decorator(app)
    answer = call(deco, MAP + "maps&TRANSPARENT=true")
    assert answer.status == 200 and answer.content_type == "image/png"
    assert answer.image.convert("RGB").getcolors() == [(200 * 100, MAGENTA)]
    (only,) = deco.calls
    assert only["service"] == "wms.map" and only["layers"] == ["map_a", "map_b"]
    assert only["query_extent"] == ("EPSG:3857", (0.0, 0.0, 4000000.0, 2000000.0))
    assert isinstance(only["environ"], dict) and only["environ"]["PATH_INFO"] == "/service"
    assert only["size"] == (200, 100) and only["transparent"] is True


def test_a_decorated_map_is_encoded_in_the_requested_format(app):
    deco = Decorator(app, returns="pil")
    answer = call(deco, MAP.replace("image/png", "image/jpeg") + "map_a")
    assert answer.content_type == "image/jpeg" and answer.body[:2] == b"\xff\xd8"
    r, g, b = answer.image.getpixel((100, 50))
    assert r > 240 and g < 15 and b > 240
    assert deco.calls[0]["transparent"] is False


@pytest.mark.parametrize("url, service", [
    ("/tms/1.0.0/open/EPSG3857/0/0/1.png", "tms"),
    ("/tiles/open/EPSG3857/1/0/0.png", "tms"),
    (NW_TILE, "wmts"),
    ("/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=open&STYLE=&TILEMATRIXSET=GLOBAL_WEBMERCATOR"
     "&TILEMATRIX=1&TILEROW=0&TILECOL=0&FORMAT=image/png", "wmts"),
    ("/kml/open/EPSG3857/1/0/1.png", "kml"),
])
def test_tiles_are_decorated_also_when_cached(app, url, service):
    plain = call(app, url)  # stores the tile: the next answer could come from the fast path
    deco = Decorator(app)
    answer = call(deco, url)
    assert answer.status == 200 and answer.content_type == "image/png"
    assert answer.image.convert("RGB").getcolors() == [(256 * 256, MAGENTA)]
    (only,) = deco.calls
    assert (only["service"], only["layers"], only["query_extent"]) == (service, ["open"], ("EPSG:3857", NW_BBOX))
    assert call(app, url).body == plain.body  # the stored tile stays as it was


def test_decoration_comes_before_the_limit_clips_the_tile(app):
    class Both(Decorator):
        def callbacks(self) -> dict:
            return {"mapproxy.authorize": self.authorize, "mapproxy.decorate_img": self.decorate}

    both = Both(app)
    both.answer = {"authorized": "partial", "layers": {"open": {"tile": True, "limited_to": {
        "srs": "EPSG:3857", "geometry": [-MERC, 0, -MERC / 2, MERC]}}}}
    img = call(both, NW_TILE).image.convert("RGBA")
    assert img.getpixel((10, 128)) == (*MAGENTA, 255) and img.getpixel((240, 128))[3] == 0


def test_a_callback_that_returns_no_image_is_an_error_not_a_tile(app):
    assert call(Decorator(app, returns="text"), NW_TILE).status == 500
