"""A cache that cannot write never fails a request the source can answer: tiles
are served and "tiles not stored" is logged; lock files that cannot be made fall
back to in-process locks; ``tileproxy check`` names the directory that cannot be
written; the seeder stops at once with a clear message.

Faults that stop root too: the cache directory under a regular file (ENOTDIR), and
a full disk as a file size limit (RLIMIT_FSIZE, EFBIG) in a child process. A
read-only directory (chmod) is tried where the tests do not run as root."""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.configs import write_debug_config
from support.seed import run_seed, write_configs
from support.wsgi import call, fetch, free_port, wait_for_server

from tileproxy import make_wsgi_app
from tileproxy.cli.main import main as tileproxy_main
from tileproxy.tilecache.locks import FileLock, LockTimeout, Semaphore

BACKENDS = ["type: file", "type: mbtiles", "type: sqlite", "type: geopackage",
            "type: compact\nversion: 1", "type: compact\nversion: 2"]

TILES = [f"/tiles/c/GLOBAL_WEBMERCATOR/4/{x}/{y}.png?origin=nw" for x in range(4) for y in range(3)]
GETMAP = ("/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=c&STYLES=&SRS=EPSG:3857"
          "&BBOX=-20037508.34,0,0,20037508.34&WIDTH=256&HEIGHT=256&FORMAT=image/png")


def statuses(app) -> list[int]:
    answers = [call(app, u) for u in [*TILES, GETMAP]]
    assert all(a.body[:4] == b"\x89PNG" for a in answers if a.status == 200)
    return [a.status for a in answers]


def blocked_base_dir(tmp_path: Path) -> str:
    """A base_dir below a regular file: no directory can ever be made there."""
    (tmp_path / "blocker").write_text("not a directory\n")
    return "./blocker/cache"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_cache_under_a_regular_file_still_serves(tmp_path, backend, caplog):
    app = make_wsgi_app(write_debug_config(tmp_path, backend, blocked_base_dir(tmp_path)))
    with caplog.at_level(logging.WARNING, "tileproxy"):
        assert statuses(app) == [200] * (len(TILES) + 1)
    said = [r.getMessage() for r in caplog.records]
    assert any("tiles not stored" in m and "Not a directory" in m for m in said), said
    assert any("locking within this process only" in m for m in said), said
    # rate-limited: one message of each kind, not one per request
    assert sum("tiles not stored" in m for m in said) == 1
    assert sum("locking within this process only" in m for m in said) == 1


def _serve_with_file_size_limit(config: str, limit: int, out) -> None:
    """In a child: the app's files may not grow beyond ``limit`` bytes (as on a full disk)."""
    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    logging.getLogger("tileproxy").addHandler(Keep())
    try:
        app = make_wsgi_app(config)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        out.put((statuses(app), said))
    except BaseException as ex:  # reported to the parent
        out.put(([], [f"{type(ex).__name__}: {ex}"]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_disk_still_serves(tmp_path, backend):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_serve_with_file_size_limit, args=(str(write_debug_config(tmp_path, backend)), 1024, out))
    child.start()
    got, said = out.get(timeout=120)
    child.join(timeout=30)
    assert got == [200] * (len(TILES) + 1), said
    assert any("tiles not stored" in m for m in said), said
    assert sum("tiles not stored" in m for m in said) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_cache_directory_still_serves(tmp_path, caplog):
    (tmp_path / "cache").mkdir(mode=0o555)
    app = make_wsgi_app(write_debug_config(tmp_path))
    try:
        with caplog.at_level(logging.WARNING, "tileproxy"):
            assert statuses(app) == [200] * (len(TILES) + 1)
    finally:
        (tmp_path / "cache").chmod(0o755)
    assert any("tiles not stored" in r.getMessage() for r in caplog.records)


_IN_NAMESPACE = """
import json, logging, sys
sys.path.insert(0, sys.argv[2])
from test_storage_faults import statuses
from tileproxy import make_wsgi_app
said = []
class Keep(logging.Handler):
    def emit(self, record):
        said.append(record.getMessage())
logging.getLogger("tileproxy").addHandler(Keep())
print(json.dumps([statuses(make_wsgi_app(sys.argv[1])), said]))
"""


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _unshare_works(), reason="needs unprivileged user and mount namespaces (unshare -rm)")
@pytest.mark.parametrize("mount, error", [("ro", "Read-only file system"), ("size=16k", "No space left on device")])
def test_a_read_only_or_full_file_system_still_serves(tmp_path, mount, error):
    """A real tmpfs, mounted read-only or tiny in a private mount namespace."""
    import json

    disk = tmp_path / "disk"
    disk.mkdir()
    config = write_debug_config(tmp_path, "type: file", str(disk / "cache"))
    script = tmp_path / "serve.py"
    script.write_text(_IN_NAMESPACE)
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o {mount} tmpfs "$1" && exec "$2" "$3" "$4" "$5"', "-",
         str(disk), sys.executable, str(script), str(config), str(Path(__file__).parent)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got, said = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == [200] * (len(TILES) + 1), said
    assert any("tiles not stored" in m and error in m for m in said), said


# -- locks ------------------------------------------------------------------------


def test_a_lock_that_cannot_be_a_file_still_excludes_threads(tmp_path):
    (tmp_path / "blocker").write_text("")
    path = str(tmp_path / "blocker" / "locks" / "t.lck")
    inside = []
    overlap = []

    def hold() -> None:
        with FileLock(path, timeout=30):
            inside.append(1)
            overlap.append(len(inside))
            for _ in range(1000):
                pass
            inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(overlap) == 16 and max(overlap) == 1
    # a held in-process lock times out like a file lock
    with FileLock(path, timeout=5):
        with pytest.raises(LockTimeout):
            FileLock(path, timeout=0.05).acquire()
    # and is gone once released: the table of in-process locks does not grow
    from tileproxy.tilecache.locks import _LOCAL

    assert _LOCAL._entries == {}


def test_a_semaphore_without_lock_files_still_bounds(tmp_path):
    (tmp_path / "blocker").write_text("")
    sem = Semaphore(str(tmp_path / "blocker" / "locks"), "src", 2, timeout=0.05)
    with sem.hold(), sem.hold():
        with pytest.raises(LockTimeout):
            with sem.hold():
                pass
    with sem.hold():
        pass


# -- tileproxy check ----------------------------------------------------------------


def test_check_names_a_cache_directory_under_a_file(tmp_path, capsys):
    cfg = write_debug_config(tmp_path, "type: mbtiles", blocked_base_dir(tmp_path))
    assert tileproxy_main(["check", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"problem: cache c (GLOBAL_WEBMERCATOR): {tmp_path}/blocker/cache: cannot be created: " \
           f"{tmp_path}/blocker is a file" in err
    assert "warning: tile locks of cache c" in err


def test_check_reports_writable_directories_and_free_space(tmp_path, capsys, monkeypatch):
    cfg = write_debug_config(tmp_path, "type: file")
    assert tileproxy_main(["check", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert f"cache c (GLOBAL_WEBMERCATOR): {tmp_path}/cache/c_EPSG3857: writable by" in out and " free" in out
    assert not (tmp_path / "cache").exists()  # checking creates nothing
    import tileproxy.storage_check as storage_check

    monkeypatch.setattr(storage_check, "LOW_SPACE", 1 << 62)
    assert tileproxy_main(["check", str(cfg)]) == 1
    assert "almost no space left" in capsys.readouterr().err


def test_check_finds_a_file_size_limit_or_read_only_directory(tmp_path):
    """The probe writes a real file, so a limit that refuses any write shows up."""
    cfg = write_debug_config(tmp_path, "type: file")
    proc = subprocess.run([sys.executable, "-m", "tileproxy.cli.main", "check", str(cfg)], capture_output=True,
                          text=True, timeout=60, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0)))
    assert proc.returncode == 1, proc.stderr
    assert "not writable" in proc.stderr and "File too large" in proc.stderr


# -- seeding --------------------------------------------------------------------------

SEED = {"seeds": {"all": {"caches": ["osm_cache"], "levels": {"to": 5}}}}


def test_the_seeder_stops_when_the_cache_cannot_write(tmp_path, source):
    write_configs(tmp_path, source.url, SEED, base_dir="./blocker/cache_data")
    (tmp_path / "blocker").write_text("")
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "-c", "1")
    assert status == 4, err
    assert "error: cache 'osm_cache' cannot store tiles: cannot write" in err and "Not a directory" in err
    # stopped at once: not 341 meta tiles asked for and counted as failed
    assert source.count("wms") <= 4
    assert "retry" not in err


def test_the_seeder_stops_on_a_full_disk(tmp_path, source):
    write_configs(tmp_path, source.url, SEED)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                                      os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-m", "tileproxy.cli.seed", "-f", str(tmp_path / "mapproxy.yaml"),
         "-s", str(tmp_path / "seed.yaml"), "-c", "1"],
        capture_output=True, text=True, timeout=120, env=env,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (200, resource.RLIM_INFINITY)))
    assert proc.returncode == 4, proc.stderr
    assert "cannot store tiles" in proc.stderr and "File too large" in proc.stderr
    assert source.count("wms") <= 4


# -- under gunicorn ----------------------------------------------------------------------


def _gunicorn(tmp_path: Path, config: Path, file_size_limit: int | None) -> tuple[list[int], str]:
    """Start gunicorn (2 sync workers) on ``config``, ask for every tile and a GetMap;
    returns the statuses and what gunicorn logged."""
    pytest.importorskip("gunicorn", reason="gunicorn is a test dependency (pip install -e '.[test]')")
    port = free_port()

    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, resource.RLIM_INFINITY))

    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "tileproxy.deploy:application"],
        env=dict(os.environ, TILEPROXY_CONFIG=str(config), XDG_STATE_HOME=str(tmp_path / "state")),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path, preexec_fn=limit)
    logged: list[bytes] = []
    drain = threading.Thread(target=lambda: logged.extend(proc.stderr), daemon=True)  # never blocks the server
    drain.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(base, proc)
        got = [fetch(base + u).status for u in [*TILES, GETMAP]]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        drain.join(timeout=10)
    return got, b"".join(logged).decode(errors="replace")


def test_gunicorn_serves_from_a_cache_on_a_full_disk(tmp_path):
    got, logged = _gunicorn(tmp_path, write_debug_config(tmp_path), 200)
    assert got == [200] * (len(TILES) + 1), logged
    assert "tiles not stored" in logged and "File too large" in logged
    assert "Traceback" not in logged


def test_gunicorn_serves_from_a_cache_under_a_regular_file(tmp_path):
    got, logged = _gunicorn(tmp_path, write_debug_config(tmp_path, "type: mbtiles", blocked_base_dir(tmp_path)), None)
    assert got == [200] * (len(TILES) + 1), logged
    assert "tiles not stored" in logged and "locking within this process only" in logged
    assert "Traceback" not in logged


CLEANUP = {
    "seeds": {"all": {"caches": ["osm_cache"], "levels": {"to": 2}}},
    "cleanups": {"clean": {"caches": ["osm_cache"], "remove_all": True, "levels": {"to": 2}}},
}


def test_cleanup_stops_when_the_cache_cannot_write(tmp_path, source):
    write_configs(tmp_path, source.url, CLEANUP, cache_options={"cache": {"type": "mbtiles"}})
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--seed", "all")
    assert status == 0, err
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                                      os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-m", "tileproxy.cli.seed", "-f", str(tmp_path / "mapproxy.yaml"),
         "-s", str(tmp_path / "seed.yaml"), "--cleanup", "clean"],
        capture_output=True, text=True, timeout=120, env=env,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY)))
    assert proc.returncode == 4, proc.stderr
    assert "error: cache 'osm_cache' cannot remove tiles: cannot write to" in proc.stderr
    assert "Traceback" not in proc.stderr
