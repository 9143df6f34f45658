"""The tile manager: the tiles of one cache in one grid, as services and seeding ask
for them. A request looks its tiles up once: fresh tiles are hits; missing and
stale tiles are created or refreshed by the cache's ``TileCreator`` (meta tiles
under tile locks), in background mode stale tiles are served at once and
refreshed later; missing tiles that no source draws are rescaled from other
levels where ``upscale_tiles``/``downscale_tiles`` says so. When the source fails,
cached tiles stay as they are (served stale where the configuration allows) and
missing tiles get the configured error tile (see ``outcomes``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence

from .. import metrics
from ..grid import MetaGrid, TileCoord, TileGrid
from ..image.formats import ImageFormat, ImageOptions
from ..image.watermark import Watermark
from ..renderd import RenderdClient
from ..sources.base import Source
from ..stores.base import Tile, TileStore
from .cache_status import HIT, HIT_STALE, RESCALED
from .creator import TileCreator
from .freshness import RefreshBefore, is_older
from .locks import FileLocks, LockMaker
from .options import TileManagerOptions
from .outcomes import Job, TileError, TileOutcome
from .refresh_pool import RefreshPool
from .rescale import rescaled_tile


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
        locks: LockMaker | None = None,
    ):
        self.name = name
        self.grid = grid
        self.store = store
        self.sources = list(sources)
        self.image_opts = image_opts
        self.format = image_opts.format
        self.request_format = request_format
        self.lock_dir = lock_dir
        self.locks: LockMaker = locks or FileLocks(lock_dir)  # meta tile and seed run locks
        self.lock_id = hashlib.md5(lock_id.encode()).hexdigest()
        self.opts = opts or TileManagerOptions()
        use_meta = bool(self.sources) and all(s.supports_meta_tiles for s in self.sources)
        # bulk_meta_tiles: tiled sources fill whole meta tiles, one request per tile
        bulk_meta_tiles = (self.opts.bulk_meta_tiles and bool(self.sources) and tuple(self.opts.meta_size) != (1, 1)
                           and not any(s.supports_meta_tiles for s in self.sources))
        meta_size = self.opts.meta_size if use_meta or bulk_meta_tiles else (1, 1)
        meta_buffer = self.opts.meta_buffer if use_meta else 0
        self.meta_grid = MetaGrid(grid, meta_size, meta_buffer)
        self.transparent = any(s.transparent for s in self.sources) or bool(image_opts.transparent)
        self.creator = TileCreator(name, grid, self.meta_grid, store, self.sources, image_opts, request_format,
                                   self.opts, self.locks, self.lock_id, bulk_meta_tiles, self.transparent,
                                   watermark=watermark, renderd=renderd, query_params=query_params)
        self._pool: RefreshPool | None = None
        self._pool_lock = threading.Lock()
        # stored tiles are served as they are: no refresh_before rule, storage in use
        self.plain_hits = self.opts.refresh_before is None and not self.opts.disable_storage

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
                           self.lock_dir, f"{self.lock_id}{values!r}", self.opts, watermark=self.creator.watermark,
                           query_params=values, locks=self.locks)

    @property
    def refresh_before(self) -> RefreshBefore | None:
        return self.opts.refresh_before

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
        if not self.store.load(tile):
            return None
        if metrics.active is not None:
            metrics.active.hit(self.name)
        return tile

    def fetch_tiles(self, coords: Sequence[TileCoord]) -> list[TileOutcome]:
        """Like ``load_tiles``, with each tile's Cache-Status and cacheability."""
        for coord in coords:
            if not self.grid.is_valid(coord):
                raise TileError(f"tile {coord} is outside the grid", 404)
            if not self.store.covers(coord):
                raise TileError(f"tile {coord} is outside the cache coverage", 404)
        now = time.time()
        rule = self.opts.refresh_before
        job = Job(started=now, cutoff=rule.cutoff(now) if rule else None)
        outcomes: dict[TileCoord, TileOutcome] = {}
        missing: list[TileCoord] = []
        for tile, found in self._lookup(coords):
            coord = tile.coord
            if not found:
                missing.append(coord)
            elif is_older(tile.timestamp, job.cutoff):
                job.stale[coord] = tile
            else:
                outcomes[coord] = TileOutcome(tile, HIT)
        recorder = metrics.active
        if recorder is not None:
            recorder.lookups(self.name, hits=len(outcomes), misses=len(missing))
        if missing and self.opts.rescale_tiles:
            for coord in [c for c in missing if not self._sources_deliver(c)]:
                outcomes[coord] = TileOutcome(self._rescaled(coord), RESCALED)
                missing.remove(coord)
        if missing or job.stale:
            if not self.sources:
                if missing:
                    raise TileError("tile not cached and the cache has no sources", 404, "no-source")
                outcomes.update({c: TileOutcome(t, HIT_STALE, stale=True) for c, t in job.stale.items()})
            else:
                todo = missing + [c for c in job.stale if not self._deferred(c, missing, job, outcomes)]
                if recorder is not None:
                    recorder.refreshed(self.name, "blocking", len(todo) - len(missing))
                if todo:
                    outcomes.update(self.creator.create(todo, job))
        result = []
        for coord in coords:
            outcome = outcomes[coord]
            if outcome.error is not None:
                raise outcome.error
            result.append(outcome)
        if recorder is not None:
            recorder.lookups(self.name, stale=sum(1 for o in result if o.stale))
        if rule is not None and rule.max_age is not None:
            for outcome in result:
                ts = outcome.tile.timestamp
                if outcome.cacheable and not outcome.stale and ts is not None:
                    outcome.status = outcome.status.with_ttl(int(rule.remaining(ts, now) or 0))
        return result

    def _lookup(self, coords: Sequence[TileCoord]) -> list[tuple[Tile, bool]]:
        """Each distinct coord's tile and whether the store had it: one bulk load for
        several tiles (one round trip, or parallel ones, on remote stores)."""
        tiles = [Tile(c) for c in dict.fromkeys(coords)]
        if self.opts.disable_storage:
            return [(t, False) for t in tiles]
        if len(tiles) == 1:
            return [(tiles[0], self.store.load(tiles[0]))]
        found = {id(t) for t in self.store.load_many(tiles)}
        return [(t, id(t) in found) for t in tiles]

    def is_cached(self, coord: TileCoord) -> bool:
        return self.store.is_cached(coord)

    def is_stale(self, coord: TileCoord, now: float | None = None) -> bool:
        """True when ``coord`` is cached but older than this cache's refresh_before."""
        rule = self.opts.refresh_before
        if rule is None:
            return False
        return rule.is_stale(self.store.timestamp(coord), time.time() if now is None else now)

    def _deferred(self, coord: TileCoord, missing: list[TileCoord], job: Job, outcomes: dict) -> bool:
        """In background mode, serve a stale tile now and queue its meta tile's refresh
        (unless the request builds that meta tile anyway for a missing tile)."""
        if self.opts.refresh_mode != "background":
            return False
        main = self.meta_grid.main_coord(coord)
        if any(self.meta_grid.main_coord(c) == main for c in missing):
            return False
        outcomes[coord] = TileOutcome(job.stale[coord], HIT_STALE, stale=True)
        meta = self.meta_grid.meta_tile(coord)
        self.refresh_pool.submit((self.lock_id, meta.main_coord), lambda: self.creator.build_meta(meta, job))
        if metrics.active is not None:
            metrics.active.refreshed(self.name, "background")
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

    # -- rescaling (upscale_tiles / downscale_tiles) ------------------------

    def _sources_deliver(self, coord: TileCoord) -> bool:
        grid = self.grid
        bbox = grid.tile_bbox(coord)
        return any(s.delivers(bbox, grid.tile_size, grid.srs) for s in self.sources)

    def _rescaled(self, coord: TileCoord) -> Tile:
        """The tile at ``coord`` built from the tiles of other levels."""
        store = self.store.store if self.opts.cache_rescaled_tiles and not self.opts.disable_storage else None
        return rescaled_tile(coord, self.grid, self.opts.rescale_tiles, self.image_opts, self._level_tile, store)

    def _level_tile(self, coord: TileCoord) -> Tile | None:
        """A tile of another level for rescaling: stored, or created where the sources
        draw it; None where neither (rescaled further)."""
        tile = Tile(coord)
        if not self.opts.disable_storage and self.store.load(tile) and tile.data:
            return tile
        if self.sources and self._sources_deliver(coord):
            return self.load_tile(coord)
        return None
