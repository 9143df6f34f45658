"""The last configuration that loaded, kept on disk so that a worker process
started after a bad edit (a gunicorn worker replaced after a crash or a HUP, a
mod_wsgi daemon restart, a granian respawn) serves it instead of failing to boot.

The snapshot holds the bytes of the mapproxy.yaml and its ``base:`` files as
they were read by the last good load; it is loaded again exactly as the files
were, so relative paths still resolve against the configuration's directory.
Other files the configuration names (coverages, seed files, XSLT scripts) are
read from disk as usual.

Where it lives: ``TILEPROXY_LAST_GOOD`` (a file path) when set, otherwise
``$XDG_STATE_HOME/tileproxy`` (``~/.local/state/tileproxy``), or a private
``tileproxy-<uid>`` directory in the temp directory when home is not writable.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import logging
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .config.build import load_proxy_config
from .config.model import ProxyConfig

log = logging.getLogger("tileproxy.config")


@dataclass
class Loaded:
    """A configuration with the bytes of the YAML files it was built from."""

    config: ProxyConfig
    files: dict[Path, bytes]
    saved_at: float | None = None  # set when it came from a snapshot
    snapshot: Path | None = None


def load_recording(path: str | Path) -> Loaded:
    """``load_proxy_config`` that keeps the bytes it read."""
    seen: dict[Path, bytes] = {}

    def read(p: Path) -> bytes:
        data = p.read_bytes()
        seen[p] = data
        return data

    return Loaded(load_proxy_config(path, read), seen)


def snapshot_locations(config_path: str | Path) -> list[Path]:
    """Where the snapshot for ``config_path`` is written, in order of preference."""
    explicit = os.environ.get("TILEPROXY_LAST_GOOD", "").strip()
    if explicit and explicit.lower() not in ("0", "off", "no", "false"):
        return [Path(explicit)]
    path = Path(config_path).resolve()
    name = f"{hashlib.sha256(str(path).encode()).hexdigest()[:16]}-{path.name}.last-good"
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return [Path(state) / "tileproxy" / name, Path(tempfile.gettempdir()) / f"tileproxy-{uid}" / name]


def save(config_path: str | Path, loaded: Loaded) -> Path | None:
    """Write the snapshot of a configuration that loaded; unchanged snapshots are
    left as they are. Returns where it is, or None when no location is writable."""
    path = Path(config_path).resolve()
    files = {str(p): base64.b64encode(data).decode("ascii") for p, data in loaded.files.items()}
    errors = []
    for target in snapshot_locations(path):
        current = _read(target)
        if current is not None and current.get("config") == str(path) and current.get("files") == files:
            return target
        payload = json.dumps({"config": str(path), "saved": time.time(), "files": files})
        try:
            _write_private(target, payload.encode())
            return target
        except OSError as ex:
            errors.append(f"{target}: {ex.strerror or ex}")
    log.warning("no last good copy of the configuration kept (%s); a worker started after a bad "
                "edit will fail to boot", "; ".join(errors))
    return None


def load_snapshot(config_path: str | Path) -> Loaded | None:
    """The newest snapshot of ``config_path``, built; None when there is none.
    Raises ConfigError when the snapshot no longer builds."""
    path = Path(config_path).resolve()
    found = []
    for target in snapshot_locations(path):
        data = _read(target)
        if data and data.get("config") == str(path) and isinstance(data.get("files"), dict):
            found.append((float(data.get("saved") or 0), target, data["files"]))
    if not found:
        return None
    saved_at, target, encoded = max(found, key=lambda f: f[0])
    files = {Path(p): base64.b64decode(b) for p, b in encoded.items()}

    def read(p: Path) -> bytes:
        if p not in files:
            raise FileNotFoundError(errno.ENOENT, "not in the last good configuration", str(p))
        return files[p]

    return Loaded(load_proxy_config(path, read), files, saved_at, target)


def _read(target: Path) -> dict | None:
    """A snapshot's content, when the file is there and only this user can change it."""
    try:
        with open(target, "rb") as f:
            st = os.fstat(f.fileno())
            if not _private(st):
                log.warning("ignoring %s: it is writable by other users", target)
                return None
            data = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _private(st: os.stat_result) -> bool:
    uid = os.getuid() if hasattr(os, "getuid") else st.st_uid
    return st.st_uid in (uid, 0) and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _write_private(target: Path, data: bytes) -> None:
    """Atomic write of a file only its owner can read (it may hold source passwords)."""
    folder = target.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private(folder.stat()):
        raise OSError(errno.EPERM, "directory writable by other users")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".last-good")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
