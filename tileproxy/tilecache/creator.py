"""Creating the tiles of one cache: meta tiles rendered from the sources (merged
when there are several, cut into tiles, watermarked, encoded) and stored under
the tile lock, after a second look at the store (another thread or process may
have built them while we waited); or built by renderd. Failed builds become the
outcomes ``outcomes`` describes. Seeding refreshes meta tiles through
``refresh_meta``, under the same locks."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

from .. import metrics
from ..access_log import carried
from ..grid import MetaGrid, MetaTile, TileCoord, TileGrid
from ..image.codec import ImageDataError, is_single_color
from ..image.formats import ImageFormat, ImageOptions
from ..image.meta_split import split_meta
from ..image.result import ImageResult
from ..image.transform import merge_images
from ..image.watermark import Watermark
from ..renderd import RenderdClient
from ..sources.base import MapQuery, Source, SourceDataError, SourceError, TiledSource
from ..stores.base import StoreError, Tile, TileStore, log_throttled
from .cache_status import forwarded
from .freshness import is_older
from .locks import FileLocks, LockMaker, LockTimeout
from .options import TileManagerOptions
from .outcomes import (
    Answered,
    Failures,
    Job,
    Rendered,
    TileError,
    TileOutcome,
    build_failed,
    kept_tile,
    lock_timed_out,
    nothing_drawn,
    stood_in,
    unstored_tiles,
)
from .unstored import UnstoredTile

log = logging.getLogger("tileproxy.tiles")  # (the name docs/deployment.md gives)


class TileCreator:
    """Builds the tiles of one cache in one grid from its sources."""

    def __init__(
        self,
        name: str,
        grid: TileGrid,
        meta_grid: MetaGrid,
        store: TileStore,
        sources: Sequence[Source],
        image_opts: ImageOptions,
        request_format: ImageFormat,
        opts: TileManagerOptions,
        locks: LockMaker | str,
        lock_id: str,
        bulk_meta_tiles: bool,
        transparent: bool,
        watermark: Watermark | None = None,
        renderd: RenderdClient | None = None,
        query_params: tuple[tuple[str, str], ...] = (),
    ):
        self.name = name
        self.grid = grid
        self.meta_grid = meta_grid
        self.store = store
        self.sources = list(sources)
        self.image_opts = image_opts
        self.format = image_opts.format
        self.request_format = request_format
        self.opts = opts
        # the meta tile locks (a lock directory: file locks there)
        self.locks: LockMaker = FileLocks(locks) if isinstance(locks, str) else locks
        self.lock_dir: str = getattr(self.locks, "lock_dir", "")
        self.lock_id = lock_id
        self.bulk_meta_tiles = bulk_meta_tiles  # tiled sources fill whole meta tiles, one request per tile
        self.transparent = transparent
        self.watermark = watermark  # burned into new tiles before they are stored
        self.renderd = renderd  # set: an external renderd server creates the tiles
        self.query_params = query_params  # dimension values sent to the sources
        self._failures = Failures()

    def create(self, coords: Sequence[TileCoord], job: Job) -> dict[TileCoord, TileOutcome]:
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
                outcomes.update(self.build_meta(meta, job))
            return outcomes
        workers = min(self.opts.concurrent_tile_creators, len(metas))
        with ThreadPoolExecutor(workers) as pool:
            for part in pool.map(carried(lambda m: self.build_meta(m, job)), metas):
                outcomes.update(part)
        return outcomes

    def lock_name(self, coord: TileCoord) -> str:
        x, y, z = coord
        return f"{self.lock_id}-{x}-{y}-{z}"

    def lock_path(self, coord: TileCoord) -> str:
        """The file of the meta tile's lock with file locks (and as Redis' fallback)."""
        return os.path.join(self.lock_dir, f"{self.lock_name(coord)}.lck")

    def build_meta(self, meta: MetaTile, job: Job) -> dict[TileCoord, TileOutcome]:
        """Outcomes for every tile of ``meta``: built, refreshed, kept or failed."""
        if not any(s.delivers(meta.bbox, meta.size, self.grid.srs) for s in self.sources):
            return nothing_drawn(meta.coords, job)
        if self.opts.disable_storage:
            return self._build_unstored(meta)
        lock = self.locks.lock(self.lock_name(meta.main_coord), self.opts.lock_timeout)
        recorder = metrics.active
        waited = time.monotonic() if recorder is not None else 0.0
        try:
            lock.acquire()
        except LockTimeout:
            if recorder is not None:
                recorder.lock_wait(self.name, time.monotonic() - waited, timed_out=True)
            log.warning("cache %s: timed out waiting for the lock of meta tile %s", self.name, meta.main_coord)
            return {c: lock_timed_out(c, job) for c in meta.coords}
        if recorder is not None:
            recorder.lock_wait(self.name, time.monotonic() - waited)
        try:
            return self._build_meta_locked(meta, job)
        finally:
            lock.release()

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
        with self.locks.lock(self.lock_name(meta.main_coord), self.opts.lock_timeout):
            result = self._render_meta(meta, gate)
            if not result.cacheable:
                raise result.failure or SourceError("the source answered with an image that must not be cached")
            keep = [t for t in result.tiles if coords is None or t.coord in coords]
            if result.failure is not None and result.authorize_stale:
                cached = self.store.cached_many([t.coord for t in keep])
                keep = [t for t, hit in zip(keep, cached) if not hit]
            self.store.store_many(keep)
        return keep

    def _build_meta_locked(self, meta: MetaTile, job: Job) -> dict[TileCoord, TileOutcome]:
        covered = [c for c in meta.coords if self.store.covers(c)]
        # one bulk load for the meta tile (one round trip, or parallel ones, on remote stores)
        current: dict[TileCoord, Tile] = {t.coord: t for t in self.store.load_many([Tile(c) for c in covered])}
        if all(c in current and not is_older(current[c].timestamp, job.cutoff) for c in covered):
            # built by another request while we waited for the lock
            return {c: TileOutcome(t, forwarded(c in job.stale, collapsed=True)) for c, t in current.items()}
        if self.renderd is not None:
            return self._build_by_renderd(meta, job, current)
        main = meta.main_coord
        shared = self._failures.since(main, job.started)
        if shared is not None:
            # the build we waited for failed: share its answer instead of asking again
            result: Rendered | SourceError = shared
        else:
            try:
                result = self._render_meta(meta)
            except SourceError as ex:
                log.warning("cache %s: meta tile %s: %s", self.name, main, ex)
                result = ex
            if isinstance(result, SourceError) or result.failed:
                self._failures.remember(main, result)
        if isinstance(result, SourceError):
            return build_failed(meta.coords, job, current, result)
        if result.failed:
            return stood_in(job, current, result, self._store)
        self._failures.forget(main)
        stored = self._store(result.tiles)
        return {t.coord: TileOutcome(t, forwarded(t.coord in job.stale, stored=stored)) for t in result.tiles}

    @property
    def renderd_identifier(self) -> str:
        """The cache's name for renderd: ``<cache>_<grid>``, as the server's configuration names it."""
        return f"{self.name}_{self.grid.name}"

    def _build_by_renderd(self, meta: MetaTile, job: Job, current: dict[TileCoord, Tile]) -> dict[TileCoord, TileOutcome]:
        """Have the renderd server create ``meta`` and read its tiles back from the store."""
        assert self.renderd is not None
        try:
            self.renderd.create(self.renderd_identifier, meta.main_coord)
        except LockTimeout as ex:
            log.warning("cache %s: meta tile %s: %s", self.name, meta.main_coord, ex)
            return {c: lock_timed_out(c, job) for c in meta.coords}
        except SourceError as ex:
            return build_failed(meta.coords, job, current, ex)
        outcomes = {}
        for coord in meta.coords:
            tile = Tile(coord)
            if self.store.load(tile):
                outcomes[coord] = TileOutcome(tile, forwarded(coord in job.stale))
            elif coord in current:
                outcomes[coord] = kept_tile(current[coord], job, None)
            else:
                error = SourceError(f"renderd reported success, but tile {coord} is not in the cache")
                outcomes[coord] = TileOutcome(tile, forwarded(False, detail="source-error"), error=error)
        return outcomes

    def _build_unstored(self, meta: MetaTile) -> dict[TileCoord, TileOutcome]:
        """``disable_storage``: every request goes to the sources."""
        try:
            result: Rendered | SourceError = self._render_meta(meta)
        except SourceError as ex:
            result = ex
        return unstored_tiles(meta.coords, result)

    def _store(self, tiles: list[Tile]) -> bool:
        """Store ``tiles`` (stores set the timestamp later loads report, so the first
        answer's ETag matches later hits); False when the store failed."""
        try:
            self.store.store_many(tiles)  # one transaction / one append for the meta tile
            if metrics.active is not None:
                metrics.active.stored(self.name, len(tiles), sum(len(t.data or b"") for t in tiles))
        except StoreError as ex:
            # the tiles are still served; the cache stays as it was
            log_throttled(log, logging.ERROR, f"not stored {self.lock_id}", "cache %s: tiles not stored: %s",
                          self.name, ex)
            return False
        return True

    def _render_meta(self, meta: MetaTile, gate: AbstractContextManager | None = None) -> Rendered:
        try:
            return self._render_meta_tiles(meta, gate)
        except ImageDataError as ex:
            raise SourceDataError(f"source image cannot be used: {ex}") from None

    def _render_meta_tiles(self, meta: MetaTile, gate: AbstractContextManager | None) -> Rendered:
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
            boxes = [box for _, box in meta.tiles]
            # watermarks are drawn on the tiles' pixels before they are encoded, and
            # single-colour links are named by the RGB(A) colour of the tile as cut
            plain = self.watermark is not None or self.opts.link_single_color_images
            parts = ([ImageResult(image=image.crop(box)) for box in boxes] if plain
                     else split_meta(image, boxes, opts))
            tiles = [self._tile_from(coord, part, now, opts) for (coord, _), part in zip(meta.tiles, parts)]
            cacheable = result.cacheable
        return Rendered(
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
            return list(pool.map(carried(fn), items))

    def _opts_for(self, answered: list[Answered]) -> ImageOptions:
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
        if self.opts.disable_storage:
            return UnstoredTile(coord, result, opts or self.image_opts, now)
        data, mime = result.encoded(opts or self.image_opts)
        tile = Tile(coord, data=data, timestamp=now, mime=mime)
        if self.opts.link_single_color_images and self.format.is_image:
            tile.single_color = is_single_color(result.image)
        return tile

    def _render_tile(self, coord: TileCoord, gate: AbstractContextManager | None) -> tuple[ImageResult, list[Answered]]:
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

    def _render(self, query: MapQuery, gate: AbstractContextManager | None) -> tuple[ImageResult, list[Answered]]:
        results, answered = [], []
        for source in self.sources:
            result, answer = self._from_source(source, _bind_map(source, query), query.size, decode=True, gate=gate)
            results.append(result)
            if answer:
                answered.append(answer)
        return self._merge(results, query.size), answered

    def _from_source(self, source: Source, fetch: Callable[[], ImageResult], size: tuple[int, int],
                     decode: bool, gate: AbstractContextManager | None = None) -> tuple[ImageResult, Answered | None]:
        """The source's image, or its on_error stand-in; other errors propagate."""
        recorder = metrics.active
        try:
            with gate or nullcontext():
                started = time.monotonic()
                try:
                    result = fetch()
                except SourceError:
                    if recorder is not None:
                        recorder.source(source.name, time.monotonic() - started, failed=True)
                    raise
                if recorder is not None:
                    recorder.source(source.name, time.monotonic() - started, failed=False)
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


def _bind_tile(source: TiledSource, coord: TileCoord, fmt: ImageFormat) -> Callable[[], ImageResult]:
    return lambda: source.get_tile(coord, fmt)


def _bind_map(source: Source, query: MapQuery) -> Callable[[], ImageResult]:
    return lambda: _checked_size(source.get_map(query), query.size)

