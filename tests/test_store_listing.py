"""Listing the stored tiles of an area: a file or compact cache enters only the
directories and bundles that can hold tiles of the tile range, and the answer is
exactly the stored tiles inside it, in every directory layout."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from tileproxy.stores.base import Tile
from tileproxy.stores.compact import CompactStore
from tileproxy.stores.file import FileStore

LEVEL = 12


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


def _scattered() -> list[tuple[int, int, int]]:
    rng = random.Random(7)
    coords = {(rng.randrange(4096), rng.randrange(4096), LEVEL) for _ in range(300)}
    coords |= {(999, 1000, LEVEL), (1000, 999, LEVEL), (1000, 1000, LEVEL), (1127, 1128, LEVEL)}
    coords |= {(5, 5, LEVEL - 1), (1000, 1000, LEVEL + 1)}  # other levels never count
    return sorted(coords)


RANGES = [(1000, 1000, 1127, 1127), (0, 0, 4095, 4095), (999, 0, 999, 4095), (3000, 3000, 2999, 3100)]


@pytest.mark.parametrize("layout", ["tc", "mp", "tms", "reverse_tms", "quadkey", "arcgis"])
def test_file_cache_lists_exactly_the_tiles_in_range(tmp_path, layout):
    store = FileStore(str(tmp_path / layout), layout=layout)
    coords = _scattered()
    blob = _png()
    store.store_many([Tile(c, blob) for c in coords])
    for x0, y0, x1, y1 in RANGES:
        want = {c for c in coords if c[2] == LEVEL and x0 <= c[0] <= x1 and y0 <= c[1] <= y1}
        assert set(store.iter_coords_within(LEVEL, (x0, y0, x1, y1))) == want, (layout, (x0, y0, x1, y1))


def test_file_cache_skips_directories_outside_the_range(tmp_path, monkeypatch):
    store = FileStore(str(tmp_path / "c"), layout="tc")
    store.store_many([Tile(c, _png()) for c in _scattered()])
    entered = []
    original = FileStore._tile_files

    def counting(self, path, *args):
        entered.append(path)
        return original(self, path, *args)

    monkeypatch.setattr(FileStore, "_tile_files", counting)
    list(store.iter_coords_within(LEVEL, (1000, 1000, 1000, 1000)))
    narrow = len(entered)
    entered.clear()
    list(store.iter_coords(LEVEL))
    everything = len(entered)
    assert narrow <= 8 < everything


@pytest.mark.parametrize("version", [1, 2])
def test_compact_cache_lists_exactly_the_tiles_in_range(tmp_path, version):
    store = CompactStore(str(tmp_path / f"v{version}"), version=version)
    coords = _scattered()
    store.store_many([Tile(c, _png()) for c in coords])
    for x0, y0, x1, y1 in RANGES:
        want = {c for c in coords if c[2] == LEVEL and x0 <= c[0] <= x1 and y0 <= c[1] <= y1}
        assert set(store.iter_coords_within(LEVEL, (x0, y0, x1, y1))) == want
