"""The tile manager: serve cached tiles, create missing ones once (meta tiles and
locks), and store them."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .grid import MetaGrid, MetaTile, TileCoord, TileGrid
from .image.codec import ImageDataError, is_single_color
from .image.formats import ImageFormat, ImageOptions
from .image.result import ImageResult
from .image.transform import merge_images
from .locks import FileLock, LockTimeout
from .sources.base import MapQuery, Source, SourceError, TiledSource
from .stores.base import StoreError, Tile, TileStore

log = logging.getLogger("tileproxy.tiles")


class TileError(Exception):
    """A tile that cannot be served; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 500):
        super().__init__(message)
        self.status = status


@dataclass
class TileManagerOptions:
    meta_size: tuple[int, int] = (4, 4)
    meta_buffer: int = 80
    minimize_meta_requests: bool = False
    concurrent_tile_creators: int = 2
    disable_storage: bool = False
    link_single_color_images: bool = False
    lock_timeout: float = 60.0


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
        meta_size = self.opts.meta_size if use_meta else (1, 1)
        meta_buffer = self.opts.meta_buffer if use_meta else 0
        self.meta_grid = MetaGrid(grid, meta_size, meta_buffer)
        self.transparent = any(s.transparent for s in self.sources) or bool(image_opts.transparent)

    # -- serving ---------------------------------------------------------

    def load_tile(self, coord: TileCoord) -> Tile:
        """The tile at ``coord``, from the store or freshly created."""
        return self.load_tiles([coord])[0]

    def load_tiles(self, coords: Sequence[TileCoord]) -> list[Tile]:
        for coord in coords:
            if not self.grid.is_valid(coord):
                raise TileError(f"tile {coord} is outside the grid", 404)
            if not self.store.covers(coord):
                raise TileError(f"tile {coord} is outside the cache coverage", 404)
        tiles = {c: Tile(c) for c in coords}
        if not self.opts.disable_storage:
            missing = [c for c, t in tiles.items() if not self.store.load(t)]
        else:
            missing = list(tiles)
        if missing:
            if not self.sources:
                raise TileError("tile not cached and the cache has no sources", 404)
            for tile in self._create(missing):
                if tile.coord in tiles:
                    tiles[tile.coord] = tile
        return [tiles[c] for c in coords]

    def is_cached(self, coord: TileCoord) -> bool:
        return self.store.is_cached(coord)

    # -- creating --------------------------------------------------------

    def _create(self, coords: Sequence[TileCoord]) -> list[Tile]:
        if self.opts.minimize_meta_requests and len(coords) > 1 and self.meta_grid.meta_size != (1, 1):
            metas = [self.meta_grid.minimal_meta_tile(list(coords))]
        else:
            seen: dict[TileCoord, MetaTile] = {}
            for c in coords:
                main = self.meta_grid.main_coord(c)
                if main not in seen:
                    seen[main] = self.meta_grid.meta_tile(c)
            metas = list(seen.values())
        if len(metas) == 1 or self.opts.concurrent_tile_creators <= 1:
            return [t for m in metas for t in self._create_meta_locked(m)]
        workers = min(self.opts.concurrent_tile_creators, len(metas))
        with ThreadPoolExecutor(workers) as pool:
            return [t for ts in pool.map(self._create_meta_locked, metas) for t in ts]

    def lock_path(self, coord: TileCoord) -> str:
        x, y, z = coord
        return os.path.join(self.lock_dir, f"{self.lock_id}-{x}-{y}-{z}.lck")

    def _create_meta_locked(self, meta: MetaTile) -> list[Tile]:
        if self.opts.disable_storage:
            return self._create_meta(meta)
        lock = FileLock(self.lock_path(meta.main_coord), timeout=self.opts.lock_timeout)
        try:
            lock.acquire()
        except LockTimeout:
            raise TileError("timed out waiting for another request to create this tile", 503) from None
        try:
            # another request may have created the tiles while we waited
            done = [Tile(c) for c in meta.coords]
            if all(self.store.load(t) for t in done):
                return done
            tiles = self._create_meta(meta)
            try:
                self.store.store_many(tiles)  # one transaction / one append for the meta tile
            except StoreError as ex:
                # the tiles are still served; the cache stays as it was
                log.error("cache %s: tiles not stored: %s", self.name, ex)
            return tiles
        finally:
            lock.release()

    def refresh_meta(self, meta: MetaTile, coords: Collection[TileCoord] | None = None) -> list[Tile]:
        """Render ``meta`` from the sources and store its tiles (only ``coords`` when
        given), replacing cached ones, under the tile lock that serving uses. Used by
        seeding. A source error propagates before anything is written, so cached
        tiles stay as they were; ``LockTimeout`` propagates too."""
        if not self.sources:
            raise TileError(f"cache '{self.name}' has no sources to create tiles from", 404)
        with FileLock(self.lock_path(meta.main_coord), timeout=self.opts.lock_timeout):
            tiles = self._create_meta(meta)
            keep = [t for t in tiles if coords is None or t.coord in coords]
            self.store.store_many(keep)
        return keep

    def _create_meta(self, meta: MetaTile) -> list[Tile]:
        try:
            return self._render_meta(meta)
        except ImageDataError as ex:
            raise SourceError(f"source image cannot be used: {ex}") from None

    def _render_meta(self, meta: MetaTile) -> list[Tile]:
        now = time.time()
        if self.meta_grid.meta_size == (1, 1) and len(meta.tiles) == 1:
            coord = meta.main_coord
            result = self._render_tile(coord)
            return [self._tile_from(coord, result, now)]
        query = MapQuery(meta.bbox, meta.size, self.grid.srs, self.request_format, self.transparent)
        image = self._render(query).image
        tiles = []
        for coord, box in meta.tiles:
            tiles.append(self._tile_from(coord, ImageResult(image=image.crop(box)), now))
        return tiles

    def _tile_from(self, coord: TileCoord, result: ImageResult, now: float) -> Tile:
        data, mime = result.encoded(self.image_opts)
        tile = Tile(coord, data=data, timestamp=now, mime=mime)
        if self.opts.link_single_color_images:
            tile.single_color = is_single_color(result.image)
        return tile

    def _render_tile(self, coord: TileCoord) -> ImageResult:
        """One tile from the sources; tiles of a matching tiled source pass through as they are."""
        results = []
        for source in self.sources:
            if isinstance(source, TiledSource):
                src_coord = self.grid.map_tile_to(source.grid, coord)
                if src_coord is not None and source.grid.is_valid(src_coord):
                    results.append(source.get_tile(src_coord, self.request_format))
                    continue
            size = self.grid.tile_size
            query = MapQuery(self.grid.tile_bbox(coord), size, self.grid.srs, self.request_format, self.transparent)
            results.append(source.get_map(query))
        return self._merge(results, self.grid.tile_size)

    def _render(self, query: MapQuery) -> ImageResult:
        return self._merge([s.get_map(query) for s in self.sources], query.size)

    def _merge(self, results: list[ImageResult], size: tuple[int, int]) -> ImageResult:
        if len(results) == 1:
            return results[0]
        try:
            return ImageResult(image=merge_images([r.image for r in results], size))
        except ValueError as ex:
            raise SourceError(f"cannot merge source images: {ex}") from None
