"""Who asks, as PolicyMiddleware reads it: API keys in a header or query parameter, HTTP
Basic against scrypt hashes, JWT bearer tokens against a key file or a JWKS file. A
missing or rejected credential makes the callback answer ``unauthenticated``, which the
services turn into 401; the middleware adds the WWW-Authenticate challenges. No secret
reaches the log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import textwrap
import time
from pathlib import Path
from urllib.parse import parse_qsl

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from support.wsgi import call

from tileproxy.auth import PolicyMiddleware
from tileproxy.auth.secrets import PasswordHash, hash_api_key, hash_password

STATUS = {"unauthenticated": "401 Unauthorized", "none": "403 Forbidden"}


def service_app(environ, start_response):
    """Stands in for a tileproxy service: asks the callback about ``service`` and
    ``layers`` of the query string and answers as MapProxy's services do."""
    args = dict(parse_qsl(environ["QUERY_STRING"]))
    layers = [name for name in args.get("layers", "").split(",") if name]
    result = environ["mapproxy.authorize"](args.get("service", "tms"), layers, environ=environ, query_extent=None)
    status = STATUS.get(result["authorized"], "200 OK")
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(result).encode()]


SECRET = "s3cret-hs256-key-that-is-long-enough-32"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def policy_text(jwt_block: str = "") -> str:
    return textwrap.dedent(f"""
    realm: maps
    api_keys: {{header: X-API-Key, query: api_key}}
    users:
      alice:
        api_keys: ['{hash_api_key("alice-key")}']
        allow: [{{services: [tms], layers: [osm]}}]
      bob:
        password: '{hash_password("bob pw:ü", ln=4)}'
        allow: [{{services: [tms], layers: [roads]}}]
      carol:
        allow: [{{services: [tms], layers: [osm, roads]}}]
    """) + jwt_block


@pytest.fixture
def app(tmp_path, rsa_key):
    (tmp_path / "hs.key").write_text(SECRET + "\n")
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text("jwt: {key_file: hs.key, algorithms: [HS256], audience: maps}\n"))
    return PolicyMiddleware(service_app, path)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hs_token(**claims) -> str:
    claims = {"sub": "carol", "aud": "maps", "exp": int(time.time()) + 600, **claims}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def ask(app, headers=None, query="", layers="osm,roads") -> tuple[int, dict]:
    answer = call(app, f"/tms?service=tms&layers={layers}&{query}", headers=headers)
    return answer.status, json.loads(answer.body)


def test_api_key_in_header_and_query(app) -> None:
    full_osm = (200, {"authorized": "partial", "layers": {"osm": {"tile": True}}})
    assert ask(app, {"X-API-Key": "alice-key"}) == full_osm
    assert ask(app, query="api_key=alice-key") == full_osm
    assert ask(app, {"X-API-Key": "alice-key"}, layers="osm") == (200, {"authorized": "full"})
    assert ask(app, {"X-API-Key": "alice-key"}, layers="roads") == (403, {"authorized": "none"})


def test_wrong_or_missing_credentials_are_unauthenticated(app) -> None:
    for headers, query in [({"X-API-Key": "alice-kez"}, ""), ({}, "api_key=nope"), ({}, ""),
                           (basic("bob", "wrong"), ""), (basic("nobody", "bob pw:ü"), ""),
                           ({"Authorization": "Basic !!!"}, ""), (basic("alice", ""), "")]:
        assert ask(app, headers, query) == (401, {"authorized": "unauthenticated"}), (headers, query)


def test_basic_with_hashed_password(app) -> None:
    assert ask(app, basic("bob", "bob pw:ü")) == (200, {"authorized": "partial", "layers": {"roads": {"tile": True}}})
    # the second request is answered from the verified-credentials cache, alike
    assert ask(app, basic("bob", "bob pw:ü"))[0] == 200
    assert ask(app, basic("bob", "bob pw:ü "))[0] == 401


def test_jwt_with_shared_secret(app) -> None:
    assert ask(app, bearer(hs_token())) == (200, {"authorized": "full"})


@pytest.mark.parametrize("token, why", [
    (lambda: hs_token(exp=int(time.time()) - 5), "expired"),
    (lambda: jwt.encode({"sub": "carol", "aud": "maps", "exp": int(time.time()) + 600}, "x" * 40,
                        algorithm="HS256"), "InvalidSignatureError"),
    (lambda: hs_token()[:-3] + "abc", "InvalidSignatureError"),
    (lambda: hs_token(aud="other"), "InvalidAudienceError"),
    (lambda: jwt.encode({"sub": "carol", "aud": "maps"}, SECRET, algorithm="HS256"), "MissingRequiredClaimError"),
    (lambda: hs_token(sub="mallory"), "names no user"),
    (lambda: "not.a.token", "DecodeError"),
    (lambda: jwt.encode({"sub": "carol", "aud": "maps", "exp": int(time.time()) + 600}, None, algorithm="none"),
     "InvalidAlgorithmError"),
])
def test_expired_or_forged_jwts_are_unauthenticated(app, token, why) -> None:
    answer = call(app, "/tms?service=tms&layers=osm", headers=bearer(token()))
    assert answer.status == 401
    bearer_challenge = [v for k, v in answer.header_list if k == "WWW-Authenticate" and v.startswith("Bearer")]
    assert bearer_challenge and 'error="invalid_token"' in bearer_challenge[0]
    assert why in bearer_challenge[0]


def test_401_carries_a_challenge_per_scheme(app) -> None:
    answer = call(app, "/tms?service=tms&layers=osm")
    assert answer.status == 401
    challenges = [v for k, v in answer.header_list if k == "WWW-Authenticate"]
    assert challenges == ['Basic realm="maps", charset="UTF-8"', 'Bearer realm="maps"',
                          'ApiKey realm="maps", header="X-API-Key", query="api_key"']
    # 403 asks for nothing
    forbidden = call(app, "/tms?service=tms&layers=roads", headers={"X-API-Key": "alice-key"})
    assert forbidden.status == 403 and "WWW-Authenticate" not in forbidden.headers


def write_jwks(tmp_path: Path, keys: list[tuple[str, object]]) -> Path:
    doc = {"keys": [{**jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key(), as_dict=True), "kid": kid, "use": "sig"}
                    for kid, k in keys]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(doc))
    return path


def test_jwt_against_jwks(tmp_path, rsa_key) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_jwks(tmp_path, [("k1", rsa_key), ("k2", other)])
    (tmp_path / "policy.yaml").write_text(policy_text("jwt: {jwks_file: jwks.json, algorithms: [RS256]}\n"))
    app = PolicyMiddleware(service_app, tmp_path / "policy.yaml")
    claims = {"sub": "bob", "exp": int(time.time()) + 60}
    for kid, key in (("k1", rsa_key), ("k2", other)):
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        assert ask(app, bearer(token), layers="roads") == (200, {"authorized": "full"})
    # signed by k2's key but naming k1, by an unknown kid, or without a kid among two keys
    for kid, key in (("k1", other), ("k3", rsa_key), (None, rsa_key)):
        headers = {"kid": kid} if kid else None
        assert ask(app, bearer(jwt.encode(claims, key, algorithm="RS256", headers=headers)))[0] == 401


def test_jwt_against_public_key_file(tmp_path, rsa_key) -> None:
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "pub.pem").write_bytes(pem)
    (tmp_path / "policy.yaml").write_text(policy_text("jwt: {key_file: pub.pem, algorithms: [RS256], issuer: idp}\n"))
    app = PolicyMiddleware(service_app, tmp_path / "policy.yaml")
    claims = {"sub": "alice", "iss": "idp", "exp": int(time.time()) + 60}
    assert ask(app, bearer(jwt.encode(claims, rsa_key, algorithm="RS256")), layers="osm")[0] == 200
    assert ask(app, bearer(jwt.encode({**claims, "iss": "other"}, rsa_key, algorithm="RS256")))[0] == 401
    # the public key used as an HMAC secret (algorithm confusion) does not verify
    assert ask(app, bearer(hmac_signed(claims, pem)))[0] == 401


def hmac_signed(claims: dict, secret: bytes) -> str:
    """An HS256 token made by hand (PyJWT refuses a PEM key as an HMAC secret)."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")
    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + "." + part(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + part(signature)


def test_anonymous_rights_and_the_login_they_ask_for(tmp_path) -> None:
    (tmp_path / "policy.yaml").write_text(policy_text() + "anonymous:\n  allow: [{services: [tms], layers: [public]}]\n")
    app = PolicyMiddleware(service_app, tmp_path / "policy.yaml")
    assert ask(app, layers="public") == (200, {"authorized": "full"})
    assert ask(app, layers="osm") == (401, {"authorized": "unauthenticated"})
    assert ask(app, {"X-API-Key": "alice-key"}, layers="osm") == (200, {"authorized": "full"})
    assert ask(app, {"X-API-Key": "wrong"}, layers="public")[0] == 401  # a bad key is no anonymous request


def test_secrets_never_reach_the_log(app, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = ["alice-kez", "bob-wrong-pw", hs_token(exp=int(time.time()) - 5), "alice-key", "bob pw:ü"]
    for headers in [{"X-API-Key": "alice-kez"}, basic("bob", "bob-wrong-pw"), bearer(secrets[2]),
                    {"X-API-Key": "alice-key"}, basic("bob", "bob pw:ü")]:
        call(app, "/tms?service=tms&layers=osm", headers=headers)
    call(app, "/tms?service=tms&layers=osm&api_key=alice-kez")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "rejected" in logged  # the log says what happened
    for secret in secrets:
        assert secret not in logged
    assert secrets[2].split(".")[2] not in logged


def test_objects_do_not_show_secrets(app) -> None:
    shown = repr(app.policy) + repr(app.policy.users) + repr(app.policy.jwt)
    assert SECRET not in shown and "$scrypt$" not in shown


def test_password_hashes_in_phc_form() -> None:
    stored = hash_password("correct horse", ln=4)
    assert stored.startswith("$scrypt$ln=4,r=8,p=1$")
    assert PasswordHash(stored).verify("correct horse")
    assert not PasswordHash(stored).verify("correct horsf")
    # a hash written by passlib's scrypt (same PHC form) verifies
    passlib = "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHRzYWx0$" + base64.b64encode(
        hashlib.scrypt(b"pw", salt=b"saltsaltsalt", n=16, r=8, p=1, dklen=32)).decode().rstrip("=")
    assert PasswordHash(passlib).verify("pw")
