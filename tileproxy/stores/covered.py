"""A store limited to a coverage: tiles outside it are neither stored nor served."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..coverage import Coverage
from ..grid import TileCoord, TileGrid
from .base import Tile, TileStore


class CoveredStore(TileStore):
    """``store`` within ``coverage``; ``inner`` is the backend store itself."""

    def __init__(self, store: TileStore, coverage: Coverage, grid: TileGrid):
        self._inner = store
        self.grid = grid
        self.coverage = coverage  # as configured, in its own SRS
        self._in_grid = coverage.transform_to(grid.srs)
        self.readonly = store.readonly
        self.supports_timestamps = store.supports_timestamps
        self.lock_id = store.lock_id
        self.can_list = store.can_list

    @property
    def inner(self) -> TileStore:
        return self._inner

    def write_dir(self) -> str | None:
        return self._inner.write_dir()

    def iter_coords(self, level: int) -> Iterator[TileCoord]:
        return self._inner.iter_coords(level)  # all of them, also those a later coverage left out

    def iter_coords_within(self, level: int, tiles: tuple[int, int, int, int]) -> Iterator[TileCoord]:
        return self._inner.iter_coords_within(level, tiles)

    def remove_level(self, level: int) -> bool:
        return self._inner.remove_level(level)

    def for_dimensions(self, values: tuple[tuple[str, str], ...]) -> TileStore | None:
        inner = self._inner.for_dimensions(values)
        return CoveredStore(inner, self.coverage, self.grid) if inner is not None else None

    def covers(self, coord: TileCoord) -> bool:
        return self._in_grid.intersects(self.grid.tile_bbox(coord))

    def load(self, tile: Tile) -> bool:
        return self.covers(tile.coord) and self._inner.load(tile)

    def is_cached(self, coord: TileCoord) -> bool:
        return self.covers(coord) and self._inner.is_cached(coord)

    def timestamp(self, coord: TileCoord) -> float | None:
        return self._inner.timestamp(coord) if self.covers(coord) else None

    def timestamps_many(self, coords: Iterable[TileCoord]) -> list[float | None]:
        coords = list(coords)
        inside = [c for c in coords if self.covers(c)]
        found = dict(zip(inside, self._inner.timestamps_many(inside)))
        return [found.get(c) for c in coords]

    def cached_many(self, coords: Iterable[TileCoord]) -> list[bool]:
        coords = list(coords)
        inside = [c for c in coords if self.covers(c)]
        found = dict(zip(inside, self._inner.cached_many(inside)))
        return [found.get(c, False) for c in coords]

    def load_many(self, tiles: Iterable[Tile]) -> list[Tile]:
        return self._inner.load_many([t for t in tiles if self.covers(t.coord)])

    def store(self, tile: Tile) -> None:
        self.store_many([tile])

    def store_many(self, tiles: Iterable[Tile]) -> None:
        inside = [t for t in tiles if self.covers(t.coord)]
        if inside:
            self._inner.store_many(inside)

    def remove(self, coord: TileCoord) -> None:
        self._inner.remove(coord)

    def remove_many(self, coords: Iterable[TileCoord]) -> None:
        self._inner.remove_many(coords)

    def backdate_many(self, coords: Iterable[TileCoord], when: float) -> bool:
        return self._inner.backdate_many(coords, when)
