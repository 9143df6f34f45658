"""The tileproxy command line, the reloading app and the gunicorn entry point,
each run for real."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from support.configs import debug_layers_config, dump, write_config
from support.wsgi import call, fetch, free_port, wait_for_server

from tileproxy.auth.secrets import hash_api_key
from tileproxy.wsgi import ReloadingApp


def test_reloading_app_picks_up_changes_and_keeps_old_on_error(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    app = ReloadingApp(cfg, check_interval=0)
    assert b"/one/" in call(app, "/tms/1.0.0/").body

    cfg.write_text(dump(debug_layers_config("one", "two")))
    os.utime(cfg, (time.time() + 5, time.time() + 5))
    assert b"/two/" in call(app, "/tms/1.0.0/").body

    # a broken edit keeps the last good configuration in service
    cfg.write_text("layers: [\n")
    os.utime(cfg, (time.time() + 10, time.time() + 10))
    answer = call(app, "/tms/1.0.0/")
    assert answer.status == 200 and b"/two/" in answer.body


def test_reloading_app_watches_base_files(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    write_config(base, {"globals": {"tiles": {"expires_hours": 1}}})
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump({"base": "base.yaml", **debug_layers_config("one")}))
    app = ReloadingApp(cfg, check_interval=0)
    assert app._app.config.globals.expires_hours == 1
    write_config(base, {"globals": {"tiles": {"expires_hours": 2}}})
    os.utime(base, (time.time() + 5, time.time() + 5))
    call(app, "/tms/1.0.0/")
    assert app._app.config.globals.expires_hours == 2


def test_serve_command_serves_and_reloads(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tileproxy.cli.main", "serve", "--dev", str(cfg), "-b", f"127.0.0.1:{port}",
         "--reload-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(base, proc)
        tile = fetch(base + "/tms/1.0.0/one/EPSG3857/0/0/0.png")
        assert tile.status == 200 and tile.headers["Content-Type"] == "image/png" and tile.body[:4] == b"\x89PNG"
        assert (tmp_path / "cache" / "dbg_EPSG3857").is_dir()
        assert fetch(base + "/demo/").status == 200
        cfg.write_text(dump(debug_layers_config("one", "two")))
        os.utime(cfg, (time.time() + 5, time.time() + 5))
        assert b"/two/" in fetch(base + "/tms/1.0.0/").body
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_command_puts_an_access_policy_in_front(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one", "two")))
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"users": {"ann": {
        "api_keys": [hash_api_key("ann-key")],
        "allow": [{"services": ["tms"], "layers": ["one"]}]}}}))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tileproxy.cli.main", "serve", "--dev", str(cfg), "-b", f"127.0.0.1:{port}",
         "--no-reload", "--policy", str(policy)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(base, proc)
        key = {"X-API-Key": "ann-key"}
        assert fetch(base + "/tms/1.0.0/one/EPSG3857/0/0/0.png").status == 401
        assert fetch(base + "/tms/1.0.0/one/EPSG3857/0/0/0.png", headers=key).status == 200
        assert fetch(base + "/tms/1.0.0/two/EPSG3857/0/0/0.png", headers=key).status == 403
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_reports_config_errors_with_key_path(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one", grid="nope")))
    proc = subprocess.run([sys.executable, "-m", "tileproxy.cli.main", "serve", str(cfg)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "caches.dbg.grids[0]: unknown grid 'nope'" in proc.stderr
    assert str(cfg) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_seed_command_runs_as_module_and_names_bad_files(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    write_config(tmp_path / "seed.yaml", {"seeds": {"s": {"caches": ["dbg"], "levels": [0, 1]}}})
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    cmd = [sys.executable, "-m", "tileproxy.cli.seed", "-f", str(cfg)]
    proc = subprocess.run(cmd + ["-s", str(tmp_path / "missing.yaml")], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 2 and "missing.yaml" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(cmd + ["-s", str(tmp_path / "seed.yaml")], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "cache").rglob("*.png"))) == 5


@contextmanager
def deploy_under_gunicorn(tmp_path: Path, **env_vars: str) -> Iterator[str]:
    """tileproxy.deploy under a real gunicorn (2 workers) with these environment
    variables (and no other config variable); yields its base URL."""
    pytest.importorskip("gunicorn", reason="gunicorn is a test dependency (pip install -e '.[test]')")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("TILEPROXY_CONFIG", "MAPPROXY_CONFIG")}
    env.update(env_vars)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "tileproxy.deploy:application"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_gunicorn_serves_config_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    with deploy_under_gunicorn(tmp_path, TILEPROXY_CONFIG=str(cfg)) as base:
        assert fetch(base + "/wmts/1.0.0/WMTSCapabilities.xml").status == 404  # wmts is not configured
        tile = fetch(base + "/tms/1.0.0/one/EPSG3857/1/1/1.png")
        assert tile.status == 200 and tile.body[:4] == b"\x89PNG"
        assert "ETag" in tile.headers and tile.headers["Cache-Control"].startswith("public, max-age=259200")


def test_gunicorn_serves_a_directory_of_configs_from_environment(tmp_path: Path) -> None:
    for name, layer in (("alpha", "one"), ("beta", "two")):
        (tmp_path / f"{name}.yaml").write_text(dump(debug_layers_config(layer)))
    with deploy_under_gunicorn(tmp_path, TILEPROXY_CONFIG_DIR=str(tmp_path)) as base:
        assert fetch(base + "/alpha/tms/1.0.0/one/EPSG3857/0/0/0.png").status == 200
        assert fetch(base + "/beta/tms/1.0.0/two/EPSG3857/0/0/0.png").status == 200
        assert fetch(base + "/alpha/tms/1.0.0/two/EPSG3857/0/0/0.png").status == 404
        assert b"/beta/" in fetch(base + "/beta/tms/1.0.0/").body
        assert b"alpha" not in fetch(base + "/").body  # no listing unless TILEPROXY_ALLOW_LISTING


WITHOUT_GRANIAN = ("import sys; sys.modules['granian'] = None  # as if not installed\n"
                   "from tileproxy.cli.main import main; sys.exit(main(sys.argv[1:]))")


def test_serve_without_granian_falls_back_to_the_development_server(tmp_path: Path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    proc = subprocess.run([sys.executable, "-c", WITHOUT_GRANIAN, "serve", str(cfg), "--workers", "2"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "pip install 'tileproxy[serve]'" in proc.stderr
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", WITHOUT_GRANIAN, "serve", str(cfg), "-b", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(base, proc)
        assert fetch(base + "/tms/1.0.0/one/EPSG3857/0/0/0.png").status == 200
    finally:
        proc.terminate()
        err = proc.communicate(timeout=10)[1]
    assert "granian is not installed" in err and "development server" in err
