"""Layers as the tile services (TMS, WMTS, KML, demo) see them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from .config.model import LayerConfig, ProxyConfig
from .grid import TileGrid
from .image.formats import ImageFormat
from .sources.debug import DebugSource
from .tiles import TileManager

log = logging.getLogger("tileproxy.layers")


@dataclass
class TileLayer:
    """One layer in one grid: a tile matrix set of a layer."""

    name: str
    title: str
    grid_name: str  # the key of the grid in mapproxy.yaml (WMTS TileMatrixSet id)
    manager: TileManager
    md: dict

    @property
    def grid(self) -> TileGrid:
        return self.manager.grid

    @property
    def format(self) -> ImageFormat:
        return self.manager.format

    @property
    def grid_id(self) -> str:
        """``EPSG900913`` style id used in TMS/KML URLs without use_grid_names."""
        return self.grid.srs.epsg_token

    @property
    def mime(self) -> str:
        mime = self.format.mime
        return "image/png" if mime == "mixed" else mime


def walk_layers(layers: list[LayerConfig]) -> Iterator[LayerConfig]:
    for layer in layers:
        yield layer
        yield from walk_layers(layer.layers)


def build_tile_layers(config: ProxyConfig) -> list[TileLayer]:
    """Named layers with exactly one cache source (or with tile_sources), one
    entry per grid of that cache, in configuration order."""
    result: list[TileLayer] = []
    for layer in walk_layers(config.layers):
        if not layer.name:
            continue
        refs = layer.tile_sources or layer.sources
        caches = [r for r in refs if r in config.caches]
        others = [r for r in refs if r not in config.caches and not isinstance(config.sources.get(r.partition(":")[0]), DebugSource)]
        if not layer.tile_sources and (len(caches) != 1 or others):
            continue
        for cache_name in caches:
            cache = config.caches[cache_name]
            for grid_name in cache.grids:
                result.append(TileLayer(layer.name, layer.title, grid_name, cache.managers[grid_name], layer.md))
    return result
