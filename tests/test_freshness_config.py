"""Configuration of freshness and error answers: accepted forms and clear errors;
the staleness rule and the refresh pool on their own."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from support.freshness import META, config, manager, url, wait_for
from support.seed import write_configs
from support.wsgi import call

from tileproxy.config.build import load_proxy_config
from tileproxy.config.colors import parse_color
from tileproxy.config.errors import ConfigError
from tileproxy.config.on_error import parse_on_error
from tileproxy.config.refresh import parse_refresh_before
from tileproxy.seed.config import load_seed_config
from tileproxy.sources.base import SourceError, SourceTimeout
from tileproxy.tilecache.refresh_pool import RefreshPool


@pytest.mark.parametrize(
    ("on_error", "path", "message"),
    [
        ({"abc": {"response": "#ff0000"}}, "sources.wms.on_error.abc", "HTTP status code"),
        ({999: {"response": "#ff0000"}}, "sources.wms.on_error.999", "HTTP status code"),
        ({500: {"response": "reddish"}}, "sources.wms.on_error.500.response", "colour"),
        ({500: {"response": [255, 0]}}, "sources.wms.on_error.500.response", "colour"),
        ({"other": "transparent"}, "sources.wms.on_error.other", "mapping"),
    ],
)
def test_bad_on_error_names_the_key(make_app, on_error, path, message) -> None:
    with pytest.raises(ConfigError, match=rf"mapproxy.yaml: {path.replace('.', '[.]')}: .*{message}"):
        make_app(config(on_error=on_error))


def test_on_error_only_on_sources_that_support_it(make_app, caplog) -> None:
    text = config()
    text["sources"] = {"dbg": {"type": "debug", "on_error": {"other": {"response": "transparent"}}}, **text["sources"]}
    text["caches"]["c"]["sources"].append("dbg")
    # MapProxy ignores on_error on other source types (an unknown key there): a warning
    with caplog.at_level("WARNING", logger="tileproxy.config"):
        make_app(text)
    assert ("sources.dbg.on_error: ignored: on_error is read for wms, mapserver, tile, arcgis, ogcapitiles, "
            "ogcapimaps sources only") in caplog.text


@pytest.mark.parametrize(
    ("refresh_before", "path"),
    [
        ({"hours": -1}, "caches.c.refresh_before.hours"),
        ({"time": "yesterday"}, "caches.c.refresh_before.time"),
        ({"mtime": ""}, "caches.c.refresh_before.mtime"),
    ],
)
def test_bad_refresh_before_names_the_key(make_app, refresh_before, path) -> None:
    with pytest.raises(ConfigError, match=path.replace(".", "[.]")):
        make_app(config(refresh_before=refresh_before))


def test_bad_refresh_mode(make_app) -> None:
    with pytest.raises(ConfigError, match=r"caches\.c\.refresh_mode: expected one of foreground, background"):
        make_app(config(refresh_mode="later"))


@pytest.mark.parametrize("backend", [{"type": "mbtiles"}, {"type": "geopackage"}, {"type": "compact", "version": 2}])
def test_refresh_before_refused_on_a_backend_without_timestamps(make_app, backend) -> None:
    with pytest.raises(ConfigError, match=rf"caches\.c\.refresh_before: the '{backend['type']}' cache backend keeps no tile timestamps"):
        make_app(config(cache_opts={"cache": backend}))
    app = make_app(config(refresh_before=False, cache_opts={"cache": backend}), name="plain.yaml")
    assert manager(app).refresh_before is None  # without refresh_before it is fine


def test_refresh_before_on_backends_with_timestamps(make_app, source) -> None:
    """sqlite (last_modified per tile) and mbtiles with timestamps: true know stale tiles."""
    for i, backend in enumerate([{"type": "sqlite"}, {"type": "mbtiles", "timestamps": True}]):
        app = make_app(config(cache_opts={"cache": backend}), name=f"c{i}.yaml")
        assert manager(app).store.supports_timestamps
        assert call(app, url(META[0])).headers["Cache-Status"].startswith("tileproxy; fwd=miss; stored")
        assert call(app, url(META[0])).headers["Cache-Status"].startswith("tileproxy; hit; ttl=3")
        assert not manager(app).is_stale(META[0])
        assert manager(app).is_stale(META[0], now=time.time() + 2 * 3600)
        # a moment in the future: every tile written before it is stale, so each request refreshes
        app = make_app(config(refresh_before={"time": "2100-01-01T00:00:00"}, cache_opts={"cache": backend}),
                       name=f"future{i}.yaml")
        assert call(app, url(META[0])).headers["Cache-Status"] == "tileproxy; fwd=stale; stored"


def test_refresh_before_forms(tmp_path) -> None:
    now = 1_700_000_000.0
    rule = parse_refresh_before({"weeks": 1, "days": 1, "hours": 1, "minutes": 1, "seconds": 1}, "x")
    assert rule.max_age == 7 * 86400 + 86400 + 3600 + 60 + 1
    assert rule.is_stale(now - rule.max_age - 1, now) and not rule.is_stale(now - rule.max_age + 1, now)
    assert not rule.is_stale(None, now)  # a store that cannot tell never makes tiles stale
    aware = parse_refresh_before({"time": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)}, "x")
    text = parse_refresh_before({"time": "2024-05-01T00:00:00+00:00"}, "x")
    assert aware.time == text.time == dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc).timestamp()
    # MapProxy's order when several are given: time, then mtime, then a duration
    assert parse_refresh_before({"time": "2024-05-01T00:00:00+00:00", "hours": 1}, "x").max_age is None
    stamp = tmp_path / "stamp"
    rule = parse_refresh_before({"mtime": "stamp"}, "x", str(tmp_path))
    assert rule.cutoff(now) is None  # no file: nothing is stale
    stamp.write_text("")
    assert rule.cutoff(now) == stamp.stat().st_mtime
    with pytest.raises(ConfigError, match="x: expected one of time, mtime or a duration"):
        parse_refresh_before({}, "x")


@pytest.mark.parametrize(("cache_rule", "task_rule", "age"), [
    ({"refresh_before": {"hours": 1}}, {"refresh_before": {"days": 1}}, 86400),  # the task's own wins
    ({"refresh_before": {"hours": 1}}, {}, 3600),  # else the cache's: serving would refresh those at once
    ({}, {"refresh_before": {"hours": 2}}, 7200),
    ({}, {}, None),  # neither: only missing tiles are created
])
def test_seed_task_refreshes_by_its_own_rule_else_the_caches(tmp_path, cache_rule, task_rule, age) -> None:
    seeds = {"world": {"caches": ["osm_cache"], "levels": {"to": 3}, **task_rule}}
    proxy, seed = write_configs(tmp_path, "http://127.0.0.1:9", {"seeds": seeds}, cache_options=cache_rule)
    start = time.time()
    task = load_seed_config(seed, load_proxy_config(proxy), start).seeds[0]
    assert task.refresh_before == (None if age is None else start - age)


def test_on_error_lookup_and_colours() -> None:
    policy = parse_on_error({404: {"response": "transparent", "cache": True}, "other": {"response": "#ff000080"}}, "p")
    assert policy.answer_for(SourceError("x", status=404)).cache is True
    assert policy.answer_for(SourceError("x", status=500)).color == (255, 0, 0, 128)
    assert policy.answer_for(SourceTimeout("x")).color == (255, 0, 0, 128)
    assert parse_on_error({"500": {"response": "ff0000"}}, "p").answer_for(SourceError("x", status=404)) is None
    assert parse_color([1, 2, 3], "c") == (1, 2, 3, 255)
    assert parse_color("transparent", "c")[3] == 0


def test_refresh_pool_runs_each_key_once_and_drops_when_full() -> None:
    pool = RefreshPool(workers=1, queue_size=1)
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def slow() -> None:
        started.set()
        release.wait(10)
        runs.append("a")

    assert pool.submit("a", slow)
    assert started.wait(10)  # the worker holds "a"; the queue is empty again
    assert not pool.submit("a", lambda: runs.append("a-again"))  # pending: skipped
    assert pool.submit("b", lambda: runs.append("b"))  # fills the queue
    assert not pool.submit("c", lambda: runs.append("c"))  # full: dropped, never blocks
    assert pool.dropped == 1 and pool.pending() == 2
    release.set()
    assert pool.join(10)
    assert runs == ["a", "b"] and pool.done == 2
    assert pool.submit("a", lambda: runs.append("a2")) and pool.join(10)  # done keys may run again
    assert runs[-1] == "a2"


def test_refresh_pool_survives_failing_jobs() -> None:
    pool = RefreshPool(workers=1)

    def boom() -> None:
        raise OSError("disk full")

    assert pool.submit("x", boom) and pool.join(10)
    assert pool.failed == 1
    assert pool.submit("y", lambda: None) and pool.join(10) and pool.done == 1


def test_refresh_pool_workers_end_when_idle_and_come_back() -> None:
    pool = RefreshPool(workers=2, idle_seconds=0.05)
    assert pool.submit("a", lambda: None) and pool.join(10)
    assert pool.thread_count() == 2
    assert wait_for(lambda: pool.thread_count() == 0)
    ran = threading.Event()
    assert pool.submit("b", ran.set) and pool.join(10) and ran.is_set()
