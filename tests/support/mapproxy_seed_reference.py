"""Record the tiles MapProxy's seeder walks for the cases of seed_reference_cases.py
into tests/data/seed_reference.json, for test_seed_reference.py. Needs MapProxy 7.0 (not a
dependency of tileproxy; the conformance kit's venv has it):

    <venv>/bin/python tests/support/mapproxy_seed_reference.py

For each seed task the walk runs as ``mapproxy-seed`` runs it (meta tiles, all
tiles refreshed), with a worker pool that only collects the tiles of each meta
tile handed to it. Per level, the tiles are stored as runs ``[y, x_first, x_last]``."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from mapproxy.config.loader import load_configuration
from mapproxy.seed.config import load_seed_tasks_conf
from mapproxy.seed.seeder import TileWalker

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from seed_reference_cases import CASES  # noqa: E402


class Collector:
    """Stands in for MapProxy's worker pool: keeps the tiles of the meta tiles."""

    def __init__(self) -> None:
        self.walker = None
        self.tiles: set[tuple[int, int, int]] = set()

    def process(self, tiles, progress) -> None:  # noqa: ANN001
        for meta in tiles:
            self.tiles.update(tuple(c) for c in self.walker.grid.tile_list(meta) if c is not None)

    def stop(self, force: bool = False) -> None:
        pass


def runs(tiles: set[tuple[int, int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for x, y in sorted(tiles, key=lambda t: (t[1], t[0])):
        if out and out[-1][0] == y and out[-1][2] == x - 1:
            out[-1][2] = x
        else:
            out.append([y, x, x])
    return out


def record_case(files: dict[str, str]) -> dict:
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text)
        cwd = os.getcwd()
        os.chdir(tmp)  # MapProxy reads seed coverage files relative to the working directory
        try:
            conf = load_configuration(os.path.join(tmp, "mapproxy.yaml"), seed=True)
            for task in load_seed_tasks_conf(os.path.join(tmp, "seed.yaml"), conf).seeds():
                pool = Collector()
                walker = TileWalker(task, pool, handle_all=True, handle_uncached=True, work_on_metatiles=True)
                pool.walker = walker
                walker.walk()
                levels: dict[int, set] = {}
                for x, y, z in pool.tiles:
                    levels.setdefault(z, set()).add((x, y))
                key = f"{task.md['name']}/{task.md['grid_name']}"
                result[key] = {str(z): runs(tiles) for z, tiles in sorted(levels.items())}
        finally:
            os.chdir(cwd)
    return result


def main() -> None:
    if len(sys.argv) == 2:  # one case: MapProxy keeps the first configuration's directory per process
        json.dump(record_case(CASES[sys.argv[1]]), sys.stdout)
        return
    import subprocess

    import mapproxy.version

    cases = {name: json.loads(subprocess.run([sys.executable, __file__, name], check=True, capture_output=True,
                                             text=True).stdout) for name in CASES}
    out = {"mapproxy": mapproxy.version.version, "cases": cases}
    (HERE.parent / "data" / "seed_reference.json").write_text(json.dumps(out, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
