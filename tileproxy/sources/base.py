"""The source protocol: sources render maps for a query and know nothing of caches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..grid import TileCoord, TileGrid
from ..image.errors import ImageDataError
from ..image.formats import ImageFormat
from ..image.mosaic import tile_mosaic
from ..image.result import ImageResult, whole_image
from ..image.transform import blank_image, transform_image
from ..image.whole import ImageSizeError
from ..srs import SRS, BBox, clip_to_world

if TYPE_CHECKING:
    from .on_error import ErrorPolicy

MAX_MOSAIC_TILES = 256


class SourceError(Exception):
    """A source could not deliver an image; the message is safe to show to clients."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # upstream HTTP status, None for timeouts and bad data


class SourceTimeout(SourceError):
    pass


class SourceDataError(SourceError):
    """A source answered, but not with image data that can be used (not an image,
    cut off, undecodable)."""


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
    """Base of all sources. ``get_map`` returns an image for exactly ``query``."""

    name: str = ""
    transparent: bool = False
    supports_meta_tiles: bool = True
    on_error: ErrorPolicy | None = None  # answers to errors (wms, tile and arcgis sources)

    def get_map(self, query: MapQuery) -> ImageResult:
        raise NotImplementedError

    def delivers(self, bbox: BBox, size: tuple[int, int], srs: SRS) -> bool:
        """False when the source would answer blank (resolution limits, coverage, seed_only)."""
        return True


class TiledSource(Source):
    """A source with a grid of its own. Tiles of that grid are fetched as they are;
    any other query is stitched from the tiles of the closest level."""

    grid: TileGrid
    resampling: str = "bicubic"
    supports_meta_tiles = False

    def get_tile(self, coord: TileCoord, format: ImageFormat) -> ImageResult:
        raise NotImplementedError

    def get_map(self, query: MapQuery) -> ImageResult:
        if not query.format.is_image:
            raise SourceError(
                f"source '{self.name}': {query.format.mime} tiles pass through only to a cache with "
                "the same grid; they cannot be rescaled or reprojected"
            )
        grid = self.grid
        bbox = query.bbox
        if query.srs != grid.srs:
            bbox = clip_to_world(grid.srs, query.srs.transform_bbox_to(grid.srs, bbox))
            if bbox is None:
                return ImageResult(image=blank_image(query.size))
        # the finer of the two axes' resolutions, so that reprojection loses no detail
        res = min((bbox[2] - bbox[0]) / query.size[0], (bbox[3] - bbox[1]) / query.size[1])
        level = grid.closest_level(res)
        x0, y0, x1, y1 = grid.tile_range(bbox, level)
        if x1 < x0 or y1 < y0:
            return ImageResult(image=blank_image(query.size))
        if (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_MOSAIC_TILES:
            raise SourceError(f"source '{self.name}': request covers too many tiles")
        coords = [(x, y, level) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]
        images = [self.get_tile(coord, query.format).image for coord in coords]
        mosaic, mosaic_bbox = tile_mosaic(grid, coords, images)
        img = transform_image(mosaic, mosaic_bbox, grid.srs, query.bbox, query.srs, query.size, self.resampling)
        return ImageResult(image=img)
