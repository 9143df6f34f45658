"""Many clients, one stale meta tile: exactly one source request, in both refresh
modes, when the source answers and when it fails."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image
from support.freshness import META, age, config, manager, read, tile_path, url, wait_for
from support.wsgi import call, fetch

CLIENTS = 50


def _hammer(base: str, coords) -> list[tuple[int, bytes, str]]:
    """CLIENTS concurrent GETs spread over ``coords``, released together."""
    barrier = threading.Barrier(CLIENTS)

    def get(i: int) -> tuple[int, bytes, str]:
        barrier.wait()
        answer = fetch(base + url(coords[i % len(coords)]), timeout=30)
        return answer.status, answer.body, answer.headers["Cache-Status"]

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(get, range(CLIENTS)))


def _mark_old(app, coords) -> dict:
    """Replace the cached tiles by images the source never draws (so that an answer
    tells the old tile from the refreshed one); returns them by coord."""
    old = {}
    for i, coord in enumerate(coords):
        buf = io.BytesIO()
        Image.new("RGB", (256, 256), (i, 1, 2)).save(buf, "PNG")
        old[coord] = buf.getvalue()
        with open(tile_path(app, coord), "wb") as f:
            f.write(old[coord])
    return old


@pytest.mark.parametrize("mode", ["foreground", "background"])
def test_one_source_request_for_one_stale_meta_tile(make_app, source, serve, mode) -> None:
    app = make_app(config((2, 2), refresh_mode=mode, ))
    assert call(app, url(META[0])).status == 200
    stale = _mark_old(app, META)
    age(app, META)
    source.reset()
    source.delay = 0.3  # the refresh takes a while, so that the requests overlap
    answers = _hammer(serve(app), META)
    assert manager(app).join_refreshes(timeout=30)
    assert source.count("wms") == 1
    assert all(status == 200 for status, _, _ in answers)
    statuses = [cs for _, _, cs in answers]
    fresh = {c: read(app, c) for c in META}
    assert all(fresh[c] != stale[c] for c in META)  # the refresh rewrote every tile of the meta tile
    if mode == "foreground":
        # one request refreshed the meta tile, the others waited for it and reused it
        assert sum("stored" in cs for cs in statuses) == 1
        assert all(cs.startswith(("tileproxy; fwd=stale; stored", "tileproxy; fwd=stale; collapsed", "tileproxy; hit"))
                   for cs in statuses)
        # nobody got the old tile
        assert [body for _, body, _ in answers] == [fresh[META[i % 4]] for i in range(CLIENTS)]
    else:
        # the old tile at once while the refresh runs, the new one once it is stored
        assert all(cs == "tileproxy; hit; detail=stale" or cs.startswith("tileproxy; hit; ttl=") for cs in statuses)
        for i, (_, body, cs) in enumerate(answers):
            assert body == (stale if cs.endswith("detail=stale") else fresh)[META[i % 4]]
    assert all(not manager(app).is_stale(c) for c in META)


def test_one_source_request_when_the_refresh_fails(make_app, source, serve) -> None:
    """The source fails slowly; clients that waited on the lock share the failure."""
    app = make_app(config((2, 2)))
    call(app, url(META[0]))
    stale = {c: read(app, c) for c in META}
    age(app, META)
    source.reset("hang")  # until released, then HTTP 500
    source.hang_seconds = 20.0
    entered = []

    def counting(environ, start_response):
        entered.append(1)
        return app(environ, start_response)

    base = serve(counting)
    with ThreadPoolExecutor(1) as waiter:
        # fail the source once every client is in (all of them wait on the one build)
        releaser = waiter.submit(lambda: wait_for(lambda: len(entered) == CLIENTS, 20) and source.release())
        answers = _hammer(base, META)
        releaser.result()
    assert source.count("wms") == 1
    for i, (status, body, cs) in enumerate(answers):
        assert status == 200 and body == stale[META[i % 4]]
        assert cs == "tileproxy; fwd=stale; fwd-status=500; detail=stale-if-error"
    assert all(manager(app).is_stale(c) for c in META)  # the cache is left as it was
