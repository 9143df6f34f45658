"""The file cache: one file per tile in one of MapProxy's directory layouts."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from ..grid import TileCoord
from .base import Tile, TileStore, UseRecorder, warn_throttled, write_error
from .layouts import LAYOUTS, level_dir, parse_tile_path

log = logging.getLogger("tileproxy.stores")

_TMP_NUMBERS = itertools.count()
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


# What the directory names below a level directory count, per layout: the axis (0: x,
# 1: y), how many tiles one step of the name is worth, a prefix and the number base.
DIR_STEPS: dict[str, tuple[tuple[int, int, str, int], ...]] = {
    "tc": ((0, 1000000, "", 10), (0, 1000, "", 10), (0, 1, "", 10), (1, 1000000, "", 10), (1, 1000, "", 10)),
    "mp": ((0, 10000, "", 10), (0, 1, "", 10), (1, 10000, "", 10)),
    "tms": ((0, 1, "", 10),),
    "arcgis": ((1, 1, "R", 16),),
}


def _name(entry: os.DirEntry) -> str:
    return entry.name


def _dir_start(name: str, step: tuple[int, int, str, int], start: tuple[int, int],
               tiles: tuple | None) -> tuple[int, int] | None:
    """The lowest x, y a directory ``name`` can hold (given its parents' ``start``);
    None when none of its tiles can lie in ``tiles``, or the name counts nothing."""
    axis, unit, prefix, base = step
    if not name.startswith(prefix):
        return None
    try:
        value = int(name[len(prefix):], base)
    except ValueError:
        return None
    low = start[axis] + value * unit
    if tiles is not None and (low + unit - 1 < tiles[axis] or low > tiles[axis + 2]):
        return None
    return (low, start[1]) if axis == 0 else (start[0], low)


def write_temporary(directory: str, data: bytes, file_mode: int | None = None) -> str:
    """A new file in ``directory`` holding all of ``data`` (created exclusively, named
    by process and a counter): its path, for a rename or link into place. Mode 0o644
    under the umask, as any new file, or exactly ``file_mode``."""
    while True:
        tmp = os.path.join(directory, f".tmp-{os.getpid()}-{next(_TMP_NUMBERS)}.part")
        try:
            fd = os.open(tmp, _TMP_FLAGS, 0o644)
            break
        except FileExistsError:  # left by a process of the same number (another host, a crash)
            continue
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        if file_mode is not None:
            os.chmod(tmp, file_mode)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def write_atomic(path: str, data: bytes, file_mode: int | None = None, dir_mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one:
    a temporary file next to it, then a rename. Seeding writes thousands of tiles a
    second through here."""
    directory = os.path.dirname(path)
    make_dirs(directory, dir_mode)
    tmp = write_temporary(directory, data, file_mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def read_all(fd: int, size_hint: int) -> bytes:
    """The rest of ``fd``: one read when the file still has ``size_hint`` bytes."""
    data = os.read(fd, size_hint + 1)
    if len(data) <= size_hint:
        return data
    chunks = [data]
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def make_dirs(directory: str, mode: int | None = None) -> None:
    if os.path.isdir(directory):
        return
    os.makedirs(directory, exist_ok=True)
    if mode is not None:
        os.chmod(directory, mode)


class FileSnapshot(NamedTuple):
    """A tile file's bytes and time, and what tells whether the file at ``path`` is
    still that file: inode, size and modification time (tiles are replaced by a rename,
    which brings a new inode, never written in place)."""

    path: str
    data: bytes
    timestamp: float
    identity: tuple[int, int, int]


def unchanged(path: str, identity: tuple[int, int, int]) -> bool:
    """Is the file at ``path`` still the one a snapshot took?"""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_ino, st.st_size, st.st_mtime_ns) == identity


class FileStore(TileStore):
    can_list = True
    def __init__(
        self,
        directory: str,
        layout: str = "tc",
        ext: str = "png",
        link_single_color: str | None = None,
        file_mode: int | None = None,
        dir_mode: int | None = None,
        readonly: bool = False,
    ):
        if layout not in LAYOUTS:
            raise ValueError(f"unknown directory_layout '{layout}'")
        self.directory = directory
        self.lock_id = directory
        self.layout = layout
        self.ext = ext
        self.link_single_color = link_single_color  # None, 'symlink' or 'hardlink'
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self.readonly = readonly
        self.quota: UseRecorder | None = None  # on the instance: the fast path looks it up per tile
        # the parts of a tile's path: directory, layouts.tile_path(...)
        self._prefix = os.path.join(directory, "")
        self._format = LAYOUTS[layout]
        self._suffix = "." + ext

    def for_dimensions(self, values: tuple[tuple[str, str], ...]) -> FileStore | None:
        """Tiles of other dimension values live below ``<name>-<value>`` directories,
        TIME and ELEVATION first, then the ``dim_*`` ones, each group sorted (MapProxy's
        layout). None for a value that is no plain directory name."""
        if not values:
            return self
        parts = sorted(values, key=lambda kv: (kv[0].startswith("dim_"), kv[0]))
        names = [f"{key}-{value}" for key, value in parts]
        if any(c in n for n in names for c in "/\\\x00"):
            return None
        store = FileStore(os.path.join(self.directory, *names), self.layout, self.ext, self.link_single_color,
                          self.file_mode, self.dir_mode, self.readonly)
        store.quota = self.quota  # below this directory: the same size limit
        return store

    def write_dir(self) -> str | None:
        return self.directory

    def path(self, coord: TileCoord) -> str:
        x, y, z = coord
        return f"{self._prefix}{self._format(x, y, z)}{self._suffix}"

    def load(self, tile: Tile) -> bool:
        path = self.path(tile.coord)
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as ex:  # no permission, a damaged disk: created again from the source
            warn_throttled(log, self.directory, "cannot read %s (fetched again): %s", path, ex.strerror or ex)
            return False
        try:  # a raw fd: no buffered file object on the cached-tile hot path
            st = os.fstat(fd)
            size = st.st_size
            data = os.read(fd, size + 1)
            tile.data = data if len(data) <= size else data + read_all(fd, 0)
            tile.timestamp = st.st_mtime
            quota = self.quota
            if quota is not None and st.st_atime < time.time() - quota.touch_every:
                quota.served_file(fd, st)  # cache.max_size: served now (stores/quota.py)
        finally:
            os.close(fd)
        if self.link_single_color == "symlink":
            try:
                tile.timestamp = os.lstat(path).st_mtime  # the link's own time, not the shared target's
            except (FileNotFoundError, NotADirectoryError):
                return False
        return True

    def snapshot(self, coord: TileCoord) -> FileSnapshot | None:
        """The tile's file as it is now, for a reader that keeps its bytes (see
        ``unchanged``); None when it is not stored or is a symlink to a shared tile
        (``link_single_color: symlink``, whose time is the link's own)."""
        if self.link_single_color == "symlink":
            return None
        path = self.path(coord)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            data = read_all(fd, st.st_size)
        finally:
            os.close(fd)
        if len(data) != st.st_size:  # written meanwhile: nothing to keep
            return None
        return FileSnapshot(path, data, st.st_mtime, (st.st_ino, st.st_size, st.st_mtime_ns))

    def timestamp(self, coord: TileCoord) -> float | None:
        stat = os.lstat if self.link_single_color == "symlink" else os.stat
        try:
            return stat(self.path(coord)).st_mtime
        except OSError:
            return None

    def is_cached(self, coord: TileCoord) -> bool:
        return os.path.exists(self.path(coord))

    def store(self, tile: Tile) -> None:
        if tile.data is None:
            raise ValueError(f"tile {tile.coord} has no data to store")
        path = self.path(tile.coord)
        try:
            if tile.single_color is not None and self.link_single_color:
                self._store_linked(path, tile.data, tile.single_color)
            else:
                write_atomic(path, tile.data, self.file_mode, self.dir_mode)
        except OSError as ex:  # disk full, read-only, no permission: the tile is still served
            raise write_error(path, ex) from None
        # the file's own time, so that a fresh tile has the Last-Modified and
        # ETag that later hits from the cache will have
        stored = self.timestamp(tile.coord)
        if stored is not None:
            tile.timestamp = stored
        if self.quota is not None:
            self.quota.stored()

    def _store_linked(self, path: str, data: bytes, color: tuple) -> None:
        name = "".join(f"{c:02x}" for c in color) + "." + self.ext
        target = os.path.join(self.directory, "single_color_tiles", name)
        if not os.path.exists(target):
            write_atomic(target, data, self.file_mode, self.dir_mode)
        directory = os.path.dirname(path)
        make_dirs(directory, self.dir_mode)
        tmp = os.path.join(directory, f".tmp-link-{os.getpid()}-{os.path.basename(path)}")
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if self.link_single_color == "hardlink":
            os.link(target, tmp)
            os.utime(tmp)  # links share one mtime: "stored now" for refresh_before (and for all its twins)
        else:
            os.symlink(os.path.relpath(target, directory), tmp)
        os.replace(tmp, path)

    def remove(self, coord: TileCoord) -> None:
        path = self.path(coord)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as ex:
            raise write_error(path, ex) from None

    def backdate_many(self, coords: Iterable[TileCoord], when: float) -> bool:
        follow = self.link_single_color != "symlink"  # a link's own time, not the shared target's
        for coord in coords:
            path = self.path(coord)
            try:
                os.utime(path, (when, when), follow_symlinks=follow)
            except (FileNotFoundError, NotADirectoryError):
                pass
            except OSError as ex:
                raise write_error(path, ex) from None
        return True

    def iter_coords(self, level: int) -> Iterator[TileCoord]:
        """Walk the directories of ``level`` (the whole cache for layouts without
        level directories) and yield the coordinates of the tile files found."""
        return self.iter_coords_within(level, None)

    def iter_coords_within(self, level: int, tiles: tuple[int, int, int, int] | None) -> Iterator[TileCoord]:
        """As ``iter_coords``, but only directories that can hold tiles of the range
        x0, y0, x1, y1 are entered (all of them for layouts without such directories)."""
        sub = level_dir(self.layout, level)
        top = os.path.join(self.directory, sub) if sub else self.directory
        steps = DIR_STEPS.get(self.layout, ()) if sub and tiles is not None else ()
        for rel in self._tile_files(top, f"{sub}/" if sub else "", steps, tiles, (0, 0)):
            coord = parse_tile_path(self.layout, rel, self.ext)
            if coord is not None and coord[2] == level and (
                    tiles is None or tiles[0] <= coord[0] <= tiles[2] and tiles[1] <= coord[1] <= tiles[3]):
                yield coord

    def _tile_files(self, path: str, rel: str, steps: tuple, tiles: tuple | None,
                    start: tuple[int, int]) -> Iterator[str]:
        """Relative paths (below the cache directory, ``/``-separated) of the files
        under ``path``, directories in name order; temporary files left out. ``steps``
        tell what the next directory names count (see DIR_STEPS): directories whose
        tiles all lie outside ``tiles`` are skipped."""
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=_name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if rel == "" and entry.name == "single_color_tiles":
                    continue
                below = start
                if steps:
                    below = _dir_start(entry.name, steps[0], start, tiles)
                    if below is None:
                        continue
                yield from self._tile_files(entry.path, f"{rel}{entry.name}/", steps[1:], tiles, below)
            elif not entry.name.startswith(".tmp-"):
                yield rel + entry.name

    def remove_level(self, level: int) -> bool:
        sub = level_dir(self.layout, level)
        if sub is None:
            return False
        shutil.rmtree(os.path.join(self.directory, sub), ignore_errors=True)
        return True
