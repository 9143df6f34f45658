"""WMTS 1.0.0: KVP (``/service?SERVICE=WMTS``) and RESTful (``/wmts/...``)."""

from __future__ import annotations

import logging
import re
from xml.sax.saxutils import escape, quoteattr

from ..config.model import WMTSConfig
from ..grid import TileGrid
from ..http import HTTPError, Request, Response
from ..layers import TileLayer
from ..srs import get_srs
from .tile_response import serve_tile
from .xmltext import xml_text

log = logging.getLogger("tileproxy.service.wmts")

METERS_PER_DEGREE = 111319.4907932736
PIXEL_SIZE = 0.00028


def ows_exception(message: str, code: str = "NoApplicableCode", locator: str | None = None, status: int = 400) -> Response:
    loc = f" locator={quoteattr(locator)}" if locator else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ExceptionReport xmlns="http://www.opengis.net/ows/1.1" version="1.1.0" xml:lang="en">\n'
        f'  <Exception exceptionCode="{code}"{loc}>\n    <ExceptionText>{xml_text(message)}</ExceptionText>\n'
        "  </Exception>\n</ExceptionReport>\n"
    )
    return Response(body, status, "text/xml; charset=utf-8")


def _status_code(status: int) -> str:
    return {404: "TileOutOfRange", 400: "InvalidParameterValue"}.get(status, "NoApplicableCode")


def _tile_error(message: str, status: int) -> Response:
    return ows_exception(message, _status_code(status), status=status)


def crs_urn(grid: TileGrid) -> str:
    code = grid.srs.code
    if code in ("EPSG:900913", "EPSG:102100", "EPSG:102113", "EPSG:3785", "OSGEO:41001"):
        code = "EPSG:3857"
    auth, _, num = code.partition(":")
    return f"urn:ogc:def:crs:{auth}::{num}"


def _fmt(value: float) -> str:
    return repr(round(value, 10))


class WMTSMatrixSet:
    """A grid as a WMTS TileMatrixSet: rows counted from the top."""

    def __init__(self, name: str, grid: TileGrid):
        self.name = name
        self.grid = grid

    def internal_coord(self, level: int, col: int, row: int) -> tuple[int, int, int] | None:
        grid = self.grid
        if not 0 <= level < grid.levels:
            return None
        y = row if grid.origin == "nw" else grid.flip_y(row, level)
        coord = (col, y, level)
        return coord if grid.is_valid(coord) else None

    def xml(self) -> str:
        grid = self.grid
        factor = METERS_PER_DEGREE if grid.srs.is_latlong else 1.0
        out = [f"    <TileMatrixSet>\n      <ows:Identifier>{escape(self.name)}</ows:Identifier>"]
        out.append(f"      <ows:SupportedCRS>{crs_urn(grid)}</ows:SupportedCRS>")
        for level, res in enumerate(grid.resolutions):
            w, h = grid.grid_sizes[level]
            if grid.origin == "nw":
                top = grid.bbox[3]
            else:
                top = grid.bbox[1] + h * grid.tile_size[1] * res
            left = grid.bbox[0]
            corner = (top, left) if grid.srs.is_axis_order_ne else (left, top)
            out.append(
                "      <TileMatrix>\n"
                f"        <ows:Identifier>{level}</ows:Identifier>\n"
                f"        <ScaleDenominator>{_fmt(res * factor / PIXEL_SIZE)}</ScaleDenominator>\n"
                f"        <TopLeftCorner>{_fmt(corner[0])} {_fmt(corner[1])}</TopLeftCorner>\n"
                f"        <TileWidth>{grid.tile_size[0]}</TileWidth>\n        <TileHeight>{grid.tile_size[1]}</TileHeight>\n"
                f"        <MatrixWidth>{w}</MatrixWidth>\n        <MatrixHeight>{h}</MatrixHeight>\n"
                "      </TileMatrix>"
            )
        out.append("    </TileMatrixSet>")
        return "\n".join(out)


_TEMPLATE_PATTERNS = {
    "TileMatrix": r"[^/]+",
    "TileCol": r"-?\d+",
    "TileRow": r"-?\d+",
    "Format": r"[A-Za-z0-9]+",
}


def template_regex(template: str) -> re.Pattern:
    """A regex for a RESTful template such as ``/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.{Format}``."""
    out = []
    pos = 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos : m.start()]))
        name = m.group(1)
        out.append(f"(?P<{name}>{_TEMPLATE_PATTERNS.get(name, r'[^/]+')})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


class WMTSService:
    def __init__(self, layers: list[TileLayer], conf: WMTSConfig, max_age: int):
        self.conf = conf
        self.max_age = max_age
        self.layers: dict[str, dict[str, TileLayer]] = {}  # name -> matrix set -> layer
        self.matrix_sets: dict[str, WMTSMatrixSet] = {}
        for layer in layers:
            if not layer.grid.supports_access_with_origin("nw"):
                log.warning("grid %s cannot be read with a north-west origin; layer %s skipped in WMTS",
                            layer.grid_name, layer.name)
                continue
            self.layers.setdefault(layer.name, {})[layer.grid_name] = layer
            self.matrix_sets.setdefault(layer.grid_name, WMTSMatrixSet(layer.grid_name, layer.grid))
        self.rest_regex = template_regex(conf.restful_template)

    # -- KVP -----------------------------------------------------------------

    def handle_kvp(self, req: Request) -> Response:
        if not self.conf.kvp:
            return ows_exception("WMTS KVP is not enabled", "OperationNotSupported", "request", 501)
        args = req.args
        request = args.get("request")
        if not request:
            return ows_exception("missing parameter REQUEST", "MissingParameterValue", "request")
        request = request.lower()
        if request == "getcapabilities":
            return self.capabilities(req, rest=False)
        if request == "gettile":
            return self._kvp_tile(req)
        return ows_exception(f"unknown request '{args['request']}'", "OperationNotSupported", "request")

    def _kvp_tile(self, req: Request) -> Response:
        args = req.args
        for key in ("layer", "tilematrixset", "tilematrix", "tilerow", "tilecol", "format"):
            if not args.get(key):
                return ows_exception(f"missing parameter {key.upper()}", "MissingParameterValue", key)
        version = args.get("version")
        if version and version != "1.0.0":
            return ows_exception(f"unsupported version '{version}'", "VersionNegotiationFailed", "version")
        layer = self._layer(args["layer"], args["tilematrixset"])
        fmt = args["format"]
        if fmt.lower() != layer.mime and not layer.format.matches_ext(fmt.rpartition("/")[2]):
            return ows_exception(f"invalid format '{fmt}' (use {layer.mime})", "InvalidParameterValue", "format")
        return self._tile(req, layer, args["tilematrix"], args["tilecol"], args["tilerow"])

    def _layer(self, name: str, matrix_set: str) -> TileLayer:
        sets = self.layers.get(name)
        if sets is None:
            raise HTTPError(ows_exception(f"unknown layer '{name}'", "InvalidParameterValue", "layer"))
        layer = sets.get(matrix_set)
        if layer is None:
            raise HTTPError(ows_exception(f"unknown tile matrix set '{matrix_set}'", "InvalidParameterValue", "tilematrixset"))
        return layer

    def _tile(self, req: Request, layer: TileLayer, matrix: str, col: str, row: str) -> Response:
        try:
            level, c, r = int(matrix), int(col), int(row)
        except ValueError:
            return ows_exception("TileMatrix, TileCol and TileRow must be integers", "InvalidParameterValue", "tilematrix")
        coord = self.matrix_sets[layer.grid_name].internal_coord(level, c, r)
        if coord is None:
            if not 0 <= level < layer.grid.levels:
                locator = "tilematrix"
            else:
                locator = "tilecol" if not 0 <= c < layer.grid.grid_sizes[level][0] else "tilerow"
            return ows_exception("tile is outside the tile matrix", "TileOutOfRange", locator)
        return serve_tile(req, layer, coord, self.max_age, _tile_error)

    # -- REST ----------------------------------------------------------------

    def handle_rest(self, req: Request, subpath: str) -> Response:
        if subpath.rstrip("/") == "/1.0.0/WMTSCapabilities.xml":
            if not self.conf.restful:
                return ows_exception("RESTful WMTS is not enabled", "OperationNotSupported", status=404)
            return self.capabilities(req, rest=True)
        if not self.conf.restful:
            return ows_exception("RESTful WMTS is not enabled", "OperationNotSupported", status=404)
        m = self.rest_regex.match(subpath)
        if not m:
            return ows_exception("the URL does not match the RESTful tile template", "InvalidParameterValue", status=404)
        values = m.groupdict()
        layer_name = values.get("Layer")
        sets = self.layers.get(layer_name or "") if layer_name else None
        if layer_name is None and len(self.layers) == 1:
            sets = next(iter(self.layers.values()))
        if not sets:
            return ows_exception(f"unknown layer '{layer_name}'", "InvalidParameterValue", "layer", 404)
        matrix_set = values.get("TileMatrixSet") or next(iter(sets))
        layer = sets.get(matrix_set)
        if layer is None:
            return ows_exception(f"unknown tile matrix set '{matrix_set}'", "InvalidParameterValue", "tilematrixset", 404)
        fmt = values.get("Format")
        if fmt is not None and not layer.format.matches_ext(fmt):
            return ows_exception(f"invalid format '{fmt}' (use {layer.format.ext})", "InvalidParameterValue", "format", 404)
        resp = self._tile(req, layer, values["TileMatrix"], values["TileCol"], values["TileRow"])
        if resp.status == 400 and b"TileOutOfRange" in resp.body:
            resp.status = 404
        return resp

    # -- capabilities ------------------------------------------------------

    def capabilities(self, req: Request, rest: bool) -> Response:
        base = req.script_url
        md = self.conf.md
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1"'
            ' xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:gml="http://www.opengis.net/gml"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            ' xsi:schemaLocation="http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd"'
            ' version="1.0.0">',
            "  <ows:ServiceIdentification>",
            f"    <ows:Title>{escape(md.title)}</ows:Title>",
            f"    <ows:Abstract>{escape(md.abstract)}</ows:Abstract>",
        ]
        if md.keywords:
            out.append("    <ows:Keywords>" + "".join(f"<ows:Keyword>{escape(k)}</ows:Keyword>" for k in md.keywords) + "</ows:Keywords>")
        out += [
            "    <ows:ServiceType>OGC WMTS</ows:ServiceType>",
            "    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>",
            f"    <ows:Fees>{escape(md.fees or 'none')}</ows:Fees>",
            f"    <ows:AccessConstraints>{escape(md.access_constraints or 'none')}</ows:AccessConstraints>",
            "  </ows:ServiceIdentification>",
        ]
        out += self._provider_xml(base)
        if not rest:
            kvp_url = f"{base}/service?"
            out.append("  <ows:OperationsMetadata>")
            for op in ("GetCapabilities", "GetTile"):
                out.append(
                    f'    <ows:Operation name="{op}"><ows:DCP><ows:HTTP><ows:Get xlink:href={quoteattr(kvp_url)}>'
                    '<ows:Constraint name="GetEncoding"><ows:AllowedValues><ows:Value>KVP</ows:Value>'
                    "</ows:AllowedValues></ows:Constraint></ows:Get></ows:HTTP></ows:DCP></ows:Operation>"
                )
            out.append("  </ows:OperationsMetadata>")
        out.append("  <Contents>")
        for name, sets in self.layers.items():
            first = next(iter(sets.values()))
            out.append("    <Layer>")
            out.append(f"      <ows:Title>{escape(first.title)}</ows:Title>")
            if first.md.get("abstract"):
                out.append(f"      <ows:Abstract>{escape(str(first.md['abstract']))}</ows:Abstract>")
            wgs = _wgs84_bbox(first.grid)
            out.append(
                f"      <ows:WGS84BoundingBox>\n        <ows:LowerCorner>{_fmt(wgs[0])} {_fmt(wgs[1])}</ows:LowerCorner>\n"
                f"        <ows:UpperCorner>{_fmt(wgs[2])} {_fmt(wgs[3])}</ows:UpperCorner>\n      </ows:WGS84BoundingBox>"
            )
            out.append(f"      <ows:Identifier>{escape(name)}</ows:Identifier>")
            out.append('      <Style isDefault="true">\n        <ows:Identifier>default</ows:Identifier>\n      </Style>')
            out.append(f"      <Format>{first.mime}</Format>")
            for set_name in sets:
                out.append(f"      <TileMatrixSetLink>\n        <TileMatrixSet>{escape(set_name)}</TileMatrixSet>\n      </TileMatrixSetLink>")
            if rest:
                template = self.conf.restful_template.replace("{Layer}", name).replace("{Format}", first.format.ext)
                template = template.replace("{Style}", "default")
                out.append(f'      <ResourceURL format="{first.mime}" resourceType="tile" template={quoteattr(base + "/wmts" + template)} />')
            out.append("    </Layer>")
        for matrix_set in self.matrix_sets.values():
            out.append(matrix_set.xml())
        out.append("  </Contents>")
        if rest:
            out.append(f'  <ServiceMetadataURL xlink:href="{escape(base)}/wmts/1.0.0/WMTSCapabilities.xml" />')
        out.append("</Capabilities>\n")
        return Response("\n".join(out), content_type="application/xml")

    def _provider_xml(self, base: str) -> list[str]:
        md = self.conf.md
        c = md.contact
        site = md.online_resource or base + "/"
        out = [
            "  <ows:ServiceProvider>",
            f"    <ows:ProviderName>{escape(c.get('organization', ''))}</ows:ProviderName>",
            f"    <ows:ProviderSite xlink:href={quoteattr(site)} />",
            "    <ows:ServiceContact>",
            f"      <ows:IndividualName>{escape(c.get('person', ''))}</ows:IndividualName>",
            f"      <ows:PositionName>{escape(c.get('position', ''))}</ows:PositionName>",
            "      <ows:ContactInfo>",
            "        <ows:Phone>",
            f"          <ows:Voice>{escape(c.get('phone', ''))}</ows:Voice>",
            f"          <ows:Facsimile>{escape(c.get('fax', ''))}</ows:Facsimile>",
            "        </ows:Phone>",
            "        <ows:Address>",
            f"          <ows:DeliveryPoint>{escape(c.get('address', ''))}</ows:DeliveryPoint>",
            f"          <ows:City>{escape(c.get('city', ''))}</ows:City>",
            f"          <ows:AdministrativeArea>{escape(c.get('state', ''))}</ows:AdministrativeArea>",
            f"          <ows:PostalCode>{escape(c.get('postcode', ''))}</ows:PostalCode>",
            f"          <ows:Country>{escape(c.get('country', ''))}</ows:Country>",
            f"          <ows:ElectronicMailAddress>{escape(c.get('email', ''))}</ows:ElectronicMailAddress>",
            "        </ows:Address>",
            "      </ows:ContactInfo>",
            "    </ows:ServiceContact>",
            "  </ows:ServiceProvider>",
        ]
        return out


def _wgs84_bbox(grid: TileGrid) -> tuple[float, float, float, float]:
    wgs = get_srs("EPSG:4326")
    try:
        b = grid.srs.transform_bbox_to(wgs, grid.bbox)
    except ValueError:
        return (-180.0, -90.0, 180.0, 90.0)
    return (max(b[0], -180.0), max(b[1], -90.0), min(b[2], 180.0), min(b[3], 90.0))
