"""The pyramid walk: which meta tiles a task touches, in depth-first order.

A plan is cut into work units: meta-tile-aligned subtrees clipped to the area.
Units come in a fixed order and each one always yields the same meta tiles, so a
run can resume after its last finished unit, and a plan is shared by several
machines (``--shard i/n`` takes the units whose index % n == i; Celery workers take
batches of unit indexes) without changing the walk. A spread plan roots its units
deeper, so that a small area still has enough units for many machines.

Inside a unit the walk goes depth-first: children are checked against the area
before they are visited (whole subtrees outside are skipped), and a meta tile is
yielded after its subtree, the order MapProxy seeds in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..coverage import Coverage
from ..grid import MetaGrid, MetaTile, TileGrid
from ..srs import BBox

if TYPE_CHECKING:
    from .config import Task

# a unit is rooted at the first level with at least this many meta tiles in the grid
SPLIT_METAS = 64
# spread plans (shards, Celery): ... with at least this many meta tiles in the area's box,
# so that many machines find work in a small area too
SPREAD_METAS = 1024


@dataclass(frozen=True)
class Unit:
    """The subtree below the meta tile at (x, y, level) down to ``last`` (inclusive)."""

    level: int
    x: int
    y: int
    last: int

    @property
    def key(self) -> str:
        return f"{self.level}/{self.x}/{self.y}/{self.last}"


class Plan:
    def __init__(self, grid: TileGrid, meta_grid: MetaGrid, levels: list[int], area: Coverage | None = None,
                 skip_geoms_for_last_levels: int = 0, spread: bool = False):
        self.grid = grid
        self.meta_grid = meta_grid
        self.levels = sorted(levels)
        self.level_set = set(self.levels)
        self.first, self.last = self.levels[0], self.levels[-1]
        self.area = area
        # levels from here on are not checked against the area
        self.geom_free_from = self.last - skip_geoms_for_last_levels + 1
        msx, msy = meta_grid.meta_size
        self.split = self.last
        for level in range(self.first, self.last + 1):
            if spread:
                x0, y0, x1, y1 = grid.tile_range(area.bbox if area else grid.bbox, level)
                metas = max(0, x1 // msx - x0 // msx + 1) * max(0, y1 // msy - y0 // msy + 1)
            else:
                w, h = grid.grid_sizes[level]
                metas = -(-w // msx) * -(-h // msy)
            if metas >= (SPREAD_METAS if spread else SPLIT_METAS):
                self.split = level
                break
        self._nested = self._levels_nest()

    # -- units -------------------------------------------------------------

    def units(self) -> Iterator[Unit]:
        """Levels above the split level one meta tile per unit, then the subtrees
        rooted at the split level."""
        for level in range(self.first, self.split):
            if level in self.level_set:
                for x, y in self._metas_in_area(level):
                    yield Unit(level, x, y, level)
        for x, y in self._metas_in_area(self.split):
            yield Unit(self.split, x, y, self.last)

    def _metas_in_area(self, level: int) -> Iterator[tuple[int, int]]:
        bbox = self.area.bbox if self.area else self.grid.bbox
        x0, y0, x1, y1 = self.grid.tile_range(bbox, level)
        msx, msy = self.meta_grid.meta_size
        for y in range(y0 - y0 % msy, y1 + 1, msy):
            for x in range(x0 - x0 % msx, x1 + 1, msx):
                if self._wanted(level, self._meta_bbox(level, x, y)):
                    yield x, y

    # -- walking -----------------------------------------------------------

    def metas(self, unit: Unit) -> Iterator[MetaTile]:
        """The meta tiles of ``unit`` to work on, depth-first, children first."""
        yield from self._visit(unit.level, unit.x, unit.y, unit.last, False)

    def _visit(self, level: int, x: int, y: int, last: int, inside: bool) -> Iterator[MetaTile]:
        """``inside``: the parent lies wholly in the area (and levels nest), so this
        meta tile and its subtree need no checks."""
        bbox = self._meta_bbox(level, x, y)
        if not inside and self.area is not None and level < self.geom_free_from:
            hit = self.area.intersects(bbox)
            inside = self._nested and hit and self.area.contains(bbox)
        else:
            hit = True
        if level < last:
            for cx, cy in self._children(level + 1, bbox):
                if inside or self._wanted(level + 1, self._meta_bbox(level + 1, cx, cy)):
                    yield from self._visit(level + 1, cx, cy, last, inside)
        if hit and level in self.level_set:
            yield self.meta_grid.meta_tile((x, y, level))

    def _children(self, level: int, parent: BBox) -> Iterator[tuple[int, int]]:
        """Meta tiles at ``level`` that belong to the parent box: those whose anchor
        (the outer corner of their first tile, nudged inwards) lies in it. Every meta
        tile has exactly one parent, so no tile is visited twice."""
        x0, y0, x1, y1 = self.grid.tile_range(parent, level)
        msx, msy = self.meta_grid.meta_size
        res = self.grid.resolutions[level]
        eps = res * 1e-3
        for y in range(y0 - y0 % msy, y1 + 1, msy):
            for x in range(x0 - x0 % msx, x1 + 1, msx):
                tb = self.grid.tile_bbox((x, y, level))
                ax = tb[0] + eps
                ay = tb[1] + eps if self.grid.origin == "sw" else tb[3] - eps
                if parent[0] <= ax < parent[2] and parent[1] <= ay < parent[3]:
                    yield x, y

    def _wanted(self, level: int, bbox: BBox) -> bool:
        """True when the subtree of the meta tile with ``bbox`` may meet the area."""
        if self.area is None or level >= self.geom_free_from:
            return True
        if not self._nested and level < self.last:
            # children may reach past their parent in grids whose levels do not nest
            bbox = _grow(bbox, 2 * self._meta_extent(level + 1))
        return self.area.intersects(bbox)

    # -- geometry helpers ----------------------------------------------------

    def _meta_bbox(self, level: int, x: int, y: int) -> BBox:
        """The box of the tiles (not the buffer) of the meta tile at (x, y)."""
        w, h = self.grid.grid_sizes[level]
        msx, msy = self.meta_grid.meta_size
        last_x, last_y = min(x + msx, w) - 1, min(y + msy, h) - 1
        return self.grid.tiles_bbox([(x, y, level), (last_x, last_y, level)])

    def _meta_extent(self, level: int) -> float:
        res = self.grid.resolutions[level]
        return max(self.grid.tile_size[0] * self.meta_grid.meta_size[0],
                   self.grid.tile_size[1] * self.meta_grid.meta_size[1]) * res

    def _levels_nest(self) -> bool:
        """True when every tile edge of a level is a tile edge of the next level."""
        for level in range(self.first, self.last):
            ratio = self.grid.resolutions[level] / self.grid.resolutions[level + 1]
            if abs(ratio - round(ratio)) > 1e-9:
                return False
        return True

    # -- estimates -----------------------------------------------------------

    def estimate(self, unit: Unit) -> int:
        """Tiles of the meta tiles of ``unit`` within the area's bbox (an upper bound)."""
        root = self._meta_bbox(unit.level, unit.x, unit.y)
        if self.area:
            ab = self.area.bbox
            root = (max(root[0], ab[0]), max(root[1], ab[1]), min(root[2], ab[2]), min(root[3], ab[3]))
            if root[0] >= root[2] or root[1] >= root[3]:
                return 0
        levels = [lvl for lvl in range(unit.level, unit.last + 1) if lvl in self.level_set]
        return estimate_tiles(self.grid, levels, root, self.meta_grid.meta_size)


def estimate_tiles(grid: TileGrid, levels: list[int], bbox: BBox | None,
                   meta_size: tuple[int, int] = (1, 1)) -> int:
    """Tiles of the meta tiles of ``levels`` that meet ``bbox`` (the grid's when None)."""
    msx, msy = meta_size
    total = 0
    for level in levels:
        x0, y0, x1, y1 = grid.tile_range(bbox or grid.bbox, level)
        if x1 < x0 or y1 < y0:
            continue
        w, h = grid.grid_sizes[level]
        x0, y0 = x0 - x0 % msx, y0 - y0 % msy
        x1, y1 = min(x1 - x1 % msx + msx, w) - 1, min(y1 - y1 % msy + msy, h) - 1
        total += (x1 - x0 + 1) * (y1 - y0 + 1)
    return total


def task_estimate(task: Task) -> int:
    """Tiles a task may touch: its meta tiles within the area's bbox."""
    return estimate_tiles(task.grid, task.levels, task.area.bbox if task.area else None,
                          task.manager.meta_grid.meta_size)


def _grow(bbox: BBox, d: float) -> BBox:
    return (bbox[0] - d, bbox[1] - d, bbox[2] + d, bbox[3] + d)
