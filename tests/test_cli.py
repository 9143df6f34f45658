"""The tileproxy command line, the reloading app and the gunicorn entry point,
each run for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tileproxy.wsgi import ReloadingApp

CONFIG = """
services:
  tms:
  demo:
layers:
{layers}
caches:
  dbg:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [dbg_src]
    meta_size: [1, 1]
    meta_buffer: 0
sources:
  dbg_src:
    type: debug
globals:
  cache:
    base_dir: ./cache
"""


def _layers(*names: str) -> str:
    return "\n".join(f"  - name: {n}\n    title: {n}\n    sources: [dbg]" for n in names)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as ex:
        return ex.code, ex.read(), dict(ex.headers)


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Poll until the server answers (bounded), failing early if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read().decode()}")
        try:
            with socket.create_connection(("127.0.0.1", int(url.split(":")[2].split("/")[0])), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server did not start")


def _call(app, path: str) -> tuple[str, bytes]:
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "t",
           "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    status = []
    body = b"".join(app(env, lambda s, h: status.append(s)))
    return status[0], body


def test_reloading_app_picks_up_changes_and_keeps_old_on_error(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(CONFIG.format(layers=_layers("one")))
    app = ReloadingApp(cfg, check_interval=0)
    assert b"/one/" in _call(app, "/tms/1.0.0/")[1]

    cfg.write_text(CONFIG.format(layers=_layers("one", "two")))
    os.utime(cfg, (time.time() + 5, time.time() + 5))
    body = _call(app, "/tms/1.0.0/")[1]
    assert b"/two/" in body

    # a broken edit keeps the last good configuration in service
    cfg.write_text("layers: [\n")
    os.utime(cfg, (time.time() + 10, time.time() + 10))
    status, body = _call(app, "/tms/1.0.0/")
    assert status.startswith("200") and b"/two/" in body


def test_reloading_app_watches_base_files(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("globals:\n  tiles:\n    expires_hours: 1\n")
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text("base: base.yaml\n" + CONFIG.format(layers=_layers("one")))
    app = ReloadingApp(cfg, check_interval=0)
    assert app._app.config.globals.expires_hours == 1
    base.write_text("globals:\n  tiles:\n    expires_hours: 2\n")
    os.utime(base, (time.time() + 5, time.time() + 5))
    _call(app, "/tms/1.0.0/")
    assert app._app.config.globals.expires_hours == 2


def test_serve_command_serves_and_reloads(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(CONFIG.format(layers=_layers("one")))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tileproxy.cli.main", "serve", str(cfg), "-b", f"127.0.0.1:{port}", "--reload-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base, proc)
        status, body, headers = _get(base + "/tms/1.0.0/one/EPSG3857/0/0/0.png")
        assert status == 200 and headers["Content-Type"] == "image/png" and body[:4] == b"\x89PNG"
        assert (tmp_path / "cache" / "dbg_EPSG3857").is_dir()
        status, body, _ = _get(base + "/demo/")
        assert status == 200
        cfg.write_text(CONFIG.format(layers=_layers("one", "two")))
        os.utime(cfg, (time.time() + 5, time.time() + 5))
        status, body, _ = _get(base + "/tms/1.0.0/")
        assert b"/two/" in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_reports_config_errors_with_key_path(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(CONFIG.format(layers=_layers("one")).replace("grids: [GLOBAL_WEBMERCATOR]", "grids: [nope]"))
    proc = subprocess.run([sys.executable, "-m", "tileproxy.cli.main", "serve", str(cfg)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "caches.dbg.grids[0]: unknown grid 'nope'" in proc.stderr
    assert str(cfg) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_seed_command_runs_as_module_and_names_bad_files(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(CONFIG.format(layers=_layers("one")))
    (tmp_path / "seed.yaml").write_text("seeds:\n  s:\n    caches: [dbg]\n    levels: [0, 1]\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    cmd = [sys.executable, "-m", "tileproxy.cli.seed", "-f", str(cfg)]
    proc = subprocess.run(cmd + ["-s", str(tmp_path / "missing.yaml")], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 2 and "missing.yaml" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(cmd + ["-s", str(tmp_path / "seed.yaml")], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "cache").rglob("*.png"))) == 5


def test_gunicorn_serves_config_from_environment(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn", reason="gunicorn is a test dependency (pip install -e '.[test]')")
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(CONFIG.format(layers=_layers("one")))
    port = _free_port()
    env = dict(os.environ, TILEPROXY_CONFIG=str(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "tileproxy.deploy:application"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base, proc)
        status, body, headers = _get(base + "/wmts/1.0.0/WMTSCapabilities.xml")
        assert status == 404  # wmts is not configured
        status, body, headers = _get(base + "/tms/1.0.0/one/EPSG3857/1/1/1.png")
        assert status == 200 and body[:4] == b"\x89PNG"
        assert "ETag" in headers and headers["Cache-Control"].startswith("public, max-age=259200")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
