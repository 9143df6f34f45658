"""Stale, fresh and missing tiles against a source that fails in every way, under
each kind of on_error setting, with meta tiles of 1x1 and 2x2."""

from __future__ import annotations

import os
import re

import pytest
from support.freshness import META, age, config, read, url, wait_for
from support.wsgi import call

# source mode -> the upstream status tileproxy sees (None: timeout or not an image)
MODES = {"error": 500, "notfound": 404, "html": None, "truncated": None, "hang": None}

RED, BLUE, GREEN = (255, 0, 0, 255), (0, 0, 255, 255), (0, 255, 0, 255)
# name -> (on_error config, {status or 'other': (colour, cache, authorize_stale)})
POLICIES = {
    "none": (None, {}),
    "500-only": ({500: {"response": "#ff0000"}}, {500: (RED, False, False)}),
    "other": ({"other": {"response": [0, 0, 255]}}, {"other": (BLUE, False, False)}),
    "other-cached": ({"other": {"response": "00ff00", "cache": True}}, {"other": (GREEN, True, False)}),
    "stale-allowed": (
        {404: {"response": "transparent", "cache": True}, "other": {"response": "#ff0000", "authorize_stale": True}},
        {404: ((255, 255, 255, 0), True, False), "other": (RED, False, True)},
    ),
}


def expected_answer(answers: dict, status: int | None):
    if status is not None and status in answers:
        return answers[status]
    return answers.get("other")


@pytest.mark.parametrize("meta_size", [(1, 1), (2, 2)], ids=["meta1", "meta2"])
@pytest.mark.parametrize("state", ["fresh", "stale", "missing"])
@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("mode", list(MODES))
def test_answer_for_each_combination(make_app, source, mode, policy, state, meta_size) -> None:
    on_error, answers = POLICIES[policy]
    app = make_app(config(meta_size, on_error, timeout=0.5 if mode == "hang" else 5.0))
    coords = META if meta_size == (2, 2) else META[:1]
    requested = coords[0]
    if state != "missing":
        seeder = make_app(config(meta_size), name="seed.yaml")  # same cache, patient timeout
        assert call(seeder, url(requested)).headers["Cache-Status"].startswith("tileproxy; fwd=miss; stored")
        assert all(read(app, c) for c in coords)
        if state == "stale":
            age(app, coords)
    before = {c: read(app, c) for c in coords}
    mtimes = {c: os.stat(app.tile_layers[0].manager.store.path(c)).st_mtime if before[c] else None for c in coords}
    source.reset(mode)
    source.hang_seconds = 5.0

    answer = call(app, url(requested))
    status = MODES[mode]
    cache_status = answer.headers.get("Cache-Status", "")
    fwd_status = f"; fwd-status={status}" if status is not None else ""

    if state == "fresh":
        assert source.count("wms") == 0
        assert answer.status == 200 and answer.body == before[requested]
        assert cache_status.startswith("tileproxy; hit; ttl=")
        assert "public, max-age=" in answer.headers["Cache-Control"]
        _assert_unchanged(app, coords, before, mtimes)
        return

    # one request for the whole meta tile (a timed-out request may reach a busy server late)
    assert wait_for(lambda: source.count("wms") >= 1) and source.count("wms") == 1
    chosen = expected_answer(answers, status)
    if chosen is None or (state == "stale" and chosen[2]):
        # no stand-in (or authorize_stale): stale tiles are served as they are, missing ones fail
        if state == "stale":
            assert answer.status == 200 and answer.body == before[requested]
            assert cache_status == f"tileproxy; fwd=stale{fwd_status}; detail=stale-if-error"
            assert answer.headers["Cache-Control"] == "public, no-cache" and "ETag" in answer.headers
        else:
            assert answer.status == (504 if mode == "hang" else 500)
            assert cache_status == f"tileproxy; fwd=miss{fwd_status}; detail=source-error"
        _assert_unchanged(app, coords, before, mtimes)
        return

    color, cached, _ = chosen
    assert answer.status == 200 and answer.content_type == "image/png"
    img = answer.image.convert("RGBA")
    assert img.size == (256, 256)
    pixel = img.getpixel((128, 128))
    assert pixel[3] == color[3] and (color[3] == 0 or pixel[:3] == color[:3])
    fwd = "stale" if state == "stale" else "miss"
    if cached:
        assert re.fullmatch(rf"tileproxy; fwd={fwd}{fwd_status}; stored; ttl=3[56]\d\d; detail=error-tile", cache_status)
        assert "public, max-age=" in answer.headers["Cache-Control"] and "ETag" in answer.headers
        assert all(read(app, c) == answer.body for c in coords)  # cache: true replaces the tiles
    else:
        assert cache_status == f"tileproxy; fwd={fwd}{fwd_status}; detail=error-tile"
        assert answer.headers["Cache-Control"] == "no-cache, no-store"
        assert answer.headers["Pragma"] == "no-cache" and answer.headers["Expires"] == "-1"
        assert "ETag" not in answer.headers and "Last-Modified" not in answer.headers
        _assert_unchanged(app, coords, before, mtimes)


def _assert_unchanged(app, coords, before, mtimes) -> None:
    for c in coords:
        assert read(app, c) == before[c]
        if mtimes[c] is not None:
            assert os.stat(app.tile_layers[0].manager.store.path(c)).st_mtime == mtimes[c]
