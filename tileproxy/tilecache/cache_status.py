"""The ``Cache-Status`` response header (RFC 9211) of tile responses.

Parameters used: ``hit``, ``fwd`` (``miss``, ``stale``, ``bypass``), ``fwd-status``,
``stored``, ``collapsed``, ``ttl`` and ``detail`` with these tokens:

- ``stale``: a stale tile sent without asking the source in this request
  (refresh queued in the background, or the tile lock was busy);
- ``stale-if-error``: the source failed and the stale tile was sent instead;
- ``error-tile``: the source failed and the on_error colour tile was sent;
- ``no-data``: no source draws this tile (seed_only, coverage, resolution
  limits): a transparent tile, not stored;
- ``rescaled``: built from the tiles of other levels (upscale/downscale_tiles);
- ``source-error``, ``lock-timeout``, ``no-source``: error responses.

See docs/freshness.md for the full table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

CACHE_NAME = "tileproxy"


@dataclass(frozen=True)
class CacheStatus:
    hit: bool = False
    fwd: str | None = None  # miss | stale | bypass
    fwd_status: int | None = None
    stored: bool = False
    collapsed: bool = False
    ttl: int | None = None
    detail: str | None = None

    def header(self) -> str:
        if self is HIT:
            return _HIT_HEADER
        parts = [CACHE_NAME]
        if self.hit:
            parts.append("hit")
        if self.fwd:
            parts.append(f"fwd={self.fwd}")
        if self.fwd_status is not None:
            parts.append(f"fwd-status={self.fwd_status}")
        if self.stored:
            parts.append("stored")
        if self.collapsed:
            parts.append("collapsed")
        if self.ttl is not None:
            parts.append(f"ttl={self.ttl}")
        if self.detail:
            parts.append(f"detail={self.detail}")
        return "; ".join(parts)

    def with_ttl(self, ttl: int | None) -> CacheStatus:
        return replace(self, ttl=ttl)


HIT = CacheStatus(hit=True)
_HIT_HEADER = f"{CACHE_NAME}; hit"
HIT_STALE = CacheStatus(hit=True, detail="stale")
BYPASS = CacheStatus(fwd="bypass")
NO_DATA = CacheStatus(fwd="miss", detail="no-data")
RESCALED = CacheStatus(fwd="miss", detail="rescaled")  # built from other levels (upscale/downscale_tiles)


def forwarded(was_stale: bool, **kw) -> CacheStatus:
    """A status for a tile that had to go to the source (``fwd=miss`` or ``fwd=stale``)."""
    return CacheStatus(fwd="stale" if was_stale else "miss", **kw)
