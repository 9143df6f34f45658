"""MapServer sources: the real mapserv binary renders a small mapfile."""

from __future__ import annotations

import copy
import logging
import shutil
import stat
from pathlib import Path

import pytest
from support.configs import NO_PALETTE, cache, layer, merge
from support.http_stub import pixel_at
from support.wsgi import call

from tileproxy.config.errors import ConfigError
from tileproxy.grid import predefined_grid

MAPSERV = shutil.which("mapserv") or shutil.which("mapserv", path="/usr/lib/cgi-bin")
pytestmark = pytest.mark.skipif(MAPSERV is None, reason="mapserv is not installed (apt-get install cgi-mapserver)")

DATA = Path(__file__).parent / "data" / "mapserver"
GRID = predefined_grid("GLOBAL_WEBMERCATOR")

CONFIG = {
    "services": {"tms": None},
    "globals": NO_PALETTE,
    "layers": [layer("squares", "Squares", "squares_cache"), layer("blue", "Blue only", "blue_cache"),
               layer("broken", "Broken mapfile", "broken_cache")],
    "caches": {
        "squares_cache": cache("squares", meta_size=(2, 2), meta_buffer=20),
        "blue_cache": cache("squares:blue"),
        "broken_cache": cache("broken"),
    },
    "sources": {
        "squares": {"type": "mapserver", "req": {"map": "squares.map", "layers": "red,blue", "transparent": True},
                    "mapserver": {"working_dir": str(DATA)}},
        "broken": {"type": "mapserver", "req": {"map": f"{DATA}/broken.map", "layers": "x"}},
    },
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)



def test_mapserv_renders_the_mapfile_into_tiles(app, tmp_path) -> None:
    # level 2 tile (2, 1) spans 0..10018754 m east and north: the red square fills its lower left quarter
    answer = call(app, "/tiles/squares/EPSG3857/2/2/1.png?origin=nw")
    assert answer.status == 200, answer.body
    img = answer.image.convert("RGBA")
    assert pixel_at(img, GRID, (2, 1, 2), 2.5e6, 2.5e6) == (255, 0, 0, 255)
    assert pixel_at(img, GRID, (2, 1, 2), 7.5e6, 7.5e6)[3] == 0
    # the blue square sits south-west of the origin, in tile (1, 2)
    other = call(app, "/tiles/squares/EPSG3857/2/1/2.png?origin=nw").image.convert("RGBA")
    assert pixel_at(other, GRID, (1, 2, 2), -2.5e6, -2.5e6) == (0, 0, 255, 255)


def test_tagged_layers(app) -> None:
    red_tile = call(app, "/tiles/blue/EPSG3857/2/2/1.png?origin=nw").image.convert("RGBA")
    assert pixel_at(red_tile, GRID, (2, 1, 2), 2.5e6, 2.5e6)[3] == 0
    blue_tile = call(app, "/tiles/blue/EPSG3857/2/1/2.png?origin=nw").image.convert("RGBA")
    assert pixel_at(blue_tile, GRID, (1, 2, 2), -2.5e6, -2.5e6) == (0, 0, 255, 255)


def test_broken_mapfile_is_an_error_for_that_layer_only(app, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        answer = call(app, "/tiles/broken/EPSG3857/1/0/0.png?origin=nw")
    assert answer.status == 500
    assert b"mapserver source 'broken' failed" in answer.body
    assert "broken.map" in caplog.text and "POLYGONNN" in caplog.text
    assert call(app, "/tiles/squares/EPSG3857/1/0/0.png?origin=nw").status == 200


def test_crashing_binary_is_a_source_error_with_stderr_logged(make_app, tmp_path, caplog) -> None:
    fake = tmp_path / "mapserv-crash"
    fake.write_text("#!/bin/sh\necho 'msDrawMap(): out of cheese' >&2\nkill -SEGV $$\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    app = make_app({**CONFIG, "globals": {"mapserver": {"binary": str(fake)}}})
    with caplog.at_level(logging.WARNING):
        answer = call(app, "/tiles/squares/EPSG3857/1/0/0.png?origin=nw")
    assert answer.status == 500
    assert b"mapserv ended with signal 11" in answer.body
    assert "out of cheese" in caplog.text


def test_missing_binary_is_a_config_error(make_app, tmp_path) -> None:
    config = merge(CONFIG, {"sources": {"squares": {"mapserver": {"binary": f"{tmp_path}/nope/mapserv"}}}})
    with pytest.raises(ConfigError, match=r"sources.squares.mapserver.binary: mapserv binary .*/nope/mapserv does not exist"):
        make_app(config)


def test_no_binary_on_path_is_a_config_error(make_app, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("tileproxy.sources.mapserver.CGI_BIN_DIRS", ("/nonexistent-cgi-bin",))
    with pytest.raises(ConfigError, match="no mapserv binary on PATH"):
        make_app(CONFIG)


def test_missing_map_key(make_app) -> None:
    config = copy.deepcopy(CONFIG)
    del config["sources"]["squares"]["req"]["map"]
    with pytest.raises(ConfigError, match=r"sources.squares.req: missing required key 'map'"):
        make_app(config)


def test_broken_mapfile_in_wms_is_an_ogc_exception(make_app) -> None:
    app = make_app(merge(CONFIG, {"services": {"wms": {"on_source_errors": "raise"}}}))
    answer = call(app, "/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=broken&STYLES=&SRS=EPSG:3857"
                       "&BBOX=0,0,1000000,1000000&WIDTH=64&HEIGHT=64&FORMAT=image/png")
    assert answer.status == 500 and not answer.body.startswith(b"internal error")  # an OGC exception, as MapProxy answers it
    assert b"ServiceException" in answer.body and b"mapserver source 'broken' failed" in answer.body
    ok = call(app, "/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=squares&STYLES=&SRS=EPSG:3857"
                   "&BBOX=0,0,1000000,1000000&WIDTH=64&HEIGHT=64&FORMAT=image/png")
    assert ok.status == 200 and ok.content_type == "image/png"


def test_feature_info_and_legends_come_from_mapserv(make_app) -> None:
    app = make_app(merge(CONFIG, {"services": {"wms": {"srs": ["EPSG:3857"]}},
                                  "sources": {"squares": {"wms_opts": {"featureinfo": True, "legendgraphic": True}}}}))
    answer = call(app, "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetFeatureInfo&LAYERS=squares&QUERY_LAYERS=squares"
                       "&SRS=EPSG:3857&BBOX=0,0,10000000,10000000&WIDTH=100&HEIGHT=100&X=20&Y=80&INFO_FORMAT=text/plain")
    assert answer.status == 200 and answer.content_type == "text/plain; charset=utf-8"
    assert "Layer 'red'" in answer.text  # the red square is at the point
    legend = call(app, "/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetLegendGraphic&LAYER=squares&FORMAT=image/png")
    assert legend.status == 200 and legend.content_type == "image/png" and legend.image.size[1] > 0
