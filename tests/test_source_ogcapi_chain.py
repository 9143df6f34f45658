"""A tileproxy cache fed by the ``ogcapitiles`` source from a second tileproxy
that serves OGC API Tiles (``services: ogcapi``) on another local port: the
tiles are the same as the second instance's own."""

from __future__ import annotations

from support.configs import NO_PALETTE, cache_config
from support.wsgi import call, fetch


def test_a_cache_over_another_tileproxys_ogcapi_tiles(make_app, serve, source, tmp_path) -> None:
    upstream = cache_config({"tiles": {"type": "tile", "url": "{source}/tiles/%(z)s/%(x)s/%(y)s.png",
                                       "grid": "GLOBAL_WEBMERCATOR"}},
                            source_name="tiles", layer_name="base", cache_name="base_cache",
                            services={"ogcapi": None}, globals={**NO_PALETTE, "cache": {"base_dir": "./up"}})
    upstream_url = serve(make_app(upstream, name="upstream.yaml"))
    downstream = cache_config({"up": {"type": "ogcapitiles", "landingpage_url": upstream_url + "/ogcapi",
                                      "collection": "base"}},
                              source_name="up", services={"tms": {"use_grid_names": True, "origin": "nw"}},
                              globals={**NO_PALETTE, "cache": {"base_dir": "./down"}})
    app = make_app(downstream, name="downstream.yaml")
    seen = set()
    for z, x, y in ((0, 0, 0), (2, 1, 3), (4, 9, 6)):
        mine = call(app, f"/tiles/l/GLOBAL_WEBMERCATOR/{z}/{x}/{y}.png")
        theirs = fetch(f"{upstream_url}/ogcapi/collections/base/map/tiles/WebMercatorQuad/{z}/{y}/{x}")
        assert mine.status == 200 and theirs.status == 200
        assert mine.image.convert("RGBA").tobytes() == theirs.image.convert("RGBA").tobytes()
        seen.add(mine.image.convert("RGBA").getpixel((128, 128)))
    assert len(seen) == 3  # three different tiles, each as the upstream serves it
    assert len(list((tmp_path / "down").rglob("*.png"))) == 3
