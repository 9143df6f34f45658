"""WMTS GetFeatureInfo: the point I/J of a tile asked of the layer's feature info
sources (see ``services.featureinfo``: sources whose coverage leaves the point out
are not asked, the answers are merged)."""

from __future__ import annotations

from ...grid import TileCoord
from ...http import Response
from ...sources.featureinfo import FeatureInfoQuery
from ..access import authorize, covers_point
from ..client_input import bounded_int, echo
from ..featureinfo import tile_feature_info
from ..tile_access import query_extent
from .errors import WMTSError, tile_error
from .layer import WMTSLayer


def feature_info(layer: WMTSLayer, set_name: str, coord: TileCoord, i: str, j: str, mime: str,
                 feature_count: str | None = None, environ: dict | None = None) -> Response:
    """``coord`` in the grid's own coordinates; ``mime`` an offered InfoFormat. The
    authorize callback is asked for ``wmts.featureinfo`` (the ``featureinfo`` right);
    a point outside the area it limits the layer to has no features."""
    tile_layer = layer.by_set[set_name]
    answer = None
    if environ is not None:
        answer = authorize(environ, "wmts.featureinfo", [layer.name], tile_error, query_extent(tile_layer, coord))
        if answer is not None and not answer.allows(layer.name, "featureinfo"):
            return tile_error("forbidden", 403)
    if not layer.queryable:
        raise WMTSError(f"layer {layer.name} not queryable", "OperationNotSupported", "layer")
    grid = tile_layer.grid
    pos = _pixel(i, "i", grid.tile_size[0]), _pixel(j, "j", grid.tile_size[1])
    count = None
    if feature_count:
        number = bounded_int(feature_count)
        if number is None:
            raise WMTSError(f"invalid FEATURE_COUNT '{echo(feature_count)}'", "InvalidParameterValue", "feature_count")
        count = max(1, number)
    query = FeatureInfoQuery(grid.tile_bbox(coord), grid.tile_size, grid.srs, pos, mime, count)
    limit = answer.tile_limit(layer.name) if answer is not None else None
    outside = limit is not None and not covers_point(limit, *query.coord, grid.srs)
    body, content_type = tile_feature_info([] if outside else layer.info_sources, query)
    return Response(body, content_type=content_type)


def _pixel(value: str, name: str, size: int) -> int:
    pixel = bounded_int(value)
    if pixel is None:
        raise WMTSError(f"{name.upper()} must be an integer, got '{echo(value)}'", "InvalidParameterValue", name)
    if not 0 <= pixel < size:
        raise WMTSError(f"{name.upper()}={pixel} is outside the tile (0 to {size - 1})", "PointIJOutOfRange", name)
    return pixel
