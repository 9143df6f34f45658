"""What the authorize and decorate_img tests share: a config with open and secret
tiles and a group of two WMS layers, the places they ask about, and a middleware
that puts callbacks into each request's environ."""

from __future__ import annotations

from support.configs import cache, layer, tile_source, wms_source

MERC = 20037508.342789244

CONFIG = {
    "globals": {
        "cache": {"base_dir": "./cache_data", "meta_size": [1, 1], "meta_buffer": 0},
        "image": {"paletted": False},
    },
    "services": {
        "tms": None,
        "kml": None,
        "demo": None,
        "wmts": {"featureinfo_formats": [{"mimetype": "text/plain", "suffix": "txt"}]},
        "wms": {"srs": ["EPSG:3857", "EPSG:4326"], "md": {"title": "Maps"}},
    },
    "layers": [
        layer("open", "Open tiles", "open_cache"),
        layer("secret", "Secret tiles", "secret_cache"),
        {"name": "maps", "title": "Maps group",
         "layers": [layer("map_a", "Map A", "wms_a"), layer("map_b", "Map B", "wms_b")]},
    ],
    "caches": {"open_cache": cache("tiles", meta_size=None), "secret_cache": cache("tiles", meta_size=None)},
    "sources": {
        "tiles": tile_source("{source}/tiles/%(tms_path)s.png"),
        "wms_a": wms_source(layers="a", wms_opts={"featureinfo": True}),
        "wms_b": wms_source(layers="b", wms_opts={"featureinfo": True}),
    },
}

# the north-west quarter of the world: WMTS level 1, column 0, row 0
NW_TILE = "/wmts/open/GLOBAL_WEBMERCATOR/1/0/0.png"
NW_BBOX = (-MERC, 0.0, 0.0, MERC)
WEST_HALF_4326 = {"srs": "EPSG:4326", "geometry": [-180, -85, -90, 85]}


def partial(layers: dict, **extra) -> dict:
    """An authorize answer that grants ``layers`` (name -> what of it) only."""
    return {"authorized": "partial", "layers": layers, **extra}


class Callbacks:
    """A WSGI middleware that puts ``authorize`` into every request's environ and
    keeps the questions asked."""

    def __init__(self, app, answer):
        self.app = app
        self.answer = answer
        self.asked: list[tuple[str, list, dict]] = []

    def authorize(self, service, layers, environ=None, **kw):
        self.asked.append((service, list(layers), kw))
        return self.answer(service, layers) if callable(self.answer) else self.answer

    def callbacks(self) -> dict:
        return {"mapproxy.authorize": self.authorize}

    def __call__(self, environ, start_response):
        environ.update(self.callbacks())
        return self.app(environ, start_response)


# a WMS GetMap of part of the world; the layer names go last
MAP = ("/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&STYLES=&SRS=EPSG:3857"
       "&BBOX=0,0,4000000,2000000&WIDTH=200&HEIGHT=100&FORMAT=image/png&LAYERS=")
