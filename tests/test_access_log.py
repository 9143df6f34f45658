"""The access log: one line per request on ``tileproxy.access`` (key=value, or JSON with
``globals.log_format: json``) with the layer, the cache result, the bytes and the time spent
on sources; secrets in query strings hidden; health probes not at INFO; logging
configured from the log.ini ``tileproxy create -t log-ini`` writes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.configs import CACHE_DATA, wms_cache_config
from support.wms import getmap
from support.wsgi import call, fetch, free_port, wait_for_server

from tileproxy.access_log import ACCESS, cache_result, without_secrets
from tileproxy.cli.main import main as tileproxy

TILE = "/tms/1.0.0/l/EPSG3857/1/0/0.png"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    """The records the access logger emits, with the logger on at INFO."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    saved = ACCESS.level, ACCESS.propagate
    ACCESS.addHandler(handler)
    ACCESS.setLevel(logging.INFO)
    ACCESS.propagate = False
    yield records
    ACCESS.removeHandler(handler)
    ACCESS.setLevel(saved[0])
    ACCESS.propagate = saved[1]


def _config(**globals_: object) -> dict:
    return wms_cache_config(services={"tms": None, "wms": {"md": {"title": "t"}}},
                            globals={**CACHE_DATA, **globals_})


def _fields(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(" "))


def test_a_line_per_request_with_layer_cache_result_bytes_and_source_time(make_app, access_records, source) -> None:
    app = make_app(_config())
    miss = call(app, TILE)
    hit = call(app, TILE)
    assert [r.levelno for r in access_records] == [logging.INFO, logging.INFO]
    first, second = (_fields(r.getMessage()) for r in access_records)
    assert first["path"] == TILE and first["method"] == "GET" and first["status"] == "200"
    assert (first["service"], first["layer"]) == ("tms", "l")
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    assert (int(first["bytes"]), int(second["bytes"])) == (len(miss.body), len(hit.body))
    assert float(first["source_ms"]) > 0  # the source was asked for the miss
    assert float(second["source_ms"]) == 0
    assert float(second["duration_ms"]) >= 0 and first["time"][:2] == "20"
    assert access_records[0].access["status"] == 200  # the fields, for formatters of one's own


def test_json_lines_with_globals_log_format_json(make_app, access_records, source) -> None:
    app = make_app(_config(log_format="json"))
    call(app, getmap("l", bbox="0,0,10,10", srs="EPSG:4326", size=(64, 64)))
    call(app, "/tms/1.0.0/nosuchlayer/EPSG3857/0/0/0.png")
    wms, missing = (json.loads(r.getMessage()) for r in access_records)
    assert (wms["service"], wms["layer"], wms["status"]) == ("wms", "l", 200)
    assert wms["source_ms"] > 0 and wms["bytes"] > 0
    assert wms["path"].startswith("/service?SERVICE=WMS&REQUEST=GetMap")
    assert (missing["status"], missing["layer"], missing["cache"]) == (404, "-", "-")


def test_unknown_log_format_is_a_config_error(make_app) -> None:
    from tileproxy.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"globals\.log_format"):
        make_app(_config(log_format="xml"))


def test_secrets_in_the_query_are_not_logged(make_app, access_records, source) -> None:
    app = make_app(_config())
    call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&token=s3cret&API_KEY=k3y&map=a%20b")
    line = access_records[0].getMessage()
    assert "s3cret" not in line and "k3y" not in line
    assert "token=***" in line and "API_KEY=***" in line and "map=a%20b" in line


def test_health_probes_are_not_logged_at_info(make_app, access_records) -> None:
    app = make_app(_config())
    assert call(app, "/healthz").status == 200
    assert call(app, "/readyz").status == 200
    assert access_records == []
    ACCESS.setLevel(logging.DEBUG)
    call(app, "/healthz")
    assert [(r.levelno, _fields(r.getMessage())["path"]) for r in access_records] == [(logging.DEBUG, "/healthz")]


def test_nothing_is_logged_when_the_logger_is_off(make_app, access_records, source) -> None:
    app = make_app(_config())
    ACCESS.setLevel(logging.WARNING)
    environ_seen = []
    answer = call(lambda environ, start: environ_seen.append(environ) or app(environ, start), TILE)
    assert answer.status == 200
    assert access_records == []
    assert "tileproxy.access_logged" not in environ_seen[0]


def test_helpers() -> None:
    assert cache_result([("Cache-Status", "tileproxy; hit")]) == "hit"
    assert cache_result([("Cache-Status", "tileproxy; hit; detail=stale")]) == "stale"
    assert cache_result([("Cache-Status", "tileproxy; fwd=stale; fwd-status=500; detail=stale-if-error")]) == "stale"
    assert cache_result([("Cache-Status", "tileproxy; fwd=miss; stored")]) == "miss"
    assert cache_result([("Cache-Status", "tileproxy; fwd=bypass")]) == "bypass"
    assert cache_result([("Content-Type", "image/png")]) == "-"
    assert without_secrets("a=1&b=2") == "a=1&b=2"
    assert without_secrets("access_token=x&keys=1") == "access_token=***&keys=1"


def test_serve_with_the_created_log_ini_writes_access_lines_to_its_file(tmp_path: Path, make_app, source) -> None:
    assert tileproxy(["create", "-t", "log-ini", str(tmp_path / "log.ini")]) == 0
    make_app(_config())  # writes tmp_path/mapproxy.yaml
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # under granian (its workers get the file through TILEPROXY_LOG_CONFIG); a worker slow to stop is
    # killed after 3 s, not serve's 30
    proc = subprocess.Popen([sys.executable, "-m", "tileproxy.cli.main", "serve", "--graceful-timeout", "3",
                             "--log-config", str(tmp_path / "log.ini"), "-b", f"127.0.0.1:{port}",
                             str(tmp_path / "mapproxy.yaml")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(base + "/healthz", proc)
        assert fetch(base + TILE).status == 200
        assert fetch(base + TILE + "?token=abc").status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()  # type: ignore[union-attr]
    lines = (tmp_path / "access.log").read_text().splitlines()
    tiles = [_fields(line) for line in lines if TILE in line]
    assert [(f["status"], f["cache"], f["layer"]) for f in tiles] == [("200", "miss", "l"), ("200", "hit", "l")]
    assert "abc" not in "\n".join(lines)
    assert not any("/healthz" in line for line in lines)  # the readiness polling above
    assert "REQUEST=GetMap" in (tmp_path / "source-requests.log").read_text()  # the log.ini's other files work too
    assert (tmp_path / "tileproxy.log").exists()


def test_deploy_module_applies_the_log_config_of_the_environment(tmp_path: Path, make_app, source) -> None:
    assert tileproxy(["create", "-t", "log-ini", str(tmp_path / "log.ini")]) == 0
    make_app(_config())
    script = ("import logging; from support.wsgi import call; import tileproxy.deploy as d; "
              f"print(call(d.application, {TILE!r}).status); logging.shutdown()")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
           "TILEPROXY_CONFIG": str(tmp_path / "mapproxy.yaml"), "TILEPROXY_LOG_INI": str(tmp_path / "log.ini")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "200", done.stderr
    (line,) = (tmp_path / "access.log").read_text().splitlines()
    assert _fields(line)["path"] == TILE


@pytest.mark.parametrize(("switch", "logged"), [("", False), ("1", True)])
def test_deploy_without_a_log_config_logs_access_only_when_asked(tmp_path: Path, make_app, source,
                                                                  switch: str, logged: bool) -> None:
    make_app(_config())
    script = f"from support.wsgi import call; import tileproxy.deploy as d; print(call(d.application, {TILE!r}).status)"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
           "TILEPROXY_CONFIG": str(tmp_path / "mapproxy.yaml"), "TILEPROXY_ACCESS_LOG": switch}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "200", done.stderr
    assert ("tileproxy.access: time=" in done.stderr) is logged, done.stderr


def test_multimapproxy_lines_carry_the_project_in_the_path(tmp_path: Path, make_app, access_records, source) -> None:
    from tileproxy import make_multi_wsgi_app

    projects = tmp_path / "projects"
    projects.mkdir()
    make_app(_config(), name="projects/berlin.yaml")
    app = make_multi_wsgi_app(projects)
    assert call(app, "/berlin" + TILE).status == 200
    (line,) = (_fields(r.getMessage()) for r in access_records)
    assert (line["path"], line["layer"], line["cache"]) == ("/berlin" + TILE, "l", "miss")


def test_source_time_of_worker_threads_counts_for_the_request(access_records) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tileproxy.access_log import AccessLog, add_source_time, carried
    from tileproxy.metrics import LayerNames

    def app(environ: dict, start_response) -> list[bytes]:  # fetches from "sources" in two threads
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(carried(lambda s: add_source_time(s)), [0.25, 0.5]))
        add_source_time(0.125)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"abc"]

    add_source_time(9.0)  # outside a logged request: counts nowhere
    AccessLog(LayerNames({}), "json").logged(app, {"PATH_INFO": "/x", "REQUEST_METHOD": "GET"}, lambda s, h: None)
    (line,) = (json.loads(r.getMessage()) for r in access_records)
    assert (line["source_ms"], line["bytes"], line["status"]) == (875.0, 3, 200)


def test_log_config_files_yaml_and_errors(tmp_path: Path, make_app, source) -> None:
    import yaml

    from tileproxy.logconfig import apply_log_config

    with pytest.raises(ValueError, match=r"logging configuration .*nope\.ini: no such file"):
        apply_log_config(str(tmp_path / "nope.ini"))
    conf = tmp_path / "logging.yaml"
    conf.write_text(yaml.safe_dump({
        "version": 1,
        "formatters": {"line": {"format": "%(message)s"}},
        "handlers": {"access": {"class": "logging.FileHandler", "filename": str(tmp_path / "a.log"),
                                "formatter": "line"}},
        "loggers": {"tileproxy.access": {"level": "INFO", "handlers": ["access"], "propagate": False}},
    }))
    saved = ACCESS.handlers[:], ACCESS.level, ACCESS.propagate
    try:
        apply_log_config(str(conf))
        assert call(make_app(_config()), TILE).status == 200
        for handler in ACCESS.handlers:
            handler.flush()
        assert _fields((tmp_path / "a.log").read_text().splitlines()[0])["path"] == TILE
    finally:
        for handler in ACCESS.handlers:
            handler.close()
        ACCESS.handlers[:] = saved[0]
        ACCESS.setLevel(saved[1])
        ACCESS.propagate = saved[2]
