"""``tileproxy autoconfig`` on a live WMS (a tileproxy WMS over the source server's
checkerboard): the written mapproxy.yaml loads and serves that WMS's layers, and the
seed.yaml seeds its caches. The output's shape is compared with mapproxy-util 7.0's in
test_cli_util_tools.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.configs import dump
from support.wms import check_checkerboard, getmap, wms_config
from support.wsgi import call

from tileproxy.cli.main import main as tileproxy
from tileproxy.cli.seed import main as tileproxy_seed
from tileproxy.wsgi import make_wsgi_app


@pytest.fixture
def upstream(make_app, serve) -> str:
    """The URL of a WMS to configure from."""
    return serve(make_app(wms_config())) + "/service"


def _autoconfig(tmp_path: Path, *args: str) -> tuple[Path, Path]:
    out = tmp_path / "auto"
    out.mkdir(exist_ok=True)
    conf, seed = out / "mapproxy.yaml", out / "seed.yaml"
    assert tileproxy(["autoconfig", *args, "--output", str(conf), "--output-seed", str(seed)]) == 0
    return conf, seed


def test_config_serves_the_wms_it_was_made_from(tmp_path: Path, upstream: str, source) -> None:
    conf, _ = _autoconfig(tmp_path, "--capabilities", upstream)
    written = yaml.safe_load(conf.read_text())
    assert written["sources"]["direct_wms"]["req"] == {"url": upstream + "?", "layers": "direct", "transparent": True}
    app = make_wsgi_app(conf)
    bbox = (5.0, 45.0, 15.0, 55.0)
    answer = call(app, getmap("direct", bbox=",".join(map(str, bbox)), fmt="image/png"))
    assert answer.status == 200, answer.body[:300]
    assert check_checkerboard(answer.image, bbox, "EPSG:4326") > 20
    assert source.count("wms") >= 1  # through the upstream WMS to its source
    capabilities = call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities").text
    for name in ("cached", "direct", "group", "coarse_only", "fine_only"):
        assert f"<Name>{name}</Name>" in capabilities


def test_with_a_base_caches_in_its_grids_and_seeds(tmp_path: Path, upstream: str, source) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(dump({"grids": {"webmercator": {"base": "GLOBAL_WEBMERCATOR"}},
                          "globals": {"cache": {"base_dir": str(tmp_path / "cache_data")}}}))
    overwrite_seed = tmp_path / "overwrite_seed.yaml"
    overwrite_seed.write_text(dump({"seeds": {"__all__": {"levels": {"to": 1}}}}))
    conf, seed = _autoconfig(tmp_path, "--capabilities", upstream, "--base", str(base),
                             "--overwrite-seed", str(overwrite_seed))
    written = yaml.safe_load(conf.read_text())
    assert written["caches"]["direct_cache"] == {"sources": ["direct_wms"], "grids": ["webmercator"]}
    app = make_wsgi_app(conf)
    bbox = (0.0, 0.0, 2_000_000.0, 2_000_000.0)
    answer = call(app, getmap("direct", bbox=",".join(map(str, bbox)), srs="EPSG:3857", size=(256, 256)))
    assert answer.status == 200, answer.body[:300]
    assert check_checkerboard(answer.image, bbox, "EPSG:3857") > 20
    assert tileproxy_seed(["-f", str(conf), "-s", str(seed), "--seed", "direct_cache_webmercator", "-q"]) == 0
    stored = list((tmp_path / "cache_data" / "direct_cache_EPSG3857").rglob("*.png"))
    assert len(stored) >= 5  # levels 0 and 1 (4 + 1 tiles), beside the tiles the GetMap stored


def test_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    caps = Path(__file__).parent / "data" / "mapproxy_util" / "wms_capabilities_111.xml"
    target = tmp_path / "mapproxy.yaml"
    target.write_text("kept\n")
    assert tileproxy(["autoconfig", "--capabilities", str(caps), "--output", str(target)]) == 2
    assert "already exists, use --force" in capsys.readouterr().err
    assert target.read_text() == "kept\n"
    assert tileproxy(["autoconfig", "--capabilities", str(caps), "--output", str(target), "--force"]) == 0
    assert "roads_wms" in yaml.safe_load(target.read_text())["sources"]


def test_a_document_that_is_no_capabilities_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "caps.xml"
    doc.write_text("<html><body>login</body></html>")
    assert tileproxy(["autoconfig", "--capabilities", str(doc)]) == 3
    err = capsys.readouterr().err
    assert "Not a capabilities document" in err and "login" in err


def test_a_geopackage_config_serves_its_tiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil
    import sqlite3

    gpkg = tmp_path / "tiles.gpkg"
    shutil.copy(Path(__file__).parent / "data" / "mapproxy_util" / "autoconfig_tiles.gpkg", gpkg)
    conf, seed = _autoconfig(tmp_path, "--geopackage", str(gpkg))
    with sqlite3.connect(gpkg) as db:
        stored = db.execute("SELECT tile_data FROM osm WHERE zoom_level = 1 AND tile_column = 1 "
                            "AND tile_row = 1").fetchone()[0]
    app = make_wsgi_app(conf)
    # the TMS global-mercator profile starts at grid level 1, its rows count from the bottom
    # (tms origin: nw is for /tiles), GeoPackage rows from the top
    answer = call(app, "/tms/1.0.0/osm/osm_3857/0/1/0.png")
    assert answer.status == 200
    assert answer.body == stored
    # its seed.yaml is mapproxy-util's, but caches without sources have nothing to seed from
    assert tileproxy_seed(["-f", str(conf), "-s", str(seed), "--summary"]) == 2
    assert "cache 'osm_cache' has no sources to seed from" in capsys.readouterr().err
