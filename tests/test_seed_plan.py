"""The pyramid walk on its own: every meta tile in the area exactly once, children
before parents, the same units every time; plus layouts listing their tiles."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import Polygon

from tileproxy.coverage import Coverage
from tileproxy.grid import MetaGrid, build_grid, predefined_grid
from tileproxy.seed.plan import Plan
from tileproxy.srs import get_srs
from tileproxy.stores.base import Tile
from tileproxy.stores.file import FileStore
from tileproxy.stores.layouts import LAYOUTS


def _brute_force(grid, meta_grid, levels, area):  # noqa: ANN001, ANN202
    """Every meta tile of ``levels`` whose tiles meet the area, by looking at all of them."""
    out = set()
    msx, msy = meta_grid.meta_size
    for z in levels:
        w, h = grid.grid_sizes[z]
        for x in range(0, w, msx):
            for y in range(0, h, msy):
                box = grid.tiles_bbox([(x, y, z), (min(x + msx, w) - 1, min(y + msy, h) - 1, z)])
                if area is None or area.intersects(box):
                    out.add((x, y, z))
    return out


MERC = get_srs("EPSG:3857")
TRIANGLE = Polygon([(-9e6, -2e6), (6e6, 7e6), (1e6, -8e6)])
GEO_TRIANGLE = Polygon([(-80, -20), (60, 70), (10, -75)])


@pytest.mark.parametrize("grid", [
    predefined_grid("GLOBAL_WEBMERCATOR"),
    predefined_grid("GLOBAL_MERCATOR"),
    build_grid(srs="EPSG:4326", min_res=1.40625 / 4, origin="sw"),  # geodetic: 2x1 tiles at the top
    # levels that do not nest: tiles of one level straddle tiles of the next
    build_grid(srs="EPSG:3857", res=[100000, 61000, 37000, 23000, 13000], origin="nw"),
])
@pytest.mark.parametrize("meta", [(1, 1), (2, 2), (3, 2)])
def test_walk_visits_each_meta_tile_in_the_area_once(grid, meta) -> None:  # noqa: ANN001
    meta_grid = MetaGrid(grid, meta, 0)
    levels = [lvl for lvl in (1, 2, 3, 4, 5, 6) if lvl < grid.levels]
    area = Coverage(GEO_TRIANGLE if grid.srs.is_latlong else TRIANGLE, grid.srs)
    plan = Plan(grid, meta_grid, levels, area)
    seen = [meta_grid.main_coord(m.main_coord) for u in plan.units() for m in plan.metas(u)]
    assert len(seen) == len(set(seen))
    assert set(seen) == _brute_force(grid, meta_grid, levels, area)
    # deterministic: the same units in the same order
    assert list(plan.units()) == list(Plan(grid, meta_grid, levels, area).units())
    assert len(seen) < len(_brute_force(grid, meta_grid, levels, None))  # the area left some out


def test_walk_goes_depth_first_children_before_parents() -> None:
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    plan = Plan(grid, MetaGrid(grid, (1, 1), 0), [3, 4, 5])
    units = list(plan.units())
    assert len(units) == 64 and units[0].key == "3/0/0/5"
    order = [m.main_coord for m in plan.metas(units[0])]
    # MapProxy's documented order: a tile right after its four children, the parent last
    assert order[:10] == [(0, 0, 5), (1, 0, 5), (0, 1, 5), (1, 1, 5), (0, 0, 4),
                          (2, 0, 5), (3, 0, 5), (2, 1, 5), (3, 1, 5), (1, 0, 4)]
    assert order[-1] == (0, 0, 3) and len(order) == 1 + 4 + 16


def test_skip_geoms_for_last_levels_seeds_whole_subtrees() -> None:
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    meta_grid = MetaGrid(grid, (1, 1), 0)
    area = Coverage(Polygon([(1e5, 1e5), (2e5, 1e5), (2e5, 2e5)]), MERC)
    exact = {m.main_coord for p in [Plan(grid, meta_grid, [4, 5, 6], area)] for u in p.units() for m in p.metas(u)}
    loose_plan = Plan(grid, meta_grid, [4, 5, 6], area, skip_geoms_for_last_levels=2)
    loose = {m.main_coord for u in loose_plan.units() for m in loose_plan.metas(u)}
    assert exact < loose
    assert {c for c in loose if c[2] == 6} == {(x, y, 6) for x in range(32, 36) for y in range(28, 32)}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_file_store_lists_the_tiles_of_a_level(tmp_path: Path, layout: str) -> None:
    store = FileStore(str(tmp_path / layout), layout=layout, ext="png")
    coords = [(0, 0, 0), (0, 0, 1), (1, 0, 1), (3, 2, 2), (1234, 4321, 13), (0, 0, 2)]
    for c in coords:
        store.store(Tile(c, data=b"png"))
    (tmp_path / layout / ".tmp-x.part").write_bytes(b"")
    for z in (0, 1, 2, 13):
        assert sorted(store.iter_coords(z)) == sorted(c for c in coords if c[2] == z)
    assert list(store.iter_coords(5)) == []
    if store.remove_level(1):
        assert list(store.iter_coords(1)) == [] and len(list(store.iter_coords(2))) == 2
