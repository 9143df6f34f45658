"""Sources that draw nothing for a tile (``seed_only`` while serving, a tile outside
the source's coverage) leave the cache as it is: MapProxy stores nothing and answers
a transparent PNG, so a later seed run still creates those tiles."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from support.configs import CACHE_DATA, OSM, wms_cache_config, write_config
from support.seed import cached, run_seed
from support.wsgi import call

# TMS leaves out level 0 of GLOBAL_MERCATOR (as MapProxy): TMS level 0 is grid level 1
TILE = "/tms/1.0.0/osm/EPSG900913/0/0/0.jpeg"


def config(**source_options: object) -> dict:
    return wms_cache_config(**OSM, services={"tms": None, "wms": {"srs": ["EPSG:4326"]}}, grid="GLOBAL_MERCATOR",
                            cache_options={"format": "image/jpeg"}, source_options=source_options, globals=CACHE_DATA)


def test_a_seed_only_source_is_seeded_not_served(make_app, tmp_path: Path, source) -> None:
    app = make_app(config(seed_only=True))
    answer = call(app, TILE)
    assert answer.status == 200 and answer.content_type == "image/png"
    img = Image.open(io.BytesIO(answer.body))
    assert img.mode == "RGBA" and img.getcolors() == [(256 * 256, (255, 255, 255, 0))]
    assert source.count("wms") == 0 and cached(tmp_path, grid="GLOBAL_MERCATOR") == set()
    getmap = call(app, "/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=osm&STYLES=&SRS=EPSG:4326"
                       "&BBOX=10,10,20,20&WIDTH=50&HEIGHT=50&FORMAT=image/png&TRANSPARENT=true")
    assert Image.open(io.BytesIO(getmap.body)).convert("RGBA").getcolors() == [(50 * 50, (255, 255, 255, 0))]
    assert cached(tmp_path, grid="GLOBAL_MERCATOR") == set()
    # the seed run asks the source and stores what serving left out
    write_config(tmp_path / "seed.yaml", {"seeds": {"s": {"caches": ["osm_cache"], "levels": [1]}}})
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))
    assert status == 0, err
    assert cached(tmp_path, grid="GLOBAL_MERCATOR") == {(x, y, 1) for x in range(2) for y in range(2)}
    answer = call(app, TILE)
    assert answer.content_type == "image/jpeg" and Image.open(io.BytesIO(answer.body)).mode == "RGB"


def test_tiles_outside_a_source_coverage_are_not_stored(make_app, tmp_path: Path, source) -> None:
    app = make_app(config(coverage={"bbox": [0, 0, 90, 80], "srs": "EPSG:4326"}))
    outside = call(app, "/tms/1.0.0/osm/EPSG900913/1/0/3.jpeg")  # grid level 2, far north-west
    assert outside.content_type == "image/png" and source.count("wms") == 0
    inside = call(app, "/tms/1.0.0/osm/EPSG900913/1/2/2.jpeg")  # 0 to 10 000 km east and north
    assert inside.content_type == "image/jpeg" and source.count("wms") == 1
    assert cached(tmp_path, grid="GLOBAL_MERCATOR") == {(2, 2, 2)}
