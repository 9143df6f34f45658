"""WMTS GetFeatureInfo: the point I/J of a tile, asked of the layer's feature info
sources (those whose coverage holds the point) and their answers merged."""

from __future__ import annotations

import logging

from ...grid import TileCoord
from ...http import Response
from ...sources.base import SourceError
from ...sources.wms import FeatureInfoDoc, FeatureInfoQuery, WMSSource
from ..wms.featureinfo import apply_xslt, info_kind, merge_docs
from .errors import WMTSError
from .layer import WMTSLayer

log = logging.getLogger("tileproxy.service.wmts")


def feature_info(layer: WMTSLayer, set_name: str, coord: TileCoord, i: str, j: str, mime: str,
                 feature_count: str | None = None) -> Response:
    """``coord`` in the grid's own coordinates; ``mime`` an offered InfoFormat."""
    if not layer.queryable:
        raise WMTSError(f"layer {layer.name} not queryable", "OperationNotSupported", "layer")
    grid = layer.by_set[set_name].grid
    pos = _pixel(i, "i", grid.tile_size[0]), _pixel(j, "j", grid.tile_size[1])
    count = None
    if feature_count:
        try:
            count = max(1, int(feature_count))
        except ValueError:
            raise WMTSError(f"invalid FEATURE_COUNT '{feature_count}'", "InvalidParameterValue", "feature_count") from None
    bbox = grid.tile_bbox(coord)
    query = FeatureInfoQuery(bbox, grid.tile_size, grid.srs, pos, mime, count)
    rx = (bbox[2] - bbox[0]) / grid.tile_size[0]
    ry = (bbox[3] - bbox[1]) / grid.tile_size[1]
    point = (bbox[0] + pos[0] * rx, bbox[3] - pos[1] * ry)
    docs: list[FeatureInfoDoc] = []
    errors: list[SourceError] = []
    for source in layer.info_sources:
        if not _covers(source, point, grid.srs):
            continue
        try:
            doc = source.get_feature_info(query)
        except SourceError as ex:
            log.warning("WMTS GetFeatureInfo, layer %s: %s", layer.name, ex)
            errors.append(ex)
            continue
        if source.options.featureinfo_xslt:
            doc = FeatureInfoDoc(apply_xslt(source.options.featureinfo_xslt, doc.data),
                                 source.options.featureinfo_out_format or doc.mime)
        docs.append(doc)
    if errors and not docs:
        raise WMTSError(str(errors[0]), "NoApplicableCode")
    return Response(merge_docs(docs, info_kind(mime) or "text"), content_type=mime)


def _pixel(value: str, name: str, size: int) -> int:
    try:
        pixel = int(value)
    except ValueError:
        raise WMTSError(f"{name.upper()} must be an integer, got '{value}'", "InvalidParameterValue", name) from None
    if not 0 <= pixel < size:
        raise WMTSError(f"{name.upper()}={pixel} is outside the tile (0 to {size - 1})", "PointIJOutOfRange", name)
    return pixel


def _covers(source: WMSSource, point: tuple[float, float], srs) -> bool:
    """False when the source's coverage leaves out ``point`` (in ``srs``)."""
    limits = getattr(source, "limits", None)
    coverage = limits.coverage if limits is not None else None
    if coverage is None:
        return True
    x, y = point
    return coverage.contains((x, y, x, y), srs)
