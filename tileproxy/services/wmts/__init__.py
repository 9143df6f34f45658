"""WMTS 1.0.0: KVP (``/service?SERVICE=WMTS``) and RESTful (``/wmts/...``) GetCapabilities,
GetTile and GetFeatureInfo, with layer dimensions."""

from __future__ import annotations

import logging
from urllib.parse import quote

from ...config.model import WMTSConfig
from ...grid import TileCoord
from ...http import Request, Response
from ...layers import TileLayer
from ..access import authorize
from ..client_input import bounded_ints, echo
from ..tile_access import tile_access
from ..tile_response import TileAddress, TileRoute, serve_tile
from .capabilities import CapabilitiesContext, capabilities
from .errors import WMTSError, ows_exception, tile_error
from .featureinfo import feature_info
from .layer import WMTSLayer
from .matrix import METERS_PER_DEGREE, PIXEL_SIZE, WMTSMatrixSet
from .template import INFO_FIELDS, URLTemplate

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
        self.fi_template = URLTemplate(conf.restful_fi_template, INFO_FIELDS)
        # what resolve needs at hand: (Layer, TileMatrixSet) as a tile URL gives them
        # (None where the template has no such variable) -> the layer and set they name
        self._rest_sets: dict[tuple[str | None, str | None], tuple[WMTSLayer, str]] = {}
        for name in (*self.wmts_layers, None):
            for set_name in (*self.matrix_sets, None):
                try:
                    self._rest_sets[(name, set_name)] = self._named_layer(name, set_name)
                except WMTSError:
                    pass
        # can a tile URL be the capabilities document's? (every '/' of a matching path is
        # one of the template, so only one number of trailing slashes can match)
        slashes = conf.restful_template.count("/") - CAPABILITIES_PATH.count("/")
        self._tiles_at_capabilities = slashes >= 0 and self.tile_template.match(
            CAPABILITIES_PATH + "/" * slashes) is not None
        self._numbers_last = (conf.restful and not self.tile_template.dimensions
                              and conf.restful_template.endswith("/{TileMatrix}/{TileCol}/{TileRow}.{Format}"))

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
            coord = self._coord(set_name, args["tilematrix"], args["tilecol"], args["tilerow"])
            layer.dimension_values(dims)
            return feature_info(layer, set_name, coord, args["i"], args["j"], mime, args.get("feature_count"),
                                req.environ)
        if not layer.accepts_format(args["format"]):
            raise self._format_error(layer, args["format"])
        coord = self._coord(set_name, args["tilematrix"], args["tilecol"], args["tilerow"])
        tile_layer = layer.tile_layer(set_name, dims)
        return self._serve(req, tile_layer, coord)

    def _serve(self, req: Request, layer: TileLayer, coord: TileCoord) -> Response:
        """A tile, as the authorize and decorate_img callbacks allow."""
        access = tile_access(req.environ, "wmts", layer, coord, tile_error)
        return serve_tile(req, layer, coord, self.max_age, tile_error, access)

    # -- RESTful -------------------------------------------------------------

    def handle_rest(self, req: Request, subpath: str) -> Response:
        if not self.conf.restful:
            return ows_exception("RESTful WMTS is not enabled", "OperationNotSupported", status=404)
        if subpath.rstrip("/") == CAPABILITIES_PATH:
            return self.capabilities(req, rest=True)
        try:
            tile = self.resolve(subpath)
            if tile is not None:
                return self._serve(req, *tile)
            info = self.fi_template.match(subpath)
            if info is not None:
                return self._rest_info(*info, req.environ)
        except WMTSError as ex:
            return ex.response()
        return ows_exception("the URL matches neither the RESTful tile template nor the feature info template",
                             "InvalidParameterValue", status=404)

    def resolve(self, subpath: str) -> TileAddress | None:
        """The tile layer (for the dimension values asked) and grid coordinates a
        RESTful tile URL asks for, ``subpath`` being the path after ``/wmts``; None when
        it is no tile URL (RESTful WMTS off, the capabilities document, a path the
        tile template does not match). A tile URL that names no tile raises WMTSError:
        an unknown layer, matrix set or dimension, another format, a tile outside the
        matrix, a dimension value the layer does not have."""
        found = self.tile_template.match(subpath) if self.conf.restful else None
        if found is None or self._tiles_at_capabilities and subpath.rstrip("/") == CAPABILITIES_PATH:
            return None
        (name, set_name, matrix, col, row, requested), dims = found
        layer, set_name = self._rest_layer(name, set_name, dims)
        if requested is not None and not layer.accepts_format(requested):
            raise self._format_error(layer, requested)
        coord = self._coord(set_name, matrix, col, row)
        return layer.tile_layer(set_name, dims), coord

    def route(self, subpath: str) -> TileRoute | None:
        """``resolve`` of a RESTful tile URL, for every URL that differs from it only in
        the numbers TileMatrix, TileCol and TileRow (see ``TileRoute``): when the
        template ends with them and the format and has no dimensions; else None."""
        if not self._numbers_last or self.resolve(subpath) is None:
            return None
        (name, set_name, *_), _ = self.tile_template.match(subpath)
        layer, set_name = self._rest_layer(name, set_name, {})
        return layer.tile_layer(set_name, {}), self.matrix_sets[set_name].internal_coord

    def _rest_layer(self, name: str | None, set_name: str | None, dims: dict[str, str]) -> tuple[WMTSLayer, str]:
        layer, set_name = self._rest_sets.get((name, set_name)) or self._named_layer(name, set_name)
        if dims:
            for key, value in dims.items():
                # dimensions of the template that this layer lacks can only be 'default'
                if key not in layer.dimensions and value != "default":
                    raise WMTSError(f"unknown dimension: {echo(key)}", "InvalidParameterValue", key)
        return layer, set_name

    def _named_layer(self, name: str | None, set_name: str | None) -> tuple[WMTSLayer, str]:
        """The layer and matrix set a RESTful URL names; without a layer name the only layer."""
        if name is None and len(self.wmts_layers) == 1:
            name = next(iter(self.wmts_layers))
        return self._layer(name or "", set_name)

    def _rest_info(self, fields: tuple[str | None, ...], dims: dict[str, str], environ: dict) -> Response:
        name, set_name, matrix, col, row, i, j, suffix = fields
        layer, set_name = self._rest_layer(name, set_name, dims)
        if suffix is None:
            suffix = next(iter(self.conf.featureinfo_formats), "")
        mime = self._info_mime(suffix)
        coord = self._coord(set_name, matrix, col, row)
        layer.dimension_values(dims)
        return feature_info(layer, set_name, coord, i, j, mime, environ=environ)

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
    def _format_error(layer: WMTSLayer, requested: str) -> WMTSError:
        return WMTSError(f"invalid format ({echo(requested)}). this tile set only supports ({layer.ext})",
                         "InvalidParameterValue", "format")

    def _info_mime(self, requested: str) -> str:
        """The mime type of an INFOFORMAT (a mime type or a RESTful suffix) that is offered."""
        formats = self.conf.featureinfo_formats
        if requested in formats.values():
            return requested
        if "/" not in requested and requested in formats:
            return formats[requested]
        raise WMTSError(f"unknown infoformat: {echo(requested)}", "InvalidParameterValue", "infoformat")

    def _coord(self, set_name: str, matrix: str, col: str, row: str) -> TileCoord:
        """The grid coordinates of a tile; TileMatrix ``01``, ``1`` and ``001`` are one matrix."""
        matrix_set = self.matrix_sets[set_name]
        level, c, r = bounded_ints(matrix, col, row)
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

    # -- capabilities ------------------------------------------------------

    def capabilities(self, req: Request, rest: bool) -> Response:
        base = req.script_url
        if rest:
            ctx = CapabilitiesContext(f"{base}/wmts", base, True, self.tile_template, self.fi_template)
        else:
            ctx = CapabilitiesContext(base + (req.path.rstrip("/") or "/service"), base, False)
        doc = capabilities(self.conf, self._listed(req.environ), list(self.matrix_sets.values()), ctx,
                           self.tile_template.dimension_key)
        return Response(doc, content_type="application/xml")

    def _listed(self, environ: dict) -> list[WMTSLayer]:
        """The layers the authorize callback lets the capabilities list (``tile`` right)."""
        layers = list(self.wmts_layers.values())
        answer = authorize(environ, "wmts", list(self.wmts_layers), tile_error, None)
        if answer is None or answer.full:
            return layers
        return [layer for layer in layers if answer.allows(layer.name, "tile")]

    def tile_url_template(self, base: str, layer: TileLayer) -> str:
        """The RESTful URL of ``layer``'s tiles with ``{TileMatrix}``, ``{TileCol}`` and
        ``{TileRow}`` left to fill (dimensions at their defaults)."""
        wmts_layer = self.wmts_layers[layer.name]
        values = {"Layer": quote(layer.name, safe=""), "TileMatrixSet": quote(self.matrix_set_name(layer), safe=""),
                  "Style": "default",
                  "Format": wmts_layer.ext}
        values.update({name: "default" for name in self.tile_template.dimensions})
        return f"{base}/wmts{self.tile_template.fill(**values)}"
