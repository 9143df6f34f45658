"""WMTS 1.0.0: KVP (``/service?SERVICE=WMTS``) and RESTful (``/wmts/...``) GetCapabilities,
GetTile and GetFeatureInfo, with layer dimensions."""

from __future__ import annotations

import logging
from urllib.parse import quote

from ...config.model import WMTSConfig
from ...grid import TileCoord
from ...http import Request, Response
from ...layers import TileLayer
from ..client_input import bounded_int, echo
from ..tile_response import serve_tile
from .capabilities import CapabilitiesContext, capabilities
from .errors import WMTSError, ows_exception, tile_error
from .featureinfo import feature_info
from .layer import WMTSLayer
from .matrix import METERS_PER_DEGREE, PIXEL_SIZE, WMTSMatrixSet
from .template import URLTemplate

__all__ = ["METERS_PER_DEGREE", "PIXEL_SIZE", "WMTSMatrixSet", "WMTSService", "ows_exception"]

log = logging.getLogger("tileproxy.service.wmts")

CAPABILITIES_PATH = "/1.0.0/WMTSCapabilities.xml"
# KVP parameters of the protocol; any other parameter may be a dimension
_KVP_PARAMS = {"version", "request", "layer", "style", "tilematrixset", "tilematrix", "tilerow", "tilecol",
               "format", "service"}
_TILE_PARAMS = ("layer", "tilematrixset", "tilematrix", "tilerow", "tilecol", "format")
_INFO_PARAMS = ("layer", "tilematrixset", "tilematrix", "tilerow", "tilecol", "infoformat", "i", "j")


class WMTSService:
    def __init__(self, layers: list[TileLayer], conf: WMTSConfig, max_age: int):
        self.conf = conf
        self.max_age = max_age
        self.matrix_sets: dict[str, WMTSMatrixSet] = {}
        self.layers: dict[str, dict[str, TileLayer]] = {}  # name -> matrix set -> tile layer
        for layer in layers:
            if not layer.grid.supports_access_with_origin("nw"):
                log.warning("grid %s cannot be read with a north-west origin; layer %s skipped in WMTS",
                            layer.grid_name, layer.name)
                continue
            set_name = layer.grid.name or layer.grid_name
            matrix_set = self.matrix_sets.setdefault(set_name, WMTSMatrixSet(set_name, layer.grid))
            if matrix_set.grid is not layer.grid:
                log.warning("two grids are named %s; layer %s skipped in WMTS for grid %s",
                            set_name, layer.name, layer.grid_name)
                continue
            self.layers.setdefault(layer.name, {}).setdefault(set_name, layer)
        self.wmts_layers = {name: WMTSLayer(name, sets) for name, sets in self.layers.items()}
        self.tile_template = URLTemplate(conf.restful_template)
        self.fi_template = URLTemplate(conf.restful_fi_template)

    def serves(self, layer: TileLayer) -> bool:
        """Is ``layer`` a tile matrix set of a WMTS layer?"""
        return any(tl is layer for tl in self.layers.get(layer.name, {}).values())

    def matrix_set_name(self, layer: TileLayer) -> str:
        return layer.grid.name or layer.grid_name

    # -- KVP -----------------------------------------------------------------

    def handle_kvp(self, req: Request) -> Response:
        if not self.conf.kvp:
            return ows_exception("WMTS KVP is not enabled", "OperationNotSupported", "service")
        try:
            return self._kvp(req)
        except WMTSError as ex:
            return ex.response()

    def _kvp(self, req: Request) -> Response:
        args = req.args
        request = (args.get("request") or "").lower()
        if not request:
            raise WMTSError("missing parameter REQUEST", "MissingParameterValue", "request")
        if request == "getcapabilities":
            return self.capabilities(req, rest=False)
        if request not in ("gettile", "getfeatureinfo"):
            raise WMTSError(f"unknown WMTS request type '{echo(args['request'])}'", "OperationNotSupported", "request")
        info = request == "getfeatureinfo"
        for key in _INFO_PARAMS if info else _TILE_PARAMS:
            if not args.get(key):
                raise WMTSError(f"missing parameter {key.upper()}", "MissingParameterValue", key)
        version = args.get("version")
        if version and version != "1.0.0":
            raise WMTSError(f"unsupported version '{echo(version)}'", "VersionNegotiationFailed", "version")
        layer, set_name = self._layer(args["layer"], args["tilematrixset"])
        dims = {k: v for k, v in args.items() if k not in _KVP_PARAMS}
        if info:
            mime = self._info_mime(args["infoformat"])
            coord = self._coord(layer, set_name, args["tilematrix"], args["tilecol"], args["tilerow"])
            layer.dimension_values(dims)
            return feature_info(layer, set_name, coord, args["i"], args["j"], mime, args.get("feature_count"))
        self._check_format(layer, args["format"])
        coord = self._coord(layer, set_name, args["tilematrix"], args["tilecol"], args["tilerow"])
        return self._tile(req, layer, set_name, coord, dims)

    # -- RESTful -------------------------------------------------------------

    def handle_rest(self, req: Request, subpath: str) -> Response:
        if not self.conf.restful:
            return ows_exception("RESTful WMTS is not enabled", "OperationNotSupported", status=404)
        if subpath.rstrip("/") == CAPABILITIES_PATH:
            return self.capabilities(req, rest=True)
        try:
            tile = self.tile_template.match(subpath)
            if tile is not None:
                return self._rest_tile(req, *tile)
            info = self.fi_template.match(subpath)
            if info is not None:
                return self._rest_info(*info)
        except WMTSError as ex:
            return ex.response()
        return ows_exception("the URL matches neither the RESTful tile template nor the feature info template",
                             "InvalidParameterValue", status=404)

    def _rest_layer(self, values: dict[str, str], dims: dict[str, str]) -> tuple[WMTSLayer, str]:
        name = values.get("Layer")
        if name is None and len(self.wmts_layers) == 1:
            name = next(iter(self.wmts_layers))
        layer, set_name = self._layer(name or "", values.get("TileMatrixSet"))
        for key, value in dims.items():
            # dimensions of the template that this layer lacks can only be 'default'
            if key not in layer.dimensions and value != "default":
                raise WMTSError(f"unknown dimension: {echo(key)}", "InvalidParameterValue", key)
        return layer, set_name

    def _rest_tile(self, req: Request, values: dict[str, str], dims: dict[str, str]) -> Response:
        layer, set_name = self._rest_layer(values, dims)
        if values.get("Format") is not None:
            self._check_format(layer, values["Format"])
        coord = self._coord(layer, set_name, values["TileMatrix"], values["TileCol"], values["TileRow"])
        return self._tile(req, layer, set_name, coord, dims)

    def _rest_info(self, values: dict[str, str], dims: dict[str, str]) -> Response:
        layer, set_name = self._rest_layer(values, dims)
        suffix = values.get("InfoFormat")
        if suffix is None:
            suffix = next(iter(self.conf.featureinfo_formats), "")
        mime = self._info_mime(suffix)
        coord = self._coord(layer, set_name, values["TileMatrix"], values["TileCol"], values["TileRow"])
        layer.dimension_values(dims)
        return feature_info(layer, set_name, coord, values["I"], values["J"], mime)

    # -- shared --------------------------------------------------------------

    def _layer(self, name: str, set_name: str | None) -> tuple[WMTSLayer, str]:
        layer = self.wmts_layers.get(name)
        if layer is None:
            raise WMTSError(f"unknown layer: {echo(name)}", "InvalidParameterValue", "layer")
        if set_name is None:
            set_name = next(iter(layer.by_set))
        if set_name not in layer.by_set:
            raise WMTSError(f"unknown tilematrixset: {echo(set_name)}", "InvalidParameterValue", "tilematrixset")
        return layer, set_name

    @staticmethod
    def _check_format(layer: WMTSLayer, requested: str) -> None:
        if not layer.accepts_format(requested):
            raise WMTSError(f"invalid format ({echo(requested)}). this tile set only supports ({layer.ext})",
                            "InvalidParameterValue", "format")

    def _info_mime(self, requested: str) -> str:
        """The mime type of an INFOFORMAT (a mime type or a RESTful suffix) that is offered."""
        formats = self.conf.featureinfo_formats
        if requested in formats.values():
            return requested
        if "/" not in requested and requested in formats:
            return formats[requested]
        raise WMTSError(f"unknown infoformat: {echo(requested)}", "InvalidParameterValue", "infoformat")

    def _coord(self, layer: WMTSLayer, set_name: str, matrix: str, col: str, row: str) -> TileCoord:
        """The grid coordinates of a tile; TileMatrix ``01``, ``1`` and ``001`` are one matrix."""
        matrix_set = self.matrix_sets[set_name]
        level, c, r = bounded_int(matrix), bounded_int(col), bounded_int(row)
        if level is None or c is None or r is None:
            raise WMTSError("TileMatrix, TileCol and TileRow must be integers", "InvalidParameterValue",
                            "tilematrix")
        coord = matrix_set.internal_coord(level, c, r)
        if coord is None:
            grid = matrix_set.grid
            locator = ("tilematrix" if not 0 <= level < grid.levels
                       else "tilecol" if not 0 <= c < grid.grid_sizes[level][0] else "tilerow")
            raise WMTSError("The requested tile is outside the bounding box of the tile map.", "TileOutOfRange", locator)
        return coord

    def _tile(self, req: Request, layer: WMTSLayer, set_name: str, coord: TileCoord, dims: dict[str, str]) -> Response:
        tile_layer = layer.tile_layer(set_name, layer.dimension_values(dims))
        return serve_tile(req, tile_layer, coord, self.max_age, tile_error)

    # -- capabilities ------------------------------------------------------

    def capabilities(self, req: Request, rest: bool) -> Response:
        base = req.script_url
        if rest:
            ctx = CapabilitiesContext(f"{base}/wmts", base, True, self.tile_template, self.fi_template)
        else:
            ctx = CapabilitiesContext(base + (req.path.rstrip("/") or "/service"), base, False)
        doc = capabilities(self.conf, list(self.wmts_layers.values()), list(self.matrix_sets.values()), ctx,
                           self.tile_template.dimension_key)
        return Response(doc, content_type="application/xml")

    def tile_url_template(self, base: str, layer: TileLayer) -> str:
        """The RESTful URL of ``layer``'s tiles with ``{TileMatrix}``, ``{TileCol}`` and
        ``{TileRow}`` left to fill (dimensions at their defaults)."""
        wmts_layer = self.wmts_layers[layer.name]
        values = {"Layer": quote(layer.name, safe=""), "TileMatrixSet": quote(self.matrix_set_name(layer), safe=""),
                  "Style": "default",
                  "Format": wmts_layer.ext}
        values.update({name: "default" for name in self.tile_template.dimensions})
        return f"{base}/wmts{self.tile_template.fill(**values)}"
