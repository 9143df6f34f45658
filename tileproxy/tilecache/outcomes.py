"""What a request gets for each tile: a ``TileOutcome`` (the tile, its Cache-Status,
whether clients may keep it), and the outcomes of a meta tile whose build failed,
timed out or was answered by an ``on_error`` stand-in. Also the memory of failed
builds that requests waiting on the same lock share (``Failures``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..grid import TileCoord
from ..sources.errors import SourceError
from ..sources.on_error import ErrorAnswer
from ..stores.base import Tile
from .cache_status import BYPASS, HIT, HIT_STALE, NO_DATA, CacheStatus, forwarded
from .freshness import is_older


class TileError(Exception):
    """A tile that cannot be served; ``status`` is the HTTP status to answer with,
    ``detail`` the Cache-Status detail token (None: not a cache matter)."""

    def __init__(self, message: str, status: int = 500, detail: str | None = None):
        super().__init__(message)
        self.status = status
        self.detail = detail


@dataclass
class TileOutcome:
    """A tile as served, and how the cache came by it."""

    tile: Tile
    status: CacheStatus
    cacheable: bool = True  # False: a stand-in (error tile) that clients must not keep
    stale: bool = False  # older than refresh_before
    error: Exception | None = None  # set when there is no tile to serve
    # no source draws here (seed_only, coverage, resolution limits): nothing was
    # stored and ``tile.data`` is None; services answer a transparent tile
    empty: bool = False


@dataclass
class Job:
    """What one request knows: when it started, its staleness cutoff, and the
    stale tiles it found (so that they can be served if the refresh fails)."""

    started: float
    cutoff: float | None
    stale: dict[TileCoord, Tile] = field(default_factory=dict)


# a source error that an on_error answer stood in for, and that answer
Answered = tuple[SourceError, ErrorAnswer]


@dataclass
class Rendered:
    """Tiles from the sources; ``failure`` is set when an on_error answer stood in."""

    tiles: list[Tile]
    failure: SourceError | None = None
    cacheable: bool = True
    authorize_stale: bool = False

    @property
    def failed(self) -> bool:
        """Did a source fail (answered by on_error), or must the tiles not be kept?"""
        return self.failure is not None or not self.cacheable


class Failures:
    """The last failed build of each meta tile: a request that waited for the lock
    of a build that failed shares its answer instead of asking the sources again."""

    LIMIT = 1024

    def __init__(self) -> None:
        self._last: dict[TileCoord, tuple[float, Rendered | SourceError]] = {}

    def since(self, main: TileCoord, started: float) -> Rendered | SourceError | None:
        """The failure of the meta tile at ``main`` if it happened at or after ``started``."""
        found = self._last.get(main)
        return found[1] if found is not None and found[0] >= started else None

    def remember(self, main: TileCoord, result: Rendered | SourceError) -> None:
        if len(self._last) > self.LIMIT:
            self._last.clear()
        self._last[main] = (time.time(), result)

    def forget(self, main: TileCoord) -> None:
        self._last.pop(main, None)


def status_of(error: SourceError | None) -> int | None:
    return error.status if error is not None else None


def kept_tile(tile: Tile, job: Job, error: SourceError | None) -> TileOutcome:
    """A cached tile that stays as it is although its refresh failed."""
    if not is_older(tile.timestamp, job.cutoff):
        return TileOutcome(tile, HIT)
    status = forwarded(True, fwd_status=status_of(error), detail="stale-if-error")
    return TileOutcome(tile, status, stale=True)


def nothing_drawn(coords: Iterable[TileCoord], job: Job) -> dict[TileCoord, TileOutcome]:
    """No source would draw these tiles: a blank tile must not be stored (seeding a
    seed_only source later would skip it); stale tiles are served as they are."""
    now = time.time()
    return {c: (TileOutcome(job.stale[c], HIT_STALE, stale=True) if c in job.stale
                else TileOutcome(Tile(c, timestamp=now), NO_DATA, empty=True)) for c in coords}


def lock_timed_out(coord: TileCoord, job: Job) -> TileOutcome:
    """The tile lock stayed busy: a stale tile is served as it is, a missing one fails."""
    if coord in job.stale:
        return TileOutcome(job.stale[coord], HIT_STALE, stale=True)
    error = TileError("timed out waiting for another request to create this tile", 503, "lock-timeout")
    return TileOutcome(Tile(coord), forwarded(False, detail="lock-timeout"), error=error)


def build_failed(coords: Iterable[TileCoord], job: Job, current: dict[TileCoord, Tile],
           error: SourceError) -> dict[TileCoord, TileOutcome]:
    """No on_error answer: cached tiles are served as they are, missing ones fail."""
    outcomes = {}
    for coord in coords:
        if coord in current:
            outcomes[coord] = kept_tile(current[coord], job, error)
        else:
            status = forwarded(False, fwd_status=error.status, detail="source-error")
            outcomes[coord] = TileOutcome(Tile(coord), status, error=error)
    return outcomes


def unstored_tiles(coords: Iterable[TileCoord], result: Rendered | SourceError) -> dict[TileCoord, TileOutcome]:
    """``disable_storage``: the tiles as the sources drew them, or their error."""
    if isinstance(result, SourceError):
        return {c: TileOutcome(Tile(c), forwarded(False, fwd_status=result.status, detail="source-error"),
                               error=result) for c in coords}
    if result.failed:
        status = forwarded(False, fwd_status=status_of(result.failure), detail="error-tile")
        for tile in result.tiles:
            tile.timestamp = None
        return {t.coord: TileOutcome(t, status, cacheable=result.cacheable) for t in result.tiles}
    return {t.coord: TileOutcome(t, BYPASS) for t in result.tiles}


def stood_in(job: Job, current: dict[TileCoord, Tile], result: Rendered,
             store: Callable[[list[Tile]], bool]) -> dict[TileCoord, TileOutcome]:
    """An on_error answer stood in: cached tiles stay (stale ones only with
    authorize_stale); the others get the error tile, stored (by ``store``) only
    with ``cache: true``."""
    outcomes = {}
    to_store = []
    for tile in result.tiles:
        coord = tile.coord
        old = current.get(coord)
        if old is not None and (result.authorize_stale or not is_older(old.timestamp, job.cutoff)):
            outcomes[coord] = kept_tile(old, job, result.failure)
            continue
        if result.cacheable:
            to_store.append(tile)
        else:
            tile.timestamp = None
            outcomes[coord] = _error_tile(tile, job, result, stored=False)
    if to_store:
        stored = store(to_store)
        outcomes.update({t.coord: _error_tile(t, job, result, stored) for t in to_store})
    return outcomes


def _error_tile(tile: Tile, job: Job, result: Rendered, stored: bool) -> TileOutcome:
    status = forwarded(tile.coord in job.stale, fwd_status=status_of(result.failure), stored=stored,
                       detail="error-tile")
    return TileOutcome(tile, status, cacheable=result.cacheable)
