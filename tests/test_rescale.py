"""upscale_tiles / downscale_tiles / cache_rescaled_tiles: missing tiles built
from other levels when the source cannot deliver them."""

from __future__ import annotations

import pytest
from support.configs import NO_PALETTE, wms_cache_config
from support.source_server import expected_color
from support.wsgi import call

from tileproxy.config.errors import ConfigError
from tileproxy.grid import predefined_grid

GRID = predefined_grid("GLOBAL_WEBMERCATOR")

def _app(make_app, cache_options: dict, source_options: dict):
    return make_app(wms_cache_config(globals=NO_PALETTE, cache_options=cache_options, source_options=source_options))


def _tile(app, z, x, y):
    answer = call(app, f"/tiles/l/EPSG3857/{z}/{x}/{y}.png?origin=nw")
    assert answer.status == 200, answer.body
    return answer.image.convert("RGBA")


def _check_pixels(img, coord, margin: int) -> int:
    """Compare pixels that lie ``margin`` pixels away from checkerboard edges."""
    bbox = GRID.tile_bbox(coord)
    res = (bbox[2] - bbox[0]) / 256
    checked = 0
    for py in range(4, 256, 12):
        for px in range(4, 256, 12):
            x, y = bbox[0] + (px + 0.5) * res, bbox[3] - (py + 0.5) * res
            colors = {expected_color(x + dx * res, y + dy * res) for dx in (-margin, margin) for dy in (-margin, margin)}
            if len(colors) == 1:
                assert img.getpixel((px, py)) == (*colors.pop(), 255), (px, py)
                checked += 1
    return checked


@pytest.mark.parametrize("cache_rescaled", [False, True])
def test_upscale_from_coarser_levels(make_app, source, tmp_path, cache_rescaled) -> None:
    res3 = GRID.resolutions[3]
    # the source draws down to level 2 (max_res between levels 2 and 3)
    app = _app(make_app, {"upscale_tiles": 2, "cache_rescaled_tiles": cache_rescaled}, {"max_res": res3 * 1.5})
    coord = (9, 6, 4)
    img = _tile(app, coord[2], coord[0], coord[1])
    assert _check_pixels(img, coord, margin=20) > 50
    assert source.count("wms") == 1  # one level-2 tile, no level 3 or 4 requests
    levels = sorted({p.relative_to(tmp_path / "cache_data/c_EPSG3857").parts[0] for p in tmp_path.rglob("*.png")})
    assert levels == (["02", "03", "04"] if cache_rescaled else ["02"])


def test_downscale_from_finer_level(make_app, source) -> None:
    res3 = GRID.resolutions[3]
    app = _app(make_app, {"downscale_tiles": 1}, {"min_res": res3})
    coord = (1, 1, 2)
    img = _tile(app, coord[2], coord[0], coord[1])
    assert _check_pixels(img, coord, margin=3) > 100
    assert source.count("wms") == 4


def test_rescaling_stops_after_n_levels(make_app, source) -> None:
    res3 = GRID.resolutions[3]
    app = _app(make_app, {"upscale_tiles": 1}, {"max_res": res3})
    img = _tile(app, 5, 10, 10)  # level 4 does not deliver either, and is as far as it goes
    assert img.getchannel("A").getextrema() == (0, 0)
    assert source.count("wms") == 0


def test_rescale_option_errors(make_app) -> None:
    with pytest.raises(ConfigError, match="caches.c: use either upscale_tiles or downscale_tiles"):
        _app(make_app, {"upscale_tiles": 1, "downscale_tiles": 1}, {})
    with pytest.raises(ConfigError, match="caches.c.upscale_tiles: must be zero or positive"):
        _app(make_app, {"upscale_tiles": -1}, {})
