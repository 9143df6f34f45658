"""Stored forms of secrets and their constant-time checks.

Passwords are kept as scrypt hashes in the PHC string format (the form passlib
and other libraries write)::

    $scrypt$ln=15,r=8,p=1$<salt>$<hash>

``ln`` is log2 of scrypt's cost N; salt and hash are base64 without padding.
API keys are long random strings, so a SHA-256 digest is enough to keep them out
of the policy file: ``sha256:<64 hex digits>``. Nothing here logs or repeats a
secret in an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import threading

SCRYPT_PREFIX = "$scrypt$"
DEFAULT_LN, DEFAULT_R, DEFAULT_P = 15, 8, 1  # N=32768: about 0.1 s and 32 MiB per check
_MAX_LN = 20
_PHC = re.compile(r"^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")
_KEY_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


class SecretFormatError(ValueError):
    """A stored secret in the wrong form; the message never repeats the value."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


class PasswordHash:
    """A parsed ``$scrypt$`` hash; ``verify`` runs scrypt and compares in constant time."""

    __slots__ = ("ln", "r", "p", "salt", "digest")

    def __init__(self, stored: str):
        m = _PHC.match(stored.strip()) if isinstance(stored, str) else None
        if m is None:
            raise SecretFormatError("expected a scrypt hash in PHC form ($scrypt$ln=..,r=..,p=..$salt$hash); "
                                    "make one with: python3 -m tileproxy.auth hash-password")
        self.ln, self.r, self.p = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if not (1 <= self.ln <= _MAX_LN and 1 <= self.r <= 32 and 1 <= self.p <= 16):
            raise SecretFormatError(f"scrypt parameters out of range (ln 1..{_MAX_LN}, r 1..32, p 1..16)")
        self.salt, self.digest = _unb64(m.group(4)), _unb64(m.group(5))
        if len(self.salt) < 8 or len(self.digest) < 16:
            raise SecretFormatError("scrypt salt or hash too short (salt >= 8 bytes, hash >= 16 bytes)")

    def verify(self, password: str) -> bool:
        computed = _scrypt(password.encode("utf-8"), self.salt, self.ln, self.r, self.p, len(self.digest))
        return hmac.compare_digest(computed, self.digest)

    def __repr__(self) -> str:
        return f"PasswordHash(scrypt ln={self.ln})"


def _scrypt(password: bytes, salt: bytes, ln: int, r: int, p: int, length: int) -> bytes:
    n = 1 << ln
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * n * r * p + (1 << 20))


def hash_password(password: str, ln: int = DEFAULT_LN, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """The ``$scrypt$`` string to store for ``password`` (a fresh random salt)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password.encode("utf-8"), salt, ln, r, p, 32)
    return f"{SCRYPT_PREFIX}ln={ln},r={r},p={p}${_b64(salt)}${_b64(digest)}"


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def hash_api_key(key: str) -> str:
    """The ``sha256:`` string to store for the API key ``key``."""
    return "sha256:" + key_digest(key).hex()


def parse_key_digest(stored: str) -> bytes:
    m = _KEY_DIGEST.match(stored.strip().lower()) if isinstance(stored, str) else None
    if m is None:
        raise SecretFormatError("expected sha256:<64 hex digits>; make one with: python3 -m tileproxy.auth hash-key")
    return bytes.fromhex(m.group(1))


def new_api_key() -> str:
    return secrets.token_urlsafe(32)


class VerifiedCache:
    """Remembers credentials that passed a slow check (scrypt), so that the tiles of one
    map view do not each cost 0.1 s of CPU. Entries are keyed by an HMAC under a key
    made at start, never by the secret itself; the cache is cleared when full."""

    def __init__(self, size: int = 4096):
        self._key = os.urandom(32)
        self._size = size
        self._found: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def tag(self, *parts: str) -> bytes:
        return hmac.new(self._key, "\0".join(parts).encode("utf-8"), hashlib.sha256).digest()

    def get(self, tag: bytes) -> str | None:
        return self._found.get(tag)

    def put(self, tag: bytes, value: str) -> None:
        with self._lock:
            if len(self._found) >= self._size:
                self._found.clear()
            self._found[tag] = value
