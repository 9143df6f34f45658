"""Options all sources share: resolution limits, coverage with clip, seed_only,
transparent_color, opacity."""

from __future__ import annotations

import pytest
from conftest import call
from source_server import COLORS, expected_color

from tileproxy.config.errors import ConfigError
from tileproxy.grid import predefined_grid
from tileproxy.sources.limits import set_seeding

BASE = """
services:
  tiles_only:
globals:
  image:
    paletted: false
layers:
  - name: l
    title: L
    sources: [c]
caches:
  c:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [wms]
    meta_size: [1, 1]
    meta_buffer: 0
sources:
  wms:
    type: wms
    req:
      url: {source}/wms
      layers: base
    {options}
"""

GRID = predefined_grid("GLOBAL_WEBMERCATOR")


def _app(make_app, options: str):
    text = BASE.replace("{options}", options.replace("\n", "\n    ")).replace("  tiles_only:", "  tms:")
    return make_app(text)


def _tile(app, z: int, x: int, y: int):
    answer = call(app, f"/tiles/l/GLOBAL_WEBMERCATOR/{z}/{x}/{y}.png?origin=nw")
    assert answer.status == 200, answer.body
    return answer.image.convert("RGBA")


def _is_blank(img) -> bool:
    return img.getchannel("A").getextrema() == (0, 0)


def test_resolution_limits_min_inclusive_max_exclusive(make_app, source) -> None:
    res = GRID.resolutions
    app = _app(make_app, f"min_res: {res[2]!r}\nmax_res: {res[4]!r}")
    assert _is_blank(_tile(app, 1, 0, 0))
    assert source.count("wms") == 0
    assert not _is_blank(_tile(app, 2, 0, 0))
    assert not _is_blank(_tile(app, 3, 0, 0))
    assert source.count("wms") == 2
    assert _is_blank(_tile(app, 4, 0, 0))
    assert source.count("wms") == 2


def test_scale_limits(make_app, source) -> None:
    # level 3 of web mercator is at scale 1:69885283 (0.28 mm pixels)
    app = _app(make_app, "min_scale: 100000000\nmax_scale: 50000000")
    assert _is_blank(_tile(app, 2, 0, 0))
    assert not _is_blank(_tile(app, 3, 0, 0))
    assert _is_blank(_tile(app, 4, 0, 0))


COVERAGE = """coverage:
  bbox: [0, 0, 5000000, 5000000]
  srs: EPSG:3857
  clip: {clip}"""


@pytest.mark.parametrize("clip", [True, False])
def test_coverage_limits_requests_and_clips(make_app, source, clip) -> None:
    app = _app(make_app, COVERAGE.replace("{clip}", str(clip).lower()))
    # level 2 tile (2, 1) covers x 0..10018754, y 0..10018754: a quarter lies inside
    img = _tile(app, 2, 2, 1)
    assert source.count("wms") == 1
    inside = img.getpixel((32, 223))
    outside = img.getpixel((200, 40))
    assert inside[3] == 255 and inside[:3] in COLORS
    if clip:
        assert outside[3] == 0
    else:
        assert outside[3] == 255
    # a tile away from the coverage is not requested at all
    assert _is_blank(_tile(app, 2, 0, 0))
    assert source.count("wms") == 1


def test_seed_only_sources_answer_only_while_seeding(make_app, source) -> None:
    app = _app(make_app, "seed_only: true")
    assert _is_blank(_tile(app, 2, 0, 0))
    assert source.count("wms") == 0
    set_seeding(True)
    try:
        assert not _is_blank(_tile(app, 2, 1, 1))
    finally:
        set_seeding(False)
    assert source.count("wms") == 1


@pytest.mark.parametrize(("color", "tolerance", "transparent"), [
    ("'#c81e1e'", 0, True),
    ("[205, 25, 30]", 5, True),
    ("[205, 25, 30]", 2, False),
])
def test_transparent_color(make_app, source, color, tolerance, transparent) -> None:
    app = _app(make_app, f"image:\n  transparent_color: {color}\n  transparent_color_tolerance: {tolerance}")
    img = _tile(app, 3, 3, 3)
    bbox = GRID.tile_bbox((3, 3, 3))
    seen = set()
    for px, py in ((10, 10), (128, 128), (245, 245), (10, 245), (245, 10), (70, 10)):
        x = bbox[0] + (px + 0.5) * (bbox[2] - bbox[0]) / 256
        y = bbox[3] - (py + 0.5) * (bbox[3] - bbox[1]) / 256
        want = expected_color(x, y)
        seen.add(want)
        pixel = img.getpixel((px, py))
        if want == COLORS[0] and transparent:
            assert pixel[3] == 0
        else:
            assert pixel == (*want, 255)
    assert seen == set(COLORS)


def test_opacity(make_app) -> None:
    app = _app(make_app, "image:\n  opacity: 0.4")
    img = _tile(app, 2, 1, 1)
    assert img.getchannel("A").getextrema() == (102, 102)


@pytest.mark.parametrize(("options", "message"), [
    ("image:\n  transparent_color: '#12'", "sources.wms.image.transparent_color: expected a colour"),
    ("image:\n  opacity: 1.5", "sources.wms.image.opacity: expected a number from 0 to 1"),
    ("coverage:\n  srs: EPSG:4326", "sources.wms.coverage"),
])
def test_option_errors_name_the_key(make_app, options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _app(make_app, options)
