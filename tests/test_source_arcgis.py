"""ArcGIS REST sources against a real local ArcGIS-shaped server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from support.arcgis_server import ArcGISServer
from support.configs import cache, fill, layer, merge, write_config
from support.source_server import expected_color, tile_color
from support.wsgi import call

from tileproxy.config.build import load_proxy_config
from tileproxy.grid import predefined_grid
from tileproxy.sources.arcgis import normalize_url
from tileproxy.sources.wms import FeatureInfoQuery
from tileproxy.srs import get_srs
from tileproxy.wsgi import make_wsgi_app

CONFIG = {
    "services": {"tms": None},
    "layers": [
        layer("world", "World", "world_cache"),
        layer("imagery", "Imagery", "imagery_cache"),
        layer("cached", "ArcGIS cache tiles", "tiles_cache"),
    ],
    "caches": {
        "world_cache": cache("world"),
        "imagery_cache": {
            "grids": ["GLOBAL_WEBMERCATOR"],
            "sources": ["imagery"],
            "format": "image/jpeg",
            "meta_size": [2, 2],
        },
        "tiles_cache": cache("arcgis_tiles", meta_size=None),
    },
    "sources": {
        "world": {
            "type": "arcgis",
            "req": {
                "url": "{arcgis}/arcgis/rest/services/World/MapServer/",
                "layers": "show:0,1",
                "transparent": True,
                "dpi": 120,
                "time": 1199145600000,
                "gdbVersion": "SDE.DEFAULT",
            },
            "http": {"headers": {"X-Api-Key": "secret-key"}, "client_timeout": 5},
            "opts": {"featureinfo": True, "featureinfo_tolerance": 8, "featureinfo_return_geometries": True},
        },
        "imagery": {
            "type": "arcgis",
            "req": {
                "url": "{arcgis}/arcgis/rest/services/Imagery/ImageServer",
                "layers": "ignored",
                "interpolation": "RSP_CubicConvolution",
            },
        },
        "arcgis_tiles": {
            "type": "tile",
            "grid": "GLOBAL_WEBMERCATOR",
            "url": "{arcgis}/cache/%(arcgiscache_path)s.png",
        },
    },
}


@pytest.fixture(scope="module")
def _arcgis() -> Iterator[ArcGISServer]:
    server = ArcGISServer()
    yield server
    server.close()


@pytest.fixture
def arcgis(_arcgis: ArcGISServer) -> ArcGISServer:
    _arcgis.reset()
    return _arcgis


@pytest.fixture
def config_path(tmp_path, arcgis):
    path = tmp_path / "mapproxy.yaml"
    write_config(path, fill(CONFIG, arcgis=arcgis.url))
    return path


def test_normalize_url() -> None:
    assert normalize_url("http://h/rest/services/A/MapServer") == "http://h/rest/services/A/MapServer/export"
    assert normalize_url("http://h/rest/services/A/MapServer/") == "http://h/rest/services/A/MapServer/export"
    assert normalize_url("http://h/rest/services/A/ImageServer?token=x") == "http://h/rest/services/A/ImageServer/exportImage?token=x"
    assert normalize_url("http://h/rest/services/A/MapServer/export") == "http://h/rest/services/A/MapServer/export"


def _tile_centre(z: int, x: int, y: int) -> tuple[float, float]:
    bbox = predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((x, y, z))
    return (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2


def test_mapserver_export_lands_pixels_and_sends_params(config_path, arcgis) -> None:
    app = make_wsgi_app(config_path)
    # /tiles addresses internal levels; GLOBAL_WEBMERCATOR counts rows from the north
    answer = call(app, "/tiles/world/EPSG3857/3/2/3.png?origin=nw")
    assert answer.status == 200, answer.body
    img = answer.image.convert("RGB")
    assert img.getpixel((128, 128)) == expected_color(*_tile_centre(3, 2, 3))
    path, args = arcgis.requests[-1]
    assert path == "/arcgis/rest/services/World/MapServer/export"
    assert args["bboxSR"] == args["imageSR"] == "3857"
    assert args["size"] == "256,256"
    assert args["f"] == "image" and args["format"] == "png32" and args["transparent"] == "true"
    assert args["layers"] == "show:0,1" and args["dpi"] == "120" and args["time"] == "1199145600000"
    assert args["gdbVersion"] == "SDE.DEFAULT"
    assert arcgis.last_headers.get("X-Api-Key") == "secret-key"
    bbox = [float(v) for v in args["bbox"].split(",")]
    expect = predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((2, 3, 3))
    assert bbox == pytest.approx(list(expect))


def test_imageserver_export_image_without_layers(config_path, arcgis) -> None:
    app = make_wsgi_app(config_path)
    answer = call(app, "/tiles/imagery/EPSG3857/2/1/1.jpeg?origin=nw")
    assert answer.status == 200 and answer.content_type == "image/jpeg"
    path, args = arcgis.requests[-1]
    assert path == "/arcgis/rest/services/Imagery/ImageServer/exportImage"
    assert "layers" not in args and "transparent" not in args
    assert args["format"] == "jpg" and args["interpolation"] == "RSP_CubicConvolution"
    # a 2x2 meta tile: 512 pixels plus the default 80 pixel buffer inside the world
    assert args["size"].split(",")[0] in ("512", "592", "672")


def test_json_error_with_http_200_is_a_clear_error_and_logged(config_path, arcgis, caplog) -> None:
    app = make_wsgi_app(config_path)
    arcgis.reset("jsonerror")
    with caplog.at_level(logging.WARNING):
        answer = call(app, "/tiles/world/EPSG3857/1/0/0.png?origin=nw")
    assert answer.status == 500
    assert b"Unable to complete operation" in answer.body
    assert "Invalid layer ID: 99" in caplog.text
    # nothing was stored, and the worker still serves the same layer once the server recovers
    arcgis.reset("ok")
    assert call(app, "/tiles/world/EPSG3857/1/0/0.png?origin=nw").status == 200


def test_feature_info_through_identify(config_path, arcgis) -> None:
    config = load_proxy_config(config_path)
    source = config.sources["world"]
    bbox = (-2e6, -1e6, 2e6, 1e6)
    query = FeatureInfoQuery(bbox, (400, 200), get_srs("EPSG:3857"), (100, 50), "application/json")
    result = source.get_feature_info(query)
    assert result.mime == "application/json"
    doc = json.loads(result.data)
    params = doc["results"][0]["params"]
    assert params["geometryType"] == "esriGeometryPoint"
    x, y = (float(v) for v in params["geometry"].split(","))
    assert (x, y) == pytest.approx((-2e6 + 100 * 1e4, 1e6 - 50 * 1e4))
    assert params["sr"] == "3857" and params["tolerance"] == "8" and params["returnGeometry"] == "true"
    assert params["layers"] == "show:0,1" and params["imageDisplay"] == "400,200,96"  # req.layers as configured
    assert arcgis.requests[-1][0] == "/arcgis/rest/services/World/MapServer/identify"
    html = source.get_feature_info(FeatureInfoQuery(bbox, (400, 200), get_srs("EPSG:3857"), (1, 1), "text/html"))
    assert html.mime == "text/html" and b"identify at" in html.data


def test_feature_info_in_other_srs_is_transformed(config_path, arcgis) -> None:
    config = load_proxy_config(config_path)
    source = config.sources["world"]
    source.supported_srs = [get_srs("EPSG:3857")]
    query = FeatureInfoQuery((-10, -10, 10, 10), (200, 200), get_srs("EPSG:4326"), (100, 100), "application/json")
    params = json.loads(source.get_feature_info(query).data)["results"][0]["params"]
    assert params["sr"] == "3857"
    x, _ = (float(v) for v in params["geometry"].split(","))
    assert x == pytest.approx(0.0, abs=1e-6)


def test_arcgis_cache_path_tile_source(config_path, arcgis) -> None:
    app = make_wsgi_app(config_path)
    answer = call(app, "/tiles/cached/EPSG3857/3/5/2.png?origin=nw")
    assert answer.status == 200
    assert answer.image.convert("RGB").getpixel((10, 10)) == tile_color(5, 2, 3)
    assert arcgis.requests[-1][0] == "/cache/L03/R00000002/C00000005.png"


def test_wms_getfeatureinfo_goes_to_identify(tmp_path, arcgis) -> None:
    config = merge(fill(CONFIG, arcgis=arcgis.url), {"services": {"wms": {"featureinfo_types": ["json", "html"]}}})
    path = write_config(tmp_path / "mapproxy.yaml", config)
    app = make_wsgi_app(path)
    caps = call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1").text
    assert '<Layer queryable="1"' in caps
    answer = call(
        app,
        "/service?SERVICE=WMS&REQUEST=GetFeatureInfo&VERSION=1.1.1&LAYERS=world&QUERY_LAYERS=world&STYLES="
        "&SRS=EPSG:3857&BBOX=-2000000,-1000000,2000000,1000000&WIDTH=400&HEIGHT=200&X=100&Y=50"
        "&INFO_FORMAT=application/json",
    )
    assert answer.status == 200, answer.body
    doc = json.loads(answer.body)
    assert doc["results"][0]["params"]["geometry"] == "-1000000.000000,500000.000000"
    assert arcgis.requests[-1][0].endswith("/MapServer/identify")


def test_json_error_answered_by_on_error_tile(tmp_path, arcgis) -> None:
    config = fill(CONFIG, arcgis=arcgis.url)
    config["sources"]["world"]["on_error"] = {"other": {"response": "#00ff00", "cache": False}}
    path = write_config(tmp_path / "mapproxy.yaml", config)
    app = make_wsgi_app(path)
    arcgis.reset("jsonerror")
    answer = call(app, "/tiles/world/EPSG3857/1/0/0.png?origin=nw")
    assert answer.status == 200
    assert answer.image.convert("RGB").getpixel((5, 5)) == (0, 255, 0)
    assert "no-cache" in answer.headers.get("Cache-Control", "")
