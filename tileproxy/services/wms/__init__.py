"""WMS 1.0.0 - 1.3.0 at /service, /wms and /ows: GetMap, GetCapabilities,
GetFeatureInfo, GetLegendGraphic and WMS-C (``tiled=true``)."""

from __future__ import annotations

import logging

from ...config.model import WMSConfig
from ...http import Request, Response
from ...image.formats import ImageOptions
from ...layers import TileLayer, WMSLayer
from ...sources.base import SourceError
from ...tilecache.outcomes import TileError
from ..access import AUTHORIZE
from ..client_input import echo
from ..decorate import DECORATE
from ..tile_access import tile_access
from ..tile_response import serve_tile
from .access import MapAccess, capabilities_view, legend_allowed, wms_error
from .capabilities import Capabilities
from .exceptions import WMSError, image_exception, missing_parameters, xml_exception
from .featureinfo import feature_info
from .getmap import dimension_values, render_map
from .legend import LegendCache, legend_graphic
from .request import (
    REQUESTS,
    MapParams,
    exception_mode,
    negotiate_version,
    parse_bool,
    parse_color,
    parse_format_param,
    parse_map_params,
    parse_size,
)
from .wmsc import wmsc_tile

log = logging.getLogger("tileproxy.service.wms")


def _tile_error(message: str, status: int) -> Response:
    """WMS-C is WMS 1.1.1: tile errors are 1.1.1 service exceptions."""
    return xml_exception(WMSError(message), "1.1.1")


class WMSService:
    def __init__(self, conf: WMSConfig, root: WMSLayer, tile_layers: list[TileLayer], base_dir: str, max_age: int):
        self.conf = conf
        self.root = root
        self.layers = {lyr.name: lyr for lyr in root.walk() if lyr.name}
        self.tile_layers = tile_layers
        self.max_age = max_age
        self.legends = LegendCache(base_dir)
        self._bbox_cache: dict = {}  # capabilities bounding boxes per layer

    @staticmethod
    def is_wms_request(args: dict[str, str]) -> bool:
        """Requests without SERVICE that are WMS all the same: WMS 1.0.0 (WMTVER) or GetMap."""
        return "wmtver" in args or (args.get("request") or "").lower() in ("getmap", "map")

    def handle(self, req: Request) -> Response:
        args = req.args
        version = negotiate_version(args.get("version") or args.get("wmtver"), self.conf.versions)
        request = (args.get("request") or "").lower()
        kind = REQUESTS.get(request)
        try:
            if not request:
                raise missing_parameters(["request"])
            if kind is None or (kind == "legendgraphic" and version not in ("1.1.1", "1.3.0")):
                raise WMSError(f"unknown WMS request type '{echo(kind or request)}'", "OperationNotSupported", "request")
            if kind == "capabilities":
                return self.capabilities(req, version)
            if kind == "map":
                return self.get_map(req, version)
            if kind == "featureinfo":
                return feature_info(args, version, self.conf, self.layers, req.environ)
            if AUTHORIZE in req.environ and args.get("layer") in self.layers:
                legend_allowed(req.environ, version, args["layer"])
            return legend_graphic(args, version, self.layers, self.legends, self.conf)
        except WMSError as err:
            if kind == "map":
                return self._map_exception(err, args, version)
            return xml_exception(err, version)
        except (SourceError, TileError) as ex:
            err = WMSError(str(ex))
            return self._map_exception(err, args, version) if kind == "map" else xml_exception(err, version)

    def _map_exception(self, err: WMSError, args: dict[str, str], version: str) -> Response:
        """The exception in the form EXCEPTIONS asks for. An image exception takes the
        request's size and format where they are usable (else 256x256, PNG)."""
        mode = exception_mode(args)
        if mode == "xml" or err.xml_only:
            return xml_exception(err, version)
        try:
            size = parse_size(args, self.conf)
        except WMSError as ex:
            if ex.xml_only:
                return xml_exception(err, version)
            size = (256, 256)
        try:
            _, opts = parse_format_param(args.get("format"), self.conf, False)
        except WMSError:
            opts = ImageOptions()  # PNG
        try:
            color = parse_color(args.get("bgcolor"))
        except WMSError:
            color = (255, 255, 255)
        return image_exception(err, size, opts, parse_bool(args.get("transparent")), color, mode == "blank")

    # -- requests ------------------------------------------------------------

    def capabilities(self, req: Request, version: str) -> Response:
        tiled = parse_bool(req.args.get("tiled"))
        if tiled:
            version = "1.1.1"
        shown = capabilities_view(req.environ, version, list(self.layers)) if AUTHORIZE in req.environ else None
        caps = Capabilities(self.conf, self.root, req.script_url, self.legends.size,
                            self.tile_layers if tiled else None, self._bbox_cache, shown)
        body, ctype = caps.document(version)
        return Response(body, content_type=f"{ctype}; charset=utf-8")

    def get_map(self, req: Request, version: str) -> Response:
        args = req.args
        params = parse_map_params(args, version, self.conf, self.layers)
        layers = [self.layers[name] for name in params.layers]
        dimensions = dimension_values(args, layers)
        access = MapAccess(req.environ, version) if AUTHORIZE in req.environ or DECORATE in req.environ else None
        if params.tiled:
            return self.tiled_map(req, params, access)
        return render_map(params, layers, self.conf, dimensions, args, access)

    def tiled_map(self, req: Request, params: MapParams, access: MapAccess | None) -> Response:
        """WMS-C: a GetMap that is exactly one tile of a cache answers with that tile.
        The callbacks are asked as for any GetMap (``wms.map``); a tile they limit
        or decorate is clipped and decorated as the tile services do."""
        layer, coord = wmsc_tile(self.tile_layers, params)
        tile = None
        if access is not None:
            answer = access.ask([layer.name], params)
            tile = tile_access(req.environ, "wms.map", layer, coord, wms_error("1.1.1"), answer, "map")
        return serve_tile(req, layer, coord, self.max_age, _tile_error, tile)

