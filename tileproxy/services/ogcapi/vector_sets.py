"""Which layers are vector tilesets (see vector_tiles.py): those whose cache holds
vector tiles, in each tile matrix set with the same tiles as one of its grids."""

from __future__ import annotations

from ...grid import TileGrid
from ...layers import TileLayer
from .stored import same_grid


def vector_tile_layers(matrix_sets: dict[str, tuple[TileGrid, object]],
                       tile_layers: list[TileLayer]) -> dict[str, dict[str, TileLayer]]:
    """collection id -> tile matrix set id -> the tile layer of vector tiles served as it."""
    out: dict[str, dict[str, TileLayer]] = {}
    for layer in tile_layers:
        conf = layer.conf
        if layer.format.is_image or (conf and conf.tile_sources is not None):
            continue
        for tms_id, (grid, _) in matrix_sets.items():
            if same_grid(grid, layer.grid):
                out.setdefault(layer.name, {}).setdefault(tms_id, layer)
    return out
