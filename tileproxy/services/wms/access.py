"""The authorize and decorate_img callbacks in WMS (see ``services.access`` and
``services.decorate``), as MapProxy applies them.

- GetMap asks ``wms.map`` about the layers that draw (a group's sublayers, or the
  group itself when it has sources of its own). A layer without the ``map`` right
  that the request names is refused with 403; one it only reaches through a group
  is left out. A layer limited to an area is clipped to it (transparent outside),
  then the whole map to the request's limit (background colour outside).
- GetFeatureInfo asks ``wms.featureinfo`` (the ``featureinfo`` right) likewise; a
  point outside a limit has no features there.
- GetLegendGraphic asks ``wms.legendgraphic`` (the ``legendgraphic`` right).
- GetCapabilities asks ``wms.capabilities`` about every named layer and lists a
  layer only when it has the ``map`` right, its area meets the limits, and its
  parent is listed; a group is listed while something in it is. Limits narrow the
  advertised bounding boxes; ``queryable`` needs the ``featureinfo`` right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from PIL import Image

from ...extent import Extent
from ...http import HTTPError
from ...image.result import ImageResult
from ...layers import WMSLayer
from ...maps import MapLayer
from ...sources.base import MapQuery
from ...sources.limits import clip_to
from ...srs import BBox, SRSError, get_srs
from ..access import Answer, ErrorFactory, authorize
from ..decorate import DECORATE, decorate
from .exceptions import WMSError, xml_exception
from .request import MapParams

if TYPE_CHECKING:
    from ...coverage import Coverage


def wms_error(version: str) -> ErrorFactory:
    """401/403 answers as WMS exceptions of ``version`` (XML whatever EXCEPTIONS asks:
    an image would hide the status)."""
    return lambda message, status: xml_exception(WMSError(message, status=status), version)


class LimitedMapLayer(MapLayer):
    """A map layer drawn only inside ``limit``: transparent outside, and not asked
    at all for a map wholly outside."""

    transparent = True

    def __init__(self, inner: MapLayer, limit: Coverage):
        self.inner = inner
        self.limit = limit

    def render(self, query: MapQuery) -> ImageResult:
        if not self.limit.intersects(query.bbox, query.srs):
            return ImageResult(image=Image.new("RGBA", tuple(query.size), (255, 255, 255, 0)))
        result = self.inner.render(query)
        if self.limit.contains(query.bbox, query.srs):
            return result
        img = result.fitted(tuple(query.size)).image.convert("RGBA")
        return ImageResult(image=clip_to(img, self.limit, query.bbox, query.srs), cacheable=result.cacheable)

    def extent(self) -> Extent:
        return self.inner.extent()

    def res_range(self):
        return self.inner.res_range()


class MapAccess:
    """The callbacks of one GetMap request (or of another service's map: ``service``
    names it to the callbacks, ``error`` words its denials)."""

    def __init__(self, environ: dict, version: str, service: str = "wms.map", error: ErrorFactory | None = None):
        self.environ = environ
        self.service = service
        self.error = error or wms_error(version)
        self.decorator: Callable | None = environ.get(DECORATE)
        self.names: list[str] = []  # the layers that draw, as the decorate_img callback gets them
        self.limit: Coverage | None = None  # the whole map's limit

    def ask(self, names: list[str], params: MapParams) -> Answer | None:
        """The authorize callback's answer for ``wms.map`` (None without a callback);
        raises HTTPError for a denial."""
        return authorize(self.environ, self.service, names, self.error, (params.srs.code, params.bbox))

    def restrict(self, drawn: list[tuple[WMSLayer, MapLayer]], params: MapParams) -> list[MapLayer]:
        """The map layers the request may draw (limited ones wrapped); raises HTTPError
        for a denied layer the request names."""
        names = list(dict.fromkeys(owner.name for owner, _ in drawn if owner.name))
        answer = self.ask(names, params)
        if answer is None or answer.full:
            self.names = names
            return [m for _, m in drawn]
        kept: list[MapLayer] = []
        for owner, map_layer in drawn:
            if not answer.allows(owner.name, "map"):
                if owner.name in params.layers:
                    raise HTTPError(self.error("forbidden", 403))
                continue
            limit = answer.layer_limit(owner.name)
            kept.append(LimitedMapLayer(map_layer, limit) if limit is not None else map_layer)
        self.names = [name for name in names if answer.allows(name, "map")]
        self.limit = answer.request_limit()
        return kept

    @property
    def changes_image(self) -> bool:
        """Must the map be drawn even where the encoded image could pass through?"""
        return self.limit is not None or self.decorator is not None

    def clipped(self, img: Image.Image, params: MapParams) -> Image.Image:
        """The map with everything outside the request's limit in the background colour."""
        if self.limit is None or self.limit.contains(params.bbox, params.srs):
            return img
        inside = clip_to(img.convert("RGBA"), self.limit, params.bbox, params.srs)
        base = Image.new("RGBA", img.size, (*params.bgcolor, 0 if params.transparent else 255))
        base.alpha_composite(inside)
        return base

    def decorated(self, img: Image.Image, params: MapParams) -> Image.Image:
        """The map as the decorate_img callback makes it."""
        if self.decorator is None:
            return img
        opts = replace(params.opts, transparent=params.transparent)
        return decorate(self.decorator, img, opts, self.service, self.names, self.environ,
                        (params.srs.code, params.bbox))


def featureinfo_limits(environ: dict, version: str, owners: list[tuple[str, list]], requested: list[str],
                       point: tuple[float, float], query_extent: tuple) -> list[tuple[str, list]]:
    """The (layer, sources) pairs whose feature info the request may have at ``point``
    (in the query's SRS, ``query_extent[0]``); raises HTTPError for a denied layer
    named in LAYERS."""
    error = wms_error(version)
    names = [name for name, _ in owners]
    answer = authorize(environ, "wms.featureinfo", names, error, query_extent)
    if answer is None or answer.full:
        return owners
    request_limit = answer.request_limit()
    srs_code = query_extent[0]
    if request_limit is not None and not _holds(request_limit, point, srs_code):
        return []
    kept = []
    for name, sources in owners:
        if not answer.allows(name, "featureinfo"):
            if name in requested:
                raise HTTPError(error("forbidden", 403))
            continue
        limit = answer.layer_limit(name)
        if limit is None or _holds(limit, point, srs_code):
            kept.append((name, sources))
    return kept


def _holds(limit: Coverage, point: tuple[float, float], srs_code: str) -> bool:
    x, y = point
    return limit.contains((x, y, x, y), get_srs(srs_code))


def legend_allowed(environ: dict, version: str, name: str) -> None:
    """Raises HTTPError unless the layer's legend may be shown (``legendgraphic``)."""
    error = wms_error(version)
    answer = authorize(environ, "wms.legendgraphic", [name], error)
    if answer is not None and not answer.allows(name, "legendgraphic"):
        raise HTTPError(error("forbidden", 403))


class ShownLayers:
    """Which layers of the tree a capabilities document lists, for a ``partial`` answer."""

    def __init__(self, answer: Answer):
        self.answer = answer
        self.request_limit = answer.request_limit()
        self._children: dict[int, list[WMSLayer]] = {}

    def _limits(self, layer: WMSLayer) -> list[Coverage]:
        own = self.answer.layer_limit(layer.name) if layer.name else None
        return [c for c in (own, self.request_limit) if c is not None]

    def _permitted(self, layer: WMSLayer) -> bool:
        if not self.answer.allows(layer.name, "map"):
            return False
        extent = layer.map_extent
        try:
            return all(limit.intersects(extent.bbox, extent.srs) for limit in self._limits(layer))
        except SRSError:
            return False

    def children(self, layer: WMSLayer) -> list[WMSLayer]:
        key = id(layer)
        if key not in self._children:
            shown = []
            for child in layer.layers:
                if child.name and not self._permitted(child):
                    continue
                if child.map_layers or not child.layers or self.children(child):
                    shown.append(child)
            self._children[key] = shown
        return self._children[key]

    def queryable(self, layer: WMSLayer) -> bool:
        return layer.queryable and (not layer.name or self.answer.allows(layer.name, "featureinfo"))

    def extent(self, layer: WMSLayer) -> Extent | None:
        """The layer's extent narrowed by its limits; None when no limit applies."""
        limits = self._limits(layer)
        if not limits:
            return None
        extent = layer.map_extent
        for limit in limits:
            extent = _narrowed(extent, limit)
        return extent


def _narrowed(extent: Extent, limit: Coverage) -> Extent:
    """The part of ``extent`` inside ``limit``, as a bbox in the limit's SRS."""
    from shapely.geometry import box

    try:
        area = limit.geom.intersection(box(*extent.bbox_in(limit.srs)))
    except SRSError:
        return extent
    if area.is_empty:
        return extent
    bounds: BBox = tuple(area.bounds)  # type: ignore[assignment]
    return Extent(bounds, limit.srs)


def capabilities_view(environ: dict, version: str, names: list[str]) -> ShownLayers | None:
    """What the capabilities may show (None: everything); raises HTTPError for a denial."""
    answer = authorize(environ, "wms.capabilities", names, wms_error(version))
    if answer is None or answer.full:
        return None
    return ShownLayers(answer)

