"""JWT bearer tokens, verified with PyJWT (the optional extra ``tileproxy[jwt]``)
against a public key or shared secret in a file, or a JSON Web Key Set file."""

from __future__ import annotations

import json
import os
from typing import Any

from ..config.errors import ConfigError, join_path

_FAMILIES = {"HS": "HMAC", "RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "EdDSA"}


class TokenError(ValueError):
    """A token that does not verify; the message names the reason, never the token."""


def _jwt(path: str) -> Any:
    try:
        import jwt
    except ImportError:
        raise ConfigError("JWT bearer tokens need PyJWT: pip install 'tileproxy[jwt]'", path) from None
    return jwt


class JWTVerifier:
    """Checks signature, expiry (``exp`` is required unless ``require`` says otherwise),
    ``nbf``, and ``aud``/``iss`` when configured; the user is the ``user_claim`` claim."""

    def __init__(self, conf: dict[str, Any], base_dir: str, path: str):
        jwt = self._jwt = _jwt(path)
        self.algorithms: list[str] = list(conf["algorithms"])
        for i, alg in enumerate(self.algorithms):
            if alg.lower() == "none" or alg not in jwt.algorithms.get_default_algorithms():
                raise ConfigError(f"unsupported algorithm {alg!r} (known: "
                                  f"{', '.join(sorted(a for a in jwt.algorithms.get_default_algorithms() if a != 'none'))})",
                                  join_path(join_path(path, "algorithms"), i))
        self.audience = conf.get("audience")
        self.issuer = conf.get("issuer")
        self.leeway = float(conf.get("leeway", 0))
        self.user_claim: str = conf.get("user_claim", "sub")
        self.require: list[str] = list(conf.get("require", ["exp"]))
        sources = [k for k in ("key_file", "jwks_file") if k in conf]
        if len(sources) != 1:
            raise ConfigError("needs exactly one of key_file, jwks_file", path)
        key_path = join_path(path, sources[0])
        filename = os.path.join(base_dir, os.path.expanduser(conf[sources[0]]))
        try:
            with open(filename, "rb") as f:
                data = f.read()
        except OSError as ex:
            raise ConfigError(f"cannot read {filename}: {ex.strerror}", key_path) from None
        self._single: Any = None
        self._by_kid: dict[str | None, Any] = {}
        if sources[0] == "key_file":
            self._single = self._prepare_key(data, key_path)
        else:
            self._load_jwks(data, filename, key_path)

    def _prepare_key(self, data: bytes, path: str) -> Any:
        families = {_FAMILIES.get(alg[:2]) for alg in self.algorithms}
        if len(families) != 1:
            raise ConfigError("one key_file serves algorithms of one family only (HS*, RS*/PS*, ES* or EdDSA)",
                              join_path(path.rpartition(".")[0], "algorithms"))
        algorithm = self._jwt.get_algorithm_by_name(self.algorithms[0])
        if families == {"HMAC"}:
            data = data.strip()
            if len(data) < 32:
                raise ConfigError("an HMAC secret must be at least 32 bytes long", path)
        try:
            return algorithm.prepare_key(data)
        except Exception as ex:  # PyJWT and cryptography raise several kinds for a bad key
            raise ConfigError(f"not a key for {self.algorithms[0]}: {type(ex).__name__}", path) from None

    def _load_jwks(self, data: bytes, filename: str, path: str) -> None:
        jwt = self._jwt
        try:
            doc = json.loads(data)
            keys = jwt.PyJWKSet.from_dict(doc).keys
        except (ValueError, jwt.exceptions.PyJWKSetError, jwt.exceptions.PyJWKError) as ex:
            raise ConfigError(f"{filename} is no usable JSON Web Key Set: {ex}", path) from None
        for key in keys:
            self._by_kid[key.key_id] = key

    def user(self, token: str) -> str:
        """The user the token names; raises TokenError when it does not verify."""
        jwt = self._jwt
        try:
            key = self._single if self._single is not None else self._jwks_key(token)
            claims = jwt.decode(token, key, algorithms=self.algorithms, audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": self.require})
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.InvalidTokenError as ex:
            raise TokenError(f"the token is invalid: {type(ex).__name__}") from None
        user = claims.get(self.user_claim)
        if not isinstance(user, str) or not user:
            raise TokenError(f"the token has no {self.user_claim!r} claim")
        return user

    def _jwks_key(self, token: str) -> Any:
        kid = self._jwt.get_unverified_header(token).get("kid")
        key = self._by_kid.get(kid)
        if key is None and kid is None and len(self._by_kid) == 1:
            key = next(iter(self._by_kid.values()))
        if key is None:
            raise TokenError("the token names no key of the key set")
        return key

    def __repr__(self) -> str:
        return f"JWTVerifier({', '.join(self.algorithms)})"
