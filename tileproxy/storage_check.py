"""Can each cache write where its configuration puts it? For ``tileproxy check``:
the directory of every cache (created or creatable), tried with a real file,
and the free space of its file system."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from .config.model import ProxyConfig

LOW_SPACE = 100 * 1024 * 1024  # bytes: less than this free is reported as a problem
LOW_INODES = 1000


@dataclass
class DirReport:
    what: str  # "cache osm (GLOBAL_WEBMERCATOR)" or "tile locks of cache osm"
    path: str
    problem: str | None  # None when the directory can take files
    free: int | None = None  # bytes free for this user
    locks: bool = False  # tile locks: without them each process locks on its own
    remote: bool = False  # a store outside the file system (S3, Azure Blob, Redis): asked, not written


def check_storage(config: ProxyConfig) -> list[DirReport]:
    """One report per directory that a cache writes tiles or tile locks into, and per
    remote store (asked whether it answers), leaving out read-only caches and those
    with ``disable_storage``."""
    reports: list[DirReport] = []
    seen: set[str] = set()
    for cache in config.caches.values():
        for grid_name, manager in cache.managers.items():
            store = manager.store
            if store.readonly or manager.opts.disable_storage:
                continue
            location = store.remote_location()
            if location and location not in seen:
                seen.add(location)
                reports.append(DirReport(f"cache {cache.name} ({grid_name})", location, store.probe(), remote=True))
            directory = store.write_dir()
            if directory and directory not in seen:
                seen.add(directory)
                reports.append(probe_dir(f"cache {cache.name} ({grid_name})", directory))
            if manager.lock_dir not in seen:
                seen.add(manager.lock_dir)
                report = probe_dir(f"tile locks of cache {cache.name}", manager.lock_dir)
                report.locks = True
                reports.append(report)
    return reports


def probe_dir(what: str, path: str) -> DirReport:
    """Whether files can be created in ``path`` (or in the nearest existing directory
    above it, where it will be created), and the space left there."""
    path = os.path.abspath(path)
    existing = path
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        kind = "a file" if os.path.isfile(existing) else "not a directory"
        return DirReport(what, path, f"cannot be created: {existing} is {kind}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".tileproxy-check-", dir=existing)
        try:
            os.write(fd, b"\x89PNG")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as ex:
        where = "" if existing == path else f" (in {existing}, where it would be created)"
        return DirReport(what, path, f"not writable{where}: {ex.strerror or ex}")
    st = os.statvfs(existing)
    free = st.f_bavail * st.f_frsize
    if free < LOW_SPACE:
        return DirReport(what, path, f"almost no space left: {format_size(free)} free", free)
    if st.f_files and st.f_favail < LOW_INODES:
        return DirReport(what, path, f"almost no inodes left: {st.f_favail} free", free)
    return DirReport(what, path, None, free)


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
