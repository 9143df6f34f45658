"""A store limited to a coverage: tiles outside it are neither stored nor served."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..coverage import Coverage
from ..grid import TileCoord, TileGrid
from .base import Tile, TileStore


class CoveredStore(TileStore):
    def __init__(self, store: TileStore, coverage: Coverage, grid: TileGrid):
        self.inner = store
        self.grid = grid
        self.configured_coverage = coverage  # in its own SRS
        self.coverage = coverage.transform_to(grid.srs)
        self.readonly = store.readonly
        self.supports_timestamps = store.supports_timestamps
        self.lock_id = store.lock_id
        self.can_list = store.can_list

    def iter_coords(self, level: int) -> Iterator[TileCoord]:
        return self.inner.iter_coords(level)  # all of them, also those a later coverage left out

    def remove_level(self, level: int) -> bool:
        return self.inner.remove_level(level)

    def __getattr__(self, name: str):  # backend extras (coords, dbs, directory, ...)
        if name == "inner":  # not set yet (copying, unpickling)
            raise AttributeError(name)
        return getattr(self.inner, name)

    def for_dimensions(self, values: tuple[tuple[str, str], ...]) -> TileStore | None:
        inner = self.inner.for_dimensions(values)
        return CoveredStore(inner, self.configured_coverage, self.grid) if inner is not None else None

    def covers(self, coord: TileCoord) -> bool:
        return self.coverage.intersects(self.grid.tile_bbox(coord))

    def load(self, tile: Tile) -> bool:
        return self.covers(tile.coord) and self.inner.load(tile)

    def is_cached(self, coord: TileCoord) -> bool:
        return self.covers(coord) and self.inner.is_cached(coord)

    def timestamp(self, coord: TileCoord) -> float | None:
        return self.inner.timestamp(coord) if self.covers(coord) else None

    def load_many(self, tiles: Iterable[Tile]) -> list[Tile]:
        return self.inner.load_many([t for t in tiles if self.covers(t.coord)])

    def store(self, tile: Tile) -> None:
        self.store_many([tile])

    def store_many(self, tiles: Iterable[Tile]) -> None:
        inside = [t for t in tiles if self.covers(t.coord)]
        if inside:
            self.inner.store_many(inside)

    def remove(self, coord: TileCoord) -> None:
        self.inner.remove(coord)

    def remove_many(self, coords: Iterable[TileCoord]) -> None:
        self.inner.remove_many(coords)
