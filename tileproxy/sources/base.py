"""The source protocol: sources render maps for a query and know nothing of caches."""

from __future__ import annotations

from dataclasses import dataclass

from ..extent import Extent, coverage_extent, default_extent
from ..grid import ResRange, TileCoord, TileGrid
from ..image.errors import ImageDataError
from ..image.formats import ImageFormat
from ..image.result import ImageResult, whole_image
from ..image.transform import blank_image
from ..image.whole import ImageSizeError
from ..srs import SRS, BBox
from ..tilecache.locks import LockTimeout
from ..tiled_map import draw_from_tiles
from .errors import SourceDataError as SourceDataError  # (re-exported: callers know them from here)
from .errors import SourceError as SourceError
from .errors import SourceTimeout as SourceTimeout
from .limits import NO_LIMITS, SourceLimits
from .on_error import ErrorAnswer, ErrorPolicy


def source_image(data: bytes, size: tuple[int, int] | None, label: str, exact: bool = True) -> ImageResult:
    """A source's answer ``data`` as an image once it is whole and of ``size``
    (``whole_image``; with ``exact=False`` other sizes pass, for the caller to
    judge). Anything else is an error of the source named by ``label``: a
    SourceDataError for what is not a whole image, a SourceError for a whole
    image of a size that does not pass."""
    try:
        return whole_image(data, size, exact)
    except ImageSizeError as ex:
        raise SourceError(f"{label} returned {ex}") from None
    except ImageDataError as ex:
        raise SourceDataError(f"{label} returned {ex}") from None


@dataclass(frozen=True)
class MapQuery:
    bbox: BBox
    size: tuple[int, int]
    srs: SRS
    format: ImageFormat
    transparent: bool = False
    params: tuple[tuple[str, str], ...] = ()  # request parameters a source may forward (dimensions)
    # the request's values of the layers' dimensions: caches keep tiles apart by them
    dimensions: tuple[tuple[str, str], ...] = ()

    @property
    def res(self) -> tuple[float, float]:
        return (
            (self.bbox[2] - self.bbox[0]) / self.size[0],
            (self.bbox[3] - self.bbox[1]) / self.size[1],
        )


class Source:
    """The source protocol: what caches, layers and services ask of a source.

    - ``name``, ``transparent``, ``supports_meta_tiles`` (False: the source
      answers tile by tile, not for whole meta tiles);
    - ``limits`` (SourceLimits: coverage, resolution range, seed_only, ...) and
      ``on_error`` (ErrorPolicy or None), both given to the constructor;
    - ``get_map(query)``: an image for exactly ``query``, blank outside the limits;
    - ``delivers(bbox, size, srs)``: False where the source would answer blank;
    - ``stand_in(error, size)``: the on_error image for an error, if configured;
    - ``res_range()`` and ``extent()``: where and at which resolutions it draws
      (capabilities, a cache's extent);
    - ``combined_with(other, query)``: one source drawing both (WMS layers of one server).

    Subclasses draw in ``draw(query)``; tiled sources fetch in ``fetch_tile``."""

    supports_meta_tiles: bool = True

    def __init__(self, name: str, transparent: bool = False, limits: SourceLimits = NO_LIMITS,
                 on_error: ErrorPolicy | None = None):
        self.name = name
        self.limits = limits
        self.on_error = on_error  # answers to errors (wms, tile and arcgis sources)
        self.transparent = transparent or limits.makes_transparent

    def get_map(self, query: MapQuery) -> ImageResult:
        """An image for exactly ``query`` within the limits: blank outside them,
        clipped, made transparent and faded inside them as they say."""
        limits = self.limits
        if limits.is_empty:
            return self.draw(query)
        if not limits.active(query.bbox, query.size, query.srs):
            return ImageResult(image=blank_image(query.size))
        try:
            with limits.held():
                result = self.draw(query)
        except LockTimeout as ex:
            raise SourceTimeout(str(ex)) from None
        return limits.finish(result, query.bbox, query.size, query.srs)

    def draw(self, query: MapQuery) -> ImageResult:
        """The source's own image for ``query`` (``get_map`` applies the limits)."""
        raise NotImplementedError

    def stand_in(self, error: SourceError, size: tuple[int, int]) -> tuple[ImageResult, ErrorAnswer] | None:
        """The ``on_error`` image for ``error`` (not cacheable unless ``cache: true``)
        and the answer it comes from; None when the error stands."""
        return self.on_error.stand_in(error, size) if self.on_error is not None else None

    def delivers(self, bbox: BBox, size: tuple[int, int], srs: SRS) -> bool:
        """False when the source would answer blank (resolution limits, coverage, seed_only)."""
        return self.limits.active(bbox, size, srs)

    def res_range(self) -> ResRange | None:
        """The resolutions the source draws (None: all)."""
        return self.limits.res_range()

    def extent(self) -> Extent:
        """Where the source draws: its coverage, else the default (world) extent."""
        return coverage_extent(self.limits.coverage) or default_extent()

    def combined_with(self, other: Source, query: MapQuery) -> Source | None:
        """One source that draws this one and ``other`` (above it) with one request, if any."""
        return None


class TiledSource(Source):
    """A source with a grid of its own. Tiles of that grid are fetched as they are;
    any other query is stitched from the tiles of the closest level."""

    grid: TileGrid
    resampling: str = "bicubic"
    max_tile_limit: int | None = None  # the most tiles one map may need (None: any number)
    supports_meta_tiles = False

    def get_tile(self, coord: TileCoord, format: ImageFormat) -> ImageResult:
        """The tile at ``coord`` of ``grid`` as the source has it, within the limits."""
        limits = self.limits
        if limits.is_empty:
            return self.fetch_tile(coord, format)
        grid = self.grid
        bbox = grid.tile_bbox(coord)
        if not limits.active(bbox, grid.tile_size, grid.srs):
            return ImageResult(image=blank_image(grid.tile_size))
        result = self.fetch_tile(coord, format)
        if not format.is_image:
            return result
        return limits.finish(result, bbox, grid.tile_size, grid.srs)

    def fetch_tile(self, coord: TileCoord, format: ImageFormat) -> ImageResult:
        """The source's own tile at ``coord`` (``get_tile`` applies the limits)."""
        raise NotImplementedError

    def extent(self) -> Extent:
        """Its coverage, else its grid."""
        return coverage_extent(self.limits.coverage) or Extent(self.grid.bbox, self.grid.srs)

    def draw(self, query: MapQuery) -> ImageResult:
        """The map drawn from the tiles of the closest level (``draw_from_tiles``);
        the tiles are finished with the map, not one by one."""
        if not query.format.is_image:
            raise SourceError(
                f"source '{self.name}': {query.format.mime} tiles pass through only to a cache with "
                "the same grid; they cannot be rescaled or reprojected"
            )

        def load(coords: list[TileCoord]) -> list[ImageResult | None]:
            return [self.fetch_tile(coord, query.format) for coord in coords]

        result = draw_from_tiles(self.grid, query.bbox, query.size, query.srs, load, resampling=self.resampling,
                                 max_tiles=self.max_tile_limit, label=f"source '{self.name}'")
        return result if result is not None else ImageResult(image=blank_image(query.size))
