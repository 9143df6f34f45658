"""The shipped policy middleware through a live gunicorn (TILEPROXY_AUTH_POLICY): an
API-key user, a Basic user limited to an area and a JWT user each see their own
layers in WMS, WMTS and TMS capabilities, get 403 outside their areas and clipped
maps at its edge, 401 with WWW-Authenticate without (valid) credentials, and never a
tile of a layer they may not see, cached or not."""

from __future__ import annotations

import base64
import io
import re
import textwrap
import time
from collections.abc import Iterator

import jwt
import pytest
from PIL import Image
from support.configs import cache, layer, wms_source, write_config
from support.gunicorn import Gunicorn
from support.wsgi import fetch

from tileproxy.auth.secrets import hash_api_key, hash_password

pytest.importorskip("gunicorn", reason="gunicorn is a test dependency (pip install -e '.[test]')")

HALF = 20037508.342789244  # half the web mercator world
SECRET = "live-test-hs256-secret-of-32-bytes!"
ALICE_KEY = "alice-live-key"

CONFIG = {
    "services": {"wms": {"srs": ["EPSG:3857"], "image_formats": ["image/png"]}, "tms": None, "wmts": None},
    "layers": [layer("osm", "OSM", "osm_cache"), layer("roads", "Roads", "roads_cache"),
               layer("secret", "Secret", "secret_cache")],
    "caches": {"osm_cache": cache("src"), "roads_cache": cache("src"), "secret_cache": cache("src")},
    "sources": {"src": wms_source()},
    "globals": {"cache": {"base_dir": "./cache"}},
}

POLICY = f"""
realm: live
users:
  alice:
    api_keys: ['{hash_api_key(ALICE_KEY)}']
    allow:
      - {{services: [wms, tms, wmts], layers: [osm]}}
  bob:
    password: '{hash_password("bob-pw", ln=4)}'
    limited_to: {{bbox: [0, 0, {HALF}, {HALF}], srs: 'EPSG:3857'}}
    allow:
      - {{services: [wms, tms, wmts], layers: [roads]}}
  carol:
    allow:
      - {{services: [wms, tms, wmts], layers: [osm, secret]}}
jwt: {{key_file: hs.key, algorithms: [HS256]}}
"""


def get(base: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    answer = fetch(base + path, headers=headers)
    return answer.status, answer.headers, answer.body


@pytest.fixture(scope="module")
def server(tmp_path_factory, _source_server) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("live")
    write_config(directory / "mapproxy.yaml", CONFIG, _source_server.url)
    (directory / "policy.yaml").write_text(POLICY)
    (directory / "hs.key").write_text(SECRET)
    srv = Gunicorn(directory, {"TILEPROXY_CONFIG": str(directory / "mapproxy.yaml"),
                               "TILEPROXY_AUTH_POLICY": str(directory / "policy.yaml")})
    assert srv.base, "".join(srv.log)
    yield srv.base
    srv.stop()


def token(sub: str = "carol", ttl: int = 86400, secret: str = SECRET) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + ttl}, secret, algorithm="HS256")


USERS = {
    "alice": {"X-API-Key": ALICE_KEY},
    "bob": {"Authorization": "Basic " + base64.b64encode(b"bob:bob-pw").decode()},
    "carol": {"Authorization": f"Bearer {token()}"},
}
SEES = {"alice": {"osm"}, "bob": {"roads"}, "carol": {"osm", "secret"}}
CAPABILITIES = {
    "wms": ("/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0", r"<Name>(osm|roads|secret)</Name>"),
    "wmts": ("/wmts/1.0.0/WMTSCapabilities.xml", r"<ows:Identifier>(osm|roads|secret)</ows:Identifier>"),
    "tms": ("/tms/1.0.0/", r"/tms/1\.0\.0/(osm|roads|secret)/"),
}


@pytest.mark.parametrize("service", CAPABILITIES)
@pytest.mark.parametrize("user", USERS)
def test_each_user_sees_only_their_layers_in_capabilities(server, user, service) -> None:
    path, pattern = CAPABILITIES[service]
    status, _, body = get(server, path, USERS[user])
    assert status == 200, body[:300]
    assert set(re.findall(pattern, body.decode())) == SEES[user]


def wmts_tile(layer: str, z: int, x: int, y: int) -> str:
    return f"/wmts/{layer}/GLOBAL_WEBMERCATOR/{z}/{x}/{y}.png"


def test_outside_the_area_is_403_and_across_its_edge_clipped(server) -> None:
    bob = USERS["bob"]
    # the north-east quarter of the world is bob's area: its tile is whole, the others 403
    status, headers, body = get(server, wmts_tile("roads", 1, 1, 0), bob)
    assert status == 200 and Image.open(io.BytesIO(body)).convert("RGBA").getextrema()[3] == (255, 255)
    for x, y in ((0, 0), (0, 1), (1, 1)):
        assert get(server, wmts_tile("roads", 1, x, y), bob)[0] == 403
    # the whole-world tile crosses the edge: the part outside is transparent
    status, headers, body = get(server, wmts_tile("roads", 0, 0, 0), bob)
    assert status == 200
    img = Image.open(io.BytesIO(body)).convert("RGBA")
    assert img.getpixel((192, 64))[3] == 255  # north-east: drawn
    assert img.getpixel((64, 64))[3] == 0 and img.getpixel((64, 192))[3] == 0 and img.getpixel((192, 192))[3] == 0
    # a WMS map across the edge is clipped, one wholly outside refused
    getmap = ("/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&SRS=EPSG:3857&FORMAT=image/png&TRANSPARENT=true"
              "&STYLES=&LAYERS=roads&WIDTH=200&HEIGHT=100&BBOX={bbox}")
    status, headers, body = get(server, getmap.format(bbox="-2000000,1000000,2000000,3000000"), bob)
    assert status == 200 and headers["Content-Type"] == "image/png"
    img = Image.open(io.BytesIO(body)).convert("RGBA")
    assert img.getpixel((50, 50))[3] == 0 and img.getpixel((150, 50))[3] == 255
    status, headers, body = get(server, getmap.format(bbox="-4000000,1000000,-2000000,3000000"), bob)
    assert status == 403


@pytest.mark.parametrize("headers", [
    {},
    {"X-API-Key": "not-a-key"},
    {"Authorization": "Basic " + base64.b64encode(b"bob:wrong").decode()},
    {"Authorization": f"Bearer {token(ttl=-10)}"},
    {"Authorization": f"Bearer {token(secret='another-secret-of-at-least-32-bytes')}"},
], ids=["missing", "bad-key", "bad-password", "expired-jwt", "forged-jwt"])
@pytest.mark.parametrize("path", ["/tms/1.0.0/", wmts_tile("osm", 0, 0, 0),
                                  "/service?SERVICE=WMS&REQUEST=GetCapabilities"])
def test_missing_or_bad_credentials_get_401_with_a_challenge(server, headers, path) -> None:
    answer = fetch(server + path, headers=headers)
    assert answer.status == 401
    challenges = [value for name, value in answer.header_list if name.lower() == "www-authenticate"]
    assert any(c.startswith('Basic realm="live"') for c in challenges)
    assert any(c.startswith('Bearer realm="live"') for c in challenges)


def test_a_tile_of_a_forbidden_layer_is_never_sent(server, _source_server) -> None:
    cached = [wmts_tile("secret", 2, 1, 1), "/tms/1.0.0/secret/EPSG3857/2/1/2.png", "/tiles/secret/EPSG3857/2/1/2.png"]
    not_cached = [wmts_tile("secret", 4, 9, 9), "/tiles/secret/EPSG3857/4/3/3.png"]
    for path in cached:
        assert get(server, path, USERS["carol"])[0] == 200  # now it is in the cache
    for user in ("alice", "bob"):
        for path in cached + not_cached:
            before = len(_source_server.requests)
            status, headers, body = get(server, path, USERS[user])
            assert status == 403, (user, path)
            assert not body.startswith(b"\x89PNG")
            assert len(_source_server.requests) == before  # not fetched either
    for path in not_cached:  # tiles that exist, for those who may see them
        status, headers, body = get(server, path, USERS["carol"])
        assert status == 200 and body.startswith(b"\x89PNG")


def test_a_broken_policy_stops_the_server_at_start(tmp_path, _source_server) -> None:
    write_config(tmp_path / "mapproxy.yaml", CONFIG, _source_server.url)
    (tmp_path / "policy.yaml").write_text(textwrap.dedent("""
        users:
          alice:
            allow:
              - {services: [wms, wfs], layers: [osm]}
    """))
    srv = Gunicorn(tmp_path, {"TILEPROXY_CONFIG": str(tmp_path / "mapproxy.yaml"),
                              "TILEPROXY_AUTH_POLICY": str(tmp_path / "policy.yaml")})
    srv.proc.wait(timeout=60)
    log = srv.stop()
    assert srv.proc.returncode != 0
    assert f"{tmp_path / 'policy.yaml'}: users.alice.allow[0].services[1]: unknown service 'wfs'" in log
