"""A format name without a preset (``png8a``): MapProxy asks the source for it by
that name, and stores and serves the tiles as the family it is encoded as."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from support.configs import cache, layer, wms_source
from support.wsgi import call

CONFIG = {
    "services": {"tms": None},
    "layers": [layer("odd", "Odd format name", "odd_cache")],
    "caches": {"odd_cache": cache("src", format="png8a")},
    "sources": {"src": wms_source()},
    "globals": {"cache": {"base_dir": "./cache_data"}},
}


def test_png8a_cache_is_a_png_cache(make_app, source, tmp_path) -> None:
    app = make_app(CONFIG)
    answer = call(app, "/tms/1.0.0/odd/EPSG3857/1/0/0.png")
    assert answer.status == 200 and answer.content_type == "image/png"
    assert dict(parse_qsl(urlsplit(source.requests[-1]).query))["FORMAT"] == "image/png8a"
    assert [p.suffix for p in (tmp_path / "cache_data").rglob("*") if p.is_file()] == [".png"]
