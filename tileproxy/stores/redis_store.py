"""The ``redis`` cache: one key per tile, ``<prefix>-<z>-<x>-<y>`` as MapProxy names
it, written with the cache's ``default_ttl`` as expiry, through redis-py.

Redis keeps no write time, so a tile's time is what its expiry tells: written
``default_ttl - remaining`` seconds ago (a key without expiry counts as old). With
``default_ttl: 0`` tiles never expire and the cache keeps no tile times. Bulk
forms are one pipeline (one round trip) each."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..grid import TileCoord
from .base import StoreError, Tile, TileStore, log_throttled, usable_tile_data
from .remote import chunks

log = logging.getLogger("tileproxy.stores")

SCAN_COUNT = 1000
DELETE_BATCH = 1000
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class RedisStore(TileStore):
    can_list = True

    def __init__(self, prefix: str, host: str = "127.0.0.1", port: int = 6379, db: int = 0, ttl: float = 3600,
                 username: str | None = None, password: str | None = None, ssl_certfile: str | None = None,
                 ssl_keyfile: str | None = None, ssl_ca_certs: str | None = None, check_images: bool = True,
                 readonly: bool = False):
        import redis

        self.prefix = prefix
        self.ttl = float(ttl or 0)
        self.supports_timestamps = self.ttl > 0
        self.check_images = check_images
        self.readonly = readonly
        self.lock_id = f"redis://{host}:{port}/{db}/{prefix}"
        ssl = bool(ssl_certfile and ssl_keyfile)  # as MapProxy: TLS with a client certificate only
        options: dict[str, Any] = {}
        if ssl:
            options = {"ssl": True, "ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile,
                       "ssl_ca_certs": ssl_ca_certs}
        # the pool reconnects after a fork and is shared by threads
        self.client = redis.Redis(host=host, port=int(port), db=int(db), username=username, password=password,
                                  socket_timeout=10, socket_connect_timeout=5, **options)
        self._errors = (redis.RedisError, OSError)

    def key(self, coord: TileCoord) -> str:
        x, y, z = coord
        return f"{self.prefix}-{z}-{x}-{y}"

    def _failed(self, what: str, ex: Exception) -> None:
        log_throttled(log, logging.WARNING, self.lock_id, "redis cache %s: cannot %s: %s", self.lock_id, what, ex)

    def _time(self, pttl: int, now: float) -> float | None:
        """The write time a key's remaining expiry (PTTL, ms) tells."""
        if pttl == -2:
            return None
        if pttl < 0 or not self.supports_timestamps:
            return 0.0 if self.supports_timestamps else None
        # whole seconds: the tile's ETag (made of its time) must not move between requests
        return float(round(now - (self.ttl - pttl / 1000.0)))

    # -- reading ----------------------------------------------------------------

    def load(self, tile: Tile) -> bool:
        return bool(self.load_many([tile]))

    def load_many(self, tiles: Iterable[Tile]) -> list[Tile]:
        tiles = list(tiles)
        if not tiles:
            return []
        try:
            if self.supports_timestamps:
                pipe = self.client.pipeline(transaction=False)
                for tile in tiles:
                    pipe.get(self.key(tile.coord))
                    pipe.pttl(self.key(tile.coord))
                answers = pipe.execute()
                values, ttls = answers[0::2], answers[1::2]
            else:
                values, ttls = self.client.mget([self.key(t.coord) for t in tiles]), [-1] * len(tiles)
        except self._errors as ex:  # unreachable: the tiles are created again
            self._failed("read", ex)
            return []
        now = time.time()
        found = []
        for tile, data, pttl in zip(tiles, values, ttls):
            if data is None or not usable_tile_data(data, self.check_images):
                continue
            tile.data = data
            tile.timestamp = self._time(pttl, now)
            found.append(tile)
        return found

    def is_cached(self, coord: TileCoord) -> bool:
        return self.cached_many([coord])[0]

    def cached_many(self, coords: Iterable[TileCoord]) -> list[bool]:
        coords = list(coords)
        try:
            pipe = self.client.pipeline(transaction=False)
            for c in coords:
                pipe.exists(self.key(c))
            return [bool(n) for n in pipe.execute()]
        except self._errors as ex:
            self._failed("read", ex)
            return [False] * len(coords)

    def timestamp(self, coord: TileCoord) -> float | None:
        return self.timestamps_many([coord])[0]

    def timestamps_many(self, coords: Iterable[TileCoord]) -> list[float | None]:
        coords = list(coords)
        if not self.supports_timestamps:
            return [None] * len(coords)
        try:
            pipe = self.client.pipeline(transaction=False)
            for c in coords:
                pipe.pttl(self.key(c))
            ttls = pipe.execute()
        except self._errors as ex:
            self._failed("read", ex)
            return [None] * len(coords)
        now = time.time()
        return [self._time(pttl, now) for pttl in ttls]

    # -- writing ----------------------------------------------------------------

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"redis cache {self.lock_id} is read-only (it has no sources)")

    def store(self, tile: Tile) -> None:
        self.store_many([tile])

    def store_many(self, tiles: Iterable[Tile]) -> None:
        self._writable()
        tiles = list(tiles)
        # written "at" a whole second, expiring exactly ttl later: loads tell that second
        written = float(int(time.time()))
        expiry = int((written + self.ttl) * 1000) if self.ttl > 0 else None
        pipe = self.client.pipeline(transaction=False)
        for tile in tiles:
            if tile.data is None:
                raise ValueError(f"tile {tile.coord} has no data to store")
            pipe.set(self.key(tile.coord), bytes(tile.data), pxat=expiry)
        try:
            pipe.execute()
        except self._errors as ex:
            raise StoreError(f"cannot write to redis cache {self.lock_id}: {ex}") from None
        for tile in tiles:
            tile.timestamp = written if self.supports_timestamps else None

    def remove(self, coord: TileCoord) -> None:
        self.remove_many([coord])

    def remove_many(self, coords: Iterable[TileCoord]) -> None:
        self._writable()
        self._delete(self.key(c) for c in coords)

    def _delete(self, keys: Iterable[str]) -> None:
        try:
            for batch in chunks(keys, DELETE_BATCH):
                self.client.delete(*batch)
        except self._errors as ex:
            raise StoreError(f"cannot delete from redis cache {self.lock_id}: {ex}") from None

    # -- listing ----------------------------------------------------------------

    def _level_keys(self, level: int) -> Iterator[tuple[str, TileCoord]]:
        head = f"{self.prefix}-{level}-"
        pattern = _GLOB_SPECIAL.sub(r"\\\1", head) + "*"
        for raw in self.client.scan_iter(match=pattern, count=SCAN_COUNT):
            key = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            parts = key[len(head):].split("-")
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                yield key, (int(parts[0]), int(parts[1]), level)

    def iter_coords(self, level: int) -> Iterator[TileCoord]:
        for _key, coord in self._level_keys(level):
            yield coord

    def remove_level(self, level: int) -> bool:
        self._writable()
        self._delete(key for key, _ in self._level_keys(level))
        return True
