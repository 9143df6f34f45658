"""Layers as the tile services (TMS, WMTS, KML, demo) see them, and the WMS layer tree."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from .config.dimensions import Dimension
from .config.model import CacheConfig, LayerConfig, ProxyConfig
from .extent import Extent, merge_extents
from .grid import ResRange, TileGrid
from .image.formats import ImageFormat
from .image.placement import intersection
from .maps import WORLD_4326, CacheMapLayer, MapLayer, SourceMapLayer
from .sources.base import Source
from .sources.cache import CacheSource, cache_extent
from .sources.debug import DebugSource
from .sources.wms import WMSSource
from .srs import BBox, SRSError
from .tilecache.manager import TileManager

log = logging.getLogger("tileproxy.layers")


@dataclass
class TileLayer:
    """One layer in one grid: a tile matrix set of a layer."""

    name: str
    title: str
    grid_name: str  # the key of the grid in mapproxy.yaml (WMTS TileMatrixSet id)
    manager: TileManager
    md: dict
    info_sources: list[WMSSource] = field(default_factory=list)  # answer feature info on this layer
    dimensions: dict[str, Dimension] = field(default_factory=dict)  # checked, then sent to the sources
    conf: LayerConfig | None = None
    _bbox: BBox | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def bbox(self) -> BBox:
        """The area the layer's tiles cover, in the grid's SRS (see ``tileproxy.extent``)."""
        if self._bbox is None:
            try:
                self._bbox = cache_extent(self.manager).bbox_in(self.grid.srs)
            except SRSError:
                self._bbox = self.grid.bbox
        return self._bbox

    @property
    def grid(self) -> TileGrid:
        return self.manager.grid

    @property
    def format(self) -> ImageFormat:
        return self.manager.format

    @property
    def grid_id(self) -> str:
        """The grid's SRS as a token (``EPSG900913``): how TMS, /tiles and KML name
        the grid in URLs without ``use_grid_names``."""
        return self.grid.srs.epsg_token.upper()

    def path_id(self, use_grid_names: bool) -> str:
        """The grid part of the layer's URLs: the grid's name (its ``name`` option,
        else its key) with ``use_grid_names``, else the SRS token."""
        return (self.grid.name or self.grid_name) if use_grid_names else self.grid_id

    @property
    def mime(self) -> str:
        mime = self.format.content_type
        return "image/png" if mime == "mixed" else mime


class TileLayerNames:
    """How one tile service (TMS, /tiles, KML) names and finds its tile layers.

    Each layer is published as ``<layer>/<grid>`` (see ``TileLayer.path_id``). A
    request names a layer with or without the grid part: without ``use_grid_names``
    the two parts are joined with ``_`` (so ``osm/EPSG900913`` and
    ``osm_EPSG900913`` are the same layer) and a bare layer name falls back to the
    grids in ``fallback_ids`` in turn; with ``use_grid_names`` both parts must
    match. When two grids of a layer share an id (two grids in one SRS), the later
    grid answers under that id and the earlier one is not published.
    """

    def __init__(self, layers: list[TileLayer], use_grid_names: bool, fallback_ids: tuple[str, ...] = ()):
        self.use_grid_names = use_grid_names
        self.fallback_ids = fallback_ids
        # a dict keeps the first position and the last value, as the published list does
        self.by_path: dict[tuple[str, str], TileLayer] = {}
        for layer in layers:
            self.by_path[(layer.name, layer.path_id(use_grid_names))] = layer
        self._joined = {f"{name}_{gid}": layer for (name, gid), layer in self.by_path.items()}

    def published(self) -> list[tuple[str, TileLayer]]:
        """(``<layer>/<grid>`` path, layer) of every published layer, in order."""
        return [(f"{name}/{gid}", layer) for (name, gid), layer in self.by_path.items()]

    def path(self, layer: TileLayer) -> str | None:
        """The published path of ``layer``; None when another grid hides it."""
        key = (layer.name, layer.path_id(self.use_grid_names))
        return f"{key[0]}/{key[1]}" if self.by_path.get(key) is layer else None

    def find(self, name: str, grid_part: str | None) -> TileLayer | None:
        if self.use_grid_names:
            return self.by_path.get((name, grid_part)) if grid_part is not None else None
        joined = name if grid_part is None else f"{name}_{grid_part}"
        layer = self._joined.get(joined)
        if layer is None:
            for gid in self.fallback_ids:
                layer = self._joined.get(f"{joined}_{gid}")
                if layer is not None:
                    break
        return layer


def _named_layers(layers: list[LayerConfig]) -> dict[str, LayerConfig]:
    """Named layers with sources, children before their group (as MapProxy lists
    them); of two layers with one name the later definition counts."""
    found: dict[str, LayerConfig] = {}

    def visit(layer: LayerConfig) -> None:
        for child in layer.layers:
            visit(child)
        if layer.name and (layer.sources or layer.tile_sources is not None):
            found[layer.name] = layer

    for layer in layers:
        visit(layer)
    return found


def _tile_caches(layer: LayerConfig, config: ProxyConfig) -> list[str]:
    """The caches whose tiles the layer publishes: its ``tile_sources``, else its one
    cache source. Debug sources and feature-info-only WMS sources beside the cache
    are passed over; any other source, or a second cache, means no tiles."""
    if layer.tile_sources is not None:
        return [name for name in layer.tile_sources if name in config.caches]
    caches = []
    for ref in layer.sources:
        if ref in config.caches:
            caches.append(ref)
            continue
        source = config.sources.get(ref)
        if isinstance(source, DebugSource) or (isinstance(source, WMSSource) and not source.options.map):
            continue
        return []
    return caches if len(caches) == 1 else []


def build_tile_layers(config: ProxyConfig) -> list[TileLayer]:
    """One entry per grid of each layer's tile caches, in MapProxy's order."""
    result: list[TileLayer] = []
    for layer in _named_layers(config.layers).values():
        # feature info comes from the cache's sources and, as in MapProxy, from WMS
        # sources with map: false beside the cache
        fi_only = [] if layer.tile_sources is not None else [
            s for s in layer.source_objects if isinstance(s, WMSSource) and not s.options.map and s.options.featureinfo]
        for cache_name in _tile_caches(layer, config):
            cache = config.caches[cache_name]
            info = cache_info_sources(cache) + fi_only
            for grid_name in cache.grids:
                manager = cache.managers[grid_name]
                dims = layer.dimensions if manager.keeps_dimensions else {}
                result.append(TileLayer(layer.name, layer.title, grid_name, manager, layer.md,
                                        info, dict(dims), layer))
    return result


def cache_info_sources(cache: CacheConfig) -> list[WMSSource]:
    """The sources of a cache that answer feature info, also those of caches it draws from."""
    out: list[WMSSource] = []

    def walk(sources: list[Source]) -> None:
        for source in sources:
            if isinstance(source, CacheSource):
                walk(source.manager.sources)
            elif isinstance(source, WMSSource) and source.options.featureinfo and source not in out:
                out.append(source)

    walk(next(iter(cache.managers.values())).sources)
    return out


# -- the WMS layer tree ----------------------------------------------------


@dataclass
class WMSLayer:
    """A layer of the WMS layer tree. A layer with sources draws them (a group's
    sources replace its children's); a group without sources draws its children."""

    name: str | None
    title: str
    md: dict
    map_layers: list[MapLayer]
    info_sources: list[WMSSource]
    legend_sources: list[WMSSource]
    layers: list[WMSLayer]
    res_range: ResRange | None = None  # the resolutions it draws (its own min_res/max_res, or its sources')
    legendurl: str | None = None
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    nominal_scale: float | None = None  # OGC API Maps: the layer's scale, a group's largest

    def renders(self) -> list[tuple[WMSLayer, MapLayer]]:
        """(owning layer, map layer) pairs, bottom to top."""
        if self.map_layers:
            return [(self, m) for m in self.map_layers]
        return [pair for child in self.layers for pair in child.renders()]

    def info_layers(self) -> list[WMSSource]:
        return [s for _, sources in self.info_owners() for s in sources]

    def info_owners(self) -> list[tuple[WMSLayer, list[WMSSource]]]:
        """(layer, its feature info sources) of the layers that answer for this one:
        itself when it draws or has sources of its own, else its sublayers'."""
        if self.map_layers or self.info_sources:
            return [(self, list(self.info_sources))]
        return [pair for child in self.layers for pair in child.info_owners()]

    def legend_layers(self) -> list[WMSLayer]:
        """Layers whose legends make this layer's legend."""
        if self.legendurl or self.legend_sources or self.map_layers:
            return [self]
        return [lyr for child in self.layers for lyr in child.legend_layers()]

    @property
    def has_legend(self) -> bool:
        return any(lyr.legendurl or lyr.legend_sources for lyr in self.legend_layers())

    @property
    def queryable(self) -> bool:
        return bool(self.info_layers())

    @cached_property
    def map_extent(self) -> Extent:
        """The area the layer draws, as MapProxy merges it: the extents of its map
        layers, and of a group its children's too."""
        own = merge_extents([m.extent() for m in self.map_layers])
        if not self.layers:
            return own
        return merge_extents([child.map_extent for child in self.layers] + [own])

    def extent(self) -> tuple[float, float, float, float]:
        """Lon/lat bbox of everything the layer draws."""
        try:
            box = self.map_extent.llbbox()
        except SRSError:
            return WORLD_4326
        return intersection(box, WORLD_4326) or WORLD_4326

    def walk(self) -> Iterator[WMSLayer]:
        yield self
        for child in self.layers:
            yield from child.walk()


def build_wms_layers(config: ProxyConfig) -> WMSLayer:
    """The root of the WMS layer tree: the only top-level layer, or an unnamed
    root holding all of them."""
    cache_layers: dict[str, CacheMapLayer] = {}

    def vector_only(conf: LayerConfig) -> bool:
        """Layers drawn only from vector tile caches are not maps: WMS leaves them out."""
        objs = [o for o in conf.source_objects if o is not None]
        return bool(objs) and all(isinstance(o, CacheConfig) and not o.format.is_image for o in objs)

    def build(conf: LayerConfig) -> WMSLayer | None:
        children = [child for child in (build(c) for c in conf.layers if not vector_only(c)) if child is not None]
        if not conf.source_objects and not conf.legendurl and not children:
            return None  # nothing to draw (a layer with tile_sources only is no WMS layer)
        map_layers: list[MapLayer] = []
        info: list[WMSSource] = []
        legends: list[WMSSource] = []
        for obj in conf.source_objects:
            if isinstance(obj, CacheConfig) and not obj.format.is_image:
                continue
            if isinstance(obj, CacheConfig):
                if obj.name not in cache_layers:
                    cache_layers[obj.name] = CacheMapLayer(obj)
                map_layers.append(cache_layers[obj.name])
                # as in MapProxy, a cache's WMS-like sources answer feature info and legends for it
                info += [s for s in cache_info_sources(obj) if s not in info]
                for source in next(iter(obj.managers.values())).sources:
                    if isinstance(source, WMSSource) and (source.options.legendgraphic or source.options.legendurl):
                        if source not in legends:
                            legends.append(source)
            elif isinstance(obj, WMSSource):
                if obj.options.map:
                    map_layers.append(SourceMapLayer(obj, ResRange.of(obj.options.min_res, obj.options.max_res)))
                if obj.options.featureinfo:
                    info.append(obj)
                if obj.options.legendgraphic or obj.options.legendurl:
                    legends.append(obj)
            elif obj is not None:
                map_layers.append(SourceMapLayer(obj))
        return WMSLayer(
            name=conf.name,
            title=conf.title,
            md=conf.md,
            map_layers=map_layers,
            info_sources=info,
            legend_sources=legends,
            layers=children,
            res_range=_layer_res_range(conf, map_layers, children),
            legendurl=conf.legendurl,
            dimensions=dict(conf.dimensions),
            nominal_scale=conf.nominal_scale or max((c.nominal_scale or 0 for c in children), default=None) or None,
        )

    tops = [top for top in (build(c) for c in config.layers if not vector_only(c)) if top is not None]
    if len(tops) == 1:
        return tops[0]
    title = config.services.wms.md.title if config.services.wms else "tileproxy"
    return WMSLayer(None, title, {}, [], [], [], tops, res_range=ResRange.merge([top.res_range for top in tops]))


def _layer_res_range(conf: LayerConfig, map_layers: list[MapLayer], children: list[WMSLayer]) -> ResRange | None:
    """The layer's own min_res/max_res (or scales); else what its sources draw, and
    for a group what its children draw too."""
    own = ResRange.of(conf.min_res, conf.max_res)
    if own is not None:
        return own
    drawn = ResRange.merge([m.res_range() for m in map_layers])
    if not children:
        return drawn
    parts = [c.res_range for c in children]
    if conf.source_objects or conf.legendurl:
        parts.append(drawn)
    return ResRange.merge(parts)
