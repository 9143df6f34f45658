"""The store protocol every cache backend implements."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..grid import TileCoord
from ..image.codec import ImageDataError, check_image_bytes

if TYPE_CHECKING:
    from ..coverage import Coverage


@dataclass
class Tile:
    """A tile as stored: encoded ``data`` plus what the store knows about it."""

    coord: TileCoord
    data: bytes | None = None
    timestamp: float | None = None  # seconds since the epoch, when stored
    mime: str | None = None
    single_color: tuple | None = None  # set by the creator when the tile has one colour


class StoreError(Exception):
    """A cache file that cannot be written or read (corrupt, read-only, locked too long).

    The message names the file; the file itself is left as it was."""


class StoreUnwritable(StoreError):
    """The store cannot write at all (disk full, file size limit, read-only disk, no
    permission, a file where a directory should be): trying again will not help."""


# what an OSError says when writing cannot work, whatever is retried
_UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
               errno.ENOTDIR, errno.EEXIST}


def write_error(path: str, ex: OSError) -> StoreError:
    """The StoreError for an OSError while writing ``path``."""
    kind = StoreUnwritable if ex.errno in _UNWRITABLE else StoreError
    return kind(f"cannot write {path}: {ex.strerror or ex}")


class TileStore:
    """The store protocol: all that the tile manager, seeding, the services and the
    command line ask of a cache backend (DESIGN.md, "Store protocol").

    Backends override the single-tile methods and, where they can do better, the
    bulk forms (which default to loops). A wrapper (CoveredStore) answers for the
    backend it wraps, which ``inner`` names."""

    readonly: bool = False  # a cache without sources: never written, no write locks
    supports_timestamps: bool = True  # False: every tile counts as fresh (refresh_before cannot apply)
    lock_id: str = ""  # names the tile locks of this store (a path for file-based stores)
    can_list: bool = False  # True when iter_coords works
    coverage: Coverage | None = None  # cache.coverage as configured (in its own SRS); None: everywhere

    @property
    def inner(self) -> TileStore:
        """The backend that holds the tiles: this store, or the one a wrapper wraps."""
        return self

    def write_dir(self) -> str | None:
        """The directory the store writes its files into (``tileproxy check`` tries it);
        None for stores without files."""
        return None

    def covers(self, coord: TileCoord) -> bool:
        """False for tiles outside the cache coverage: they are neither stored nor served."""
        return True

    def iter_coords(self, level: int) -> Iterator[TileCoord]:
        """The coordinates of the tiles cached at ``level`` (stores with ``can_list``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its tiles")

    def iter_coords_within(self, level: int, tiles: tuple[int, int, int, int]) -> Iterator[TileCoord]:
        """The cached tiles of ``level`` in the inclusive tile range x0, y0, x1, y1.
        Stores whose keys order by place override it to skip what lies outside."""
        x0, y0, x1, y1 = tiles
        return (c for c in self.iter_coords(level) if x0 <= c[0] <= x1 and y0 <= c[1] <= y1)

    def remove_level(self, level: int) -> bool:
        """Remove every tile of ``level`` at once; False when the store cannot."""
        return False

    def for_dimensions(self, values: tuple[tuple[str, str], ...]) -> TileStore | None:
        """The store for the tiles of one set of layer dimension values (TIME, ...);
        None when this backend keeps no dimensions."""
        return None

    def load(self, tile: Tile) -> bool:
        """Fill ``tile.data`` and ``tile.timestamp``; False when not cached."""
        raise NotImplementedError

    def store(self, tile: Tile) -> None:
        raise NotImplementedError

    def remove(self, coord: TileCoord) -> None:
        raise NotImplementedError

    def is_cached(self, coord: TileCoord) -> bool:
        return self.timestamp(coord) is not None

    def timestamp(self, coord: TileCoord) -> float | None:
        tile = Tile(coord)
        return tile.timestamp if self.load(tile) else None

    def timestamps_many(self, coords: Iterable[TileCoord]) -> list[float | None]:
        """``timestamp`` of each coord, in order (one round trip where the store can)."""
        return [self.timestamp(c) for c in coords]

    def cached_many(self, coords: Iterable[TileCoord]) -> list[bool]:
        """``is_cached`` of each coord, in order (one round trip where the store can)."""
        return [self.is_cached(c) for c in coords]

    def load_many(self, tiles: Iterable[Tile]) -> list[Tile]:
        """Load each tile; returns those that were found."""
        return [t for t in tiles if self.load(t)]

    def store_many(self, tiles: Iterable[Tile]) -> None:
        for tile in tiles:
            self.store(tile)

    def remove_many(self, coords: Iterable[TileCoord]) -> None:
        for coord in coords:
            self.remove(coord)

    def backdate_many(self, coords: Iterable[TileCoord], when: float) -> bool:
        """Set the stored time of the cached ``coords`` to ``when`` (so that
        refresh_before finds them stale); False when the store keeps no tile times."""
        return False


def file_dir(filename: str) -> str:
    """The directory a single-file store (MBTiles, GeoPackage) writes into."""
    return os.path.dirname(os.path.abspath(filename))


def usable_tile_data(data: object, check_images: bool) -> bool:
    """False for stored blobs that cannot be served (empty, or not a whole image when
    the cache holds images); such tiles count as not cached and are fetched again."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        return False
    if not check_images:
        return True
    try:
        check_image_bytes(bytes(data))
    except ImageDataError:
        return False
    return True


_LAST_WARNING: dict[str, float] = {}


def log_throttled(logger: logging.Logger, level: int, key: str, message: str, *args: object) -> None:
    """Log about ``key`` (a file, a cache) at most once a minute, not once per request."""
    import time

    now = time.monotonic()
    if now - _LAST_WARNING.get(key, -1e9) > 60:
        if len(_LAST_WARNING) > 4096:
            _LAST_WARNING.clear()
        _LAST_WARNING[key] = now
        logger.log(level, message, *args)


def warn_throttled(logger: logging.Logger, key: str, message: str, *args: object) -> None:
    log_throttled(logger, logging.WARNING, key, message, *args)
