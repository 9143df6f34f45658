"""Cache watermarks are burned into tiles before they are stored."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from support.configs import cache, layer, merge, wms_source
from support.wms import getmap
from support.wsgi import call

from tileproxy.image.watermark import Watermark
from tileproxy.stores.base import Tile

WORLD = 20037508.342789244

CONFIG = {
    "services": {"wms": None},
    "layers": [layer("marked", "Watermarked", "marked_cache")],
    "caches": {
        "marked_cache": cache(
            "cb_wms",
            watermark={"text": "TILEPROXY", "font_size": 24, "opacity": 255, "color": [0, 0, 0]},
        ),
    },
    "sources": {"cb_wms": wms_source()},
    "globals": {"cache": {"base_dir": "./cache_data"}},
}


def tile_url(x: int, y: int, z: int) -> str:
    size = 2 * WORLD / 2**z
    minx, maxy = -WORLD + x * size, WORLD - y * size
    return getmap("marked", f"{minx!r},{maxy - size!r},{minx + size!r},{maxy!r}", "EPSG:3857", size=(256, 256))


def black_rows(img: Image.Image) -> set[int]:
    """Rows holding watermark pixels (the checkerboard has no dark pixels)."""
    rgb = img.convert("RGB")
    return {y for y in range(rgb.size[1]) for x in range(0, rgb.size[0], 2) if max(rgb.getpixel((x, y))) < 60}


def _spaced(spacing: str) -> dict:
    return merge(CONFIG, {"caches": {"marked_cache": {"watermark": {"spacing": spacing}}}})


def test_watermark_is_stored_with_the_tile(make_app) -> None:
    app = make_app(CONFIG)
    manager = app.config.caches["marked_cache"].managers["GLOBAL_WEBMERCATOR"]
    even = call(app, tile_url(1, 2, 3))
    rows = black_rows(even.image)
    assert rows and min(rows) > 100 and max(rows) < 156  # text in the middle of even rows
    odd = call(app, tile_url(1, 3, 3))
    rows = black_rows(odd.image)
    assert rows and any(r < 30 for r in rows) and any(r > 226 for r in rows)  # across the top and bottom edges
    stored = Tile((1, 2, 3))
    assert manager.store.load(stored)
    assert black_rows(Image.open(io.BytesIO(stored.data))) == black_rows(even.image)


def test_watermark_keeps_an_opaque_tile_opaque() -> None:
    mark = Watermark("TILEPROXY", opacity=255, font_size=24)
    assert mark.apply(Image.new("RGB", (256, 256), (0, 0, 0)), 0, 0).mode == "RGB"
    marked = mark.apply(Image.new("RGBA", (256, 256), (0, 0, 0, 0)), 0, 0)
    assert marked.mode == "RGBA" and marked.getchannel("A").getextrema() == (0, 255)


def test_wide_spacing_marks_every_other_tile(make_app) -> None:
    app = make_app(_spaced("wide"))
    assert black_rows(call(app, tile_url(1, 2, 3)).image)  # x and y differ in parity
    assert not black_rows(call(app, tile_url(2, 2, 3)).image)


def test_watermark_placement_rules() -> None:
    narrow, wide = Watermark("x"), Watermark("x", wide=True)
    assert [narrow.placement(0, y) for y in range(3)] == ["c", "b", "c"]
    assert [wide.placement(x, 0) for x in range(3)] == [None, "c", None]


def test_bad_watermark_config_names_the_key(make_app) -> None:
    from tileproxy.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"caches\.marked_cache\.watermark\.spacing"):
        make_app(_spaced("narrow"))
