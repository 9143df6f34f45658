"""A WMTS layer: one tile layer per TileMatrixSet, with its format, feature info
sources, dimensions and extent as capabilities and requests see them."""

from __future__ import annotations

import dataclasses
import threading
from functools import cached_property

from ...config.dimensions import Dimension
from ...image.formats import ImageFormat
from ...layers import TileLayer
from ...sources.cache import cache_extent
from ...srs import SRSError
from ..client_input import echo
from ..tile_response import KNOWN_EXTENSIONS
from .errors import WMTSError

MAX_DIMENSION_VIEWS = 256  # tile layers kept per set of dimension values


def wmts_format(fmt: ImageFormat) -> tuple[str, str]:
    """(mime type, URL extension) of tiles in ``fmt``: images by their family (``png8a``
    is image/png, as in MapProxy), mixed png/jpeg tiles as png."""
    if fmt.mime == "mixed":
        return "image/png", "png"
    if fmt.is_image:
        return fmt.mime, fmt.mime.partition("/")[2]
    return fmt.content_type, fmt.ext


class WMTSLayer:
    def __init__(self, name: str, by_set: dict[str, TileLayer]):
        self.name = name
        self.by_set = by_set
        self.first = next(iter(by_set.values()))
        self.dimensions: dict[str, Dimension] = self.first.dimensions
        self.mime, self.ext = wmts_format(self.first.format)
        self._formats = frozenset(f for f in (*KNOWN_EXTENSIONS, self.ext, self.mime) if self._accepts_format(f))
        self._views: dict[tuple, TileLayer] = {}
        self._views_lock = threading.Lock()

    @property
    def title(self) -> str:
        return self.first.title

    @property
    def abstract(self) -> str:
        return str(self.first.md.get("abstract") or "")

    @property
    def info_sources(self) -> list:
        return self.first.info_sources

    @property
    def queryable(self) -> bool:
        return bool(self.first.info_sources)

    @cached_property
    def llbbox(self) -> tuple[float, float, float, float]:
        try:
            return cache_extent(self.first.manager).llbbox()
        except SRSError:
            return (-180, -90, 180, 90)

    def accepts_format(self, requested: str) -> bool:
        """A FORMAT parameter or URL extension (``image/png``, ``png``) for this layer's tiles."""
        return requested in self._formats or self._accepts_format(requested)

    def _accepts_format(self, requested: str) -> bool:
        if requested.lower() == self.mime:
            return True
        subtype = requested.split(";")[0].strip().rpartition("/")[2]
        return subtype == self.ext or self.first.format.matches_ext(subtype)

    def dimension_values(self, given: dict[str, str]) -> tuple[tuple[str, str], ...]:
        """The value of each of the layer's dimensions (its default where none or
        ``default`` is given); a value the layer does not have is an error."""
        if not self.dimensions:
            return ()
        out = []
        for name, dim in self.dimensions.items():
            value = given.get(name)
            if value is None or value == "" or value == "default":
                value = dim.default
            elif value not in dim.values:
                raise WMTSError(f"invalid dimension value ({name}={echo(value)}).", "InvalidParameterValue", name)
            out.append((name, value))
        return tuple(out)

    def tile_layer(self, set_name: str, given: dict[str, str]) -> TileLayer:
        """The tile layer of a matrix set for the dimension values ``given`` (see
        ``dimension_values``)."""
        layer = self.by_set[set_name]
        if not self.dimensions:
            return layer
        values = self.dimension_values(given)
        key = (set_name, values)
        view = self._views.get(key)
        if view is None:
            manager = layer.manager.with_dimensions(values)
            if manager is None:
                raise WMTSError("this dimension value cannot be stored", "InvalidParameterValue")
            view = dataclasses.replace(layer, manager=manager)
            with self._views_lock:
                if len(self._views) >= MAX_DIMENSION_VIEWS:
                    self._views.clear()
                view = self._views.setdefault(key, view)
        return view

    def legend_url(self, template: str | None, legend_wms_version: str | None, base: str) -> str | None:
        """The LegendURL from ``template`` (wmts_kvp/rest_legendurl), else GetLegendGraphic
        of the WMS for layers with a ``legendurl``."""
        conf = self.first.conf
        if template is None and conf is not None and conf.legendurl and legend_wms_version:
            template = (f"{{base_url}}/service?service=WMS&request=GetLegendGraphic&version={legend_wms_version}"
                        "&format=image%2Fpng&layer={layer_name}")
        if not template:
            return None
        return template.replace("{base_url}", base).replace("{layer_name}", self.name)
