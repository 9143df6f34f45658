"""Prometheus metrics (/metrics, off unless configured, token-guarded) and the health
checks /healthz and /readyz, in-process and under gunicorn with several workers."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.configs import write_config
from support.wsgi import call, fetch

from tileproxy.wsgi import make_wsgi_app

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

TILE = "/tms/1.0.0/dbg/EPSG3857/1/0/0.png"


def _config(base_dir: str, metrics: object = None) -> dict:
    globals_: dict = {"cache": {"base_dir": base_dir, "lock_dir": base_dir + "/locks"}}
    if metrics is not None:
        globals_["metrics"] = metrics
    return {
        "globals": globals_,
        "services": {"tms": None, "wms": None},
        "sources": {"dbg": {"type": "debug"}},
        "caches": {"dbg_cache": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["dbg"]}},
        "layers": [{"name": "dbg", "title": "Debug", "sources": ["dbg_cache"]}],
    }


def _app(tmp_path: Path, metrics: object = None, base_dir: str | None = None):
    return make_wsgi_app(write_config(tmp_path / "mapproxy.yaml", _config(base_dir or str(tmp_path / "cache"), metrics)))


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition, by name and sorted labels (parsing it proves it parses)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_hits_misses_and_stored_tiles(tmp_path):
    app = _app(tmp_path, True)
    before = _samples(call(app, "/metrics").text)
    for _ in range(3):
        assert call(app, TILE).status == 200
    assert call(app, "/tms/1.0.0/nothere/EPSG3857/1/0/0.png").status == 404
    answer = call(app, "/metrics")
    assert answer.status == 200 and answer.content_type.startswith("text/plain")
    after = _samples(answer.text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("tileproxy_requests_total", service="tms", layer="dbg", status="200") == 3
    # a name that is no layer is not a label: labels stay bounded
    assert grew("tileproxy_requests_total", service="tms", layer="", status="404") == 1
    assert grew("tileproxy_cache_tiles_total", cache="dbg_cache", result="miss") == 1
    assert grew("tileproxy_cache_tiles_total", cache="dbg_cache", result="hit") == 2
    assert grew("tileproxy_tiles_stored_total", cache="dbg_cache") >= 1
    assert grew("tileproxy_stored_bytes_total", cache="dbg_cache") > 0
    assert grew("tileproxy_source_requests_total", source="dbg") == 1
    assert grew("tileproxy_source_request_seconds_count", source="dbg") == 1
    assert grew("tileproxy_lock_wait_seconds_count", cache="dbg_cache") == 1


def test_metrics_count_source_requests_of_uncached_layers(tmp_path):
    """A WMS layer drawn by its source directly (no cache) makes source requests too,
    and a source that fails counts as an error."""
    from support.wsgi import free_port

    config = _config(str(tmp_path / "cache"), True)
    config["sources"]["down"] = {"type": "wms", "req": {"url": f"http://127.0.0.1:{free_port()}/wms", "layers": "x"},
                                 "http": {"client_timeout": 2}}
    config["layers"] += [{"name": "direct", "title": "Direct", "sources": ["dbg"]},
                         {"name": "broken", "title": "Broken", "sources": ["down"]}]
    app = make_wsgi_app(write_config(tmp_path / "mapproxy.yaml", config))
    before = _samples(call(app, "/metrics").text)
    getmap = ("/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&SRS=EPSG:3857&BBOX=0,0,1000000,1000000"
              "&WIDTH=64&HEIGHT=64&FORMAT=image/png&STYLES=&LAYERS=")
    assert call(app, getmap + "direct").status == 200
    assert call(app, getmap + "broken").content_type.startswith("application/vnd.ogc.se_xml")
    after = _samples(call(app, "/metrics").text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("tileproxy_source_requests_total", source="dbg") == 1
    assert grew("tileproxy_source_request_seconds_count", source="dbg") == 1
    assert grew("tileproxy_source_errors_total", source="dbg") == 0
    assert grew("tileproxy_source_requests_total", source="down") == 1
    assert grew("tileproxy_source_errors_total", source="down") == 1


def test_metrics_are_off_unless_configured(tmp_path):
    assert call(_app(tmp_path), "/metrics").status == 404


def test_metrics_on_their_own_path_behind_a_token(tmp_path):
    app = _app(tmp_path, {"path": "/internal/metrics", "token": "s3cret"})
    assert call(app, "/metrics").status == 404
    missing = call(app, "/internal/metrics")
    assert missing.status == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert call(app, "/internal/metrics", headers={"Authorization": "Bearer wrong"}).status == 403
    ok = call(app, "/internal/metrics", headers={"Authorization": "Bearer s3cret"})
    assert ok.status == 200 and "tileproxy_requests_total" in ok.text


def test_metrics_may_not_take_a_service_path(tmp_path):
    from tileproxy.config.errors import ConfigError

    with pytest.raises(ConfigError, match="globals.metrics.path"):
        _app(tmp_path, {"path": "/tms/metrics"})


def test_healthz_answers_while_serving(tmp_path):
    answer = call(_app(tmp_path), "/healthz")
    assert answer.status == 200 and answer.text == "ok\n"


def test_readyz_when_every_cache_can_write(tmp_path):
    answer = call(_app(tmp_path), "/readyz")
    assert answer.status == 200
    assert json.loads(answer.text) == {"ready": True, "problems": []}


def test_readyz_503_with_the_reason_when_a_cache_cannot_write(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    answer = call(_app(tmp_path, base_dir=str(blocker / "cache")), "/readyz")
    assert answer.status == 503 and answer.content_type == "application/json"
    reply = json.loads(answer.text)
    assert reply["ready"] is False
    assert any("dbg_cache" in p and "is a file" in p for p in reply["problems"]), reply


def test_metrics_of_gunicorn_workers_add_up(tmp_path):
    pytest.importorskip("gunicorn")
    from support.gunicorn import Gunicorn

    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    config = write_config(tmp_path / "mapproxy.yaml", _config(str(tmp_path / "cache"), True))
    srv = Gunicorn(tmp_path, {"TILEPROXY_CONFIG": str(config), "PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
                   workers=4)
    try:
        assert srv.base, "".join(srv.log)
        n = 60
        with ThreadPoolExecutor(8) as pool:
            # tiles to draw, not only cached ones: slower requests spread over the workers
            statuses = list(pool.map(lambda i: fetch(f"{srv.base}/tms/1.0.0/dbg/EPSG3857/4/{i % 16}/{i // 16}.png").status,
                                     range(n)))
        assert statuses == [200] * n
        samples = _samples(fetch(srv.base + "/metrics").text)
    finally:
        log = srv.stop()
    assert _value(samples, "tileproxy_requests_total", service="tms", layer="dbg", status="200") == n, log
    looked_up = sum(_value(samples, "tileproxy_cache_tiles_total", cache="dbg_cache", result=r)
                    for r in ("hit", "miss"))
    assert looked_up >= n
    # more than one worker answered, and each kept its own counts
    assert len({f.name for f in multiproc.glob("counter_*.db")}) > 1
