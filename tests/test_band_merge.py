"""Band merge caches: channels built from bands of other sources."""

from __future__ import annotations

import copy

import pytest
from support.configs import cache, layer, wms_source
from support.source_server import COLORS, expected_color
from support.wsgi import call

from tileproxy.config.errors import ConfigError
from tileproxy.grid import predefined_grid

GRID = predefined_grid("GLOBAL_WEBMERCATOR")

CONFIG = {
    "services": {"tms": None, "wms": None},
    "globals": {"image": {"paletted": False}},
    "layers": [layer("swapped", "Red and blue swapped", "swapped"), layer("grey", "Grey", "grey")],
    "caches": {
        "swapped": {
            "grids": ["GLOBAL_WEBMERCATOR"],
            "meta_size": [2, 2],
            "meta_buffer": 0,
            "sources": {
                "r": [{"source": "wms", "band": 2}],
                "g": [{"source": "wms", "band": 1}],
                "b": [{"source": "wms", "band": 0}],
            },
        },
        "grey": {
            "grids": ["GLOBAL_WEBMERCATOR"],
            "meta_size": [1, 1],
            "meta_buffer": 0,
            "image": {"mode": "L"},
            "sources": {
                "l": [
                    {"source": "wms", "band": 0, "factor": 0.25},
                    {"source": "merc", "band": 2, "factor": 0.25},
                    {"source": "wms", "band": 1, "factor": 10},
                ],
            },
        },
        "merc": cache("wms", meta_size=None),
    },
    "sources": {"wms": wms_source()},
}


def _centre_colour(coord):
    bbox = GRID.tile_bbox(coord)
    return expected_color((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2)


def test_rgb_from_swapped_bands(make_app, source) -> None:
    app = make_app(CONFIG)
    coords = [(2, 2, 3), (3, 2, 3), (2, 3, 3), (3, 3, 3)]  # one 2x2 meta tile
    for x, y, z in coords:
        answer = call(app, f"/tiles/swapped/EPSG3857/{z}/{x}/{y}.png?origin=nw")
        assert answer.status == 200
        img = answer.image
        assert img.mode == "RGB"
        r, g, b = _centre_colour((x, y, z))
        assert img.getpixel((128, 128)) == (b, g, r)
    assert source.count("wms") == 1  # one meta tile, one request for three bands


def test_greyscale_sums_weighted_bands_and_clips(make_app, source) -> None:
    app = make_app(CONFIG)
    answer = call(app, "/tiles/grey/EPSG3857/3/2/2.png?origin=nw")
    assert answer.status == 200
    img = answer.image
    assert img.mode == "L"
    # 0.25 * R + 0.25 * B + 10 * G (= 300) clips at 255
    assert img.getpixel((128, 128)) == 255
    assert {c[1] for c in COLORS} == {30}


def _without_green() -> dict:
    """CONFIG whose grey cache leaves out the green band (factor 0)."""
    config = copy.deepcopy(CONFIG)
    config["caches"]["grey"]["sources"]["l"][2]["factor"] = 0
    return config


def test_greyscale_without_clipping(make_app) -> None:
    app = make_app(_without_green())
    img = call(app, "/tiles/grey/EPSG3857/3/2/2.png?origin=nw").image
    assert img.getpixel((128, 128)) == round(0.25 * 200 + 0.25 * 30)


def test_greyscale_maps_stay_grey_in_png(make_app) -> None:
    app = make_app(_without_green())
    url = ("/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=grey&STYLES=&SRS=EPSG:4326"
           "&BBOX=5,5,8,8&WIDTH=60&HEIGHT=60&FORMAT={fmt}")
    png = call(app, url.format(fmt="image/png")).image
    assert png.mode == "L"  # as MapProxy sends a grey map
    assert png.getpixel((30, 30)) == round(0.25 * 200 + 0.25 * 30)
    jpeg = call(app, url.format(fmt="image/jpeg")).image
    assert jpeg.mode == "RGB"


@pytest.mark.parametrize(("red", "message"), [
    ({"x": [{"source": "wms", "band": 2}]}, "caches.swapped.sources: unknown band 'x'"),
    ({"r": [{"source": "wms", "band": 7}]}, r"caches.swapped.sources.r\[0\].band: expected a band number 0-3"),
    ({"r": [{"source": "nope", "band": 2}]}, r"caches.swapped.sources.r\[0\].source: unknown source or cache 'nope'"),
    ({"r": [{"band": 2}]}, r"caches.swapped.sources.r\[0\]: expected a mapping with source and band"),
    ({"l": [{"source": "wms", "band": 2}]}, "caches.swapped.sources: combine l with a only"),
])
def test_band_merge_errors(make_app, red, message) -> None:
    """The swapped cache's red band ``r`` replaced by ``red``."""
    config = copy.deepcopy(CONFIG)
    bands = config["caches"]["swapped"]["sources"]
    del bands["r"]
    config["caches"]["swapped"]["sources"] = {**red, **bands}
    with pytest.raises(ConfigError, match=message):
        make_app(config)
