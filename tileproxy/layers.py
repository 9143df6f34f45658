"""Layers as the tile services (TMS, WMTS, KML, demo) see them, and the WMS layer tree."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from .config.dimensions import Dimension
from .config.model import CacheConfig, LayerConfig, ProxyConfig
from .grid import TileGrid
from .image.formats import ImageFormat
from .maps import WORLD_4326, CacheMapLayer, MapLayer, SourceMapLayer
from .sources.base import Source
from .sources.cache import CacheSource
from .sources.debug import DebugSource
from .sources.wms import WMSSource
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
    info_sources: list[WMSSource] = field(default_factory=list)  # answer feature info on this layer
    dimensions: dict[str, Dimension] = field(default_factory=dict)  # checked, then sent to the sources
    conf: LayerConfig | None = None

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
        mime = self.format.content_type
        return "image/png" if mime == "mixed" else mime


def walk_layers(layers: list[LayerConfig]) -> Iterator[LayerConfig]:
    for layer in layers:
        yield layer
        yield from walk_layers(layer.layers)


def build_tile_layers(config: ProxyConfig) -> list[TileLayer]:
    """Named layers with exactly one cache source (WMS sources with ``map: false`` and
    debug sources aside) or with ``tile_sources``, one entry per grid of each cache, in
    configuration order."""
    result: list[TileLayer] = []
    for layer in walk_layers(config.layers):
        if not layer.name:
            continue
        fi_only: list[WMSSource] = []
        if layer.tile_sources is not None:
            caches = [r for r in layer.tile_sources if r in config.caches]
        else:
            caches = []
            for ref, obj in zip(layer.sources, layer.source_objects):
                if ref in config.caches:
                    caches.append(ref)
                elif isinstance(obj, WMSSource) and not obj.options.map:
                    fi_only.append(obj)
                elif not isinstance(obj, DebugSource):
                    caches = []
                    break
            if len(caches) != 1:
                continue
        for cache_name in caches:
            cache = config.caches[cache_name]
            info = cache_info_sources(cache) + [s for s in fi_only if s.options.featureinfo]
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
    min_res: float | None = None
    max_res: float | None = None
    legendurl: str | None = None
    dimensions: dict[str, Dimension] = field(default_factory=dict)

    def renders(self) -> list[tuple[WMSLayer, MapLayer]]:
        """(owning layer, map layer) pairs, bottom to top."""
        if self.map_layers:
            return [(self, m) for m in self.map_layers]
        return [pair for child in self.layers for pair in child.renders()]

    def info_layers(self) -> list[WMSSource]:
        if self.map_layers or self.info_sources:
            return list(self.info_sources)
        return [s for child in self.layers for s in child.info_layers()]

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

    def extent(self) -> tuple[float, float, float, float]:
        """Lon/lat bbox of everything the layer draws."""
        boxes = [m.extent() for _, m in self.renders()]
        if not boxes:
            return WORLD_4326
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))

    def walk(self) -> Iterator[WMSLayer]:
        yield self
        for child in self.layers:
            yield from child.walk()


def build_wms_layers(config: ProxyConfig, max_tile_limit: int = 500) -> WMSLayer:
    """The root of the WMS layer tree: the only top-level layer, or an unnamed
    root holding all of them."""
    cache_layers: dict[str, CacheMapLayer] = {}

    def vector_only(conf: LayerConfig) -> bool:
        """Layers drawn only from vector tile caches are not maps: WMS leaves them out."""
        objs = [o for o in conf.source_objects if o is not None]
        return bool(objs) and all(isinstance(o, CacheConfig) and not o.format.is_image for o in objs)

    def build(conf: LayerConfig) -> WMSLayer:
        map_layers: list[MapLayer] = []
        info: list[WMSSource] = []
        legends: list[WMSSource] = []
        for obj in conf.source_objects:
            if isinstance(obj, CacheConfig) and not obj.format.is_image:
                continue
            if isinstance(obj, CacheConfig):
                if obj.name not in cache_layers:
                    cache_layers[obj.name] = CacheMapLayer(obj, max_tile_limit)
                map_layers.append(cache_layers[obj.name])
                # as in MapProxy, a cache's WMS-like sources answer feature info and legends for it
                for source in next(iter(obj.managers.values())).sources:
                    if isinstance(source, WMSSource) and source.options.featureinfo and source not in info:
                        info.append(source)
                    if isinstance(source, WMSSource) and (source.options.legendgraphic or source.options.legendurl):
                        if source not in legends:
                            legends.append(source)
            elif isinstance(obj, WMSSource):
                if obj.options.map:
                    map_layers.append(SourceMapLayer(obj))
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
            layers=[build(c) for c in conf.layers if not vector_only(c)],
            min_res=conf.min_res,
            max_res=conf.max_res,
            legendurl=conf.legendurl,
            dimensions=dict(conf.dimensions),
        )

    tops = [build(c) for c in config.layers if not vector_only(c)]
    if len(tops) == 1:
        return tops[0]
    title = config.services.wms.md.title if config.services.wms else "tileproxy"
    return WMSLayer(None, title, {}, [], [], [], tops)
