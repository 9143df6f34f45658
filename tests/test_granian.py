"""tileproxy under a real granian, as ``tileproxy serve`` runs it (2 worker processes x
16 threads): one source request per meta tile however many clients ask, in
parallel across workers and threads; background refresh; SQLite stores written by
both workers at once; keep-alive; reloads, bad edits, a killed worker and HUP; an
access policy; a cache that cannot write."""

from __future__ import annotations

import http.client
import io
import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from PIL import Image
from support.configs import debug_layers_config, dump, write_debug_config
from support.freshness import META, age, config, read, tile_path, url, wait_for
from support.granian import Granian, deploy_command, serve_command
from support.wsgi import fetch

from tileproxy.auth.secrets import hash_api_key

CLIENTS = 32


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Last good configurations go to a private state directory of the test."""
    monkeypatch.delenv("TILEPROXY_LAST_GOOD", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _hammer(base: str, paths: list[str], clients: int = CLIENTS) -> list[tuple[int, bytes, str]]:
    """``clients`` concurrent GETs spread over ``paths``, released together."""
    barrier = threading.Barrier(clients)

    def get(i: int) -> tuple[int, bytes, str]:
        barrier.wait()
        answer = fetch(base + paths[i % len(paths)], timeout=30)
        return answer.status, answer.body, _header(answer, "Cache-Status")

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(get, range(clients)))


def _header(answer, name: str) -> str:
    """A header of a fetched answer, by its name in any case (granian sends names in lower case)."""
    return {k.lower(): v for k, v in answer.headers.items()}.get(name.lower(), "")


def _whole_png(data: bytes) -> bool:
    try:
        Image.open(io.BytesIO(data)).load()
    except Exception:
        return False
    return True


def _meta_tiles(level: int, count: int) -> list[list[tuple[int, int, int]]]:
    """``count`` 2x2 meta tiles of ``level`` (internal coords), each as its 4 tiles."""
    metas = []
    for mx in range(count):
        x0, y0 = 2 * mx, 0
        metas.append([(x0 + dx, y0 + dy, level) for dy in (0, 1) for dx in (0, 1)])
    return metas


def test_many_clients_of_one_meta_tile_make_one_source_request(make_app, source, tmp_path) -> None:
    app = make_app(config((2, 2), refresh_before=False))  # writes mapproxy.yaml; also reads the cache here
    source.delay = 0.4  # every client arrives while the first one's source request runs
    with Granian(serve_command(tmp_path / "mapproxy.yaml"), tmp_path) as srv:
        answers = _hammer(srv.base, [url(c) for c in META])
    assert [status for status, _, _ in answers] == [200] * CLIENTS
    assert source.count("wms") == 1
    stored = {c: read(app, c) for c in META}
    for i, (_, body, _) in enumerate(answers):
        assert body == stored[META[i % 4]]


def test_concurrent_clients_over_many_meta_tiles(make_app, source, tmp_path) -> None:
    """Clients on 8 meta tiles at once: every answer a whole PNG, one source request per meta tile."""
    app = make_app(config((2, 2), refresh_before=False))
    source.delay = 0.05
    metas = _meta_tiles(5, 8)
    paths = [url(c) for meta in metas for c in meta]
    with Granian(serve_command(tmp_path / "mapproxy.yaml"), tmp_path) as srv:
        answers = _hammer(srv.base, paths, clients=64)
        again = _hammer(srv.base, paths, clients=32)
    assert [status for status, _, _ in answers + again] == [200] * 96
    assert all(_whole_png(body) for _, body, _ in answers)
    assert source.count("wms") == len(metas)
    for i, (_, body, _) in enumerate(answers + again):
        assert body == read(app, [c for meta in metas for c in meta][i % len(paths)])


def test_keep_alive_serves_many_requests_on_one_connection(make_app, source, tmp_path) -> None:
    make_app(config((2, 2), refresh_before=False))
    with Granian(serve_command(tmp_path / "mapproxy.yaml"), tmp_path) as srv:
        conn = http.client.HTTPConnection(urlsplit(srv.base).netloc, timeout=30)
        statuses = []
        for coord in META * 3:
            conn.request("GET", url(coord))
            answer = conn.getresponse()
            statuses.append((answer.status, answer.read()[:4], answer.getheader("Connection")))
        local = conn.sock.getsockname()
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        assert conn.sock.getsockname() == local  # the same connection all along
        conn.close()
    assert statuses == [(200, b"\x89PNG", None)] * 12


def test_background_refresh_serves_stale_tiles_and_refreshes_once(make_app, source, tmp_path) -> None:
    app = make_app(config((2, 2), refresh_mode="background"))
    with Granian(serve_command(tmp_path / "mapproxy.yaml"), tmp_path) as srv:
        assert fetch(srv.base + url(META[0])).status == 200
        stale = {}
        for i, coord in enumerate(META):  # images the source never draws, made old
            buf = io.BytesIO()
            Image.new("RGB", (256, 256), (i, 1, 2)).save(buf, "PNG")
            stale[coord] = buf.getvalue()
            Path(tile_path(app, coord)).write_bytes(stale[coord])
        age(app, META)
        source.reset()
        source.delay = 0.5  # the refresh runs while the clients are answered
        started = time.monotonic()
        answers = _hammer(srv.base, [url(c) for c in META], clients=16)
        answered = time.monotonic() - started
        assert [status for status, _, _ in answers] == [200] * 16
        stale_answers = [(i, body) for i, (_, body, cs) in enumerate(answers) if cs.endswith("detail=stale")]
        assert stale_answers and answered < 0.5 + 0.4  # nobody waited for the refresh
        assert all(body == stale[META[i % 4]] for i, body in stale_answers)
        assert wait_for(lambda: all(read(app, c) != stale[c] for c in META), timeout=20)
        assert all(_header(fetch(srv.base + url(c)), "Cache-Status").startswith("tileproxy; hit; ttl=")
                   for c in META)
    assert source.count("wms") == 1


@pytest.mark.parametrize("backend", ["mbtiles", "sqlite", "geopackage"])
def test_sqlite_stores_written_by_all_workers_at_once(make_app, source, tmp_path, backend) -> None:
    app = make_app(config((2, 2), refresh_before=False, cache_opts={"cache": {"type": backend}}))
    source.delay = 0.05
    metas = _meta_tiles(5, 6)
    coords = [c for meta in metas for c in meta]
    with Granian(serve_command(tmp_path / "mapproxy.yaml"), tmp_path) as srv:
        answers = _hammer(srv.base, [url(c) for c in coords], clients=48)
        assert [status for status, _, _ in answers] == [200] * 48
        assert source.count("wms") == len(metas)
        again = [fetch(srv.base + url(c)) for c in coords]
        assert all(a.status == 200 and _header(a, "Cache-Status").startswith("tileproxy; hit") for a in again)
    assert "database is locked" not in srv.log and "Traceback" not in srv.log
    for i, (_, body, _) in enumerate(answers):
        assert body == again[i % len(coords)].body
    files = [p for p in (tmp_path / "cache_data").rglob("*") if p.suffix in (".mbtiles", ".mbtile", ".gpkg")]
    assert files
    for path in files:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    del app


def _edit(path: Path, text: str, ahead: float = 5) -> None:
    """Write ``text`` with a later mtime, as a later edit has."""
    path.write_text(text)
    later = time.time() + ahead
    os.utime(path, (later, later))


def _until(what, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_reload_bad_edit_killed_worker_and_hup(tmp_path) -> None:
    """TILEPROXY_RELOAD under granian: an edit is picked up, a bad one keeps the running
    configuration; a worker killed and the workers after HUP serve the last good one."""
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one")))
    env = {"TILEPROXY_CONFIG": str(cfg), "TILEPROXY_RELOAD": "1"}
    with Granian(deploy_command(), tmp_path, env) as srv:
        one, two = (srv.base + f"/tms/1.0.0/{name}/EPSG3857/1/1/1.png" for name in ("one", "two"))
        assert fetch(one).status == 200
        _edit(cfg, dump(debug_layers_config("one", "two")))
        # both workers reloaded: 20 answers in a row from workers picked by the kernel
        _until(lambda: all(fetch(two).status == 200 for _ in range(20)))

        _edit(cfg, "layers: [\n  - name: broken\n", ahead=10)
        time.sleep(1.2)  # wait: TILEPROXY_RELOAD checks the file once a second, and must keep serving
        assert [fetch(two).status for _ in range(10)] == [200] * 10
        assert "CONFIGURATION ERROR" in srv.log and "not reloaded" in srv.log

        first = srv.wait_workers()
        os.kill(min(first), signal.SIGKILL)
        srv.wait_workers(old={min(first)})
        assert [fetch(two).status for _ in range(10)] == [200] * 10

        before = srv.wait_workers()
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_workers(old=before)
        assert [fetch(two).status for _ in range(10)] == [200] * 10
        assert fetch(srv.base + "/tms/1.0.0/broken/EPSG3857/1/1/1.png").status == 404
        assert "serving the last good configuration" in srv.log
        assert srv.proc.poll() is None


def test_serve_puts_an_access_policy_in_front(tmp_path) -> None:
    cfg = tmp_path / "mapproxy.yaml"
    cfg.write_text(dump(debug_layers_config("one", "two")))
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"users": {"ann": {
        "api_keys": [hash_api_key("ann-key")],
        "allow": [{"services": ["tms"], "layers": ["one"]}]}}}))
    with Granian(serve_command(cfg, "--policy", str(policy)), tmp_path) as srv:
        key = {"X-API-Key": "ann-key"}
        assert fetch(srv.base + "/tms/1.0.0/one/EPSG3857/0/0/0.png").status == 401
        assert fetch(srv.base + "/tms/1.0.0/one/EPSG3857/0/0/0.png", headers=key).status == 200
        assert fetch(srv.base + "/tms/1.0.0/two/EPSG3857/0/0/0.png", headers=key).status == 403
    assert "access policy" in srv.log
    assert "path=/tms/1.0.0/one" not in srv.log  # no access lines unless --access-log


def test_a_cache_that_cannot_write_still_serves(tmp_path) -> None:
    write_debug_config(tmp_path, "type: mbtiles", "./blocker/cache")
    (tmp_path / "blocker").write_text("not a directory\n")
    with Granian(serve_command(tmp_path / "mapproxy.yaml", "--access-log"), tmp_path) as srv:
        answers = [fetch(srv.base + f"/tiles/c/GLOBAL_WEBMERCATOR/4/{x}/{y}.png?origin=nw")
                   for x in range(4) for y in range(3)]
    assert [a.status for a in answers] == [200] * 12 and all(_whole_png(a.body) for a in answers)
    assert "tiles not stored" in srv.log and "Traceback" not in srv.log
    assert srv.log.count("path=/tiles/c/GLOBAL_WEBMERCATOR/4/") == 12  # --access-log: a line per request
