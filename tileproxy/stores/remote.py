"""What the object-store backends (S3, Azure Blob) share: MapProxy's key layout
below a directory, a client made once per process (gunicorn forks after loading
the configuration), and a thread pool for the bulk forms, so that the tiles of a
meta tile travel in parallel, not one round trip after the other."""

from __future__ import annotations

import os
import posixpath
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from ..grid import TileCoord
from .base import StoreError, Tile, TileStore
from .layouts import LAYOUTS, level_dir, parse_tile_path

T = TypeVar("T")
R = TypeVar("R")

CONCURRENCY = 16  # requests in flight for one bulk call

MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "gif": "image/gif",
              "tiff": "image/tiff", "webp": "image/webp", "mvt": "application/vnd.mapbox-vector-tile",
              "pbf": "application/x-protobuf", "geojson": "application/geo+json", "json": "application/json"}


class PerProcess(Generic[T]):
    """A value made on first use in each process (clients and pools hold sockets and
    threads, which a fork does not carry over)."""

    def __init__(self, make: Callable[[], T]):
        self._make = make
        self._lock = threading.Lock()
        self._pid = -1
        self._value: T | None = None

    def get(self) -> T:
        value = self._value
        if value is not None and self._pid == os.getpid():
            return value
        with self._lock:
            if self._value is None or self._pid != os.getpid():
                self._value = self._make()
                self._pid = os.getpid()
            return self._value


class KeyLayout:
    """Object keys as MapProxy writes them: the file layout's path below
    ``directory``, without a leading ``/`` (``osm/EPSG3857/3/4/2.png`` in ``tms``)."""

    def __init__(self, directory: str, layout: str, ext: str):
        if layout not in LAYOUTS:
            raise ValueError(f"unknown directory_layout '{layout}' (known: {', '.join(LAYOUTS)})")
        self.directory = directory
        self.layout = layout
        self.ext = ext
        self.prefix = posixpath.join(directory, "").lstrip("/")  # '' or 'dir/'
        self._format = LAYOUTS[layout]
        self._suffix = "." + ext

    def key(self, coord: TileCoord) -> str:
        x, y, z = coord
        return f"{self.prefix}{self._format(x, y, z)}{self._suffix}"

    def level_prefix(self, level: int) -> str:
        """The key prefix that holds every tile of ``level`` (all tiles for layouts
        that mix levels)."""
        sub = level_dir(self.layout, level)
        return f"{self.prefix}{sub}/" if sub is not None else self.prefix

    def coord(self, key: str, level: int) -> TileCoord | None:
        """The tile of ``key`` when it is a tile of ``level`` in this layout."""
        if not key.startswith(self.prefix):
            return None
        coord = parse_tile_path(self.layout, key[len(self.prefix):], self.ext)
        return coord if coord is not None and coord[2] == level else None


def mime_type(ext: str) -> str:
    return MIME_TYPES.get(ext, "application/octet-stream")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Parallel:
    """Run one call per item on a pool of threads made per process."""

    def __init__(self, name: str, workers: int = CONCURRENCY):
        self._pool = PerProcess(lambda: ThreadPoolExecutor(workers, thread_name_prefix=name))

    def map(self, func: Callable[[T], R], items: list[T]) -> list[R]:
        if len(items) <= 1:
            return [func(item) for item in items]
        return list(self._pool.get().map(func, items))


def marked_time(stored: float | None, marked: str | None) -> float | None:
    """A tile's time: the object's own ``stored`` time, or the earlier time invalidation
    ``marked`` in its metadata (neither service lets a client set the stored time)."""
    if marked is not None:
        try:
            return min(float(marked), stored) if stored is not None else float(marked)
        except ValueError:
            pass
    return stored


class ObjectStore(TileStore):
    """An object store's cache (S3, Azure Blob): one object per tile at ``keys``. The
    bulk forms run the single ones ``_parallel``; a subclass gives ``load``,
    ``timestamp``, ``store``, ``_delete_keys`` (in batches), ``_mark`` (a stale time
    in the object's metadata), ``_list_keys`` and ``where`` (for messages)."""

    can_list = True
    keys: KeyLayout
    where: str  # "s3 bucket NAME", "azure container NAME"
    _parallel: Parallel

    def load_many(self, tiles: Iterable[Tile]) -> list[Tile]:
        tiles = list(tiles)
        found = self._parallel.map(self.load, tiles)
        return [t for t, ok in zip(tiles, found) if ok]

    def timestamps_many(self, coords: Iterable[TileCoord]) -> list[float | None]:
        return self._parallel.map(self.timestamp, list(coords))

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"cache in {self.where} is read-only (it has no sources)")

    def store_many(self, tiles: Iterable[Tile]) -> None:
        self._writable()
        self._parallel.map(self.store, list(tiles))

    def remove(self, coord: TileCoord) -> None:
        self.remove_many([coord])

    def remove_many(self, coords: Iterable[TileCoord]) -> None:
        self._writable()
        self._delete_keys(self.keys.key(c) for c in coords)

    def _delete_keys(self, keys: Iterable[str]) -> None:
        raise NotImplementedError

    def backdate_many(self, coords: Iterable[TileCoord], when: float) -> bool:
        """Mark the tiles with an earlier time, in their metadata (neither service lets
        a client set the stored time)."""
        self._writable()
        self._parallel.map(lambda coord: self._mark(self.keys.key(coord), when), list(coords))
        return True

    def _mark(self, key: str, when: float) -> None:
        raise NotImplementedError

    def _list_keys(self, prefix: str) -> Iterator[str]:
        raise NotImplementedError

    def iter_coords(self, level: int) -> Iterator[TileCoord]:
        for key in self._list_keys(self.keys.level_prefix(level)):
            coord = self.keys.coord(key, level)
            if coord is not None:
                yield coord

    def remove_level(self, level: int) -> bool:
        self._writable()
        self._delete_keys(self.keys.key(c) for c in self.iter_coords(level))
        return True
