"""ArcGIS compact caches, version 1 and 2: bundles of 128x128 tiles.

Layout: ``<directory>/L%02d/R%04xC%04x.bundle`` where R/C are the first row and
column of the bundle in lowercase hex; rows are the grid's own y (no flip).

- v2: one ``.bundle``: a 64-byte header, 16384 little-endian 8-byte index entries
  (``size << 40 | offset``, entry = x%128 + 128 * (y%128)), then records of a
  4-byte size and the tile bytes; the offset points at the bytes.
- v1: ``.bundlx`` holds 16384 5-byte offsets (entry = (x%128) * 128 + y%128)
  between a 16-byte header and footer; the ``.bundle`` starts with a 60-byte
  header and 16384 empty 4-byte size slots, then records; the offset points at
  the record's size.

Bundles only grow: a new tile is appended, then its index entry is switched to
it, so a reader sees the old tile or the whole new one. Writers hold an
exclusive ``flock`` on the ``.bundle`` while appending; readers take no lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from ..grid import TileCoord
from .base import StoreError, Tile, TileStore, usable_tile_data, warn_throttled, write_error
from .file import write_atomic, write_temporary

log = logging.getLogger("tileproxy.stores")

BUNDLE_DIM = 128
RECORDS = BUNDLE_DIM * BUNDLE_DIM

V2_HEADER = struct.Struct("<4I3Q6I")  # 64 bytes
V2_INDEX_START = V2_HEADER.size
V2_DATA_START = V2_INDEX_START + RECORDS * 8
V2_EMPTY = 4  # offset 4, size 0
MAX_V2_SIZE = (1 << 24) - 1
OFFSET_MASK = (1 << 40) - 1

V1_HEADER = struct.Struct("<4I3Q5I")  # 60 bytes
V1_DATA_START = V1_HEADER.size + RECORDS * 4
BUNDLX_HEADER = struct.pack("<4I", 3, 16, RECORDS, 5)
BUNDLX_FOOTER = struct.pack("<4I", 0, 16, 16, 0)
BUNDLX_SIZE = 16 + RECORDS * 5 + 16


class DamagedBundle(Exception):
    pass


def bundle_name(coord: TileCoord) -> str:
    x, y, z = coord
    return f"L{z:02d}/R{y - y % BUNDLE_DIM:04x}C{x - x % BUNDLE_DIM:04x}"


def _pread_exact(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise DamagedBundle(f"short read of {size} bytes at {offset}")
    return data


# v1 records: size prefix and tile in one read when the tile is small (most are)
_V1_FIRST_READ = 1 << 14


def _read_record(fd: int, offset: int) -> bytes | None:
    """The v1 record at ``offset`` (4-byte size, then the tile); None for size 0."""
    head = os.pread(fd, _V1_FIRST_READ, offset)
    if len(head) < 4:
        raise DamagedBundle(f"short read of 4 bytes at {offset}")
    size = int.from_bytes(head[:4], "little")
    if not size:
        return None
    if len(head) >= size + 4:
        return head[4:size + 4]
    return head[4:] + _pread_exact(fd, size + 4 - len(head), offset + len(head))


class OpenFiles:
    """Read-only descriptors of recently read files, kept open between requests: a
    read costs an fstat (is the file still linked? a defragmentation or a cleanup
    replaces or removes bundles, then it is opened again) instead of open and close.
    Callers hold ``held()`` while they look up and use descriptors, so that no
    descriptor is closed (evicted) while another thread reads from it."""

    def __init__(self, limit: int = 64):
        self.limit = limit
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()
        _ALL_OPEN_FILES.add(self)
        weakref.finalize(self, _close_all, self._fds)  # a store dropped by a reload

    def held(self) -> threading.Lock:
        return self._lock

    def fd(self, path: str, check: bool = True) -> int:
        """An open descriptor of ``path`` (within ``held()``); with ``check``, one of the
        file now at ``path``. FileNotFoundError when there is none."""
        fd = self._fds.get(path)
        if fd is not None and check and os.fstat(fd).st_nlink == 0:
            self.drop(path)
            fd = None
        if fd is None:
            fd = os.open(path, os.O_RDONLY)
            if len(self._fds) >= self.limit:
                self.drop(next(iter(self._fds)))
            self._fds[path] = fd
        return fd

    def drop(self, path: str) -> None:
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)



def _close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()


_ALL_OPEN_FILES: weakref.WeakSet[OpenFiles] = weakref.WeakSet()


def _new_locks_after_fork() -> None:
    for open_files in list(_ALL_OPEN_FILES):
        open_files._lock = threading.Lock()  # a child never inherits a held lock


os.register_at_fork(after_in_child=_new_locks_after_fork)


def _create_exclusive(path: str, content: bytes) -> None:
    """Create ``path`` with ``content`` unless it exists; never a half-written file."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = write_temporary(directory, content, 0o644)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


@contextmanager
def locked_bundle(path: str) -> Iterator[int]:
    """An fd of ``path`` opened for writing under an exclusive flock; re-opens when a
    defragmentation replaced the file while we waited."""
    while True:
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield fd
                return
        finally:
            os.close(fd)  # closing drops the flock


class _Bundle:
    """One bundle of one compact cache version; subclasses know the bytes."""

    def __init__(self, base: str, open_files: OpenFiles):
        self.base = base
        self.path = base + ".bundle"
        self.open_files = open_files  # the store's: read descriptors kept between reads

    def read(self, coord: TileCoord) -> bytes | None:
        raise NotImplementedError

    def write(self, items: list[tuple[TileCoord, bytes]]) -> None:
        raise NotImplementedError

    def clear(self, coords: list[TileCoord]) -> None:
        raise NotImplementedError

    def entries(self) -> list[tuple[int, int, int]]:
        """(index position, offset of the bytes, size) of every stored tile."""
        raise NotImplementedError

    def file_size(self) -> int:
        return os.path.getsize(self.path)

    def packed(self, tiles: list[tuple[int, bytes]]) -> dict[str, bytes]:
        raise NotImplementedError

    @contextmanager
    def _readers_excluded(self) -> Iterator[None]:
        yield

    def usage(self) -> tuple[int, int]:
        """(file size, bytes that hold no current tile) of the bundle."""
        size = self.file_size()
        live = sum(4 + n for _, _, n in self.entries())
        start = V2_DATA_START if isinstance(self, BundleV2) else V1_DATA_START
        return size, max(0, size - start - live)

    def defrag(self) -> tuple[int, int]:
        """Rewrite the bundle with its current tiles only; returns (old size, new size).

        Writers wait on the bundle lock meanwhile; readers see the old or the new file.
        (v1 readers are held off while its two files are swapped.)"""
        with locked_bundle(self.path) as fd, self._readers_excluded():
            old = os.fstat(fd).st_size
            tiles = []
            for pos, offset, size in self.entries():
                tiles.append((pos, _pread_exact(fd, size, offset)))
            contents = self.packed(tiles)
            for path, content in contents.items():
                write_atomic(path, content, 0o644)
            return old, len(contents[self.path])


class BundleV2(_Bundle):
    @staticmethod
    def position(coord: TileCoord) -> int:
        x, y, _ = coord
        return x % BUNDLE_DIM + BUNDLE_DIM * (y % BUNDLE_DIM)

    def _ensure(self) -> None:
        if not os.path.exists(self.path):
            header = V2_HEADER.pack(3, RECORDS, 0, 5, 0, V2_DATA_START, 40, 20 + RECORDS * 8, 3, 16, RECORDS, 5, RECORDS * 8)
            _create_exclusive(self.path, header + struct.pack("<Q", V2_EMPTY) * RECORDS)

    def read(self, coord: TileCoord) -> bytes | None:
        with self.open_files.held():
            try:
                fd = self.open_files.fd(self.path)
            except FileNotFoundError:
                return None
            entry = struct.unpack("<Q", _pread_exact(fd, 8, V2_INDEX_START + 8 * self.position(coord)))[0]
            offset, size = entry & OFFSET_MASK, entry >> 40
            if size == 0:
                return None
            if offset < V2_DATA_START + 4:
                raise DamagedBundle(f"index entry points into the header ({offset})")
            record = _pread_exact(fd, size + 4, offset - 4)  # the size prefix and the tile
            prefix = int.from_bytes(record[:4], "little")
            if prefix != size:
                raise DamagedBundle(f"record size {prefix} differs from the index ({size})")
            return record[4:]

    def write(self, items: list[tuple[TileCoord, bytes]]) -> None:
        self._ensure()
        with locked_bundle(self.path) as fd:
            end = os.fstat(fd).st_size
            if end < V2_DATA_START:
                raise DamagedBundle(f"only {end} bytes, shorter than its index")
            header = V2_HEADER.unpack(_pread_exact(fd, V2_HEADER.size, 0))
            max_size = header[2]
            records, entries = bytearray(), []
            for coord, data in items:
                if len(data) > MAX_V2_SIZE:
                    raise StoreError(f"tile {coord} of {len(data)} bytes is too large for a compact cache")
                offset = end + len(records) + 4
                records += struct.pack("<I", len(data)) + data
                entries.append((self.position(coord), len(data) << 40 | offset))
                max_size = max(max_size, len(data))
            os.pwrite(fd, bytes(records), end)
            for pos, value in entries:
                os.pwrite(fd, struct.pack("<Q", value), V2_INDEX_START + 8 * pos)
            new_header = V2_HEADER.pack(header[0], header[1], max_size, header[3], header[4], end + len(records), *header[6:])
            os.pwrite(fd, new_header, 0)

    def clear(self, coords: list[TileCoord]) -> None:
        if not os.path.exists(self.path):
            return
        with locked_bundle(self.path) as fd:
            for coord in coords:
                os.pwrite(fd, struct.pack("<Q", V2_EMPTY), V2_INDEX_START + 8 * self.position(coord))

    def entries(self) -> list[tuple[int, int, int]]:
        with open(self.path, "rb") as f:
            f.seek(V2_INDEX_START)
            index = f.read(RECORDS * 8)
        if len(index) != RECORDS * 8:
            raise DamagedBundle("index cut off")
        result = []
        for pos, (value,) in enumerate(struct.iter_unpack("<Q", index)):
            if value >> 40:
                result.append((pos, value & OFFSET_MASK, value >> 40))
        return result

    def packed(self, tiles: list[tuple[int, bytes]]) -> dict[str, bytes]:
        """File contents holding only ``tiles`` (index position, data), by file path."""
        index = [V2_EMPTY] * RECORDS
        data = bytearray()
        max_size = 0
        for pos, blob in tiles:
            index[pos] = len(blob) << 40 | (V2_DATA_START + len(data) + 4)
            data += struct.pack("<I", len(blob)) + blob
            max_size = max(max_size, len(blob))
        header = V2_HEADER.pack(3, RECORDS, max_size, 5, 0, V2_DATA_START + len(data), 40, 20 + RECORDS * 8, 3, 16,
                                RECORDS, 5, RECORDS * 8)
        return {self.path: header + struct.pack(f"<{RECORDS}Q", *index) + bytes(data)}


class BundleV1(_Bundle):
    def __init__(self, base: str, open_files: OpenFiles):
        super().__init__(base, open_files)
        self.index_path = base + ".bundlx"
        name = os.path.basename(base)
        self.row0, self.col0 = int(name[1:5], 16), int(name[6:10], 16)

    @staticmethod
    def position(coord: TileCoord) -> int:
        x, y, _ = coord
        return (x % BUNDLE_DIM) * BUNDLE_DIM + y % BUNDLE_DIM

    def _header(self, max_size: int, file_size: int) -> bytes:
        return V1_HEADER.pack(3, RECORDS, max_size, 5, 0, file_size, 40, 20 + RECORDS * 4,
                              self.row0, self.row0 + BUNDLE_DIM - 1, self.col0, self.col0 + BUNDLE_DIM - 1)

    def _empty_index(self) -> bytes:
        offsets = b"".join((V1_HEADER.size + 4 * i).to_bytes(5, "little") for i in range(RECORDS))
        return BUNDLX_HEADER + offsets + BUNDLX_FOOTER

    def _ensure(self) -> None:
        if not os.path.exists(self.path):
            _create_exclusive(self.path, self._header(0, V1_DATA_START) + bytes(RECORDS * 4))
        if not os.path.exists(self.index_path):
            _create_exclusive(self.index_path, self._empty_index())

    def read(self, coord: TileCoord) -> bytes | None:
        # v1 keeps index and data in two files, which a defragmentation swaps one after
        # the other: readers hold a shared lock on the index, the swap an exclusive one
        files = self.open_files
        with files.held():
            for _attempt in range(3):
                try:  # the index is checked under its lock, not before
                    ifd = files.fd(self.index_path, check=False)
                except FileNotFoundError:
                    return None
                fcntl.flock(ifd, fcntl.LOCK_SH)
                if os.fstat(ifd).st_nlink == 0:
                    files.drop(self.index_path)  # replaced (or removed) while we waited
                    continue
                try:
                    offset = int.from_bytes(_pread_exact(ifd, 5, 16 + 5 * self.position(coord)), "little")
                    if offset < V1_HEADER.size:
                        return None
                    try:
                        fd = files.fd(self.path)  # the current bundle, to go with the index
                    except FileNotFoundError:
                        return None
                    return _read_record(fd, offset)
                finally:
                    fcntl.flock(ifd, fcntl.LOCK_UN)
        raise DamagedBundle("index keeps changing")

    def write(self, items: list[tuple[TileCoord, bytes]]) -> None:
        self._ensure()
        with locked_bundle(self.path) as fd:
            end = os.fstat(fd).st_size
            if end < V1_DATA_START or os.path.getsize(self.index_path) != BUNDLX_SIZE:
                raise DamagedBundle("bundle or its .bundlx index is cut off")
            max_size = V1_HEADER.unpack(_pread_exact(fd, V1_HEADER.size, 0))[2]
            records, entries = bytearray(), []
            for coord, data in items:
                entries.append((self.position(coord), end + len(records)))
                records += struct.pack("<I", len(data)) + data
                max_size = max(max_size, len(data))
            os.pwrite(fd, bytes(records), end)
            ifd = os.open(self.index_path, os.O_RDWR)
            try:
                for pos, offset in entries:
                    os.pwrite(ifd, offset.to_bytes(5, "little"), 16 + 5 * pos)
            finally:
                os.close(ifd)
            os.pwrite(fd, self._header(max_size, end + len(records)), 0)

    def clear(self, coords: list[TileCoord]) -> None:
        if not os.path.exists(self.index_path):
            return
        with locked_bundle(self.path) as _fd:
            ifd = os.open(self.index_path, os.O_RDWR)
            try:
                for coord in coords:
                    pos = self.position(coord)
                    os.pwrite(ifd, (V1_HEADER.size + 4 * pos).to_bytes(5, "little"), 16 + 5 * pos)
            finally:
                os.close(ifd)

    def entries(self) -> list[tuple[int, int, int]]:
        with open(self.index_path, "rb") as f:
            index = f.read()
        if len(index) != BUNDLX_SIZE:
            raise DamagedBundle(".bundlx cut off")
        result = []
        with open(self.path, "rb") as f:
            fd = f.fileno()
            for pos in range(RECORDS):
                offset = int.from_bytes(index[16 + 5 * pos: 21 + 5 * pos], "little")
                if offset < V1_DATA_START:
                    continue
                size = struct.unpack("<I", _pread_exact(fd, 4, offset))[0]
                if size:
                    result.append((pos, offset + 4, size))
        return result


    @contextmanager
    def _readers_excluded(self) -> Iterator[None]:
        ifd = os.open(self.index_path, os.O_RDONLY)
        try:
            fcntl.flock(ifd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(ifd)

    def packed(self, tiles: list[tuple[int, bytes]]) -> dict[str, bytes]:
        offsets = [V1_HEADER.size + 4 * i for i in range(RECORDS)]
        data = bytearray()
        max_size = 0
        for pos, blob in tiles:
            offsets[pos] = V1_DATA_START + len(data)
            data += struct.pack("<I", len(blob)) + blob
            max_size = max(max_size, len(blob))
        index = BUNDLX_HEADER + b"".join(o.to_bytes(5, "little") for o in offsets) + BUNDLX_FOOTER
        bundle = self._header(max_size, V1_DATA_START + len(data)) + bytes(RECORDS * 4) + bytes(data)
        return {self.index_path: index, self.path: bundle}


class CompactStore(TileStore):
    """An ArcGIS compact cache (``version`` 1 or 2) in ``directory``. No tile times."""

    supports_timestamps = False

    def __init__(self, directory: str, version: int = 2, check_images: bool = True, readonly: bool = False):
        if version not in (1, 2):
            raise ValueError(f"compact cache version must be 1 or 2, got {version!r}")
        self.directory = directory
        self.version = version
        self.check_images = check_images
        self.readonly = readonly
        self.lock_id = directory
        self._bundle_class = BundleV1 if version == 1 else BundleV2
        self._bundles: dict[str, _Bundle] = {}  # bundle objects hold only their paths
        self._open_files = OpenFiles()

    def write_dir(self) -> str | None:
        return self.directory

    def bundle(self, coord: TileCoord) -> _Bundle:
        name = bundle_name(coord)
        bundle = self._bundles.get(name)
        if bundle is None:
            if len(self._bundles) >= 4096:
                self._bundles.clear()
            bundle = self._bundles[name] = self._bundle_class(os.path.join(self.directory, name), self._open_files)
        return bundle

    def load(self, tile: Tile) -> bool:
        bundle = self.bundle(tile.coord)
        try:
            data = bundle.read(tile.coord)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except (DamagedBundle, OSError) as ex:
            warn_throttled(log, bundle.path, "%s: cannot read tile %s (fetched again): %s", bundle.path, tile.coord, ex)
            return False
        if data is None:
            return False
        if not usable_tile_data(data, self.check_images):
            warn_throttled(log, bundle.path, "%s: tile %s is not a usable image, fetching it again", bundle.path, tile.coord)
            return False
        tile.data = data
        tile.timestamp = None
        return True

    def is_cached(self, coord: TileCoord) -> bool:
        try:
            return self.bundle(coord).read(coord) is not None
        except (DamagedBundle, OSError):
            return False

    def timestamp(self, coord: TileCoord) -> float | None:
        return None

    def store(self, tile: Tile) -> None:
        self.store_many([tile])

    def store_many(self, tiles: Iterable[Tile]) -> None:
        """One append (one lock, one write) per bundle."""
        if self.readonly:
            raise StoreError(f"{self.directory} is a read-only cache")
        groups: dict[str, list[tuple[TileCoord, bytes]]] = {}
        for tile in tiles:
            if tile.data is None:
                raise ValueError(f"tile {tile.coord} has no data to store")
            groups.setdefault(bundle_name(tile.coord), []).append((tile.coord, tile.data))
            tile.timestamp = None  # bundles keep no times: fresh and cached answers alike
        for items in groups.values():
            bundle = self.bundle(items[0][0])
            try:
                bundle.write(items)
            except DamagedBundle as ex:
                raise StoreError(f"{bundle.path} is damaged ({ex}); not writing to it") from None
            except OSError as ex:
                raise write_error(bundle.path, ex) from None

    def remove(self, coord: TileCoord) -> None:
        self.remove_many([coord])

    def remove_many(self, coords: Iterable[TileCoord]) -> None:
        groups: dict[str, list[TileCoord]] = {}
        for c in coords:
            groups.setdefault(bundle_name(c), []).append(c)
        for items in groups.values():
            bundle = self.bundle(items[0])
            try:
                bundle.clear(items)
            except OSError as ex:
                raise write_error(bundle.path, ex) from None

    def bundles(self, levels: Iterable[int] | None = None) -> Iterator[tuple[int, _Bundle]]:
        """(level, bundle) of every bundle file on disk."""
        wanted = set(levels) if levels is not None else None
        try:
            level_dirs = sorted(os.listdir(self.directory))
        except OSError:
            return
        for name in level_dirs:
            if not (name.startswith("L") and name[1:].isdigit()):
                continue
            z = int(name[1:])
            if wanted is not None and z not in wanted:
                continue
            for fname in sorted(os.listdir(os.path.join(self.directory, name))):
                if fname.endswith(".bundle") and len(fname) == 17:
                    yield z, self._bundle_class(os.path.join(self.directory, name, fname[:-7]), self._open_files)

    can_list = True

    def iter_coords(self, level: int) -> Iterator[TileCoord]:
        yield from self.coords([level])

    def iter_coords_within(self, level: int, tiles: tuple[int, int, int, int]) -> Iterator[TileCoord]:
        x0, y0, x1, y1 = tiles
        for x, y, z in self.coords([level], tiles):
            if x0 <= x <= x1 and y0 <= y <= y1:
                yield (x, y, z)

    def coords(self, levels: Iterable[int] | None = None,
               tiles: tuple[int, int, int, int] | None = None) -> Iterator[TileCoord]:
        """The stored tiles of ``levels``; only bundles that meet the tile range
        ``tiles`` (x0, y0, x1, y1) are read when it is given."""
        for z, bundle in self.bundles(levels):
            name = os.path.basename(bundle.base)
            row0, col0 = int(name[1:5], 16), int(name[6:10], 16)
            if tiles is not None and (col0 + BUNDLE_DIM <= tiles[0] or col0 > tiles[2]
                                      or row0 + BUNDLE_DIM <= tiles[1] or row0 > tiles[3]):
                continue
            try:
                entries = bundle.entries()
            except (DamagedBundle, OSError) as ex:
                log.warning("%s: skipped: %s", bundle.path, ex)
                continue
            for pos, _offset, _size in entries:
                if self.version == 2:
                    x, y = pos % BUNDLE_DIM, pos // BUNDLE_DIM
                else:
                    x, y = pos // BUNDLE_DIM, pos % BUNDLE_DIM
                yield (col0 + x, row0 + y, z)
