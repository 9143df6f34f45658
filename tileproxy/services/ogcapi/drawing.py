"""Drawing OGC API maps and map tiles with the WMS GetMap machinery: the map is
drawn inside the collection's extent and placed on the background colour."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from PIL import Image

from ...config.model import WMSConfig
from ...http import Response
from ...image.codec import ImageDataError, decode, encode
from ...image.formats import ImageFormat, ImageOptions
from ...image.placement import contains, intersection, part_within, placed
from ...layers import WMSLayer
from ...srs import SRS, SRSError
from ..wms.access import MapAccess
from ..wms.exceptions import WMSError
from ..wms.getmap import render_map
from ..wms.request import MapParams as WMSMapParams
from .crs import ogc_url
from .errors import OGCAPIError, server_error
from .mapparams import MapArea, _reprojected

RGBA = tuple[int, int, int, int]


def image_options(formats: dict[str, ImageOptions], mime: str) -> ImageOptions:
    return formats.get(mime) or ImageOptions(format=ImageFormat(mime))


def content_headers(area: MapArea) -> list[tuple[str, str]]:
    """``Content-Crs`` (but for EPSG:4326) and ``Content-Bbox`` in the CRS's axis order."""
    return bbox_headers(area.srs, area.bbox)


def bbox_headers(srs: SRS, b: tuple[float, float, float, float]) -> list[tuple[str, str]]:
    """``content_headers`` of a map of ``b`` in ``srs``."""
    crs_headers, north_first = _crs_headers(srs)
    if north_first:
        b = (b[1], b[0], b[3], b[2])
    return [*crs_headers, ("Content-Bbox", ",".join(f"{v:.17g}" for v in b))]


@lru_cache(maxsize=64)
def _crs_headers(srs: SRS) -> tuple[list[tuple[str, str]], bool]:
    """The Content-Crs header of maps in ``srs`` (none for EPSG:4326, whose bbox is
    lon/lat) and whether their bbox is written north first. Every map tile asks."""
    if srs.code == "EPSG:4326":
        return [], False
    return [("Content-Crs", f"<{ogc_url(srs)}>")], srs.is_axis_order_ne


def draw(layer: WMSLayer, names: list[str], area: MapArea, opts: ImageOptions, background: RGBA,
         transparent: bool, conf: WMSConfig, access: MapAccess | None) -> Response:
    """The map of ``area``: drawn where the layer has data, ``background`` elsewhere."""
    try:
        extent = _reprojected("extent", layer.map_extent.bbox, layer.map_extent.srs, area.srs)
    except OGCAPIError:
        extent = area.bbox  # an extent that cannot be shown in this CRS limits nothing
    inside = intersection(extent, area.bbox)
    if inside is None:
        return _respond(Image.new("RGBA", area.size, background), area, opts, transparent)
    part = area
    offset = None
    if not contains(extent, area.bbox):
        size, offset, sub = part_within(area.bbox, area.size, inside)
        if not size[0] or not size[1]:
            return _respond(Image.new("RGBA", area.size, background), area, opts, transparent)
        part = replace(area, bbox=sub, size=size)
    params = WMSMapParams(layers=names, bbox=part.bbox, srs=part.srs, size=part.size, format_name=opts.format.mime,
                          opts=opts, transparent=transparent, bgcolor=background[:3])
    try:
        resp = render_map(params, [layer], conf, access=access)
    except WMSError as ex:
        raise server_error(ex.message) from None
    except SRSError as ex:
        raise server_error(str(ex)) from None
    if offset is None:
        resp.headers += content_headers(area)
        return resp
    try:
        img = decode(resp.body)
    except ImageDataError as ex:
        raise server_error(f"error while processing image file: {ex}") from None
    if img.size != part.size:
        img = img.resize(part.size)
    return _respond(placed(img, area.size, offset, background), area, opts, transparent)


def _respond(img: Image.Image, area: MapArea, opts: ImageOptions, transparent: bool) -> Response:
    if not transparent and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    data, mime = encode(img, opts)
    return Response(data, content_type=mime, headers=content_headers(area))
