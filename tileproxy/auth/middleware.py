"""PolicyMiddleware: a WSGI middleware that puts MapProxy's ``mapproxy.authorize``
callback into every request, answering from a policy file (tileproxy.auth.policy).

Who asks is read once per request, when a service first calls the callback:
``Authorization: Basic`` (a password checked against its scrypt hash),
``Authorization: Bearer`` (a JWT), or an API key in a header or query parameter.
A 401 answer gets the ``WWW-Authenticate`` challenges of the configured schemes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from .policy import Policy, User, load_policy
from .secrets import PasswordHash, VerifiedCache, hash_password, key_digest
from .tokens import TokenError

log = logging.getLogger("tileproxy.auth")

IDENTITY = "tileproxy.auth.identity"  # environ key: the Identity of this request, once read


class Identity:
    """Who asks: a user, nobody (no credentials), or a rejected credential (``failed``
    names the scheme, ``reason`` says why, never with the secret)."""

    __slots__ = ("user", "failed", "reason")

    def __init__(self, user: User | None = None, failed: str | None = None, reason: str = ""):
        self.user = user
        self.failed = failed
        self.reason = reason


NOBODY = Identity()


class PolicyMiddleware:
    """``PolicyMiddleware(app, "policy.yaml")``: ``app`` with MapProxy's authorize callback
    answered from the policy. A policy with errors raises ConfigError here, at start."""

    def __init__(self, app: Callable, policy: str | os.PathLike | Policy):
        self.app = app
        self.policy = policy if isinstance(policy, Policy) else load_policy(policy)
        self._verified = VerifiedCache()
        # API keys are found by an HMAC (under a key made here) of their digest: the timing of
        # the lookup tells nothing about any stored key, not even a prefix of its digest
        self._lookup_key = os.urandom(32)
        self._keys = {self._keyed(digest): Identity(user) for digest, user in self.policy.keys.items()}
        # keys that verified, as presented: the next request with one costs a dict lookup
        # (str hashes are keyed per process, so its timing tells nothing either)
        self._seen_keys: dict[str, Identity] = {}
        self._key_env = self.policy.key_header
        # a password check for an unknown user costs what a known one costs
        self._decoy = PasswordHash(hash_password(os.urandom(16).hex()))
        self._challenges = self._make_challenges()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            if status[:3] == "401" and not any(k.lower() == "www-authenticate" for k, _ in headers):
                headers = list(headers) + self.challenges(environ)
            return start_response(status, headers, exc_info)

        environ["mapproxy.authorize"] = self._callback
        return self.app(environ, start)

    def _callback(self, service: str, layers: list[str] | None = None, environ: dict | None = None,
                  query_extent: tuple[str, Any] | None = None, **kw: Any) -> dict:
        """``mapproxy.authorize``: services pass the request's environ, as MapProxy's do;
        without it nobody can be told apart, and the answer is ``unauthenticated``."""
        if environ is None:
            return {"authorized": "unauthenticated"}
        return self.authorize(service, layers or [], environ, query_extent)

    # -- the callback ----------------------------------------------------------

    def authorize(self, service: str, layers: list[str], environ: dict,
                  query_extent: tuple[str, Any] | None = None) -> dict:
        identity = environ.get(IDENTITY)
        if identity is None:
            identity = environ[IDENTITY] = self.identify(environ)
        user = identity.user
        if user is None:
            if identity.failed or self.policy.anonymous is None:
                return {"authorized": "unauthenticated"}
            answer = self.policy.answer(self.policy.anonymous, service, layers, query_extent)
            # rights an anonymous client lacks may come with a login
            return {"authorized": "unauthenticated"} if answer["authorized"] == "none" else answer
        return self.policy.answer(user, service, layers, query_extent)

    # -- who asks --------------------------------------------------------------

    def identify(self, environ: dict) -> Identity:
        auth = environ.get("HTTP_AUTHORIZATION")
        if auth:
            scheme, _, value = auth.strip().partition(" ")
            scheme = scheme.lower()
            if scheme == "basic" and self.policy.basic:
                return self._basic(value.strip(), environ)
            if scheme == "bearer" and self.policy.jwt is not None:
                return self._bearer(value.strip(), environ)
        policy = self.policy
        if self._key_env is not None:
            key = environ.get(self._key_env)
            if key:
                return self._seen_keys.get(key) or self._api_key(key, environ)
        if policy.key_query is not None:
            query = environ.get("QUERY_STRING", "")
            if policy.key_query in query:
                for name, value in parse_qsl(query, keep_blank_values=True):
                    if name == policy.key_query:
                        return self._seen_keys.get(value) or self._api_key(value, environ)
        return NOBODY

    def _api_key(self, key: str, environ: dict) -> Identity:
        identity = self._keys.get(self._keyed(key_digest(key.strip())))
        if identity is None:
            return self._rejected("api_key", "unknown API key", environ)
        if len(self._seen_keys) >= 4096:
            self._seen_keys.clear()
        self._seen_keys[key] = identity
        return identity

    def _keyed(self, digest: bytes) -> bytes:
        return hmac.digest(self._lookup_key, digest, "sha256")

    def _basic(self, value: str, environ: dict) -> Identity:
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return self._rejected("basic", "malformed Basic credentials", environ)
        try:
            text = decoded.decode("utf-8")
        except UnicodeDecodeError:
            text = decoded.decode("latin-1")
        name, sep, password = text.partition(":")
        if not sep:
            return self._rejected("basic", "malformed Basic credentials", environ)
        tag = self._verified.tag("basic", name, password)
        if self._verified.get(tag) == name:
            return Identity(self.policy.users[name])
        user = self.policy.users.get(name)
        stored = user.password if user is not None and user.password is not None else self._decoy
        if stored.verify(password) and stored is not self._decoy:
            self._verified.put(tag, name)
            return Identity(user)
        return self._rejected("basic", "wrong user name or password", environ)

    def _bearer(self, token: str, environ: dict) -> Identity:
        try:
            name = self.policy.jwt.user(token)  # type: ignore[union-attr]
        except TokenError as ex:
            return self._rejected("jwt", str(ex), environ)
        user = self.policy.users.get(name)
        if user is None:
            return self._rejected("jwt", "the token names no user of the policy", environ)
        return Identity(user)

    def _rejected(self, scheme: str, reason: str, environ: dict) -> Identity:
        log.info("rejected %s credentials from %s: %s", scheme, environ.get("REMOTE_ADDR", "?"), reason)
        return Identity(failed=scheme, reason=reason)

    # -- 401 -------------------------------------------------------------------

    def _make_challenges(self) -> list[tuple[str, str]]:
        realm = self.policy.realm.replace("\\", "\\\\").replace('"', '\\"')
        out = []
        if self.policy.basic:
            out.append(("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"'))
        if self.policy.jwt is not None:
            out.append(("WWW-Authenticate", f'Bearer realm="{realm}"'))
        if self.policy.keys:
            where = [f'header="{self.policy.key_header_name}"'] if self.policy.key_header_name else []
            where += [f'query="{self.policy.key_query}"'] if self.policy.key_query else []
            out.append(("WWW-Authenticate", f'ApiKey realm="{realm}", ' + ", ".join(where)))
        return out or [("WWW-Authenticate", f'Basic realm="{realm}"')]

    def challenges(self, environ: dict) -> list[tuple[str, str]]:
        """The WWW-Authenticate headers of a 401: each configured scheme; a rejected token
        says why (RFC 6750)."""
        identity = environ.get(IDENTITY)
        if identity is None or identity.failed != "jwt":
            return self._challenges
        reason = identity.reason.replace('"', "'")
        return [(k, f'{v}, error="invalid_token", error_description="{reason}"') if v.startswith("Bearer") else (k, v)
                for k, v in self._challenges]
