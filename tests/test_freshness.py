"""refresh_before while serving: refreshes, Cache-Status, HTTP cache headers,
meta tiles with stale and missing tiles, background mode and time rules."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime

import pytest
from support.freshness import HOUR, META, age, config, manager, read, tile_path, url, wait_for
from support.wsgi import call, fetch

RED = (255, 0, 0)


def test_stale_tile_is_refreshed_with_new_validators(make_app, source) -> None:
    app = make_app(config((2, 2)))
    first = call(app, url(META[0]))
    assert re.fullmatch(r"tileproxy; fwd=miss; stored; ttl=3[56]\d\d", first.headers["Cache-Status"])
    hit = call(app, url(META[0]))
    assert hit.headers["Cache-Status"].startswith("tileproxy; hit; ttl=")
    assert hit.headers["ETag"] == first.headers["ETag"]  # the creating answer already has the stored validators
    assert call(app, url(META[0]), headers={"If-None-Match": first.headers["ETag"]}).status == 304
    age(app, META)
    old = call(app, url(META[1]))  # fetched again (stale): one source request for the meta tile
    assert source.count("wms") == 2
    assert re.fullmatch(r"tileproxy; fwd=stale; stored; ttl=3[56]\d\d", old.headers["Cache-Status"])
    refreshed = call(app, url(META[0]), headers={"If-None-Match": first.headers["ETag"]})
    assert refreshed.status == 200  # new ETag, so the client's old copy is not current
    assert refreshed.headers["ETag"] != first.headers["ETag"]
    assert refreshed.headers["Cache-Status"].startswith("tileproxy; hit")
    assert source.count("wms") == 2
    assert all(os.stat(tile_path(app, c)).st_mtime > time.time() - 60 for c in META)


def test_max_age_never_outlives_refresh_before(make_app, source) -> None:
    app = make_app(config())
    call(app, url(META[0]))
    age(app, META[:1], HOUR - 100)  # fresh for 100 more seconds
    answer = call(app, url(META[0]))
    max_age = int(re.search(r"max-age=(\d+)", answer.headers["Cache-Control"]).group(1))
    assert 90 <= max_age <= 100
    assert re.fullmatch(r"tileproxy; hit; ttl=(9\d|100)", answer.headers["Cache-Status"])


def test_without_refresh_before_tiles_never_turn_stale(make_app, source) -> None:
    app = make_app(config(refresh_before=False))
    assert call(app, url(META[0])).headers["Cache-Status"] == "tileproxy; fwd=miss; stored"
    age(app, META[:1], 1000 * HOUR)
    answer = call(app, url(META[0]))
    assert answer.headers["Cache-Status"] == "tileproxy; hit"
    assert "max-age=259200" in answer.headers["Cache-Control"]  # expires_hours default 72
    assert source.count("wms") == 1


def test_meta_tile_failure_keeps_stale_tiles_and_answers_missing_ones(make_app, source) -> None:
    """2x2 meta tile: two tiles stale, two missing; the refresh fails."""
    app = make_app(config((2, 2), {"other": {"response": "#ff0000", "authorize_stale": True}}))
    call(app, url(META[0]))
    kept = {c: read(app, c) for c in META[:2]}
    for c in META[2:]:
        os.unlink(tile_path(app, c))
    age(app, META[:2])
    source.reset("error")
    stale = call(app, url(META[1]))
    assert stale.body == kept[META[1]]
    assert stale.headers["Cache-Status"] == "tileproxy; fwd=stale; fwd-status=500; detail=stale-if-error"
    missing = call(app, url(META[3]))
    assert missing.status == 200 and missing.image.convert("RGB").getpixel((10, 10)) == RED
    assert missing.headers["Cache-Status"] == "tileproxy; fwd=miss; fwd-status=500; detail=error-tile"
    assert [read(app, c) for c in META] == [kept[META[0]], kept[META[1]], None, None]
    # the source is back: one request refreshes the stale tiles and fills the gaps
    source.reset("ok")
    assert call(app, url(META[2])).headers["Cache-Status"].startswith("tileproxy; fwd=miss; stored")
    assert source.count("wms") == 1 and all(read(app, c) for c in META)
    assert call(app, url(META[0])).headers["Cache-Status"].startswith("tileproxy; hit")


def test_meta_tile_failure_without_on_error(make_app, source) -> None:
    app = make_app(config((2, 2)))
    call(app, url(META[0]))
    kept = read(app, META[0])
    os.unlink(tile_path(app, META[3]))
    age(app, META[:3])
    source.reset("error")
    assert call(app, url(META[0])).body == kept
    assert call(app, url(META[3])).status == 500
    assert read(app, META[3]) is None and read(app, META[0]) == kept


def test_fresh_tiles_of_a_failed_meta_tile_are_never_replaced(make_app, source) -> None:
    """cache: true replaces stale and missing tiles with the error tile, never fresh ones."""
    app = make_app(config((2, 2), {500: {"response": "#ff0000", "cache": True}}))
    call(app, url(META[0]))
    fresh = read(app, META[1])
    age(app, [META[0]])
    source.reset("error")
    answer = call(app, url(META[0]))
    assert answer.image.convert("RGB").getpixel((5, 5)) == RED
    assert read(app, META[0]) == answer.body
    assert read(app, META[1]) == fresh


def test_disable_storage_bypasses_the_cache(make_app, source) -> None:
    app = make_app(config(refresh_before=False, cache_opts={"disable_storage": True}))
    for _ in range(2):
        answer = call(app, url(META[0]))
        assert answer.status == 200 and answer.headers["Cache-Status"] == "tileproxy; fwd=bypass"
    assert source.count("wms") == 2 and read(app, META[0]) is None


def test_hanging_source_never_holds_requests_past_the_timeouts(make_app, source, serve) -> None:
    """Five clients want one stale tile while the source hangs: one source request,
    every client gets the stale tile within about client_timeout + lock timeout."""
    import concurrent.futures

    app = make_app(config((2, 2), timeout=0.5))
    call(make_app(config((2, 2)), name="seed.yaml"), url(META[0]))  # same cache, patient timeout
    kept = read(app, META[0])
    age(app, META)
    source.reset("hang")
    source.hang_seconds = 10.0
    base = serve(app)

    def get(_):
        answer = fetch(base + url(META[0]), timeout=10)
        return answer.status, answer.body, answer.headers["Cache-Status"]

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(get, range(5)))
    assert time.monotonic() - start < 3.0  # 0.5 s source timeout, 0.5 s lock timeout, slack for slow CI
    assert all(status == 200 and body == kept for status, body, _ in answers)
    assert {cs for *_, cs in answers} <= {"tileproxy; fwd=stale; detail=stale-if-error", "tileproxy; hit; detail=stale"}
    assert wait_for(lambda: source.count("wms") >= 1)  # (one request is checked in test_freshness_concurrency)
    assert read(app, META[0]) == kept


def test_missing_tile_with_a_hanging_source_times_out(make_app, source) -> None:
    app = make_app(config(timeout=0.5))
    source.reset("hang")
    source.hang_seconds = 10.0
    start = time.monotonic()
    answer = call(app, url(META[0]))
    assert answer.status == 504 and time.monotonic() - start < 3.0
    assert answer.headers["Cache-Status"] == "tileproxy; fwd=miss; detail=source-error"


# -- background mode ---------------------------------------------------------


def test_background_mode_serves_stale_at_once_and_refreshes_later(make_app, source) -> None:
    app = make_app(config((2, 2), refresh_mode="background"))
    first = call(app, url(META[0]))
    assert first.headers["Cache-Status"].startswith("tileproxy; fwd=miss; stored")  # missing: built in the request
    kept = read(app, META[0])
    age(app, META)
    source.reset()
    source.delay = 1.0  # the refresh takes a second: the requests must not wait for it
    start = time.monotonic()
    stale = call(app, url(META[0]))
    revalidated = call(app, url(META[0]), headers={"If-None-Match": stale.headers["ETag"]})
    again = call(app, url(META[1]))
    assert time.monotonic() - start < 0.8
    assert stale.status == 200 and stale.body == kept
    assert stale.headers["Cache-Status"] == "tileproxy; hit; detail=stale"
    assert stale.headers["Cache-Control"] == "public, no-cache"
    assert revalidated.status == 304  # still the client's copy: revalidation works while stale
    assert revalidated.headers["Cache-Status"] == "tileproxy; hit; detail=stale"
    assert again.status == 200 and again.headers["Cache-Status"] == "tileproxy; hit; detail=stale"
    assert manager(app).join_refreshes(timeout=10)
    assert source.count("wms") == 1  # three stale requests, one refresh of the meta tile
    assert all(os.stat(tile_path(app, c)).st_mtime > time.time() - 60 for c in META)
    fresh = call(app, url(META[0]), headers={"If-None-Match": stale.headers["ETag"]})
    assert fresh.status == 200 and fresh.headers["Cache-Status"].startswith("tileproxy; hit; ttl=")
    assert fresh.headers["Last-Modified"] != stale.headers["Last-Modified"]


def test_background_refresh_failure_leaves_the_stale_tile(make_app, source) -> None:
    app = make_app(config(refresh_mode="background", on_error={"other": {"response": "#ff0000"}}))
    call(app, url(META[0]))
    kept = read(app, META[0])
    age(app, META[:1])
    source.reset("error")
    answer = call(app, url(META[0]))
    assert answer.body == kept and answer.headers["Cache-Status"] == "tileproxy; hit; detail=stale"
    assert manager(app).join_refreshes(timeout=10)
    assert source.count("wms") == 1 and read(app, META[0]) == kept


# -- time rules --------------------------------------------------------------


def test_refresh_before_time(make_app, source) -> None:
    app = make_app(config(refresh_before={"time": "2021-01-01T00:00:00"}))
    call(app, url(META[0]))
    age(app, META[:1], time.time() - 1577836800)  # written 2020-01-01: before the time
    assert call(app, url(META[0])).headers["Cache-Status"].startswith("tileproxy; fwd=stale; stored")
    assert call(app, url(META[0])).headers["Cache-Status"] == "tileproxy; hit"
    # an unquoted ISO time (YAML reads it as a datetime) works the same
    app2 = make_app(config(refresh_before={"time": datetime(2021, 1, 1)}), name="unquoted.yaml")
    assert manager(app2).refresh_before.time == manager(app).refresh_before.time


def test_refresh_before_mtime_is_checked_on_every_request(make_app, source, tmp_path) -> None:
    stamp = tmp_path / "reseed.stamp"
    app = make_app(config(refresh_before={"mtime": "reseed.stamp"}))
    call(app, url(META[0]))
    assert call(app, url(META[0])).headers["Cache-Status"] == "tileproxy; hit"  # no file: nothing stale
    stamp.write_text("")
    past = time.time() - HOUR
    os.utime(stamp, (past, past))
    assert call(app, url(META[0])).headers["Cache-Status"] == "tileproxy; hit"
    future = time.time() + 60
    os.utime(stamp, (future, future))  # "touch" after the tile was written
    assert call(app, url(META[0])).headers["Cache-Status"].startswith("tileproxy; fwd=stale; stored")
    assert source.count("wms") == 2


def test_cache_as_source_does_not_store_error_tiles_of_the_other_cache(make_app, source) -> None:
    outer = {"outer": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["c"], "meta_size": [1, 1]}}
    app = make_app(config(on_error={"other": {"response": "#ff0000"}}, layer_source="outer", more_caches=outer))
    source.reset("error")
    answer = call(app, url(META[0]))
    assert answer.image.convert("RGB").getpixel((5, 5)) == RED
    assert answer.headers["Cache-Control"] == "no-cache, no-store"
    assert manager(app).name == "outer"
    assert read(app, META[0]) is None  # the outer cache (served layer) did not keep it


def test_background_refreshes_are_not_repeated_across_processes(make_app, source) -> None:
    """Two apps on one cache (as two server processes): each queues the stale meta
    tile, the tile lock and the second look at the store make it one refresh."""
    one = make_app(config((2, 2), refresh_mode="background"))
    two = make_app(config((2, 2), refresh_mode="background"), name="second.yaml")
    assert manager(one) is not manager(two)
    call(one, url(META[0]))
    age(one, META)
    source.reset()
    source.delay = 0.5
    assert call(one, url(META[0])).headers["Cache-Status"] == "tileproxy; hit; detail=stale"
    assert call(two, url(META[3])).headers["Cache-Status"] == "tileproxy; hit; detail=stale"
    assert manager(one).join_refreshes(10) and manager(two).join_refreshes(10)
    assert source.count("wms") == 1
    assert not any(manager(two).is_stale(c) for c in META)


def test_tile_source_404_answered_with_a_cached_transparent_tile(make_app, source) -> None:
    conf = config(refresh_before=False)
    conf["sources"]["wms"] = {"type": "tile", "url": "{source}/tiles/%(z)s/%(x)s/%(y)s.png", "grid": "GLOBAL_WEBMERCATOR",
                              "on_error": {404: {"response": "transparent", "cache": True}}}
    app = make_app(conf)
    source.reset("notfound")
    answer = call(app, url(META[0]))
    assert answer.status == 200 and answer.image.convert("RGBA").getpixel((0, 0))[3] == 0
    assert answer.headers["Cache-Status"] == "tileproxy; fwd=miss; fwd-status=404; stored; detail=error-tile"
    assert read(app, META[0]) == answer.body
    assert call(app, url(META[0])).headers["Cache-Status"] == "tileproxy; hit"
    assert source.count("tile") == 1


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_single_color_links_count_as_fresh_after_a_refresh(make_app, source, link) -> None:
    """A refreshed tile linked to a shared single-colour file is fresh (not stale
    for ever because the shared file is old)."""
    app = make_app(config(cache_opts={"link_single_color_images": link}))
    coord = (300, 300, 10)  # inside one checkerboard cell: one colour
    assert call(app, url(coord)).status == 200
    path = tile_path(app, coord)
    assert os.path.islink(path) if link == "symlink" else os.stat(path).st_nlink == 2
    age(app, [coord])
    assert call(app, url(coord)).headers["Cache-Status"].startswith("tileproxy; fwd=stale; stored; ttl=3")
    assert call(app, url(coord)).headers["Cache-Status"].startswith("tileproxy; hit; ttl=3")
    assert source.count("wms") == 2


def test_mtime_file_is_stated_once_per_request(make_app, source, tmp_path, monkeypatch) -> None:
    stamp = tmp_path / "reseed.stamp"
    stamp.write_text("")
    app = make_app(config((2, 2), refresh_before={"mtime": "reseed.stamp"}))
    call(app, url(META[0]))
    future = time.time() + 60
    os.utime(stamp, (future, future))  # every tile is stale: the request refreshes the meta tile
    stats = []
    real_stat = os.stat

    def counting_stat(path, *args, **kw):
        if os.fspath(path) == str(stamp):
            stats.append(path)
        return real_stat(path, *args, **kw)

    monkeypatch.setattr(os, "stat", counting_stat)
    assert call(app, url(META[0])).headers["Cache-Status"].startswith("tileproxy; fwd=stale; stored")
    assert len(stats) == 1
