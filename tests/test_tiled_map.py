"""One way to draw a map from tiles: a tile source drawn as a WMS layer, a cache
layer and a cache drawn as a source (``CacheSource``) give the same map, and
``max_tile_limit`` refuses a map that needs that many tiles or more, as MapProxy
does, from the global ``cache`` settings or the cache's own key."""

from __future__ import annotations

import pytest
from support.configs import CACHE_DATA, NO_PALETTE, cache, layer, tile_source
from support.source_server import tile_color
from support.wms import getmap
from support.wsgi import call

from tileproxy.grid import predefined_grid
from tileproxy.image.formats import ImageFormat
from tileproxy.sources.base import MapQuery
from tileproxy.sources.cache import cache_map_source
from tileproxy.srs import get_srs
from tileproxy.tiled_map import TooManyTiles

GRID = predefined_grid("GLOBAL_WEBMERCATOR")
LEVEL = 5
SPAN = 256 * GRID.resolutions[LEVEL]  # a level-5 tile's edge in metres


def _config(global_limit: int | None = None, cache_limit: int | None = None) -> dict:
    """A WMS layer straight over a tile source and one over its cache; ``max_tile_limit``
    set in globals.cache (``global_limit``) and in the cache (``cache_limit``)."""
    limit = {} if cache_limit is None else {"max_tile_limit": cache_limit}
    cache_globals = {} if global_limit is None else {"max_tile_limit": global_limit}
    return {
        "services": {"wms": {"srs": ["EPSG:3857", "EPSG:4326"], "image_formats": ["image/png"]}},
        "layers": [layer("direct", "The tile source, uncached", "tiles"),
                   layer("cached", "The cache of the tile source", "c")],
        "caches": {"c": cache("tiles", **limit)},
        "sources": {"tiles": tile_source("{source}/tiles/%(z)s/%(x)s/%(y)s.png")},
        "globals": {**NO_PALETTE, "cache": {**CACHE_DATA["cache"], **cache_globals}},
    }


def _five_by_five() -> tuple[float, float, float, float]:
    """A 1024x1024 map at level 5's resolution whose edges fall mid-tile: it
    needs 5 x 5 = 25 tiles of that level."""
    x0, y0 = GRID.bbox[0] + 10.5 * SPAN, GRID.bbox[1] + 12.5 * SPAN
    return (x0, y0, x0 + 4 * SPAN, y0 + 4 * SPAN)


def _wms(app, layer: str, bbox, srs: str, size=(300, 200)):
    return call(app, getmap(layers=layer, bbox=",".join(repr(v) for v in bbox), srs=srs, size=size))


MAPS = [
    # not aligned with the tiles: resampled
    ("EPSG:3857", (-1_234_567.0, 3_456_789.0, 4_321_000.0, 7_654_321.0)),
    # another SRS: warped
    ("EPSG:4326", (-10.0, 30.0, 40.0, 60.0)),
]


@pytest.mark.parametrize(("srs", "bbox"), MAPS)
def test_tile_source_cache_layer_and_cache_source_draw_the_same_map(make_app, srs, bbox) -> None:
    app = make_app(_config())
    images = {}
    for name in ("direct", "cached"):
        answer = _wms(app, name, bbox, srs)
        assert answer.status == 200 and answer.headers["Content-Type"] == "image/png", answer.body[:300]
        images[name] = answer.image.convert("RGB")
    query = MapQuery(bbox, (300, 200), get_srs(srs), ImageFormat("image/png"))
    images["cache source"] = cache_map_source(app.config.caches["c"]).get_map(query).image.convert("RGB")
    assert images["direct"].tobytes() == images["cached"].tobytes() == images["cache source"].tobytes()
    # and it is the source's tiles: the map's centre has the colour of its tile
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    ((mx, my),) = get_srs(srs).transform_to(get_srs("EPSG:3857"), [(cx, cy)])
    level_colors = {tile_color(*_tile_at(mx, my, z), z) for z in range(GRID.levels)}
    assert images["direct"].getpixel((150, 100)) in level_colors


def _tile_at(x: float, y: float, z: int) -> tuple[int, int]:
    """The column and row (counted from the top, as the tile URL has them) of the
    level-``z`` tile holding (x, y)."""
    span = 256 * GRID.resolutions[z]
    return int((x - GRID.bbox[0]) // span), int((GRID.bbox[3] - y) // span)


@pytest.mark.parametrize("layer", ["direct", "cached"])
def test_max_tile_limit_refuses_a_map_needing_that_many_tiles(make_app, layer) -> None:
    bbox = _five_by_five()
    app = make_app(_config(global_limit=25))
    answer = _wms(app, layer, bbox, "EPSG:3857", size=(1024, 1024))
    assert b"Request too large or invalid BBOX. (too many tiles, max_tile_limit: 25, num_tiles: 25)" in answer.body
    assert answer.headers["Content-Type"].startswith("application/vnd.ogc.se_xml")

    app = make_app(_config(global_limit=26))
    answer = _wms(app, layer, bbox, "EPSG:3857", size=(1024, 1024))
    assert answer.status == 200 and answer.headers["Content-Type"] == "image/png", answer.body[:300]
    assert answer.image.size == (1024, 1024)


def test_a_caches_own_max_tile_limit_governs_its_maps(make_app) -> None:
    bbox = _five_by_five()
    app = make_app(_config(global_limit=10, cache_limit=26))
    assert _wms(app, "cached", bbox, "EPSG:3857", size=(1024, 1024)).headers["Content-Type"] == "image/png"
    assert b"max_tile_limit: 10, num_tiles: 25" in _wms(app, "direct", bbox, "EPSG:3857", size=(1024, 1024)).body

    app = make_app(_config(cache_limit=25))
    query = MapQuery(bbox, (1024, 1024), get_srs("EPSG:3857"), ImageFormat("image/png"))
    with pytest.raises(TooManyTiles, match="cache 'c': too many tiles, max_tile_limit: 25, num_tiles: 25"):
        cache_map_source(app.config.caches["c"]).get_map(query)


def test_the_default_limit_is_500_tiles(make_app, source) -> None:
    """max_tile_limit alone limits a tile source: by default a map of 272 tiles is
    drawn (a fixed 256 once refused it), one of 529 is not."""
    tiles = make_app(_config()).config.sources["tiles"]
    fmt = ImageFormat("image/png")
    x0, y0 = GRID.bbox[0] + 0.5 * SPAN, GRID.bbox[1] + 0.5 * SPAN
    # 17 x 16 tiles
    query = MapQuery((x0, y0, x0 + 16 * SPAN, y0 + 15 * SPAN), (16 * 256, 15 * 256), get_srs("EPSG:3857"), fmt)
    assert tiles.get_map(query).size == (16 * 256, 15 * 256)
    assert source.count("tile") == 17 * 16
    # 23 x 23 tiles: refused before any is fetched
    query = MapQuery((x0, y0, x0 + 22 * SPAN, y0 + 22 * SPAN), (22 * 256, 22 * 256), get_srs("EPSG:3857"), fmt)
    with pytest.raises(TooManyTiles, match="source 'tiles': too many tiles, max_tile_limit: 500, num_tiles: 529"):
        tiles.get_map(query)
    assert source.count("tile") == 17 * 16
