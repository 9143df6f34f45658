"""Tiles no source draws (a seed_only source while serving, outside a source's
coverage): a transparent PNG, as MapProxy answers, and nothing stored, so that a
later seeding run still fills them."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from support.configs import NO_PALETTE, cache, layer, wms_source
from support.wsgi import call

CONFIG = {
    "services": {"tms": None, "wms": None},
    "layers": [
        layer("offline", "Seed only", "offline_cache"),
        layer("covered", "Source coverage", "covered_cache"),
    ],
    "caches": {
        "offline_cache": cache("offline", grid="GLOBAL_MERCATOR", meta_size=None, format="image/jpeg"),
        "covered_cache": cache("covered", grid="GLOBAL_MERCATOR", format="image/jpeg"),
    },
    "sources": {
        "offline": wms_source(seed_only=True),
        "covered": wms_source(coverage={"bbox": [5, 45, 15, 55], "srs": "EPSG:4326"}),
    },
    "globals": {"cache": {"base_dir": "./cache_data"}},
}


def stored_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "cache_data").rglob("*.jpeg")]


def assert_transparent_png(answer, size=(256, 256)) -> None:
    assert answer.status == 200, answer.body
    assert answer.content_type == "image/png"
    img = Image.open(io.BytesIO(answer.body))
    assert img.size == size and img.mode == "RGBA"
    assert img.getcolors() == [(size[0] * size[1], (255, 255, 255, 0))]
    assert "detail=no-data" in answer.headers["Cache-Status"]


def test_seed_only_source_gives_transparent_tiles_and_stores_none(make_app, source, tmp_path) -> None:
    app = make_app(CONFIG)
    for path in ("/tms/1.0.0/offline/0/0/0.jpeg", "/tiles/offline/2/1/1.jpeg"):
        assert_transparent_png(call(app, path))
    assert source.count("wms") == 0
    assert stored_files(tmp_path) == []
    # a map over the cache is blank, not an error
    answer = call(app, "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=offline&STYLES="
                       "&SRS=EPSG:4326&BBOX=-180,-90,180,90&WIDTH=100&HEIGHT=50&FORMAT=image/png&TRANSPARENT=true")
    assert answer.status == 200 and answer.content_type == "image/png"


def test_tile_outside_the_source_coverage(make_app, source, tmp_path) -> None:
    app = make_app(CONFIG)
    # TMS level 2 (grid level 3): tile 0/0 lies far from the coverage around 10E 50N
    assert_transparent_png(call(app, "/tms/1.0.0/covered/2/0/0.jpeg"))
    assert source.count("wms") == 0 and stored_files(tmp_path) == []
    # the tile holding the coverage is drawn and stored as usual
    inside = call(app, "/tms/1.0.0/covered/2/4/5.jpeg")
    assert inside.status == 200 and inside.content_type == "image/jpeg"
    assert source.count("wms") == 1 and len(stored_files(tmp_path)) == 1


def test_wms_map_over_tiles_no_source_draws_is_transparent_white(make_app, source) -> None:
    app = make_app({**CONFIG, "globals": {**NO_PALETTE, **CONFIG["globals"]}})
    answer = call(app, "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=offline&STYLES="
                       "&SRS=EPSG:4326&BBOX=10,10,20,20&WIDTH=200&HEIGHT=200&FORMAT=image/png&TRANSPARENT=true")
    assert answer.status == 200 and answer.content_type == "image/png"
    img = Image.open(io.BytesIO(answer.body))
    assert img.mode == "RGBA" and img.getcolors() == [(200 * 200, (255, 255, 255, 0))]
