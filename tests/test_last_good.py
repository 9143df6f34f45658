"""A broken configuration file never takes a running server down: processes
started after a bad edit serve the last configuration that loaded, reloads keep
the old one, and the error is logged. Run in-process and under a real gunicorn."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.configs import debug_layers_config, dump, write_config
from support.wsgi import call, fetch, free_port, wait_for_server

from tileproxy import last_good, make_wsgi_app
from tileproxy.config.errors import ConfigError
from tileproxy.wsgi import ReloadingApp


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Snapshots go to a private state directory of the test."""
    monkeypatch.delenv("TILEPROXY_LAST_GOOD", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def _edit(path: Path, text: str, ahead: float = 5) -> None:
    """Write ``text`` with a later mtime, as a later edit has."""
    path.write_text(text)
    later = time.time() + ahead
    os.utime(path, (later, later))


def test_a_process_started_after_a_bad_edit_serves_the_last_good_config(tmp_path, caplog):
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    make_wsgi_app(cfg, last_good=True)
    kept = last_good.snapshot_locations(cfg)[0]
    assert kept.is_file() and kept.stat().st_mode & 0o077 == 0  # may hold source passwords

    _edit(cfg, "layers: [\n")
    with pytest.raises(ConfigError):
        make_wsgi_app(cfg)  # without last_good, as before
    with caplog.at_level(logging.ERROR, "tileproxy"):
        app = make_wsgi_app(cfg, last_good=True)
    assert call(app, "/tms/1.0.0/one/EPSG3857/0/0/0.png").status == 200
    said = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert "serving the last good configuration" in said and "mapproxy.yaml" in said and "invalid YAML" in said
    # the broken file does not replace the snapshot
    assert b"one" in last_good.load_snapshot(cfg).files[cfg.resolve()]


def test_the_snapshot_keeps_base_files_and_relative_paths(tmp_path):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    base = conf_dir / "base.yaml"
    write_config(base, {"globals": {"tiles": {"expires_hours": 3}}})
    cfg = conf_dir / "mapproxy.yaml"
    cfg.write_text(dump({"base": "base.yaml", **debug_layers_config("one")}))
    make_wsgi_app(cfg, last_good=True)

    _edit(base, "globals: {tiles: [\n")
    app = make_wsgi_app(cfg, last_good=True)
    assert app._app.config.globals.expires_hours == 3
    assert call(app, "/tms/1.0.0/one/EPSG3857/0/0/0.png").status == 200
    # ./cache is still the configuration's directory, not where the snapshot is
    assert (conf_dir / "cache" / "dbg_EPSG3857").is_dir()


def test_without_a_snapshot_a_bad_config_still_fails(tmp_path, caplog):
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text("layers: [\n")
    with caplog.at_level(logging.ERROR, "tileproxy"), pytest.raises(ConfigError):
        make_wsgi_app(cfg, last_good=True)
    assert any("no last good copy" in r.getMessage() for r in caplog.records)


def test_a_snapshot_others_can_write_is_not_trusted(tmp_path):
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    make_wsgi_app(cfg, last_good=True)
    kept = last_good.snapshot_locations(cfg)[0]
    kept.chmod(0o666)
    _edit(cfg, "layers: [\n")
    with pytest.raises(ConfigError):
        make_wsgi_app(cfg, last_good=True)


def test_a_reload_with_a_bad_file_keeps_the_running_config(tmp_path, caplog):
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    app = ReloadingApp(cfg, check_interval=0, last_good=True)
    _edit(cfg, dump(debug_layers_config("one", source_type="nonsense")))
    with caplog.at_level(logging.ERROR, "tileproxy"):
        assert call(app, "/tms/1.0.0/one/EPSG3857/0/0/0.png").status == 200
    assert any("not reloaded, still serving" in r.getMessage() for r in caplog.records)
    _edit(cfg, dump(debug_layers_config("one", "two")), ahead=10)
    assert call(app, "/tms/1.0.0/two/EPSG3857/0/0/0.png").status == 200
    # the good reload is the new snapshot
    assert b"two" in last_good.load_snapshot(cfg).files[cfg.resolve()]


def _serve_in_child(app, out) -> None:
    out.put(call(app, "/tms/1.0.0/").body)


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="fork only")
def test_a_forked_worker_reads_the_file_as_it_is_now(tmp_path):
    """As gunicorn --preload: the master loaded the app before an edit; a worker
    forked afterwards serves the edited file, or keeps the master's on a bad one."""
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    app = make_wsgi_app(cfg, last_good=True)
    ctx = multiprocessing.get_context("fork")

    def in_child() -> bytes:
        out = ctx.Queue()
        p = ctx.Process(target=_serve_in_child, args=(app, out))
        p.start()
        body = out.get(timeout=60)
        p.join(timeout=30)
        return body

    _edit(cfg, dump(debug_layers_config("one", "two")))
    assert call(app, "/tms/1.0.0/").body.count(b"/two/") == 0  # no reloading in the master itself
    assert b"/two/" in in_child()
    _edit(cfg, "layers: [\n", ahead=10)
    body = in_child()
    assert b"/one/" in body and b"/two/" not in body


# -- under gunicorn ---------------------------------------------------------------


def _workers(master: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if int(fields[1]) == master and fields[0] != "Z":
                found.add(int(entry))
    return found


def _until(what, timeout: float = 30.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads worker pids from /proc")
@pytest.mark.parametrize("mode", ["plain", "reload", "preload"])
def test_gunicorn_survives_a_bad_edit_worker_kill_and_hup(tmp_path, mode):
    pytest.importorskip("gunicorn", reason="gunicorn is a test dependency (pip install -e '.[test]')")
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    port = free_port()
    env = dict(os.environ, TILEPROXY_CONFIG=str(cfg), TILEPROXY_RELOAD="1" if mode == "reload" else "0")
    args = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5"]
    if mode == "preload":
        args.append("--preload")
    errors = tmp_path / "gunicorn.log"
    with open(errors, "wb") as log_file:
        proc = subprocess.Popen([*args, "tileproxy.deploy:application"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=log_file)
    base = f"http://127.0.0.1:{port}"
    one = base + "/tms/1.0.0/one/EPSG3857/1/1/1.png"
    try:
        wait_for_server(base, proc)
        assert fetch(one).status == 200
        first = _until(lambda: w if len(w := _workers(proc.pid)) == 2 else None)

        _edit(cfg, "layers: [\n  - name: broken\n")
        os.kill(min(first), signal.SIGKILL)
        _until(lambda: len(_workers(proc.pid) - first) == 1 and len(_workers(proc.pid)) == 2)
        assert [fetch(one).status for _ in range(20)] == [200] * 20

        before_hup = _workers(proc.pid)
        proc.send_signal(signal.SIGHUP)
        _until(lambda: len(w := _workers(proc.pid)) == 2 and not w & before_hup)
        assert [fetch(one).status for _ in range(20)] == [200] * 20
        assert proc.poll() is None
        assert fetch(base + "/tms/1.0.0/broken/EPSG3857/1/1/1.png").status == 404

        _edit(cfg, dump(debug_layers_config("one", "two")), ahead=10)
        before_fix = _workers(proc.pid)
        proc.send_signal(signal.SIGHUP)
        _until(lambda: len(w := _workers(proc.pid)) == 2 and not w & before_fix)
        two = base + "/tms/1.0.0/two/EPSG3857/1/1/1.png"
        assert [fetch(two).status for _ in range(10)] == [200] * 10
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        print(errors.read_text())  # shown when the test fails
    text = errors.read_text()
    assert "CONFIGURATION ERROR" in text and "invalid YAML" in text
    assert "Worker failed to boot" not in text


def test_the_snapshot_goes_where_tileproxy_last_good_says(tmp_path, monkeypatch):
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    kept = tmp_path / "kept" / "last-good"
    monkeypatch.setenv("TILEPROXY_LAST_GOOD", str(kept))
    make_wsgi_app(cfg, last_good=True)
    assert kept.is_file() and not (tmp_path / "state").exists()
    _edit(cfg, "layers: [\n")
    assert call(make_wsgi_app(cfg, last_good=True), "/tms/1.0.0/one/EPSG3857/0/0/0.png").status == 200


def test_deploy_entry_point_can_turn_the_fallback_off(tmp_path):
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    env = dict(os.environ, TILEPROXY_CONFIG=str(cfg), XDG_STATE_HOME=str(tmp_path / "state"))
    load = [sys.executable, "-c", "import tileproxy.deploy"]
    assert subprocess.run(load, env=env, capture_output=True, timeout=60).returncode == 0
    _edit(cfg, "layers: [\n")
    kept = subprocess.run(load, env=env, capture_output=True, text=True, timeout=60)
    assert kept.returncode == 0 and "serving the last good configuration" in kept.stderr
    off = subprocess.run(load, env=dict(env, TILEPROXY_LAST_GOOD="off"), capture_output=True, text=True, timeout=60)
    assert off.returncode != 0 and "invalid YAML" in off.stderr
