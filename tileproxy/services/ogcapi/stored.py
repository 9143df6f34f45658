"""Map tiles that are a cache's tiles as stored: a collection drawn from one cache
alone, in a tile matrix set that is one of the cache's grids. Such a tile is served
as the tile services serve it (the stored bytes, HTTP validators, Cache-Status),
without drawing a map, and by the cached-tile fast path (``OGCAPIService.resolve``)."""

from __future__ import annotations

from ...grid import TileCoord, TileGrid, is_close
from ...layers import TileLayer, WMSLayer
from ...maps import CacheMapLayer
from ..access import AUTHORIZE, granted_whole
from ..decorate import DECORATE

ACCESS_SERVICE = "ogcapi.map"  # what the authorize and decorate_img callbacks are told


def same_grid(a: TileGrid, b: TileGrid) -> bool:
    """Do both grids have the same tiles (SRS, origin, tile size, bbox, levels)?"""
    if a is b:
        return True
    return (a.srs == b.srs and a.origin == b.origin and tuple(a.tile_size) == tuple(b.tile_size)
            and len(a.resolutions) == len(b.resolutions)
            and all(is_close(x, y) for x, y in zip(a.bbox, b.bbox))
            and all(is_close(x, y) for x, y in zip(a.resolutions, b.resolutions)))


def _cache_only(layer: WMSLayer) -> CacheMapLayer | None:
    """The cache a collection draws, when it draws exactly that at every scale."""
    if layer.layers or layer.res_range is not None or layer.dimensions or len(layer.map_layers) != 1:
        return None
    drawn = layer.map_layers[0]
    if not isinstance(drawn, CacheMapLayer) or drawn.cache.direct_from_res is not None:
        return None
    return drawn


def stored_tile_layers(layers: dict[str, WMSLayer], matrix_sets: dict[str, tuple[TileGrid, object]],
                       tile_layers: list[TileLayer]) -> dict[tuple[str, str], TileLayer]:
    """(collection, tile matrix set id) -> the tile layer whose stored tiles are the
    collection's map tiles."""
    out: dict[tuple[str, str], TileLayer] = {}
    for name, layer in layers.items():
        drawn = _cache_only(layer)
        if drawn is None:
            continue
        managers = list(drawn.cache.managers.values())
        for tile_layer in tile_layers:
            conf = tile_layer.conf
            if tile_layer.name != name or tile_layer.manager not in managers or (conf and conf.tile_sources is not None):
                continue
            if not tile_layer.format.is_image:
                continue
            for tms_id, (grid, _) in matrix_sets.items():
                if (name, tms_id) not in out and same_grid(grid, tile_layer.grid):
                    out[(name, tms_id)] = tile_layer
    return out


def served_as_stored(environ: dict, coll_id: str, grid: TileGrid, coord: TileCoord) -> bool:
    """May a stored map tile go out as stored, as far as the callbacks go? Not with a
    decorate_img callback; with an authorize callback only when it grants the
    collection's ``map`` right for ``ogcapi.map`` with no limit that cuts the tile.
    Anything else (a denial, a cut, a failing callback) is drawn as a map, which asks
    again (answered from the environ) and answers as maps do."""
    if DECORATE in environ:
        return False
    callback = environ.get(AUTHORIZE)
    if callback is None:
        return True
    return granted_whole(callback, environ, ACCESS_SERVICE, coll_id, "map", grid.srs, grid.tile_bbox(coord),
                         lambda answer: (answer.layer_limit(coll_id), answer.request_limit()))
