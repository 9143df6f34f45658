"""``ogcapimaps`` sources: WMS maps and cached tiles drawn from the maps of an OGC
API Maps server (tests/support/ogcapi_server.py): bbox, CRS, size and the options
sent as the standard spells them, reprojection into the CRS the server names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.configs import NO_PALETTE, cache_config, layer
from support.ogcapi_server import OGCAPIServer
from support.source_server import expected_color
from support.wsgi import call

from tileproxy.config.errors import ConfigError
from tileproxy.sources.ogcapi_maps import bgcolor_param

EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.fixture
def ogc() -> Iterator[OGCAPIServer]:
    server = OGCAPIServer()
    yield server
    server.close()


def maps_config(url: str, **source: object) -> dict:
    """A WMS layer ``m`` straight on an ogcapimaps source, and layer ``l`` over
    cache ``c`` of it (one tile per meta tile) on TMS."""
    config = cache_config({"ogc": {"type": "ogcapimaps", "landingpage_url": url, **source}}, source_name="ogc",
                          services={"wms": {"srs": ["EPSG:3857", "EPSG:4326"]},
                                    "tms": {"use_grid_names": True, "origin": "nw"}},
                          globals={**NO_PALETTE, "cache": {"base_dir": "./cache_data"}})
    config["layers"].append(layer("m", "M", "ogc"))
    return config


def getmap(bbox: str, srs: str = "EPSG:3857", size: tuple[int, int] = (200, 100), fmt: str = "image/png") -> str:
    return (f"/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=m&STYLES=&SRS={srs}&BBOX={bbox}"
            f"&WIDTH={size[0]}&HEIGHT={size[1]}&FORMAT={fmt}")


def test_a_map_in_a_crs_the_server_names(make_app, ogc: OGCAPIServer) -> None:
    app = make_app(maps_config(ogc.url, collection="world"))
    answer = call(app, getmap("-4000000,-1000000,4000000,3000000"))
    assert answer.status == 200 and answer.content_type == "image/png"
    assert ogc.paths() == ["/ogcapi/collections/world", "/ogcapi/collections/world/map.png"]
    assert ogc.params() == {"bbox": "-4000000,-1000000,4000000,3000000", "bbox-crs": EPSG3857, "crs": EPSG3857,
                            "width": "200", "height": "100"}
    img = answer.image.convert("RGB")
    # the checkerboard's cells lie where the server drew them: 40000 m per pixel
    assert img.getpixel((10, 10)) == expected_color(-3600000, 2600000)
    assert img.getpixel((150, 80)) == expected_color(2000000, -200000)
    call(app, getmap("0,0,1000000,1000000", size=(50, 50), fmt="image/jpeg"))
    assert ogc.paths()[-1] == "/ogcapi/collections/world/map.jpg"  # the landing page is read once


def test_without_named_crs_maps_are_crs84_and_reprojected(make_app, ogc: OGCAPIServer) -> None:
    app = make_app(maps_config(ogc.url))  # the landing page names no CRS: CRS84
    answer = call(app, getmap("-2000000,-2000000,2000000,2000000", size=(100, 100)))
    assert answer.status == 200
    params = ogc.params()
    assert set(params) == {"bbox", "width", "height"}  # longitude first, no CRS parameters
    west, south, east, north = (float(v) for v in params["bbox"].split(","))
    assert west == pytest.approx(-17.966, abs=1e-3) and north == pytest.approx(17.6789, abs=1e-3)
    assert answer.image.convert("RGB").getpixel((20, 20)) == expected_color(-1180000, 1180000)


def test_supported_srs_transparent_and_bgcolor(make_app, ogc: OGCAPIServer) -> None:
    app = make_app(maps_config(ogc.url, collection="world", supported_srs=["EPSG:4326"], transparent=True,
                               bgcolor="#ff000080"))
    assert call(app, getmap("-10,-10,10,10", srs="EPSG:4326", size=(64, 64))).status == 200
    # the configured SRS replaces what the server names; the one CRS needs no crs parameter
    assert ogc.params() == {"bbox": "-10,-10,10,10", "width": "64", "height": "64", "transparent": "true",
                            "bgcolor": "0x80FF0000"}
    call(app, getmap("0,0,1000000,1000000", size=(64, 64)))
    params = ogc.params()  # a web mercator map is drawn from a map in EPSG:4326
    assert "crs" not in params and params["bbox"].startswith("0,0,8.98")
    assert bgcolor_param((0, 0, 255, 255)) == "0x0000FF"


def test_a_cache_fed_by_the_maps_source(make_app, ogc: OGCAPIServer, tmp_path: Path) -> None:
    app = make_app(maps_config(ogc.url, collection="world"))
    answer = call(app, "/tiles/l/GLOBAL_WEBMERCATOR/3/2/3.png")
    assert answer.status == 200
    bbox = [float(v) for v in ogc.params()["bbox"].split(",")]
    step = 2 * 20037508.342789244 / 8
    assert bbox == pytest.approx([-20037508.342789244 + 2 * step, 20037508.342789244 - 4 * step,
                                  -20037508.342789244 + 3 * step, 20037508.342789244 - 3 * step])
    assert answer.image.convert("RGB").getpixel((128, 128)) == expected_color(bbox[0] + step / 2,
                                                                              bbox[1] + step / 2)
    before = len(ogc.requests)
    assert call(app, "/tiles/l/GLOBAL_WEBMERCATOR/3/2/3.png").status == 200
    assert len(ogc.requests) == before  # served from the cache
    assert len(list((tmp_path / "cache_data").rglob("*.png"))) == 1


def test_server_errors_are_clear_and_nothing_is_stored(make_app, ogc: OGCAPIServer, tmp_path: Path) -> None:
    app = make_app(maps_config(ogc.url, collection="world"))
    ogc.fail["/ogcapi/collections/world/map.png"] = 500
    answer = call(app, getmap("0,0,1000000,1000000"))
    assert answer.content_type.startswith("application/vnd.ogc.se_xml")
    assert "HTTP 500" in answer.text
    assert call(app, "/tiles/l/GLOBAL_WEBMERCATOR/3/2/3.png").status == 500
    assert not (tmp_path / "cache_data").exists() or not list((tmp_path / "cache_data").rglob("*.png"))


def test_a_landing_page_without_map_links(make_app, ogc: OGCAPIServer) -> None:
    ogc.docs["/ogcapi"]["links"] = [link for link in ogc.docs["/ogcapi"]["links"] if "map" not in link["rel"]]
    app = make_app(maps_config(ogc.url))
    answer = call(app, getmap("0,0,1000000,1000000"))
    assert "links to no PNG or JPEG map" in answer.text


def test_bgcolor_must_be_a_colour(make_app) -> None:
    with pytest.raises(ConfigError, match="bgcolor"):
        make_app(maps_config("http://127.0.0.1:1/ogcapi", bgcolor="blue-ish"))
