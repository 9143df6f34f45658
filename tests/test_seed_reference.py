"""Seed plans cover every tile MapProxy's seeder covers for the same seed.yaml.

MapProxy's tiles come from data/seed_reference.json, recorded once with MapProxy
7.0.0 by ``mapproxy_seed_reference.py`` (run with a Python that has MapProxy) for
the cases of seed_reference_cases.py: coverages in another SRS than the grid, where
MapProxy seeds the box around a transformed bbox and straight edges between a
polygon's transformed vertices. tileproxy may plan a few tiles more (the curved
edges of the real area); the numbers say how many."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.seed_reference_cases import CASES

from tileproxy.config.build import load_proxy_config
from tileproxy.seed.config import load_seed_config
from tileproxy.seed.plan import Plan

REFERENCE = json.loads((Path(__file__).parent / "data" / "seed_reference.json").read_text())["cases"]

# tiles planned beyond MapProxy's, per task (0 where the plans are the same)
EXTRA = {
    "utm/lonlat_polygon/utm": 24,  # along the curved edges of a lon/lat polygon: of 11 633 (0.2%)
}


def mapproxy_tiles(runs: dict[str, list[list[int]]]) -> set[tuple[int, int, int]]:
    return {(x, y, int(z)) for z, rows in runs.items() for y, x0, x1 in rows for x in range(x0, x1 + 1)}


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> dict[str, set[tuple[int, int, int]]]:
    """Every tile tileproxy's plans visit, by "case/task/grid"."""
    out = {}
    for case, files in CASES.items():
        directory = tmp_path_factory.mktemp(case)
        for name, text in files.items():
            (directory / name).write_text(text)
        proxy = load_proxy_config(directory / "mapproxy.yaml")
        for task in load_seed_config(directory / "seed.yaml", proxy, time.time()).seeds:
            plan = Plan(task.grid, task.manager.meta_grid, task.levels, task.area)
            tiles = {c for unit in plan.units() for meta in plan.metas(unit) for c in meta.coords}
            out[f"{case}/{task.name}/{task.grid_name}"] = tiles
    return out


@pytest.mark.parametrize("key", [f"{case}/{task}" for case, tasks in REFERENCE.items() for task in tasks])
def test_the_plan_covers_mapproxys_tiles(planned, key: str) -> None:
    case, task = key.split("/", 1)
    theirs = mapproxy_tiles(REFERENCE[case][task])
    ours = planned[key]
    assert not theirs - ours, f"{len(theirs - ours)} of MapProxy's {len(theirs)} tiles left out"
    assert len(ours - theirs) == EXTRA.get(key, 0)
