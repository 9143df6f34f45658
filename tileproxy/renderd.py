"""A client for an external tile renderer (``globals.renderd.address``).

With a renderd address, a cache does not render missing tiles itself: it asks
the renderd server to create the meta tile (by its main tile) and then reads
the tiles from the cache, where the server stored them. The protocol is
MapProxy's: one HTTP POST per meta tile with a JSON task

    {"command": "tile", "id": <sha1>, "tiles": [[x, y, z]],
     "cache_identifier": "<cache>_<grid>", "priority": 100}

answered with ``{"status": "ok"}``, ``{"status": "error", "error_message": ...}``
or ``{"status": "lock", ...}`` (the server timed out waiting for a tile lock).
Tile coordinates are the cache's own (rows counted from the grid's origin).
The ``id`` is a hash of the cache identifier and the tiles, so the server can
join identical tasks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

import requests

from . import __version__
from .grid import TileCoord
from .sources.base import SourceError
from .tilecache.locks import LockTimeout

log = logging.getLogger("tileproxy.renderd")

SERVING_PRIORITY = 100  # a client waits for the tile (MapProxy's seeder sends 10)


def task_id(cache_identifier: str, coords: list[TileCoord]) -> str:
    """The task's id: the same for the same tiles of the same cache, as MapProxy's
    clients compute it (SHA-1 of the Python text of the pair)."""
    text = repr((cache_identifier, [tuple(c) for c in coords]))
    return hashlib.sha1(text.encode("ascii", "backslashreplace")).hexdigest()


class RenderdClient:
    """Asks the renderd server at ``address`` to create tiles; one pooled session."""

    def __init__(self, address: str, timeout: float = 60.0, priority: int = SERVING_PRIORITY):
        self.address = address
        self.timeout = timeout
        self.priority = priority
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"tileproxy/{__version__}"
        self.session.headers["Content-Type"] = "application/json"

    def create(self, cache_identifier: str, coord: TileCoord) -> None:
        """Have the server create the (meta) tile whose main tile is ``coord``.

        Raises SourceError when the server reports an error or cannot be reached
        or understood, LockTimeout when it timed out waiting for a tile lock."""
        coords = [tuple(coord)]
        task = {"command": "tile", "id": task_id(cache_identifier, coords), "tiles": coords,
                "cache_identifier": cache_identifier, "priority": self.priority}
        start = time.monotonic()
        answer = self._post(task)
        took = (time.monotonic() - start) * 1000
        status = answer.get("status") if isinstance(answer, dict) else None
        where = f"{self.address} {cache_identifier} {tuple(coord)}"
        if status == "ok":
            log.info("renderd ok %s %dms", where, took)
            return
        message = answer.get("error_message") if isinstance(answer, dict) else None
        if status == "lock":
            log.warning("renderd lock timeout %s %dms: %s", where, took, message)
            raise LockTimeout(f"Lock timeout from renderd: {message or 'no message'}")
        log.warning("renderd error %s %dms: %s", where, took, message or status)
        if status == "error":
            raise SourceError(f"Error from renderd: {message or 'unknown error from renderd'}")
        raise SourceError(f"Error while communicating with renderd: unexpected answer {answer!r:.80}")

    def _post(self, task: dict) -> object:
        try:
            resp = self.session.post(self.address, data=json.dumps(task), timeout=self.timeout)
        except requests.Timeout:
            raise SourceError(f"Error while communicating with renderd: no answer within {self.timeout:g}s") from None
        except requests.RequestException as ex:
            log.warning("renderd %s: %s", self.address, ex)
            raise SourceError(f"Error while communicating with renderd: {_reason(ex)}") from None
        try:
            return resp.json()
        except ValueError:
            log.warning("renderd %s: HTTP %d, not JSON: %.200r", self.address, resp.status_code, resp.content)
            raise SourceError("Error while communicating with renderd: invalid JSON") from None


def _reason(ex: requests.RequestException) -> str:
    """A short reason for a transport error (the full text goes to the log)."""
    if isinstance(ex, requests.ConnectionError):
        return "cannot connect (ConnectionError)"
    return type(ex).__name__
