"""``ogcapitiles`` sources: a cache filled from the tiles of an OGC API Tiles
server (tests/support/ogcapi_server.py), found through its landing page or a
collection, its map tilesets and tile matrix sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.configs import NO_PALETTE, cache_config
from support.ogcapi_server import OGCAPIServer
from support.source_server import tile_color
from support.wsgi import call

from tileproxy.config.errors import ConfigError
from tileproxy.grid import GridError
from tileproxy.sources.ogcapi_tiles import grid_from_tile_matrix_set


@pytest.fixture
def ogc() -> Iterator[OGCAPIServer]:
    server = OGCAPIServer()
    yield server
    server.close()


def tiles_config(url: str, grid: str = "GLOBAL_WEBMERCATOR", **source: object) -> dict:
    """Layer ``l`` over cache ``c`` (one tile per meta tile) of an ogcapitiles source,
    served at /tiles/l/<grid>/z/x/y.png (y from the north)."""
    return cache_config({"ogc": {"type": "ogcapitiles", "landingpage_url": url, **source}}, source_name="ogc",
                        grid=grid, services={"tms": {"use_grid_names": True, "origin": "nw"}},
                        globals={**NO_PALETTE, "cache": {"base_dir": "./cache_data"}})


def stored_tiles(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "cache_data").rglob("*.png")] if (tmp_path / "cache_data").exists() else []


def test_tiles_come_from_the_tileset_in_the_caches_srs_found_once(make_app, ogc: OGCAPIServer) -> None:
    app = make_app(tiles_config(ogc.url))
    answer = call(app, "/tiles/l/GLOBAL_WEBMERCATOR/2/1/0.png")
    assert answer.status == 200
    assert answer.image.convert("RGB").getpixel((128, 128)) == tile_color(1, 0, 2)
    assert ogc.requests == [
        "/ogcapi",
        "/ogcapi/map/tiles?f=json",
        "/ogcapi/tileMatrixSets/WebMercatorQuad",
        "/ogcapi/map/tiles/WebMercatorQuad?f=json",
        "/ogcapi/map/tiles/WebMercatorQuad/2/0/1.png",
    ]
    assert call(app, "/tiles/l/GLOBAL_WEBMERCATOR/3/5/5.png").status == 200
    assert ogc.requests[5:] == ["/ogcapi/map/tiles/WebMercatorQuad/3/5/5.png"]  # the server is asked once


def test_a_collection_and_a_geographic_grid(make_app, ogc: OGCAPIServer) -> None:
    config = tiles_config(ogc.url, grid="crs84quad", collection="world")
    config["grids"] = {"crs84quad": {"srs": "EPSG:4326", "bbox": [-180, -90, 180, 90], "origin": "nw",
                                     "min_res": 0.703125, "num_levels": 4}}
    app = make_app(config)
    answer = call(app, "/tiles/l/crs84quad/1/3/1.png")
    assert answer.status == 200, answer.text
    assert answer.image.convert("RGB").getpixel((10, 10)) == tile_color(3, 1, 1)
    assert ogc.paths()[:2] == ["/ogcapi/collections/world", "/ogcapi/collections/world/map/tiles"]
    assert ogc.paths()[-1] == "/ogcapi/collections/world/map/tiles/WorldCRS84Quad/1/1/3.png"


def test_tile_matrix_set_id_picks_the_tileset(make_app, ogc: OGCAPIServer) -> None:
    # the only tileset left in EPSG:3857 does not exist: nothing is fetched, the error says why
    app = make_app(tiles_config(ogc.url, tile_matrix_set_id="WorldCRS84Quad"))
    answer = call(app, "/tiles/l/GLOBAL_WEBMERCATOR/1/0/0.png")
    assert answer.status >= 500
    assert "no usable map tileset in EPSG:3857" in answer.text
    assert not any(p.endswith(".png") for p in ogc.paths())


def test_a_grid_not_aligned_with_the_tile_matrix_set_is_refused(make_app, ogc: OGCAPIServer, tmp_path) -> None:
    # the same extent with 512 px tiles: no tile of the server is a tile of the cache
    half = {"base": "GLOBAL_WEBMERCATOR", "tile_size": [512, 512]}
    config = tiles_config(ogc.url, grid="big")
    config["grids"] = {"big": half}
    app = make_app(config)
    answer = call(app, "/tiles/l/big/1/0/0.png")
    assert answer.status >= 500
    assert "tiles are 256x256 pixels, the cache's 512x512" in answer.text
    shifted = {"base": "GLOBAL_WEBMERCATOR", "bbox": [-1e7, -1e7, 1e7, 1e7]}
    config["grids"] = {"big": shifted}
    app = make_app(config)
    answer = call(app, "/tiles/l/big/0/0/0.png")
    assert answer.status >= 500 and "BBOX does not align to tile" in answer.text
    assert stored_tiles(tmp_path) == []


def test_server_errors_are_source_errors_and_nothing_is_stored(make_app, ogc: OGCAPIServer, tmp_path) -> None:
    app = make_app(tiles_config(ogc.url))
    ogc.fail["/ogcapi/map/tiles/WebMercatorQuad/"] = 503
    answer = call(app, "/tiles/l/GLOBAL_WEBMERCATOR/1/0/0.png")
    assert answer.status >= 500
    assert "HTTP 503" in answer.text
    assert stored_tiles(tmp_path) == []
    ogc.fail.clear()
    answer = call(app, "/tiles/l/GLOBAL_WEBMERCATOR/1/0/0.png")
    assert answer.status == 200
    assert len(stored_tiles(tmp_path)) == 1


def test_a_failed_discovery_is_tried_again(make_app, ogc: OGCAPIServer) -> None:
    app = make_app(tiles_config(ogc.url))
    ogc.docs["/ogcapi"] = {"title": "no links"}
    answer = call(app, "/tiles/l/GLOBAL_WEBMERCATOR/0/0/0.png")
    assert answer.status >= 500 and "has no 'links'" in answer.text
    ogc.docs["/ogcapi"]["links"] = ogc.docs["/ogcapi/collections/world"]["links"]
    assert call(app, "/tiles/l/GLOBAL_WEBMERCATOR/0/0/0.png").status == 200


def test_on_error_answers_a_missing_tile(make_app, ogc: OGCAPIServer) -> None:
    app = make_app(tiles_config(ogc.url, on_error={404: {"response": "#00ff00", "cache": False}}))
    ogc.fail["/ogcapi/map/tiles/WebMercatorQuad/1/"] = 404
    answer = call(app, "/tiles/l/GLOBAL_WEBMERCATOR/1/0/0.png")
    assert answer.status == 200
    assert answer.image.convert("RGB").getpixel((5, 5)) == (0, 255, 0)


def test_tile_matrix_sets_become_grids() -> None:
    # EPSG:4326 is latitude first: the point of origin is (lat, lon)
    tms = {
        "id": "south_up", "crs": "http://www.opengis.net/def/crs/EPSG/0/4326",
        "tileMatrices": [
            {"id": f"L{z}", "cellSize": 0.5 / 2**z, "cornerOfOrigin": "bottomLeft", "pointOfOrigin": [-90, -180],
             "matrixWidth": 3 * 2**z, "matrixHeight": 2 * 2**z, "tileWidth": 240, "tileHeight": 180}
            for z in range(3)
        ],
    }
    grid, ids = grid_from_tile_matrix_set(tms)
    assert grid.srs.code == "EPSG:4326" and grid.origin == "sw" and grid.tile_size == (240, 180)
    assert grid.bbox == (-180.0, -90.0, 180.0, 90.0)
    assert grid.grid_sizes == [(3, 2), (6, 4), (12, 8)]
    assert ids == ("L0", "L1", "L2")
    tms["tileMatrices"][1]["tileWidth"] = 256
    with pytest.raises(GridError, match="different tile sizes"):
        grid_from_tile_matrix_set(tms)


def test_landingpage_url_is_required(make_app) -> None:
    config = tiles_config("http://127.0.0.1:1/ogcapi")
    del config["sources"]["ogc"]["landingpage_url"]
    with pytest.raises(ConfigError, match="landingpage_url"):
        make_app(config)
