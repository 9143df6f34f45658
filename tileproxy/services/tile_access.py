"""The authorize and decorate_img callbacks (see ``access`` and ``decorate``) for
one tile: TMS, /tiles, WMTS, KML and WMS-C ask them through ``tile_access``.

As in MapProxy, a tile the callback limits to an area is drawn as usual, then
clipped: outside the area it is transparent, and it is sent as PNG. A tile wholly
outside the area is a transparent PNG, and a tile wholly inside is sent as it is
stored. The query extent is the tile's bbox in the grid's SRS."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..grid import TileCoord
from ..http import HTTPError, Response, no_cache
from ..image.codec import encode
from ..image.formats import ImageFormat, ImageOptions
from ..layers import TileLayer
from ..sources.limits import clip_to
from ..stores.base import Tile
from ..tilecache.outcomes import TileOutcome
from ..tilecache.unstored import tile_image
from .access import AUTHORIZE, Answer, ErrorFactory, authorize, granted_whole
from .decorate import DECORATE, decorate
from .tile_response import transparent_png

if TYPE_CHECKING:
    from ..coverage import Coverage

CLIPPED = ImageOptions(format=ImageFormat("image/png"), transparent=True)


def query_extent(layer: TileLayer, coord: TileCoord) -> tuple[str, tuple[float, float, float, float]]:
    """(SRS code, bbox) of a tile, as the callbacks get it."""
    return layer.grid.srs.code, layer.grid.tile_bbox(coord)


class TileAccess:
    """What the callbacks ask of one tile answer: the area it is limited to (None:
    all of it) and the decoration (None: none)."""

    def __init__(self, layer: TileLayer, coord: TileCoord, environ: dict, service: str,
                 limit: Coverage | None, error: ErrorFactory):
        self.layer = layer
        self.coord = coord
        self.environ = environ
        self.service = service
        self.limit = limit
        self.error = error
        self.decorator = environ.get(DECORATE)
        self.bbox = layer.grid.tile_bbox(coord)

    def outside(self) -> Response | None:
        """The answer for a tile wholly outside the limit: a transparent PNG."""
        if self.limit is None or self.limit.intersects(self.bbox, self.layer.grid.srs):
            return None
        resp = Response(transparent_png(self.layer.grid.tile_size), content_type="image/png")
        no_cache(resp.headers)
        return resp

    def applied(self, outcome: TileOutcome) -> TileOutcome:
        """``outcome`` decorated and clipped to the limit."""
        grid = self.layer.grid
        clip = self.limit is not None and not self.limit.contains(self.bbox, grid.srs)
        if not clip and self.decorator is None:
            return outcome
        tile = outcome.tile
        if not self.layer.format.is_image:
            if clip:  # no pixels to clip: the tile is not shown
                raise HTTPError(self.error("forbidden", 403))
            return outcome
        img = tile_image(tile).image  # an unstored tile: the source's own pixels
        opts = self.layer.manager.image_opts
        if self.decorator is not None:
            img = decorate(self.decorator, img, opts, self.service, [self.layer.name], self.environ,
                           (grid.srs.code, self.bbox))
        if clip:
            img = clip_to(img.convert("RGBA"), self.limit, self.bbox, grid.srs)  # type: ignore[arg-type]
            opts = CLIPPED
        data, mime = encode(img, opts)
        return dataclasses.replace(outcome, tile=Tile(tile.coord, data=data, timestamp=tile.timestamp, mime=mime))


def tile_access(environ: dict, service: str, layer: TileLayer, coord: TileCoord, error: ErrorFactory,
                answer: Answer | None = None, right: str = "tile") -> TileAccess | None:
    """Ask the authorize callback (unless ``answer`` is given) whether ``layer`` may
    show tile ``coord`` (``right``); raises HTTPError for a denial. None when no
    callback has anything to do with the tile."""
    if answer is None and AUTHORIZE in environ:
        answer = authorize(environ, service, [layer.name], error, query_extent(layer, coord))
    limit = None
    if answer is not None:
        if not answer.allows(layer.name, right):
            raise HTTPError(error("forbidden", 403))
        limit = answer.tile_limit(layer.name)
    if limit is None and DECORATE not in environ:
        return None
    return TileAccess(layer, coord, environ, service, limit, error)


def served_as_stored(callback: Any, environ: dict, service: str, layer: TileLayer, coord: TileCoord) -> bool:
    """For the cached-tile fast path: may the tile go out as it is stored (see
    ``access.granted_whole``)?"""
    return granted_whole(callback, environ, service, layer.name, "tile", layer.grid.srs,
                         layer.grid.tile_bbox(coord), lambda answer: (answer.tile_limit(layer.name),))
