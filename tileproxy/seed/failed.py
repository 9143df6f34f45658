"""The failed-tiles file: one ``<cache> <grid> <z>/<x>/<y>`` line per tile that
could not be created, appended as failures happen; ``--retry-failed`` reads it."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..grid import TileCoord


class FailedTilesLog:
    def __init__(self, path: str, append: bool = False):
        self.path = path
        self._file = open(path, "a" if append else "w", encoding="utf-8")
        self._lock = threading.Lock()
        self.count = 0

    def write(self, cache: str, grid: str, coords: Iterable[TileCoord]) -> None:
        lines = "".join(f"{cache} {grid} {z}/{x}/{y}\n" for x, y, z in coords)
        with self._lock:
            self._file.write(lines)
            self._file.flush()
            self.count += lines.count("\n")

    def close(self) -> None:
        self._file.close()


def read_failed_tiles(path: str) -> dict[tuple[str, str], list[TileCoord]]:
    """Tiles by (cache, grid); raises ValueError naming the line of a bad entry."""
    out: dict[tuple[str, str], dict[TileCoord, None]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            try:
                cache, grid, zxy = parts
                z, x, y = (int(v) for v in zxy.split("/"))
            except ValueError:
                raise ValueError(f"{path}, line {lineno}: expected '<cache> <grid> <z>/<x>/<y>', got {line!r}") from None
            out.setdefault((cache, grid), {})[(x, y, z)] = None
    return {key: list(coords) for key, coords in out.items()}
