"""End to end through the fixtures: a WMS source behind a cache, served over TMS."""

from __future__ import annotations

from support.configs import CACHE_DATA, OSM, wms_cache_config
from support.source_server import expected_color
from support.wsgi import call

from tileproxy.grid import predefined_grid

CONFIG = wms_cache_config(**OSM, meta_size=(2, 2), meta_buffer=10, globals=CACHE_DATA)


def test_meta_tile_is_one_source_request_and_pixels_land_in_place(make_app, source, tmp_path) -> None:
    app = make_app(CONFIG)
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    z = 3
    for x, tms_y in ((2, 5), (3, 5), (2, 4), (3, 4)):  # one 2x2 meta tile
        # TMS level 0 of the global-mercator profile is grid level 1
        answer = call(app, f"/tms/1.0.0/osm/EPSG3857/{z - 1}/{x}/{tms_y}.png")
        assert answer.status == 200 and answer.content_type == "image/png"
        bbox = grid.tile_bbox((x, 7 - tms_y, z))
        img = answer.image.convert("RGB")
        # sample the tile's centre
        cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
        assert img.getpixel((128, 128)) == expected_color(cx, cy)
    assert source.count("wms") == 1
    files = sorted(p.relative_to(tmp_path) for p in (tmp_path / "cache_data").rglob("*.png"))
    assert [str(p) for p in files] == [
        "cache_data/osm_cache_EPSG3857/03/000/000/002/000/000/002.png",
        "cache_data/osm_cache_EPSG3857/03/000/000/002/000/000/003.png",
        "cache_data/osm_cache_EPSG3857/03/000/000/003/000/000/002.png",
        "cache_data/osm_cache_EPSG3857/03/000/000/003/000/000/003.png",
    ]
