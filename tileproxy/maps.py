"""Drawing a map for any bbox, size and SRS from a cache (a mosaic of its tiles)
or from a source: what WMS GetMap asks of each layer."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

from PIL import Image

from .extent import Extent, default_extent
from .grid import TileGrid
from .image.mosaic import encoded_tile_mosaic
from .image.placement import contains, overlaps, part_within, placed
from .image.result import ImageResult
from .image.transform import blank_image, transform_image
from .res_range import ResRange, merge_res_ranges
from .sources.base import MapQuery, Source, SourceError
from .sources.cache import cache_extent, cache_res_range
from .srs import SRS, BBox, SRSError
from .stores.base import log_throttled

if TYPE_CHECKING:
    from .config.model import CacheConfig
    from .tiles import TileManager

log = logging.getLogger("tileproxy.maps")

METERS_PER_DEGREE = 111319.4907932736
WORLD_4326: BBox = (-180.0, -90.0, 180.0, 90.0)


class TooManyTiles(SourceError):
    pass


def request_resolution(bbox: BBox, size: tuple[int, int], srs: SRS) -> float:
    """A request's resolution in metres per pixel (degrees count as at the equator),
    the measure that layer ``min_res``/``max_res`` limits compare with."""
    res = min((bbox[2] - bbox[0]) / size[0], (bbox[3] - bbox[1]) / size[1])
    return res * METERS_PER_DEGREE if srs.is_latlong else res


def in_res_range(res: float, min_res: float | None, max_res: float | None) -> bool:
    """``min_res`` (coarse end) is inclusive, ``max_res`` (fine end) exclusive."""
    if min_res is not None and res > min_res * (1 + 1e-9):
        return False
    if max_res is not None and res <= max_res * (1 + 1e-9):
        return False
    return True


def intersection(a: BBox, b: BBox) -> BBox | None:
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] < box[2] and box[1] < box[3] else None


@lru_cache(maxsize=256)
def _grid_extent(grid_srs: SRS, grid_bbox: BBox, srs: SRS) -> BBox | None:
    try:
        return srs.align_bbox(grid_srs.transform_bbox_to(srs, grid_bbox, steps=64))
    except SRSError:
        return None


def grid_extent(grid: TileGrid, srs: SRS) -> BBox | None:
    """The grid's bbox in ``srs`` (None when it cannot be transformed)."""
    return _grid_extent(grid.srs, tuple(grid.bbox), srs)


def exact_tile(grid: TileGrid, bbox: BBox, size: tuple[int, int], srs: SRS) -> tuple[int, int, int] | None:
    """The tile of ``grid`` whose bbox and size are exactly these, else None."""
    if srs != grid.srs or tuple(size) != tuple(grid.tile_size):
        return None
    level = grid.level_for_resolution((bbox[2] - bbox[0]) / size[0])
    if level is None or grid.level_for_resolution((bbox[3] - bbox[1]) / size[1]) != level:
        return None
    res = grid.resolutions[level]
    tw, th = grid.tile_size[0] * res, grid.tile_size[1] * res
    fx = (bbox[0] - grid.bbox[0]) / tw
    fy = (bbox[1] - grid.bbox[1]) / th if grid.origin == "sw" else (grid.bbox[3] - bbox[3]) / th
    if abs(fx - round(fx)) > 1e-6 or abs(fy - round(fy)) > 1e-6:
        return None
    coord = (round(fx), round(fy), level)
    return coord if grid.is_valid(coord) else None


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
            if not in_res_range(request_resolution(query.bbox, query.size, query.srs), *self.drawn):
                return ImageResult(image=blank_image(query.size))
        try:
            return fitted(self.source.get_map(query), query.size, self.source)
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
    """A map stitched from the tiles of a cache at the closest level."""

    def __init__(self, cache: CacheConfig, max_tile_limit: int = 500, resampling: str | None = None):
        self.cache = cache
        self.max_tile_limit = max_tile_limit
        first = next(iter(cache.managers.values()))
        self.resampling = resampling or first.image_opts.resampling
        self.transparent = any(m.transparent for m in cache.managers.values())
        self._extents = {id(m): cache_extent(m) for m in cache.managers.values()}

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
        ranges = [cache_res_range(m) for m in self.cache.managers.values()]
        if self.cache.direct_source is not None and self.cache.direct_from_res is not None:
            ranges.append(self.cache.direct_source.res_range())
        return merge_res_ranges(ranges)

    @staticmethod
    def _available(coords: list[tuple[int, int, int]], manager: TileManager) -> list[tuple[int, int, int]]:
        """The tiles that can be had: inside the cache coverage and, for a cache
        without sources, already cached. The others stay transparent."""
        coords = [c for c in coords if manager.store.covers(c)]
        if not manager.sources:
            coords = [c for c in coords if manager.is_cached(c)]
        return coords

    def render(self, query: MapQuery) -> ImageResult:
        manager = self.manager_for(query.srs)
        extent = self._extents[id(manager)]
        if query.dimensions:
            # a store that cannot keep dimension values apart serves its tiles for all of them
            manager = manager.with_dimensions(query.dimensions) or manager
        grid = manager.grid
        if self.cache.direct_source is not None and self.cache.direct_from_res is not None:
            # use_direct_from_level/res: finer maps come from the source, uncached
            bbox = query.bbox if query.srs == grid.srs else query.srs.transform_bbox_to(grid.srs, query.bbox)
            if min((bbox[2] - bbox[0]) / query.size[0], (bbox[3] - bbox[1]) / query.size[1]) < self.cache.direct_from_res:
                return fitted(self.cache.direct_source.get_map(query), query.size, self.cache.direct_source)
        try:
            inside = _inside(extent, query)
            limit = None if inside else extent.bbox_in(query.srs)
        except SRSError:
            inside, limit = True, None
        if not inside and limit is not None:
            # as MapProxy: only the part inside the cache's extent is drawn
            size, offset, bbox = part_within(query.bbox, query.size, limit)
            if not overlaps(limit, query.bbox) or not size[0] or not size[1]:
                return ImageResult(image=blank_image(query.size))
            part = self._render_tiles(manager, replace(query, bbox=bbox, size=size))
            return ImageResult(image=placed(part.image, query.size, offset), cacheable=part.cacheable)
        return self._render_tiles(manager, query)

    def _render_tiles(self, manager: TileManager, query: MapQuery) -> ImageResult:
        grid = manager.grid
        coord = exact_tile(grid, query.bbox, query.size, query.srs)
        if coord is not None:
            if not self._available([coord], manager):
                return ImageResult(image=blank_image(query.size))
            (outcome,) = manager.fetch_tiles([coord])
            if outcome.empty:  # no source draws there
                return ImageResult(image=blank_image(query.size))
            return ImageResult(data=outcome.tile.data, mime=outcome.tile.mime, cacheable=outcome.cacheable)
        extent = grid_extent(grid, query.srs)
        clip = intersection(query.bbox, extent) if extent else None
        if clip is None:
            return ImageResult(image=blank_image(query.size))
        # the clipped part of the request, in pixels and in the grid's SRS
        qw, qh = query.bbox[2] - query.bbox[0], query.bbox[3] - query.bbox[1]
        px_w = max(1.0, query.size[0] * (clip[2] - clip[0]) / qw)
        px_h = max(1.0, query.size[1] * (clip[3] - clip[1]) / qh)
        try:
            src_bbox = query.srs.transform_bbox_to(grid.srs, clip)
        except SRSError:
            return ImageResult(image=blank_image(query.size))
        res = min((src_bbox[2] - src_bbox[0]) / px_w, (src_bbox[3] - src_bbox[1]) / px_h)
        if not math.isfinite(res) or res <= 0 or res > grid.resolutions[0] * grid.max_shrink_factor:
            return ImageResult(image=blank_image(query.size))
        level = grid.closest_level(res)
        x0, y0, x1, y1 = grid.tile_range(src_bbox, level)
        if x1 < x0 or y1 < y0:
            return ImageResult(image=blank_image(query.size))
        count = (x1 - x0 + 1) * (y1 - y0 + 1)
        if count > self.max_tile_limit:
            raise TooManyTiles(f"cache '{self.cache.name}': the request needs {count} tiles (max_tile_limit is {self.max_tile_limit})")
        coords = self._available([(x, y, level) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)], manager)
        if not coords:
            return ImageResult(image=blank_image(query.size))
        outcomes = manager.fetch_tiles(coords)
        if all(o.empty for o in outcomes):  # no source draws anything here
            return ImageResult(image=blank_image(query.size))
        tiles = [o.tile for o in outcomes]
        # below the request's footprint and the resampling filter's reach, no row is read
        reach = (3 * max(1.0, res / grid.resolutions[level]) + 4) * grid.resolutions[level]
        mosaic, mosaic_bbox = encoded_tile_mosaic(grid, coords, [t.data or None for t in tiles], src_bbox[1] - reach)
        img = None
        if query.srs == grid.srs:
            img = _crop_if_aligned(mosaic, mosaic_bbox, grid.resolutions[level], query)
        if img is None:
            img = transform_image(mosaic, mosaic_bbox, grid.srs, query.bbox, query.srs, query.size, self.resampling)
        # error stand-ins that are not cached make the map uncacheable too
        return ImageResult(image=img, cacheable=all(o.cacheable for o in outcomes))


def _inside(extent: Extent, query: MapQuery) -> bool:
    """Does the query lie inside ``extent``? (Compared in the extent's SRS, as MapProxy does.)"""
    bbox = query.bbox if query.srs == extent.srs else query.srs.transform_bbox_to(extent.srs, query.bbox)
    return contains(extent.bbox, bbox)


def _crop_if_aligned(mosaic: Image.Image, bbox: BBox, res: float, query: MapQuery) -> Image.Image | None:
    """The query cut out of the mosaic when it has the mosaic's resolution and its
    edges fall on pixel edges (no resampling needed), else None."""
    rx, ry = query.res
    if not (abs(rx - res) <= res * 1e-9 and abs(ry - res) <= res * 1e-9):
        return None
    left = (query.bbox[0] - bbox[0]) / res
    top = (bbox[3] - query.bbox[3]) / res
    if abs(left - round(left)) > 1e-6 or abs(top - round(top)) > 1e-6:
        return None
    left, top = round(left), round(top)
    return mosaic.crop((left, top, left + query.size[0], top + query.size[1]))
