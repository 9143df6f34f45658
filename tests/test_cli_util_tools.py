"""tileproxy's grids/scales/... tools print what mapproxy-util 7.0 prints for the same input.

The expected outputs are recorded from mapproxy-util (bench/record_mapproxy_util.py)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

import pytest
from support.http_stub import StubServer, send
from support.wsgi import call

from tileproxy.cli.main import main

DATA = Path(__file__).parent / "data" / "mapproxy_util"


def _cases() -> list[tuple[str, str]]:
    lines = (DATA / "cases.txt").read_text().splitlines()
    return [tuple(part.strip() for part in line.split(":", 1))  # type: ignore[misc]
            for line in lines if line.strip() and not line.startswith("#")]


def run_tool(args: list[str], cwd: Path = DATA) -> tuple[int, str]:
    out = io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            code = main(args)
    finally:
        os.chdir(here)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def wms_url():
    """A WMS answering GetCapabilities with the recorded documents of DATA."""
    def on_get(h) -> None:
        name = h.path.split("?", 1)[0].strip("/")
        send(h, 200, (DATA / name).read_bytes(), "application/vnd.ogc.wms_xml")
    server = StubServer(on_get)
    yield server.url
    server.close()


def normalised(text: str, wms: str) -> str:
    """``text`` as bench/record_mapproxy_util.py keeps mapproxy-util's: autoconfig's time and
    command line, the path of DATA and the WMS URL replaced by placeholders, no time stamps."""
    text = re.sub(r"^# Created on .* with:\n(#.*\n)*", "# Created on <time> with:\n# <command>\n", text, flags=re.M)
    text = re.sub(r"^\[20[^\]]*\] ", "", text, flags=re.M)  # defrag-compact-cache's time stamps
    return text.replace(str(DATA), "{data}").replace(wms, "{wms}")


@pytest.mark.parametrize(("name", "args"), _cases(), ids=[c[0] for c in _cases()])
def test_output_equals_mapproxy_util(name: str, args: str, wms_url: str) -> None:
    code, out = run_tool([a.replace("{wms}", wms_url) for a in shlex.split(args)])
    assert code == 0
    assert normalised(out, wms_url) == (DATA / f"{name}.out").read_text()


def test_unknown_grid_is_named() -> None:
    code, out = run_tool(["grids", "-g", "NoSuchGrid", "grids.yaml"])
    assert code == 1
    assert out == "grid not found: nosuchgrid\n"


def test_scales_eval_refuses_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_tool(["scales", "--eval", "__import__('os')"])
    assert (code, out) == (2, "")
    assert "not arithmetic" in capsys.readouterr().err


def test_create_base_config_writes_loadable_configs(tmp_path: Path) -> None:
    from tileproxy.config.build import load_proxy_config
    from tileproxy.seed.config import load_seed_config

    code, out = run_tool(["create", "-t", "base-config", "conf"], cwd=tmp_path)
    names = ["mapproxy.yaml", "seed.yaml", "full_example.yaml", "full_seed_example.yaml"]
    # the lines mapproxy-util 7.0 prints for the same command
    assert (code, out) == (0, "".join(f"writing conf/{name}\n" for name in names))
    for main_name, seed_name in (("mapproxy.yaml", "seed.yaml"), ("full_example.yaml", "full_seed_example.yaml")):
        proxy = load_proxy_config(tmp_path / "conf" / main_name)
        assert proxy.warnings == []
        seeds = load_seed_config(tmp_path / "conf" / seed_name, proxy, start=0.0)
        assert seeds is not None
    code, _ = run_tool(["create", "-t", "base-config", "conf"], cwd=tmp_path)
    assert code == 1  # existing files need --force


def test_create_wsgi_app_builds_the_app(tmp_path: Path) -> None:
    import importlib.util

    run_tool(["create", "-t", "base-config", "conf"], cwd=tmp_path)
    code, out = run_tool(["create", "-t", "wsgi-app", "-f", "conf/mapproxy.yaml", "app"], cwd=tmp_path)
    assert (code, out) == (0, "writing MapProxy app to app.py\n")
    spec = importlib.util.spec_from_file_location("created_app", tmp_path / "app.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    answer = call(module.application, "/service?SERVICE=WMS&REQUEST=GetCapabilities")
    assert answer.status == 200
    assert b"<Name>osm</Name>" in answer.body


def test_create_log_ini_is_a_logging_config(tmp_path: Path) -> None:
    import logging
    import logging.config

    code, out = run_tool(["create", "-t", "log-ini", "log.ini"], cwd=tmp_path)
    assert (code, out) == (0, "")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.fileConfig(tmp_path / "log.ini", {"here": str(tmp_path)}, disable_existing_loggers=False)
        logging.getLogger("tileproxy.source.request").info("GET http://source/ 200")
        for handler in logging.getLogger("tileproxy.source.request").handlers:
            handler.flush()
        assert "GET http://source/ 200" in (tmp_path / "source-requests.log").read_text()
    finally:
        for handler in root.handlers + logging.getLogger("tileproxy.source.request").handlers:
            handler.close()
        logging.getLogger("tileproxy.source.request").handlers.clear()
        logging.getLogger("tileproxy.source.request").propagate = True
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_create_lists_its_templates() -> None:
    code, out = run_tool(["create", "-l"])
    assert code == 1
    assert out.splitlines()[0] == "Available templates:"
    assert [line.strip() for line in out.splitlines()[1:]] == ["base-config", "wsgi-app", "seed-config", "log-ini"]


def test_wms_capabilities_rejects_other_documents(wms_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_tool(["wms-capabilities", f"{wms_url}/grids.yaml"])
    assert (code, out) == (1, "")
    assert "Could not parse the document" in capsys.readouterr().err


def test_gridconf_names_the_sets_it_cannot_express(wms_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_tool(["gridconf-from-ogcapitilematrixset", "--url", f"{wms_url}/ogcapi/index.json"])
    assert code == 0 and "WebMercatorQuad:" in out
    assert capsys.readouterr().err.splitlines() == [
        f"Cannot handle {wms_url}/ogcapi/tileMatrixSets/Variable.json: "
        "Tile matrix with variableMatrixWidths are not supported",
        "Cannot find definition for None",
    ]


def test_gridconf_of_tileproxys_own_ogcapi_gives_back_its_grids(make_app, serve) -> None:
    import yaml
    from support.ogcapi import CONFIG

    from tileproxy.grid import TileGrid

    app = make_app(CONFIG)
    code, out = run_tool(["gridconf-from-ogcapitilematrixset", serve(app) + "/ogcapi"])
    assert code == 0
    head, _, text = out.partition("\n\n")
    assert head == "Configuration to add to mapproxy.yml:"
    grids = yaml.safe_load(text)["grids"]
    mercator = grids["WebMercatorQuad"]
    served: TileGrid = app.config.grids["GLOBAL_WEBMERCATOR"]
    assert (mercator["srs"], mercator["origin"], mercator["tile_size"]) == ("EPSG:3857", "ul", [256, 256])
    assert mercator["res"] == pytest.approx(served.resolutions[:len(mercator["res"])])
    assert mercator["bbox"] == pytest.approx(list(served.bbox))
    crs84 = grids["WorldCRS84Quad"]
    assert (crs84["srs"], crs84["bbox"], crs84["res"][0]) == ("EPSG:4326", [-180, -90, 180, 90], 0.703125)


def test_grids_coverage_needs_its_seed_conf_and_a_known_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_tool(["grids", "-c", "germany", "grids.yaml"]) == (
        1, "--coverage and --seed-conf can only be used together\n")
    code, out = run_tool(["grids", "-s", "grids_seed.yaml", "-c", "nowhere", "grids.yaml"])
    assert (code, out) == (1, "")
    assert "no coverage nowhere in grids_seed.yaml (known: area, germany, utm_box)" in capsys.readouterr().err
