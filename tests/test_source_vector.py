"""Vector tiles (MVT/PBF) pass through a tile source and a cache byte for byte."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.configs import cache, fill, layer, write_config
from support.vector_server import VectorServer, payload
from support.wsgi import call

from tileproxy.wsgi import make_wsgi_app


@pytest.fixture(scope="module")
def vector_server() -> Iterator[VectorServer]:
    server = VectorServer()
    yield server
    server.close()


CONFIG = {
    "services": {"tms": None, "wmts": None, "wms": None},
    "layers": [
        layer("base", "An image layer beside them", "wms"),
        layer("vt", "Vector tiles", "vt_cache"),
        layer("vt_geodetic", "Vector tiles in another grid", "vt_geodetic_cache"),
    ],
    "caches": {
        "vt_cache": cache("vt_source", meta_size=None, format="application/vnd.mapbox-vector-tile"),
        "vt_geodetic_cache": cache("vt_source", grid="GLOBAL_GEODETIC", meta_size=None, format="mvt"),
    },
    "sources": {
        "wms": {"type": "wms", "req": {"url": "{vector}/wms", "layers": "base"}},
        "vt_source": {
            "type": "tile",
            "grid": "GLOBAL_WEBMERCATOR",
            "url": "{vector}/data/%(z)s/%(x)s/%(y)s.pbf",
        },
    },
}


@pytest.fixture
def app(tmp_path, vector_server):
    vector_server.paths.clear()
    path = tmp_path / "mapproxy.yaml"
    write_config(path, fill(CONFIG, vector=vector_server.url))
    return make_wsgi_app(path)


def test_tms_passes_vector_tiles_through_and_stores_them_unchanged(app, vector_server, tmp_path) -> None:
    # TMS level 1 is grid level 2; TMS rows count from the south, the grid's from the north
    answer = call(app, "/tms/1.0.0/vt/EPSG3857/1/2/3.pbf")
    assert answer.status == 200
    assert answer.content_type == "application/vnd.mapbox-vector-tile"
    assert answer.body == payload(2, 2, 0)
    assert vector_server.paths == ["/data/2/2/0.pbf"]
    stored = tmp_path / "cache_data/vt_cache_EPSG3857/02/000/000/002/000/000/000.mvt"
    assert stored.read_bytes() == payload(2, 2, 0)
    again = call(app, "/tms/1.0.0/vt/EPSG3857/1/2/3.mvt")
    assert again.status == 200 and again.body == payload(2, 2, 0)
    assert again.content_type == "application/vnd.mapbox-vector-tile"
    assert len(vector_server.paths) == 1
    assert call(app, "/tms/1.0.0/vt/EPSG3857/1/2/3.png").status == 404


def test_wmts_rest_and_kvp_serve_vector_tiles(app, vector_server) -> None:
    rest = call(app, "/wmts/vt/GLOBAL_WEBMERCATOR/3/4/5.mvt")
    assert rest.status == 200 and rest.body == payload(3, 4, 5)
    assert rest.content_type == "application/vnd.mapbox-vector-tile"
    kvp = call(
        app,
        "/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vt&STYLE=default&TILEMATRIXSET=GLOBAL_WEBMERCATOR"
        "&TILEMATRIX=3&TILEROW=6&TILECOL=4&FORMAT=application/vnd.mapbox-vector-tile",
    )
    assert kvp.status == 200 and kvp.body == payload(3, 4, 6)
    caps = call(app, "/wmts/1.0.0/WMTSCapabilities.xml").text
    assert "<Format>application/vnd.mapbox-vector-tile</Format>" in caps


def test_vector_tiles_in_another_grid_are_a_clear_error(app) -> None:
    answer = call(app, "/tiles/vt_geodetic/EPSG4326/1/0/0.mvt")
    assert answer.status == 500
    assert b"cannot be rescaled or reprojected" in answer.body


def test_vector_cache_cannot_be_drawn_into_a_map(app) -> None:
    from tileproxy.grid import predefined_grid
    from tileproxy.image.formats import ImageFormat
    from tileproxy.sources.base import MapQuery, SourceError
    from tileproxy.sources.cache import cache_map_source

    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    source = cache_map_source(app.config.caches["vt_cache"])
    query = MapQuery(grid.tile_bbox((1, 1, 2)), (256, 256), grid.srs, ImageFormat("image/png"))
    with pytest.raises(SourceError, match="holds application/vnd.mapbox-vector-tile tiles"):
        source.get_map(query)


def test_wms_does_not_offer_vector_layers(app) -> None:
    caps = call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1").text
    assert "<Name>base</Name>" in caps
    assert "<Name>vt</Name>" not in caps and "<Name>vt_geodetic</Name>" not in caps
    answer = call(app, "/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=vt&STYLES=&SRS=EPSG:3857"
                       "&BBOX=0,0,1000000,1000000&WIDTH=256&HEIGHT=256&FORMAT=image/png")
    assert answer.status == 500 and b"LayerNotDefined" in answer.body
