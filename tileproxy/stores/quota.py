"""``cache.max_size``: a file or compact cache kept under a size by removing the
tiles served longest ago (docs/quota.md).

What "served" means is kept with the tiles themselves, for every process alike:

- file caches: a tile file's access time. The kernel's (``relatime``, ``noatime``)
  cannot be trusted, so a store that serves a tile whose access time is over
  ``TOUCH_EVERY`` old sets it itself (``futimens`` on the open file, its mtime kept);
- compact caches: a ``<bundle>.lastused`` file next to each bundle, 16384 little-endian
  seconds since the epoch, one per index position, written when a tile is stored and
  when it is served (at most once per ``TOUCH_EVERY`` per tile and process).

Writes (a request's new tiles, seeding) call ``stored``: a look at the clock that
starts a sweep on a thread of its own once ``sweep_interval`` has passed. The sweep
takes a lock file (``flock``), so one process at a time sweeps, and skips when
another began a sweep since. A sweep adds up the cache's disk use (allocated
blocks); over ``max_size`` it removes the tiles served longest ago, outside the
protected levels, until ``LOW_WATER`` of ``max_size`` is left. File tiles are
unlinked (a reader that has the file open keeps reading all of it); compact
bundles are rewritten without them, as a defragmentation does (readers see the
old or the new bundle, never a part).
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import struct
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..grid import TileCoord
from .base import warn_throttled
from .compact import RECORDS, V1_DATA_START, V2_DATA_START, CompactStore, DamagedBundle, _Bundle
from .file import FileStore
from .layouts import parse_tile_path

log = logging.getLogger("tileproxy.quota")

TOUCH_EVERY = 3600.0  # seconds: a tile's last use is recorded at most this often
AGE_CLASS = 60  # seconds: tiles last used within one minute are removed as one class
LOW_WATER = 0.9  # a sweep over max_size removes tiles until this share of it is used
DEFAULT_SWEEP_INTERVAL = 300.0
_MARKS_LIMIT = 100_000  # compact tiles this process remembers having recorded
_LAST_USED = struct.Struct("<I")
_FLAGS = os.O_CLOEXEC if hasattr(os, "O_CLOEXEC") else 0


def disk_use(st: os.stat_result) -> int:
    """Bytes a file takes on disk (its allocated blocks, as ``du``)."""
    blocks = getattr(st, "st_blocks", None)
    return st.st_size if blocks is None else blocks * 512


@dataclass
class SweepResult:
    before: int  # bytes in use when the sweep began
    after: int  # ... when it ended (by what it removed)
    removed: int  # tiles removed
    seconds: float


class _Plan:
    """Which age classes a sweep removes: all older than ``cutoff``, and of
    ``cutoff`` itself until ``wanted`` bytes more are gone."""

    def __init__(self, cutoff: int, wanted: int):
        self.cutoff = cutoff
        self.wanted = wanted
        self.freed = 0
        self.removed = 0

    def takes(self, age_class: int, size: int) -> bool:
        if age_class < self.cutoff:
            return True
        if age_class == self.cutoff and self.wanted > 0:
            self.wanted -= size
            return True
        return False


def _plan(ages: dict[int, int], over: int) -> _Plan:
    """The plan that frees ``over`` bytes from the oldest ``ages`` (class -> bytes)."""
    older = 0
    for age_class in sorted(ages):
        if older + ages[age_class] >= over:
            return _Plan(age_class, over - older)
        older += ages[age_class]
    return _Plan(max(ages, default=0) + 1, 0)  # all of them, and still over


class FileArea:
    """The tile files of one file store (its dimension directories included)."""

    def __init__(self, store: FileStore):
        self.store = store
        self.directory = store.directory
        self._suffix = "." + store.ext

    def _level(self, rel: str) -> int | None:
        """The level of the tile at ``rel`` (below dimension directories such as
        ``TIME-2020``); None for files that are no tiles."""
        while True:
            coord = parse_tile_path(self.store.layout, rel, self.store.ext)
            if coord is not None:
                return coord[2]
            head, sep, rest = rel.partition("/")
            if not sep or "-" not in head:
                return None
            rel = rest

    def _files(self, protect: frozenset[int]) -> Iterator[tuple[str, os.stat_result, bool]]:
        """(path, lstat, may be removed) of every file below the directory. The
        single-colour tiles and the links to them (which free nothing when removed) stay."""
        stack = [(self.directory, "", True)]
        while stack:
            directory, rel_dir, tiles = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:  # removed meanwhile (a cleanup), or unreadable
                continue
            for entry in entries:
                rel = rel_dir + entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append((entry.path, rel + "/", tiles and rel != "single_color_tiles"))
                    continue
                tile = (tiles and stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and entry.name.endswith(self._suffix)
                        and not entry.name.startswith(".tmp-"))
                if tile:
                    level = self._level(rel)
                    tile = level is not None and level not in protect
                yield entry.path, st, tile

    def scan(self, protect: frozenset[int], ages: dict[int, int]) -> int:
        """Bytes in use; adds the bytes of removable tiles to ``ages`` by age class."""
        total = 0
        seen_links: set[tuple[int, int]] = set()
        for _path, st, removable in self._files(protect):
            size = disk_use(st)
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen_links:
                    continue  # hard links: counted once
                seen_links.add((st.st_dev, st.st_ino))
            total += size
            if removable:
                age_class = int(st.st_atime) // AGE_CLASS
                ages[age_class] = ages.get(age_class, 0) + size
        return total

    def evict(self, protect: frozenset[int], plan: _Plan) -> None:
        for path, st, removable in self._files(protect):
            size = disk_use(st)
            if removable and plan.takes(int(st.st_atime) // AGE_CLASS, size):
                try:
                    os.unlink(path)  # a reader with the file open still reads all of it
                except FileNotFoundError:
                    continue
                except OSError as ex:
                    warn_throttled(log, self.directory, "cannot remove %s: %s", path, ex.strerror or ex)
                    continue
                plan.freed += size
                plan.removed += 1


def last_used_path(base: str) -> str:
    return base + ".lastused"


def read_last_used(base: str) -> tuple[int, ...]:
    """The last-use times of a bundle's index positions (0: not known)."""
    try:
        with open(last_used_path(base), "rb") as f:
            data = f.read(RECORDS * 4)
    except FileNotFoundError:
        data = b""
    return struct.unpack(f"<{RECORDS}I", data.ljust(RECORDS * 4, b"\0"))


def write_last_used(base: str, positions: list[int], when: float) -> None:
    fd = os.open(last_used_path(base), os.O_WRONLY | os.O_CREAT | _FLAGS, 0o644)
    try:
        value = _LAST_USED.pack(int(when) & 0xFFFFFFFF)
        for pos in positions:
            os.pwrite(fd, value, 4 * pos)
    finally:
        os.close(fd)


class CompactArea:
    """The bundles of one compact store. Space that replaced tiles left in a bundle
    counts as the oldest: the first rewrite frees it."""

    def __init__(self, store: CompactStore):
        self.store = store
        self.directory = store.directory
        self._data_start = V1_DATA_START if store.version == 1 else V2_DATA_START

    def _files_use(self, base: str) -> int:
        total = 0
        for suffix in (".bundle", ".bundlx", ".lastused"):
            try:
                total += disk_use(os.stat(base + suffix))
            except OSError:
                pass
        return total

    def _classes(self, bundle_base: str, entries: list[tuple[int, int, int]], file_size: int) -> list[tuple[int, int, int]]:
        """(age class, bytes, index position) of the tiles in ``entries``, and (0, bytes, -1)
        for the space no tile uses."""
        used = read_last_used(bundle_base)
        items = [(used[pos] // AGE_CLASS, size + 4, pos) for pos, _offset, size in entries]
        dead = file_size - self._data_start - sum(size for _, size, _ in items)
        if dead > 0:
            items.append((0, dead, -1))
        return items

    def scan(self, protect: frozenset[int], ages: dict[int, int]) -> int:
        total = 0
        for level, bundle in self.store.bundles():
            total += self._files_use(bundle.base)
            if level in protect:
                continue
            try:
                items = self._classes(bundle.base, bundle.entries(), bundle.file_size())
            except (DamagedBundle, OSError) as ex:
                warn_throttled(log, bundle.path, "%s: left as it is: %s", bundle.path, ex)
                continue
            for age_class, size, _pos in items:
                ages[age_class] = ages.get(age_class, 0) + size
        return total

    def evict(self, protect: frozenset[int], plan: _Plan) -> None:
        for level, bundle in self.store.bundles():
            if level in protect:
                continue
            try:
                items = self._classes(bundle.base, bundle.entries(), bundle.file_size())
            except (DamagedBundle, OSError):
                continue
            if not any(a < plan.cutoff or (a == plan.cutoff and plan.wanted > 0) for a, _, _ in items):
                continue
            removed: list[int] = []

            def dropped(entries: list[tuple[int, int, int]], bundle: _Bundle = bundle, removed: list[int] = removed) -> set[int]:
                # under the bundle's lock: the entries as they are now
                drop = set()
                for age_class, nbytes, pos in self._classes(bundle.base, entries, bundle.file_size()):
                    if plan.takes(age_class, nbytes) and pos >= 0:
                        drop.add(pos)
                removed.append(len(drop))
                return drop

            try:
                old, new = bundle.rewrite(dropped)
            except (DamagedBundle, OSError) as ex:
                warn_throttled(log, bundle.path, "%s: cannot rewrite: %s", bundle.path, ex)
                continue
            plan.freed += max(0, old - new)
            plan.removed += sum(removed)


Area = FileArea | CompactArea


def area_of(store: FileStore | CompactStore) -> Area:
    return FileArea(store) if isinstance(store, FileStore) else CompactArea(store)


@contextmanager
def _sweep_lock(path: str) -> Iterator[int]:
    """The lock file ``path``, held exclusively (waits for another process's sweep)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _FLAGS, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # drops the lock


def _last_start(fd: int) -> float:
    try:
        return float(os.pread(fd, 64, 0).decode() or 0)
    except ValueError:
        return 0.0


def _set_last_start(fd: int, when: float) -> None:
    data = repr(when).encode()
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


class Quota:
    """The size limit of one cache over its stores (one per grid); the stores call
    the ``served_*``/``stored*`` hooks (``stores.base.UseRecorder``)."""

    def __init__(self, name: str, max_size: int, areas: list[Area], lock_path: str,
                 protect: frozenset[int] = frozenset(), sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
                 touch_every: float = TOUCH_EVERY):
        self.name = name
        self.max_size = max_size
        self.areas = areas
        self.lock_path = lock_path
        self.protect = protect
        self.sweep_interval = sweep_interval
        self.touch_every = touch_every
        self._due = 0.0  # time.monotonic() after which a write starts a sweep
        self._asked = 0.0  # time.time() of the latest write that asked for a sweep
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._marks: dict[tuple[str, TileCoord], float] = {}  # compact tiles recorded as used, and when
        self.last_result: SweepResult | None = None
        _ALL_QUOTAS.add(self)

    # --- what the stores tell

    def served_file(self, fd: int, st: os.stat_result) -> None:
        """A tile file whose access time is over ``touch_every`` old was read from ``fd``
        (FileStore.load looks): record it as used now."""
        try:
            os.utime(fd, ns=(time.time_ns(), st.st_mtime_ns))
        except OSError as ex:  # another user's file: the kernel's access times must do
            warn_throttled(log, self.lock_path, "cache %s: cannot record when tiles are served: %s",
                           self.name, ex.strerror or ex)

    def served_bundle(self, bundle: _Bundle, coord: TileCoord) -> None:
        """A tile of a compact bundle was read: record it as used, unless this process
        did within ``touch_every``."""
        now = time.time()
        last = self._marks.get((bundle.base, coord))
        if last is not None and now - last < self.touch_every:
            return
        self._record(bundle.base, [coord], [bundle.position(coord)], now)

    def stored_bundle(self, bundle: _Bundle, coords: list[TileCoord]) -> None:
        self._record(bundle.base, coords, [bundle.position(c) for c in coords], time.time())

    def _record(self, base: str, coords: list[TileCoord], positions: list[int], now: float) -> None:
        if len(self._marks) >= _MARKS_LIMIT:
            self._marks.clear()
        for coord in coords:
            self._marks[(base, coord)] = now
        try:
            write_last_used(base, positions, now)
        except OSError as ex:
            warn_throttled(log, self.lock_path, "cache %s: cannot record when tiles are used in %s: %s",
                           self.name, last_used_path(base), ex.strerror or ex)

    def stored(self) -> None:
        """Tiles were written: a sweep starts when the interval has passed."""
        if time.monotonic() >= self._due:
            self._start()

    # --- sweeping

    def _start(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._due:
                return
            self._due = now + self.sweep_interval
            self._asked = time.time()
            if self._thread is not None:
                return  # the running sweep looks at _asked when it ends
            # not a daemon: a process that ends waits for its sweep
            thread = threading.Thread(target=self._run, name=f"tileproxy-quota-{self.name}")
            try:
                thread.start()
            except RuntimeError as ex:  # no thread to be had now: the next due write tries again
                warn_throttled(log, self.lock_path, "cache %s: cannot start a size sweep: %s", self.name, ex)
                return
            self._thread = thread

    def _run(self) -> None:
        done = 0.0
        while True:
            with self._lock:
                asked = self._asked
                if asked <= done:
                    self._thread = None
                    return
            try:
                self._sweep_if_due(asked)
            except Exception:  # a sweep must never end a worker; the next write tries again
                log.exception("cache %s: size sweep failed", self.name)
            done = asked

    def _sweep_if_due(self, asked: float) -> SweepResult | None:
        with _sweep_lock(self.lock_path) as fd:
            last = _last_start(fd)
            if last >= asked:
                return None  # another process began a sweep after these writes
            now = time.time()
            if self.sweep_interval and now - last < self.sweep_interval:
                self._due = time.monotonic() + self.sweep_interval - (now - last)
                return None
            _set_last_start(fd, now)
            return self._sweep()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for this process's running sweep; False when it still runs."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def sweep(self) -> SweepResult:
        """Sweep now (after another process's sweep, if one runs)."""
        with _sweep_lock(self.lock_path) as fd:
            _set_last_start(fd, time.time())
            return self._sweep()

    def usage(self) -> int:
        """Bytes the cache takes on disk now."""
        ages: dict[int, int] = {}
        return sum(area.scan(self.protect, ages) for area in self.areas)

    def _sweep(self) -> SweepResult:
        started = time.monotonic()
        ages: dict[int, int] = {}
        before = sum(area.scan(self.protect, ages) for area in self.areas)
        result = SweepResult(before, before, 0, 0.0)
        if before > self.max_size:
            plan = _plan(ages, before - int(self.max_size * LOW_WATER))
            for area in self.areas:
                area.evict(self.protect, plan)
            result = SweepResult(before, before - plan.freed, plan.removed, time.monotonic() - started)
            log.info("cache %s: %d bytes over max_size %d: removed %d tiles, %d bytes, in %.1f s",
                     self.name, before - self.max_size, self.max_size, plan.removed, plan.freed, result.seconds)
            if result.after > self.max_size:
                log.warning("cache %s: still %d bytes after removing all it may (protected levels %s)",
                            self.name, result.after, sorted(self.protect))
        self.last_result = result
        return result


_ALL_QUOTAS: weakref.WeakSet[Quota] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for quota in list(_ALL_QUOTAS):
        quota._lock = threading.Lock()  # a child inherits no sweep thread, nor its lock
        quota._thread = None


os.register_at_fork(after_in_child=_reset_after_fork)
