"""The tile manager: serve cached tiles, create missing ones and refresh stale ones
once (meta tiles and locks), and answer source errors as ``on_error`` says.

A request looks its tiles up once: fresh tiles are hits; missing and stale tiles
are grouped into meta tiles. Each meta tile is built under its tile lock, after a
second look at the store (another thread or process may have built it while we
waited). When the source fails, cached tiles stay as they are (served stale where
the configuration allows) and missing tiles get the configured error tile.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace

from .cache_status import BYPASS, HIT, HIT_STALE, NO_DATA, CacheStatus, forwarded
from .freshness import RefreshBefore, is_older
from .grid import MetaGrid, MetaTile, TileCoord, TileGrid
from .image.codec import ImageDataError, is_single_color
from .image.formats import ImageFormat, ImageOptions
from .image.result import ImageResult
from .image.transform import merge_images
from .image.watermark import Watermark
from .locks import FileLock, LockTimeout
from .refresh_pool import RefreshPool
from .renderd import RenderdClient
from .rescale import rescaled_tile, sources_deliver
from .sources.base import MapQuery, Source, SourceDataError, SourceError, TiledSource
from .sources.on_error import ErrorAnswer
from .stores.base import StoreError, Tile, TileStore, log_throttled

log = logging.getLogger("tileproxy.tiles")

RESCALED = CacheStatus(fwd="miss", detail="rescaled")  # built from other levels (upscale/downscale_tiles)

REFRESH_MODES = ("foreground", "background")


class TileError(Exception):
    """A tile that cannot be served; ``status`` is the HTTP status to answer with,
    ``detail`` the Cache-Status detail token (None: not a cache matter)."""

    def __init__(self, message: str, status: int = 500, detail: str | None = None):
        super().__init__(message)
        self.status = status
        self.detail = detail


@dataclass
class TileManagerOptions:
    meta_size: tuple[int, int] = (4, 4)
    meta_buffer: int = 80
    minimize_meta_requests: bool = False
    bulk_meta_tiles: bool = False  # tiled sources: fetch all tiles of a meta tile at once
    concurrent_tile_creators: int = 2
    disable_storage: bool = False
    link_single_color_images: bool = False
    lock_timeout: float = 60.0
    refresh_before: RefreshBefore | None = None
    refresh_mode: str = "foreground"  # background: serve stale at once, refresh later
    refresh_workers: int = 2
    refresh_queue_size: int = 256
    rescale_tiles: int = 0  # upscale_tiles as -N, downscale_tiles as +N
    cache_rescaled_tiles: bool = False


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
class _Job:
    """What one request knows: when it started, its staleness cutoff, and the
    stale tiles it found (so that they can be served if the refresh fails)."""

    started: float
    cutoff: float | None
    stale: dict[TileCoord, Tile] = field(default_factory=dict)


@dataclass
class _Rendered:
    """Tiles from the sources; ``failure`` is set when an on_error answer stood in."""

    tiles: list[Tile]
    failure: SourceError | None = None
    cacheable: bool = True
    authorize_stale: bool = False


_Answered = tuple[SourceError, ErrorAnswer]


class TileManager:
    """Tiles of one cache in one grid."""

    def __init__(
        self,
        name: str,
        grid: TileGrid,
        store: TileStore,
        sources: Sequence[Source],
        image_opts: ImageOptions,
        request_format: ImageFormat,
        lock_dir: str,
        lock_id: str,
        opts: TileManagerOptions | None = None,
        watermark: Watermark | None = None,
        renderd: RenderdClient | None = None,
        query_params: tuple[tuple[str, str], ...] = (),
    ):
        self.name = name
        self.grid = grid
        self.store = store
        self.sources = list(sources)
        self.image_opts = image_opts
        self.format = image_opts.format
        self.request_format = request_format
        self.lock_dir = lock_dir
        self.lock_id = hashlib.md5(lock_id.encode()).hexdigest()
        self.opts = opts or TileManagerOptions()
        use_meta = bool(self.sources) and all(s.supports_meta_tiles for s in self.sources)
        # bulk_meta_tiles: tiled sources fill whole meta tiles, one request per tile
        self.bulk_meta_tiles = (self.opts.bulk_meta_tiles and bool(self.sources) and tuple(self.opts.meta_size) != (1, 1)
                                and not any(s.supports_meta_tiles for s in self.sources))
        meta_size = self.opts.meta_size if use_meta or self.bulk_meta_tiles else (1, 1)
        meta_buffer = self.opts.meta_buffer if use_meta else 0
        self.meta_grid = MetaGrid(grid, meta_size, meta_buffer)
        self.transparent = any(s.transparent for s in self.sources) or bool(image_opts.transparent)
        self._pool: RefreshPool | None = None
        self._pool_lock = threading.Lock()
        # last failed build per meta tile: requests that waited on the lock reuse it
        self._failures: dict[TileCoord, tuple[float, _Rendered | SourceError]] = {}
        self.watermark = watermark  # burned into new tiles before they are stored
        self.renderd = renderd  # set: an external renderd server creates the tiles
        # stored tiles are served as they are: no refresh_before rule, storage in use
        self.plain_hits = self.opts.refresh_before is None and not self.opts.disable_storage
        self.query_params = query_params  # dimension values sent to the sources

    @property
    def keeps_dimensions(self) -> bool:
        """Can tiles of different dimension values be told apart (see ``with_dimensions``)?"""
        return self.opts.disable_storage or self.store.for_dimensions(()) is not None

    def with_dimensions(self, values: tuple[tuple[str, str], ...]) -> TileManager | None:
        """This cache for one set of dimension values: sources get ``values``, tiles are
        stored apart from other values' (None when the store cannot keep them apart)."""
        store = self.store if self.opts.disable_storage else self.store.for_dimensions(values)
        if store is None:
            return None
        # no renderd: it knows no dimensions and fills the plain store
        return TileManager(self.name, self.grid, store, self.sources, self.image_opts, self.request_format,
                           self.lock_dir, f"{self.lock_id}{values!r}", self.opts, watermark=self.watermark,
                           query_params=values)

    @property
    def refresh_before(self) -> RefreshBefore | None:
        return self.opts.refresh_before

    # -- serving ---------------------------------------------------------

    def load_tile(self, coord: TileCoord) -> Tile:
        """The tile at ``coord``, from the store or freshly created."""
        return self.load_tiles([coord])[0]

    def load_tiles(self, coords: Sequence[TileCoord]) -> list[Tile]:
        """The tiles at ``coords``; raises TileError/SourceError when one cannot be had."""
        return [o.tile for o in self.fetch_tiles(coords)]

    def fetch_tile(self, coord: TileCoord) -> TileOutcome:
        tile = self.stored_hit(coord)
        if tile is not None:
            return TileOutcome(tile, HIT)
        return self.fetch_tiles([coord])[0]

    def stored_hit(self, coord: TileCoord) -> Tile | None:
        """The stored tile at ``coord`` when it is served as it is (the cache uses its
        storage and has no refresh_before rule); None otherwise, and for tiles outside
        the grid or the coverage: ``fetch_tiles`` has the answer for those."""
        if not self.plain_hits or not self.grid.is_valid(coord):
            return None
        tile = Tile(coord)
        return tile if self.store.load(tile) else None

    def fetch_tiles(self, coords: Sequence[TileCoord]) -> list[TileOutcome]:
        """Like ``load_tiles``, with each tile's Cache-Status and cacheability."""
        for coord in coords:
            if not self.grid.is_valid(coord):
                raise TileError(f"tile {coord} is outside the grid", 404)
            if not self.store.covers(coord):
                raise TileError(f"tile {coord} is outside the cache coverage", 404)
        now = time.time()
        rule = self.opts.refresh_before
        job = _Job(started=now, cutoff=rule.cutoff(now) if rule else None)
        outcomes: dict[TileCoord, TileOutcome] = {}
        missing: list[TileCoord] = []
        for coord in dict.fromkeys(coords):
            tile = Tile(coord)
            if self.opts.disable_storage or not self.store.load(tile):
                missing.append(coord)
            elif is_older(tile.timestamp, job.cutoff):
                job.stale[coord] = tile
            else:
                outcomes[coord] = TileOutcome(tile, HIT)
        if missing and self.opts.rescale_tiles:
            for coord in [c for c in missing if not sources_deliver(self, c)]:
                outcomes[coord] = TileOutcome(rescaled_tile(self, coord), RESCALED)
                missing.remove(coord)
        if missing or job.stale:
            if not self.sources:
                if missing:
                    raise TileError("tile not cached and the cache has no sources", 404, "no-source")
                outcomes.update({c: TileOutcome(t, HIT_STALE, stale=True) for c, t in job.stale.items()})
            else:
                todo = missing + [c for c in job.stale if not self._deferred(c, missing, job, outcomes)]
                if todo:
                    outcomes.update(self._create(todo, job))
        result = []
        for coord in coords:
            outcome = outcomes[coord]
            if outcome.error is not None:
                raise outcome.error
            result.append(outcome)
        if rule is not None and rule.max_age is not None:
            for outcome in result:
                ts = outcome.tile.timestamp
                if outcome.cacheable and not outcome.stale and ts is not None:
                    outcome.status = outcome.status.with_ttl(int(rule.remaining(ts, now) or 0))
        return result

    def is_cached(self, coord: TileCoord) -> bool:
        return self.store.is_cached(coord)

    def is_stale(self, coord: TileCoord, now: float | None = None) -> bool:
        """True when ``coord`` is cached but older than this cache's refresh_before."""
        rule = self.opts.refresh_before
        if rule is None:
            return False
        return rule.is_stale(self.store.timestamp(coord), time.time() if now is None else now)

    # -- background refresh ----------------------------------------------

    def _deferred(self, coord: TileCoord, missing: list[TileCoord], job: _Job, outcomes: dict) -> bool:
        """In background mode, serve a stale tile now and queue its meta tile's refresh
        (unless the request builds that meta tile anyway for a missing tile)."""
        if self.opts.refresh_mode != "background":
            return False
        main = self.meta_grid.main_coord(coord)
        if any(self.meta_grid.main_coord(c) == main for c in missing):
            return False
        outcomes[coord] = TileOutcome(job.stale[coord], HIT_STALE, stale=True)
        meta = self.meta_grid.meta_tile(coord)
        self.refresh_pool.submit((self.lock_id, meta.main_coord), lambda: self._build_meta(meta, job))
        return True

    @property
    def refresh_pool(self) -> RefreshPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = RefreshPool(self.opts.refresh_workers, self.opts.refresh_queue_size, f"refresh-{self.name}")
            return self._pool

    def join_refreshes(self, timeout: float | None = None) -> bool:
        """Wait for queued background refreshes (tests, seeding, shutdown); False on timeout."""
        return self._pool.join(timeout) if self._pool is not None else True

    # -- creating --------------------------------------------------------

    def _create(self, coords: Sequence[TileCoord], job: _Job) -> dict[TileCoord, TileOutcome]:
        if self.opts.minimize_meta_requests and len(coords) > 1 and self.meta_grid.meta_size != (1, 1):
            metas = [self.meta_grid.minimal_meta_tile(list(coords))]
        else:
            seen: dict[TileCoord, MetaTile] = {}
            for c in coords:
                main = self.meta_grid.main_coord(c)
                if main not in seen:
                    seen[main] = self.meta_grid.meta_tile(c)
            metas = list(seen.values())
        outcomes: dict[TileCoord, TileOutcome] = {}
        if len(metas) == 1 or self.opts.concurrent_tile_creators <= 1:
            for meta in metas:
                outcomes.update(self._build_meta(meta, job))
            return outcomes
        workers = min(self.opts.concurrent_tile_creators, len(metas))
        with ThreadPoolExecutor(workers) as pool:
            for part in pool.map(lambda m: self._build_meta(m, job), metas):
                outcomes.update(part)
        return outcomes

    def lock_path(self, coord: TileCoord) -> str:
        x, y, z = coord
        return os.path.join(self.lock_dir, f"{self.lock_id}-{x}-{y}-{z}.lck")

    def _build_meta(self, meta: MetaTile, job: _Job) -> dict[TileCoord, TileOutcome]:
        """Outcomes for every tile of ``meta``: built, refreshed, kept or failed."""
        if not any(s.delivers(meta.bbox, meta.size, self.grid.srs) for s in self.sources):
            return self._nothing_to_draw(meta, job)
        if self.opts.disable_storage:
            return self._build_unstored(meta)
        lock = FileLock(self.lock_path(meta.main_coord), timeout=self.opts.lock_timeout)
        try:
            lock.acquire()
        except LockTimeout:
            log.warning("cache %s: timed out waiting for the lock of meta tile %s", self.name, meta.main_coord)
            return {c: self._lock_timeout_outcome(c, job) for c in meta.coords}
        try:
            return self._build_meta_locked(meta, job)
        finally:
            lock.release()

    def _nothing_to_draw(self, meta: MetaTile, job: _Job) -> dict[TileCoord, TileOutcome]:
        """No source would draw ``meta``: a blank tile must not be stored (seeding a
        seed_only source later would skip it); stale tiles are served as they are."""
        now = time.time()
        return {c: (TileOutcome(job.stale[c], HIT_STALE, stale=True) if c in job.stale
                    else TileOutcome(Tile(c, timestamp=now), NO_DATA, empty=True)) for c in meta.coords}

    def refresh_meta(self, meta: MetaTile, coords: Collection[TileCoord] | None = None,
                     gate: AbstractContextManager | None = None) -> list[Tile]:
        """Render ``meta`` from the sources and store its tiles (only ``coords`` when
        given), replacing cached ones, under the tile lock that serving uses. Used by
        seeding. When a source fails, nothing is written and the error propagates, so
        cached tiles stay as they were; ``LockTimeout`` and ``StoreError`` propagate
        too. An ``on_error`` answer with ``cache: true`` is stored as serving stores it
        (over cached tiles only without ``authorize_stale``). ``gate`` is held around
        each source request only (not the image work): the seeder bounds the requests
        in flight with it."""
        if not self.sources:
            raise TileError(f"cache '{self.name}' has no sources to create tiles from", 404)
        with FileLock(self.lock_path(meta.main_coord), timeout=self.opts.lock_timeout):
            result = self._render_meta(meta, gate)
            if not result.cacheable:
                raise result.failure or SourceError("the source answered with an image that must not be cached")
            keep = [t for t in result.tiles if coords is None or t.coord in coords]
            if result.failure is not None and result.authorize_stale:
                keep = [t for t in keep if not self.store.is_cached(t.coord)]
            self.store.store_many(keep)
        return keep

    def _lock_timeout_outcome(self, coord: TileCoord, job: _Job) -> TileOutcome:
        if coord in job.stale:
            return TileOutcome(job.stale[coord], HIT_STALE, stale=True)
        error = TileError("timed out waiting for another request to create this tile", 503, "lock-timeout")
        return TileOutcome(Tile(coord), forwarded(False, detail="lock-timeout"), error=error)

    def _build_meta_locked(self, meta: MetaTile, job: _Job) -> dict[TileCoord, TileOutcome]:
        current: dict[TileCoord, Tile] = {}
        covered = [c for c in meta.coords if self.store.covers(c)]
        for coord in covered:
            tile = Tile(coord)
            if self.store.load(tile):
                current[coord] = tile
        if all(c in current and not is_older(current[c].timestamp, job.cutoff) for c in covered):
            # built by another request while we waited for the lock
            return {c: TileOutcome(t, forwarded(c in job.stale, collapsed=True)) for c, t in current.items()}
        if self.renderd is not None:
            return self._build_by_renderd(meta, job, current)
        main = meta.main_coord
        failed = self._failures.get(main)
        if failed is not None and failed[0] >= job.started:
            # the build we waited for failed: share its answer instead of asking again
            result: _Rendered | SourceError = failed[1]
        else:
            try:
                result = self._render_meta(meta)
            except SourceError as ex:
                log.warning("cache %s: meta tile %s: %s", self.name, main, ex)
                result = ex
            if isinstance(result, SourceError) or result.failure is not None or not result.cacheable:
                self._remember_failure(main, result)
        if isinstance(result, SourceError):
            return self._failed_outcomes(meta, job, current, result)
        if result.failure is not None or not result.cacheable:
            return self._stand_in_outcomes(job, current, result)
        self._failures.pop(main, None)
        stored = self._store(result.tiles)
        return {t.coord: TileOutcome(t, forwarded(t.coord in job.stale, stored=stored)) for t in result.tiles}

    @property
    def renderd_identifier(self) -> str:
        """The cache's name for renderd: ``<cache>_<grid>``, as the server's configuration names it."""
        return f"{self.name}_{self.grid.name}"

    def _build_by_renderd(self, meta: MetaTile, job: _Job, current: dict[TileCoord, Tile]) -> dict[TileCoord, TileOutcome]:
        """Have the renderd server create ``meta`` and read its tiles back from the store."""
        assert self.renderd is not None
        try:
            self.renderd.create(self.renderd_identifier, meta.main_coord)
        except LockTimeout as ex:
            log.warning("cache %s: meta tile %s: %s", self.name, meta.main_coord, ex)
            return {c: self._lock_timeout_outcome(c, job) for c in meta.coords}
        except SourceError as ex:
            return self._failed_outcomes(meta, job, current, ex)
        outcomes = {}
        for coord in meta.coords:
            tile = Tile(coord)
            if self.store.load(tile):
                outcomes[coord] = TileOutcome(tile, forwarded(coord in job.stale))
            elif coord in current:
                outcomes[coord] = self._kept(current[coord], job, None)
            else:
                error = SourceError(f"renderd reported success, but tile {coord} is not in the cache")
                outcomes[coord] = TileOutcome(tile, forwarded(False, detail="source-error"), error=error)
        return outcomes

    def _build_unstored(self, meta: MetaTile) -> dict[TileCoord, TileOutcome]:
        """``disable_storage``: every request goes to the sources."""
        try:
            result = self._render_meta(meta)
        except SourceError as ex:
            return {c: TileOutcome(Tile(c), forwarded(False, fwd_status=ex.status, detail="source-error"), error=ex)
                    for c in meta.coords}
        if result.failure is not None or not result.cacheable:
            status = forwarded(False, fwd_status=_status_of(result.failure), detail="error-tile")
            for tile in result.tiles:
                tile.timestamp = None
            return {t.coord: TileOutcome(t, status, cacheable=result.cacheable) for t in result.tiles}
        return {t.coord: TileOutcome(t, BYPASS) for t in result.tiles}

    def _remember_failure(self, main: TileCoord, result: _Rendered | SourceError) -> None:
        if len(self._failures) > 1024:
            self._failures.clear()
        self._failures[main] = (time.time(), result)

    def _kept(self, tile: Tile, job: _Job, error: SourceError | None) -> TileOutcome:
        """A cached tile that stays as it is although its refresh failed."""
        if not is_older(tile.timestamp, job.cutoff):
            return TileOutcome(tile, HIT)
        status = forwarded(True, fwd_status=_status_of(error), detail="stale-if-error")
        return TileOutcome(tile, status, stale=True)

    def _failed_outcomes(self, meta: MetaTile, job: _Job, current: dict[TileCoord, Tile],
                         error: SourceError) -> dict[TileCoord, TileOutcome]:
        """No on_error answer: cached tiles are served as they are, missing ones fail."""
        outcomes = {}
        for coord in meta.coords:
            if coord in current:
                outcomes[coord] = self._kept(current[coord], job, error)
            else:
                status = forwarded(False, fwd_status=error.status, detail="source-error")
                outcomes[coord] = TileOutcome(Tile(coord), status, error=error)
        return outcomes

    def _stand_in_outcomes(self, job: _Job, current: dict[TileCoord, Tile],
                           result: _Rendered) -> dict[TileCoord, TileOutcome]:
        """An on_error answer stood in: cached tiles stay (stale ones only with
        authorize_stale); the others get the error tile, stored only with ``cache: true``."""
        outcomes = {}
        to_store = []
        for tile in result.tiles:
            coord = tile.coord
            old = current.get(coord)
            if old is not None and (result.authorize_stale or not is_older(old.timestamp, job.cutoff)):
                outcomes[coord] = self._kept(old, job, result.failure)
                continue
            if result.cacheable:
                to_store.append(tile)
            else:
                tile.timestamp = None
                outcomes[coord] = self._error_tile(tile, job, result, stored=False)
        if to_store:
            stored = self._store(to_store)
            outcomes.update({t.coord: self._error_tile(t, job, result, stored) for t in to_store})
        return outcomes

    def _error_tile(self, tile: Tile, job: _Job, result: _Rendered, stored: bool) -> TileOutcome:
        status = forwarded(tile.coord in job.stale, fwd_status=_status_of(result.failure), stored=stored,
                           detail="error-tile")
        return TileOutcome(tile, status, cacheable=result.cacheable)

    def _store(self, tiles: list[Tile]) -> bool:
        """Store ``tiles`` (stores set the timestamp later loads report, so the first
        answer's ETag matches later hits); False when the store failed."""
        try:
            self.store.store_many(tiles)  # one transaction / one append for the meta tile
        except StoreError as ex:
            # the tiles are still served; the cache stays as it was
            log_throttled(log, logging.ERROR, f"not stored {self.lock_id}", "cache %s: tiles not stored: %s",
                          self.name, ex)
            return False
        return True

    # -- rendering -------------------------------------------------------

    def _render_meta(self, meta: MetaTile, gate: AbstractContextManager | None = None) -> _Rendered:
        try:
            return self._render_meta_tiles(meta, gate)
        except ImageDataError as ex:
            raise SourceDataError(f"source image cannot be used: {ex}") from None

    def _render_meta_tiles(self, meta: MetaTile, gate: AbstractContextManager | None) -> _Rendered:
        now = time.time()
        cacheable = True
        if self.bulk_meta_tiles:
            # tiled sources: every tile of the meta tile is fetched, in parallel
            coords = [coord for coord, _ in meta.tiles]
            parts = self._in_parallel(lambda c: self._render_tile(c, gate), coords)
            tiles = [self._tile_from(coord, result, now, self._opts_for(ans)) for coord, (result, ans) in zip(coords, parts)]
            answered = [a for _, part_answered in parts for a in part_answered]
            cacheable = all(result.cacheable for result, _ in parts)
        elif self.meta_grid.meta_size == (1, 1) and len(meta.tiles) == 1:
            coord = meta.main_coord
            result, answered = self._render_tile(coord, gate)  # rendered maps were size-checked in _bind_map
            tiles = [self._tile_from(coord, result, now, self._opts_for(answered))]
            cacheable = result.cacheable
        else:
            query = MapQuery(meta.bbox, meta.size, self.grid.srs, self.request_format, self.transparent,
                             self.query_params)
            result, answered = self._render(query, gate)
            image = _checked_size(result, meta.size).image
            opts = self._opts_for(answered)
            tiles = [self._tile_from(coord, ImageResult(image=image.crop(box)), now, opts) for coord, box in meta.tiles]
            cacheable = result.cacheable
        return _Rendered(
            tiles,
            failure=answered[0][0] if answered else None,
            cacheable=cacheable and all(answer.cache for _, answer in answered),
            authorize_stale=any(answer.authorize_stale for _, answer in answered),
        )

    def _in_parallel(self, fn: Callable, items: list) -> list:
        """``fn`` over ``items`` with up to ``concurrent_tile_creators`` threads, in order."""
        workers = min(self.opts.concurrent_tile_creators, len(items))
        if workers <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, items))

    def _opts_for(self, answered: list[_Answered]) -> ImageOptions:
        """How tiles are encoded: an on_error colour standing in for the only source
        is a plain colour, encoded without a palette (as MapProxy encodes it)."""
        if answered and len(self.sources) == 1:
            return self._plain_opts
        return self.image_opts

    @property
    def _plain_opts(self) -> ImageOptions:
        opts = self.image_opts
        return replace(opts, colors=None, format=replace(opts.format, paletted=False))

    def _tile_from(self, coord: TileCoord, result: ImageResult, now: float, opts: ImageOptions | None = None) -> Tile:
        if self.watermark is not None:
            result = ImageResult(image=self.watermark.apply(result.image, coord[0], coord[1]))
        data, mime = result.encoded(opts or self.image_opts)
        tile = Tile(coord, data=data, timestamp=now, mime=mime)
        if self.opts.link_single_color_images and self.format.is_image:
            tile.single_color = is_single_color(result.image)
        return tile

    def _render_tile(self, coord: TileCoord, gate: AbstractContextManager | None) -> tuple[ImageResult, list[_Answered]]:
        """One tile from the sources; tiles of a matching tiled source pass through as they are."""
        results, answered = [], []
        size = self.grid.tile_size
        many = len(self.sources) > 1
        for source in self.sources:
            fetch: Callable[[], ImageResult] | None = None
            if isinstance(source, TiledSource):
                src_coord = self.grid.map_tile_to(source.grid, coord)
                if src_coord is not None and source.grid.is_valid(src_coord):
                    fetch = _bind_tile(source, src_coord, self.request_format)
            if fetch is None:
                query = MapQuery(self.grid.tile_bbox(coord), size, self.grid.srs, self.request_format,
                                 self.transparent, self.query_params)
                fetch = _bind_map(source, query)
            result, answer = self._from_source(source, fetch, size, decode=many, gate=gate)
            results.append(result)
            if answer:
                answered.append(answer)
        return self._merge(results, size), answered

    def _render(self, query: MapQuery, gate: AbstractContextManager | None) -> tuple[ImageResult, list[_Answered]]:
        results, answered = [], []
        for source in self.sources:
            result, answer = self._from_source(source, _bind_map(source, query), query.size, decode=True, gate=gate)
            results.append(result)
            if answer:
                answered.append(answer)
        return self._merge(results, query.size), answered

    def _from_source(self, source: Source, fetch: Callable[[], ImageResult], size: tuple[int, int],
                     decode: bool, gate: AbstractContextManager | None = None) -> tuple[ImageResult, _Answered | None]:
        """The source's image, or its on_error stand-in; other errors propagate."""
        try:
            with gate or nullcontext():
                result = fetch()
            if decode or (self.format.mime != "mixed" and result.mime != self.format.mime):
                result.image  # noqa: B018  (decode here, so bad data counts as this source's error)
            return result, None
        except (SourceError, ImageDataError) as ex:
            error = ex if isinstance(ex, SourceError) else SourceDataError(f"source '{source.name}' returned unusable image data: {ex}")
            answered = source.stand_in(error, size)
            if answered is None:
                raise error from None
            log.warning("cache %s: source %s: %s (answered by on_error)", self.name, source.name, error)
            return answered[0], (error, answered[1])

    def _merge(self, results: list[ImageResult], size: tuple[int, int]) -> ImageResult:
        if len(results) == 1:
            return results[0]
        try:
            merged = ImageResult(image=merge_images([r.image for r in results], size))
        except ValueError as ex:
            raise SourceError(f"cannot merge source images: {ex}") from None
        merged.cacheable = all(r.cacheable for r in results)
        return merged


def _checked_size(result: ImageResult, size: tuple[int, int]) -> ImageResult:
    """A rendered map must have the size asked for: anything else would be stored as
    shifted, padded or wrongly sized tiles. (Tiles passed through from a tile source
    or another cache are stored as they are, as MapProxy does.)"""
    if result.size != tuple(size):
        raise SourceError(f"source image is {result.size[0]}x{result.size[1]} pixels, expected {size[0]}x{size[1]}")
    return result


def _status_of(error: SourceError | None) -> int | None:
    return error.status if error is not None else None


def _bind_tile(source: TiledSource, coord: TileCoord, fmt: ImageFormat) -> Callable[[], ImageResult]:
    return lambda: source.get_tile(coord, fmt)


def _bind_map(source: Source, query: MapQuery) -> Callable[[], ImageResult]:
    return lambda: _checked_size(source.get_map(query), query.size)
