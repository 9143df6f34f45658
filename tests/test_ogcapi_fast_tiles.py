"""OGC API map tiles of a collection drawn from one cache come through the cached-tile
fast path: the same headers, body and 304 as the general path, and never a tile
the authorize callback forbids or cuts (those are drawn, or refused, as maps)."""

from __future__ import annotations

import json

import pytest
from support.authorize import Callbacks, partial
from support.fast_path import assert_same_answers, general_answer
from support.ogcapi import CONFIG
from support.wsgi import call, environ

TILE = "/ogcapi/collections/cached/map/tiles/WebMercatorQuad/1/0/1"
HALF = 20037508.342789244
NE_QUARTER = (0.0, 0.0, HALF, HALF)  # the tile's bbox (level 1, row 0, col 1)


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def _stored(app) -> bytes:
    first = call(app, TILE)
    assert first.status == 200
    return first.body


@pytest.mark.parametrize("url, headers", [
    (TILE, None),
    (TILE + ".png", None),
    (TILE, {"Accept": "image/avif,image/webp,*/*"}),  # a browser's
    ("/ogcapi/collections/cached/map/tiles/WebMercatorQuad/0/0/0.png", None),
])
def test_fast_path_answers_as_the_general_path(app, url, headers):
    assert app.fast.answer(environ(url, headers=headers)) is None  # not stored yet
    first = call(app, url, headers=headers)
    assert first.status == 200 and app.fast.answer(environ(url, headers=headers)) is not None
    fast = call(app, url, headers=headers)
    fast_h = assert_same_answers(fast, general_answer(app, url, headers))
    assert fast.body == first.body
    assert fast_h["Cache-Status"] == "tileproxy; hit"
    assert fast_h["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/3857>" and "Content-Bbox" in fast_h
    # the same bytes as the cache's WMTS tile
    z, row, col = url.removesuffix(".png").split("/")[-3:]
    assert fast.body == call(app, f"/wmts/cached/GLOBAL_WEBMERCATOR/{z}/{col}/{row}.png").body
    assert call(app, url, headers={**(headers or {}), "If-None-Match": fast_h["ETag"]}).status == 304


@pytest.mark.parametrize("url, headers", [
    (TILE + "?f=png", None),  # any parameter: the general path reads them
    (TILE, {"Accept": "image/jpeg"}),  # another format than stored: drawn
    (TILE + ".jpg", None),
    ("/ogcapi/collections/checker/map/tiles/WebMercatorQuad/1/0/1", None),  # drawn from a source
    ("/ogcapi/map/tiles/WebMercatorQuad/1/0/1", None),  # the dataset
    ("/ogcapi/collections/cached/map/tiles/WebMercatorQuad/1/0/2", None),  # outside the matrix
    ("/ogcapi/collections/cached/map/tiles/WebMercatorQuad/1/0/1.gif", None),
    ("/ogcapi/collections/cached/map/tiles/crs84/1/0/1", None),  # not one of the cache's grids
])
def test_other_tile_urls_are_left_to_the_general_path(app, url, headers):
    _stored(app)
    assert app.fast.answer(environ(url, headers=headers)) is None
    assert call(app, url, headers=headers).status == general_answer(app, url, headers).status


def test_a_forbidden_collection_tile_is_never_sent(app):
    stored = _stored(app)
    for answer, status in ((partial({"checker": {"map": True}}), 403), (partial({"cached": {"tile": True}}), 403),
                           ({"authorized": "unauthenticated"}, 401), ({"authorized": "none"}, 403)):
        guarded = Callbacks(app, answer)
        got = call(guarded, TILE)
        assert got.status == status and stored not in got.body
        assert json.loads(got.body)["status"] == status
        assert guarded.asked[0] == ("ogcapi.map", ["cached"], {"query_extent": ("EPSG:3857", NE_QUARTER)})


def test_an_allowed_collection_tile_is_served_as_stored_and_asked_about_once(app):
    stored = _stored(app)
    for answer in ({"authorized": "full"}, partial({"cached": {"map": True}})):
        allowed = Callbacks(app, answer)
        got = call(allowed, TILE)
        assert got.status == 200 and got.body == stored and got.headers["Cache-Status"] == "tileproxy; hit"
        assert allowed.asked == [("ogcapi.map", ["cached"], {"query_extent": ("EPSG:3857", NE_QUARTER)})]


@pytest.mark.parametrize("limit, stored_sent", [
    ({"srs": "EPSG:3857", "geometry": [-HALF, -HALF, HALF, HALF]}, True),  # holds the whole tile
    ({"srs": "EPSG:3857", "geometry": [0, 0, HALF / 2, HALF]}, False),  # cuts it
])
def test_a_limited_collection_tile_is_stored_only_when_wholly_inside(app, limit, stored_sent):
    stored = _stored(app)
    for answer in (partial({"cached": {"map": True, "limited_to": limit}}),
                   partial({"cached": {"map": True}}, limited_to=limit)):
        limited = Callbacks(app, answer)
        env = environ(TILE)
        env.update(limited.callbacks())
        assert (app.fast.answer(env) is not None) is stored_sent
        got = call(limited, TILE)
        assert got.status == 200 and (got.body == stored) is stored_sent
        if not stored_sent:  # drawn as a map: transparent east of the limit
            img = got.image.convert("RGBA")
            assert img.getpixel((64, 128))[3] == 255 and img.getpixel((200, 128))[3] == 0


def test_a_decorate_img_callback_sends_the_tile_the_general_way(app):
    stored = _stored(app)
    env = environ(TILE)
    env["mapproxy.decorate_img"] = lambda image, service, layers, **kw: image
    assert app.fast.answer(env) is None
    assert call(app, TILE).body == stored
