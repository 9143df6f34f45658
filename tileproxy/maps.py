"""The map layers WMS GetMap draws: a source drawn for each request, or a cache
(drawn from its tiles by its ``CacheSource``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import metrics
from .extent import Extent, default_extent
from .grid import ResRange
from .image.result import ImageResult
from .image.transform import blank_image
from .sources.base import MapQuery, Source, SourceError
from .sources.cache import cache_extent, cache_grid_source
from .srs import SRS, BBox
from .stores.base import log_throttled

if TYPE_CHECKING:
    from .config.model import CacheConfig
    from .tilecache.manager import TileManager

log = logging.getLogger("tileproxy.maps")

WORLD_4326: BBox = (-180.0, -90.0, 180.0, 90.0)


class MapLayer:
    """Something that draws a map for a query."""

    transparent: bool = False

    def render(self, query: MapQuery) -> ImageResult:
        raise NotImplementedError

    def extent(self) -> Extent:
        """The area of the data (advertised in capabilities)."""
        return default_extent()

    def res_range(self) -> ResRange | None:
        """The resolutions the layer draws (None: all)."""
        return None

    def combined_with(self, other: MapLayer, query: MapQuery) -> MapLayer | None:
        """One layer that draws this and ``other`` (above it) with one request, if any."""
        return None


class SourceMapLayer(MapLayer):
    """A source drawn directly for each request (uncached cascading); blank outside
    ``drawn`` (a WMS source's min_res/max_res, compared as layers compare them)."""

    def __init__(self, source: Source, drawn: ResRange | None = None):
        self.source = source
        self.transparent = source.transparent
        self.drawn = drawn

    def extent(self) -> Extent:
        """The source's coverage, or the default (world) extent."""
        return self.source.extent()

    def res_range(self) -> ResRange | None:
        return self.source.res_range()

    def combined_with(self, other: MapLayer, query: MapQuery) -> SourceMapLayer | None:
        """This layer and ``other`` (drawn above it) as one source request, when the
        source allows (WMS layers of one server); else None."""
        if not isinstance(other, SourceMapLayer):
            return None
        source = self.source.combined_with(other.source, query)
        return SourceMapLayer(source, self.drawn) if source is not None else None

    def render(self, query: MapQuery) -> ImageResult:
        if self.drawn is not None:
            if not self.drawn.contains(query.bbox, query.size, query.srs):
                return ImageResult(image=blank_image(query.size))
        try:
            source = self.source
            return fitted(metrics.drawn_by(source.name, lambda: source.get_map(query)), query.size, source)
        except SourceError as ex:
            answer = self.source.stand_in(ex, query.size)  # the source's on_error image
            if answer is None:
                raise
            return answer[0]


def fitted(result: ImageResult, size: tuple[int, int], source: Source) -> ImageResult:
    """A source's map at the size asked for: a source that answers another size
    (a server's size limit, say) is scaled to it rather than passed on as it came."""
    if result.size != tuple(size):
        log_throttled(log, logging.WARNING, f"fitted {source.name}", "source %s answered %dx%d pixels for a map "
                      "of %dx%d: scaled to it", source.name, *result.size, *size)
        return result.fitted(size)
    return result


def combine_adjacent(layers: list[MapLayer], query: MapQuery) -> list[MapLayer]:
    """``layers`` (bottom to top) with each run of neighbours that one source request
    can draw merged into one layer."""
    out: list[MapLayer] = []
    for layer in layers:
        merged = out[-1].combined_with(layer, query) if out else None
        if merged is not None:
            out[-1] = merged
        else:
            out.append(layer)
    return out


class CacheMapLayer(MapLayer):
    """A cache drawn as a WMS layer: in the cache's grid for the request's SRS, by
    that grid's ``CacheSource``, or below ``use_direct_from_level/res`` by the
    cache's own source, uncached."""

    def __init__(self, cache: CacheConfig):
        self.cache = cache
        self.transparent = any(m.transparent for m in cache.managers.values())
        self._sources = {id(m): cache_grid_source(cache, m) for m in cache.managers.values()}

    def manager_for(self, srs: SRS) -> TileManager:
        """The cache's grid for ``srs``: the same SRS if any, else one of the same kind
        (projected or geographic), else the first."""
        managers = list(self.cache.managers.values())
        for m in managers:
            if m.grid.srs == srs:
                return m
        for m in managers:
            if m.grid.srs.is_latlong == srs.is_latlong:
                return m
        return managers[0]

    def extent(self) -> Extent:
        """The extent of the cache's first grid: its coverage, else its sources', else the grid."""
        return cache_extent(next(iter(self.cache.managers.values())))

    def res_range(self) -> ResRange | None:
        """What the cache's sources draw (and its direct source, with use_direct_from_level/res)."""
        return ResRange.merge([s.res_range() for s in self._sources.values()])

    def render(self, query: MapQuery) -> ImageResult:
        source = self._sources[id(self.manager_for(query.srs))]
        return fitted(source.get_map(query), query.size, source)
