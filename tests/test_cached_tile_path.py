"""The cached-tile hot path: HTTP dates, cache headers, conditional requests,
raw file reads and the path check, through the real WSGI app over a file cache
filled from a file:// tile source."""

from __future__ import annotations

import hashlib
import io
import os
import time
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import pytest
from PIL import Image
from support.configs import cache_config, tile_source, write_config
from support.fast_path import general_answer
from support.wsgi import call, environ

from tileproxy.http import Response, cache_headers, expires_header, http_date
from tileproxy.stores.base import Tile
from tileproxy.stores.file import FileStore, read_all
from tileproxy.wsgi import make_wsgi_app


def test_http_date_matches_the_email_module_for_every_weekday_and_month():
    start = 946684799.75  # 1999-12-31 23:59:59.75, then 37 days apart for 10 years
    for i in range(100):
        ts = start + i * 37 * 86400 + i * 3671.5
        assert http_date(ts) == formatdate(ts, usegmt=True)
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"


def test_expires_header_is_now_plus_max_age():
    before = int(time.time())
    value = expires_header(3600)
    after = int(time.time())
    assert value in {http_date(t + 3600) for t in range(before, after + 1)}
    assert expires_header(60) != expires_header(7200)


def test_cache_headers_for_a_stored_tile():
    resp = Response(b"x", content_type="image/png")
    cache_headers(resp.headers, 1700000000.5, b"x", 600)
    headers = dict(resp.headers)
    assert headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert headers["Cache-Control"] == "public, max-age=600, s-maxage=600"
    expires = parsedate_to_datetime(headers["Expires"]).timestamp()
    assert abs(expires - (time.time() + 600)) < 5
    # MapProxy's ETag: the md5 of time and size, sent bare (no quotes) as MapProxy sends it
    assert headers["ETag"] == hashlib.md5(b"1700000000.51").hexdigest()


def test_cache_headers_without_max_age_forbid_caching():
    resp = Response(b"x")
    cache_headers(resp.headers, None, b"x", 0)
    headers = dict(resp.headers)
    assert headers["Cache-Control"] == "no-cache, no-store"
    assert "Last-Modified" not in headers


def test_tiles_without_a_time_get_an_etag_from_their_bytes():
    a, b = Response(b"one"), Response(b"two")
    cache_headers(a.headers, None, b"one", 60)
    cache_headers(b.headers, None, b"two", 60)
    etag_a, etag_b = dict(a.headers)["ETag"], dict(b.headers)["ETag"]
    assert etag_a != etag_b and "Last-Modified" not in dict(a.headers)
    again = Response(b"one")
    cache_headers(again.headers, None, b"one", 60)
    assert dict(again.headers)["ETag"] == etag_a


def test_read_all_reads_past_a_stale_size(tmp_path):
    path = tmp_path / "f"
    data = os.urandom(200_000)
    path.write_bytes(data)
    for hint in (0, 10, 65_536, 199_999, 200_000, 300_000):
        fd = os.open(path, os.O_RDONLY)
        try:
            assert read_all(fd, hint) == data
        finally:
            os.close(fd)


def test_file_store_load(tmp_path):
    store = FileStore(str(tmp_path), layout="tms", ext="png")
    tile = Tile((1, 2, 3))
    assert store.load(tile) is False and tile.data is None
    (tmp_path / "3" / "1").mkdir(parents=True)
    (tmp_path / "3" / "1" / "2.png").write_bytes(b"tile bytes")
    os.utime(tmp_path / "3" / "1" / "2.png", (1600000000, 1600000000))
    assert store.load(tile) is True
    assert tile.data == b"tile bytes" and tile.timestamp == 1600000000
    # a file where a directory should be is "not cached", not an error
    (tmp_path / "4").write_bytes(b"")
    assert store.load(Tile((0, 0, 4))) is False


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture()
def app(tmp_path: Path):
    src = tmp_path / "src"
    for z, x, y in [(0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 0, 1), (1, 1, 1)]:
        (src / str(z) / str(x)).mkdir(parents=True, exist_ok=True)
        (src / str(z) / str(x) / f"{y}.png").write_bytes(_png((z * 50, x * 100, y * 100)))
    return _file_tiles_app(tmp_path)


def _file_tiles_app(tmp_path: Path, layer_name: str = "t", title: str = "T", grid: str = "GLOBAL_WEBMERCATOR",
                    services: dict | None = None, **cache_options: object):
    """Layer ``layer_name`` over a cache (``cache_options``: more keys of it) of the
    tiles under ``tmp_path/src``; TMS and WMTS unless ``services`` says otherwise."""
    config = cache_config(
        {"s": tile_source(f"file://{tmp_path}/src/%(z)s/%(x)s/%(y)s.png", grid=grid)}, source_name="s",
        layer_name=layer_name, title=title, grid=grid, meta_size=None, cache_options=cache_options,
        services={"tms": None, "wmts": None} if services is None else services,
        globals={"cache": {"base_dir": str(tmp_path / "cache")}})
    return make_wsgi_app(write_config(tmp_path / "mapproxy.yaml", config))


def test_cached_tile_is_served_as_stored_with_validators(app, tmp_path):
    wmts = call(app, "/wmts/t/GLOBAL_WEBMERCATOR/1/1/0.png")
    assert wmts.status == 200 and wmts.headers["Content-Type"] == "image/png"
    stored = list((tmp_path / "cache").rglob("*.png"))
    assert len(stored) == 1 and stored[0].read_bytes() == wmts.body
    assert wmts.body == (tmp_path / "src" / "1" / "1" / "0.png").read_bytes()  # never re-encoded
    mtime = stored[0].stat().st_mtime
    assert wmts.headers["Last-Modified"] == formatdate(mtime, usegmt=True)
    # the same tile over TMS (rows from the south, one level down)
    tms = call(app, "/tms/1.0.0/t/EPSG3857/0/1/1.png")
    assert tms.status == 200 and tms.body == wmts.body and tms.headers["ETag"] == wmts.headers["ETag"]


def test_conditional_requests_get_304(app):
    tile = "/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png"
    headers = call(app, tile).headers
    same = call(app, tile, headers={"If-None-Match": headers["ETag"]})
    assert same.status == 304 and same.body == b"" and same.headers["ETag"] == headers["ETag"]
    assert call(app, tile, headers={"If-None-Match": '"other"'}).status == 200
    assert call(app, tile, headers={"If-Modified-Since": headers["Last-Modified"]}).status == 304
    assert call(app, tile, headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}).status == 200


@pytest.mark.parametrize("path", [
    "/wmts/../wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png",
    "/./wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png",
    "/wmts/t/GLOBAL_WEBMERCATOR/0/0/..",
    "/tms/1.0.0/t\\x/EPSG3857/0/0/0.png",
    "/tms/1.0.0/t/EPSG3857/0/0/0.png\x00",
])
def test_dot_segments_and_odd_characters_are_refused(app, path):
    answer = call(app, path)
    assert answer.status == 404 and answer.body == b"invalid path\n"


def test_dots_inside_names_are_fine(app):
    assert call(app, "/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png").status == 200
    dotted = call(app, "/wmts/t.x/GLOBAL_WEBMERCATOR/0/0/0.png")
    assert 400 <= dotted.status < 500 and dotted.body != b"invalid path\n"


def test_file_store_store_reports_the_time_load_will_see(tmp_path):
    store = FileStore(str(tmp_path), layout="tc", ext="png")
    tile = Tile((5, 6, 7), data=b"new tile", timestamp=123.0)
    store.store(tile)
    again = Tile((5, 6, 7))
    assert store.load(again) and again.data == b"new tile"
    assert tile.timestamp == again.timestamp == os.stat(store.path((5, 6, 7))).st_mtime


# -- the fast path for stored tiles (services/fast_tiles.py) --------------------------


# four different tiles (TMS rows count from the south, one level down)
STORED = ["/wmts/t/GLOBAL_WEBMERCATOR/1/1/0.png", "/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png",
          "/tms/1.0.0/t/EPSG3857/0/0/0.png", "/tms/1.0.0/t_EPSG3857/0/1/0.png"]


def test_fast_path_answers_stored_tiles_exactly_as_the_general_path(app):
    for path in STORED:
        assert app.fast.answer(environ(path)) is None  # not stored yet: the general path creates it
        call(app, path)
    for path in STORED:
        assert app.fast.answer(environ(path)) is not None, path
        fast = call(app, path)
        general = general_answer(app, path)
        assert fast.status_line == general.status_line == "200 OK" and fast.body == general.body
        # the same headers in the same order; Expires may cross a second between the calls
        fast_h, general_h = dict(fast.headers), dict(general.headers)
        assert list(fast_h) == list(general_h)
        expires = [parsedate_to_datetime(h.pop("Expires")).timestamp() for h in (fast_h, general_h)]
        assert abs(expires[0] - expires[1]) <= 1 and fast_h == general_h
        assert fast_h["Cache-Status"] == "tileproxy; hit" and fast_h["Content-Length"] == str(len(fast.body))


@pytest.mark.parametrize("path, method, headers", [
    ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png", "HEAD", {}),
    ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png", "GET", {"If-None-Match": '"x"'}),
    ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png", "GET", {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}),
    ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.jpeg", "GET", {}),  # another format
    ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/0", "GET", {}),  # no extension
    ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/+0.png", "GET", {}),  # int() would take it, the URL form does not
    ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/\u0660.png", "GET", {}),  # an Arabic-Indic zero
    ("/wmts/t/GLOBAL_WEBMERCATOR/0/1/0.png", "GET", {}),  # outside the grid
    ("/wmts/t/GLOBAL_WEBMERCATOR/5/0/0.png", "GET", {}),  # not stored
    ("/wmts/x/GLOBAL_WEBMERCATOR/0/0/0.png", "GET", {}),  # unknown layer
    ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png/", "GET", {}),
    ("/tms/1.0.0/t/EPSG3857/0/0/0.png\x00", "GET", {}),
    ("/tms/1.0.1/t/EPSG3857/0/0/0.png", "GET", {}),
    ("/tiles/t/EPSG3857/1/0/0.png", "GET", {}),  # another service: general path
])
def test_fast_path_leaves_everything_else_to_the_general_path(app, path, method, headers):
    call(app, "/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png")  # stored
    assert app.fast.answer(environ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png")) is not None
    assert app.fast.answer(environ(path, method, headers)) is None


def test_fast_path_stays_out_of_caches_with_refresh_before(tmp_path):
    src = tmp_path / "src" / "0" / "0"
    src.mkdir(parents=True)
    (src / "0.png").write_bytes(_png((1, 2, 3)))
    app = _file_tiles_app(tmp_path, title="L", refresh_before={"hours": 1})
    assert call(app, "/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png").status_line == "200 OK"
    assert app.fast.answer(environ("/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png")) is None
    again = call(app, "/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png")
    assert again.status_line == "200 OK" and "ttl=" in again.headers["Cache-Status"]  # the rule's remaining freshness


def test_fast_path_takes_every_spelling_of_a_tms_layer(tmp_path: Path):
    """A bare layer name (its EPSG:900913 grid), layer_grid joined, and layer/grid
    split elsewhere in the name all find the layer as the general path does."""
    src = tmp_path / "src"
    (src / "1" / "0").mkdir(parents=True)
    (src / "1" / "0" / "0.png").write_bytes(_png((10, 20, 30)))
    app = _file_tiles_app(tmp_path, "my_map", grid="GLOBAL_MERCATOR", services={"tms": None})
    spellings = ["/tms/1.0.0/my_map/0/0/0.png", "/tms/1.0.0/my_map/EPSG900913/0/0/0.png",
                 "/tms/1.0.0/my_map_EPSG900913/0/0/0.png", "/tms/1.0.0/my/map_EPSG900913/0/0/0.png"]
    first = call(app, spellings[0])
    assert first.status_line == "200 OK"
    for path in spellings:
        assert app.fast.answer(environ(path)) is not None, path
        assert call(app, path).body == general_answer(app, path).body == first.body


def test_a_path_with_the_proxys_prefix_still_in_it_answers_as_the_general_path(tmp_path: Path):
    """Behind a proxy that sends X-Script-Name but leaves its prefix in the path, the
    router strips the prefix; the fast path answers no differently."""
    src = tmp_path / "src"
    (src / "1" / "0").mkdir(parents=True)
    (src / "1" / "0" / "0.png").write_bytes(_png((10, 20, 30)))
    app = _file_tiles_app(tmp_path, "m", grid="GLOBAL_MERCATOR", services={"tms": None})
    assert call(app, "/tms/1.0.0/m/0/0/0.png").status_line == "200 OK"  # now stored
    for prefix, path in (("/tms", "/tms/1.0.0/m/0/0/0.png"), ("/proxy", "/proxy/tms/1.0.0/m/0/0/0.png")):
        general = general_answer(app, path, {"X-Script-Name": prefix})
        assert call(app, path, headers={"X-Script-Name": prefix}).status_line == general.status_line, prefix
    proxied = general_answer(app, "/proxy/tms/1.0.0/m/0/0/0.png", {"X-Script-Name": "/proxy"})
    assert proxied.status_line == "200 OK"


@pytest.mark.parametrize("path", [
    "/tms/1.0.0/t/EPSG3857/0/0/0.png/0/1/0.png",  # TMS reads up to the extension: tile 0/0/0
    "/tms/1.0.0/t/EPSG3857/0/0/0.png.png",
    "/tms/1.0.0/t/EPSG3857/0/0/0000000000.png",  # 10 digits: no TMS number
    "/tms/1.0.0/t/EPSG3857/0/0/000000000.png",
    "/tms/1.0.0/t/EPSG3857/-0/0/0.png",
    "/wmts/t/GLOBAL_WEBMERCATOR/001/0/0000000000001.png",  # WMTS numbers of any length
    "/wmts/t/GLOBAL_WEBMERCATOR/1/0/-0.png",
    "/wmts/t/GLOBAL_WEBMERCATOR/1/0/0.PNG",
    "/tms/t/EPSG3857/0/0/0.png",
    "/tms/1.0.0/t/0/0/0.png",  # the layer name alone
])
def test_fast_path_routes_answer_odd_spellings_as_the_general_path(app, path):
    """A route, learned once per layer part of a URL, serves every URL that differs
    in the numbers only; other spellings are resolved (or refused) as before."""
    for stored in STORED:
        call(app, stored)
    fast, general = call(app, path), general_answer(app, path)
    assert (fast.status_line, fast.body) == (general.status_line, general.body), path
    # and again once the routes of these URLs are known
    assert call(app, path).body == general.body
    assert call(app, "/tms/1.0.0/t/EPSG3857/0/0/0.png/0/1/0.png").body == call(app, "/tms/1.0.0/t/EPSG3857/0/0/0.png").body


def test_fast_path_answers_without_cors_and_with_no_cache_as_the_general_path(tmp_path: Path):
    """No access_control_allow_origin, expires_hours 0: the fast path's headers
    are still the general path's."""
    src = tmp_path / "src" / "0" / "0"
    src.mkdir(parents=True)
    (src / "0.png").write_bytes(_png((1, 2, 3)))
    config = cache_config(
        {"s": tile_source(f"file://{tmp_path}/src/%(z)s/%(x)s/%(y)s.png")}, source_name="s", layer_name="t",
        meta_size=None, services={"tms": None, "wmts": None},
        globals={"cache": {"base_dir": str(tmp_path / "cache")}, "http": {"access_control_allow_origin": ""},
                 "tiles": {"expires_hours": 0}})
    app = make_wsgi_app(write_config(tmp_path / "mapproxy.yaml", config))
    path = "/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png"
    call(app, path)
    assert app.fast.answer(environ(path)) is not None
    fast, general = call(app, path), general_answer(app, path)
    assert fast.header_list == general.header_list and fast.body == general.body
    assert "Access-Control-Allow-Origin" not in fast.headers and fast.headers["Cache-Control"] == "no-cache, no-store"


# -- file cache tiles kept for URLs asked again (fast_tiles.KEPT_BYTES) -------------------


def _stored_file(tmp_path: Path) -> Path:
    files = [p for p in (tmp_path / "cache").rglob("*.png")]
    assert len(files) == 1
    return files[0]


def test_a_kept_tile_follows_its_file(app, tmp_path):
    """A tile answered once is kept for its URL; a new file (seeding writes by rename)
    is answered at once with its own bytes and validators; a removed one goes back to
    the general path, which fetches it again."""
    url = "/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png"
    first = call(app, url)
    again = call(app, url)
    assert again.status == 200 and again.header_list[:3] == first.header_list[:3] and again.body == first.body
    file = _stored_file(tmp_path)
    store = FileStore(str(file.parent.parent.parent.parent.parent.parent.parent), layout="tc")
    new = _png((200, 10, 10))
    store.store(Tile((0, 0, 0), data=new))
    assert file.read_bytes() == new
    os.utime(file, (1700000000.25, 1700000000.25))
    changed = call(app, url)
    assert changed.body == new and changed.headers["Last-Modified"] == http_date(1700000000.25)
    assert changed.headers["ETag"] == hashlib.md5(f"{1700000000.25}{len(new)}".encode()).hexdigest()
    general = general_answer(app, url)
    assert general.body == new and general.headers["ETag"] == changed.headers["ETag"]
    file.unlink()
    assert app.fast.answer(environ(url)) is None
    assert call(app, url).body == first.body  # fetched from the source again


def test_a_kept_tile_still_asks_the_authorize_callback(app):
    url = "/wmts/t/GLOBAL_WEBMERCATOR/0/0/0.png"
    call(app, url)
    assert app.fast.answer(environ(url)) is not None  # kept
    env = environ(url)
    env["mapproxy.authorize"] = lambda service, layers, environ, **kw: {"authorized": "none"}
    assert app.fast.answer(env) is None


def test_kept_tiles_stay_within_their_budget(app, monkeypatch):
    from tileproxy.services import fast_tiles

    monkeypatch.setattr(fast_tiles, "KEPT_BYTES", 1)  # room for nothing but the newest
    for path in STORED:
        call(app, path)
        call(app, path)
    assert len(app.fast._kept) <= 1
    for path in STORED:  # still answered as stored, each read again
        assert call(app, path).body == general_answer(app, path).body


@pytest.mark.parametrize("timestamp", [1700000000.5, 1700000000.25, -1.5, 0.0, 1764920000.999999, 59.9999999])
def test_kept_validators_are_the_computed_ones(timestamp):
    """Last-Modified, ETag and Content-Length kept per (time, size), dates per second,
    are what formatting them anew gives (MapProxy's md5 ETag, gmtime's rounding)."""
    from tileproxy.http import tile_etag, timed_tile_fields

    for size in (10, 11):
        modified, etag, length = timed_tile_fields(timestamp, size)
        assert modified == ("Last-Modified", http_date(timestamp))
        assert etag == ("ETag", tile_etag(timestamp, b"x" * size)) and length == ("Content-Length", str(size))
