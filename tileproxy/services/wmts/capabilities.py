"""The WMTS 1.0.0 capabilities document (KVP and RESTful flavours)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import unescape

from ...config.model import WMTSConfig
from ..wms.xml import XMLWriter
from .layer import WMTSLayer
from .matrix import WMTSMatrixSet
from .template import URLTemplate

_ROOT_ATTRS = {
    "xmlns": "http://www.opengis.net/wmts/1.0",
    "xmlns:ows": "http://www.opengis.net/ows/1.1",
    "xmlns:xlink": "http://www.w3.org/1999/xlink",
    "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xmlns:gml": "http://www.opengis.net/gml",
    "xsi:schemaLocation": "http://www.opengis.net/wmts/1.0 "
                          "http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd",
    "version": "1.0.0",
}

_CONTACT = (
    ("ows:Voice", "phone"), ("ows:Facsimile", "fax"),
)
_ADDRESS = (
    ("ows:DeliveryPoint", "address"), ("ows:City", "city"), ("ows:AdministrativeArea", "state"),
    ("ows:PostalCode", "postcode"), ("ows:Country", "country"), ("ows:ElectronicMailAddress", "email"),
)


@dataclass
class CapabilitiesContext:
    """What differs between the two flavours: the service URL and the templates."""

    service_url: str  # http://host/service (KVP) or http://host/wmts (RESTful)
    base_url: str  # the application's URL, for LegendURL templates
    rest: bool
    tile_template: URLTemplate | None = None
    fi_template: URLTemplate | None = None


def capabilities(conf: WMTSConfig, layers: list[WMTSLayer], matrix_sets: list[WMTSMatrixSet],
                 ctx: CapabilitiesContext, dimension_key) -> str:
    w = XMLWriter()
    w.raw('<?xml version="1.0" encoding="UTF-8"?>')
    w.open("Capabilities", **_ROOT_ATTRS)
    _service_identification(w, conf)
    _service_provider(w, conf)
    _operations(w, ctx)
    w.open("Contents")
    for layer in layers:
        _layer(w, conf, layer, ctx, dimension_key)
    for matrix_set in matrix_sets:
        matrix_set.write(w)
    w.close("Contents")
    if ctx.rest:
        w.leaf("ServiceMetadataURL", xlink__href=f"{ctx.service_url}/1.0.0/WMTSCapabilities.xml")
    w.close("Capabilities")
    return w.text()


def _service_identification(w: XMLWriter, conf: WMTSConfig) -> None:
    md = conf.md
    w.open("ows:ServiceIdentification")
    w.leaf("ows:Title", md.title)
    w.leaf("ows:Abstract", md.abstract)
    if md.keywords:
        w.open("ows:Keywords")
        for keyword in md.keywords:
            w.leaf("ows:Keyword", keyword)
        w.close("ows:Keywords")
    w.leaf("ows:ServiceType", "OGC WMTS")
    w.leaf("ows:ServiceTypeVersion", "1.0.0")
    w.leaf("ows:Fees", md.fees or "none")
    w.leaf("ows:AccessConstraints", md.access_constraints or "none")
    w.close("ows:ServiceIdentification")


def _service_provider(w: XMLWriter, conf: WMTSConfig) -> None:
    contact = conf.md.contact
    if not contact:
        return
    w.open("ows:ServiceProvider")
    w.leaf("ows:ProviderName", contact.get("organization", ""))
    w.leaf("ows:ProviderSite", xlink__href=conf.md.online_resource)
    w.open("ows:ServiceContact")
    w.leaf("ows:IndividualName", contact.get("person", ""))
    w.leaf("ows:PositionName", contact.get("position", ""))
    w.open("ows:ContactInfo")
    w.open("ows:Phone")
    for tag, key in _CONTACT:
        w.leaf(tag, contact.get(key, ""))
    w.close("ows:Phone")
    w.open("ows:Address")
    for tag, key in _ADDRESS:
        w.leaf(tag, contact.get(key, ""))
    w.close("ows:Address")
    w.close("ows:ContactInfo")
    w.close("ows:ServiceContact")
    w.close("ows:ServiceProvider")


def _operations(w: XMLWriter, ctx: CapabilitiesContext) -> None:
    w.open("ows:OperationsMetadata")
    for op in ("GetCapabilities", "GetTile", "GetFeatureInfo"):
        w.open("ows:Operation", name=op)
        w.open("ows:DCP")
        w.open("ows:HTTP")
        w.open("ows:Get", xlink__href=f"{ctx.service_url}?")
        w.open("ows:Constraint", name="GetEncoding")
        w.open("ows:AllowedValues")
        w.leaf("ows:Value", "RESTful" if ctx.rest else "KVP")
        for tag in ("ows:AllowedValues", "ows:Constraint", "ows:Get", "ows:HTTP", "ows:DCP", "ows:Operation"):
            w.close(tag)
    w.close("ows:OperationsMetadata")


def _layer(w: XMLWriter, conf: WMTSConfig, layer: WMTSLayer, ctx: CapabilitiesContext, dimension_key) -> None:
    w.open("Layer")
    w.leaf("ows:Title", layer.title)
    w.leaf("ows:Abstract", layer.abstract)
    ll = layer.llbbox
    w.open("ows:WGS84BoundingBox")
    w.leaf("ows:LowerCorner", f"{ll[0]} {ll[1]}")
    w.leaf("ows:UpperCorner", f"{ll[2]} {ll[3]}")
    w.close("ows:WGS84BoundingBox")
    w.leaf("ows:Identifier", layer.name)
    w.open("Style", isDefault="true")
    w.leaf("ows:Identifier", "default")
    conf_layer = layer.first.conf
    template = None
    if conf_layer is not None:
        template = conf_layer.wmts_rest_legendurl if ctx.rest else conf_layer.wmts_kvp_legendurl
    legend = layer.legend_url(template, conf.legend_wms_version, ctx.base_url)
    if legend:
        # MapProxy writes these templates into the XML as they are: configs escape & as &amp;
        w.leaf("LegendURL", format="image/png", xlink__href=unescape(legend))
    w.close("Style")
    w.leaf("Format", layer.mime)
    if layer.queryable:
        for mime in conf.featureinfo_formats.values():
            w.leaf("InfoFormat", mime)
    for name, dim in layer.dimensions.items():
        w.open("Dimension")
        w.leaf("ows:Identifier", dimension_key(name))
        w.leaf("Default", dim.default)
        for value in dim.values:
            w.leaf("Value", value)
        w.close("Dimension")
    for set_name in layer.by_set:
        w.open("TileMatrixSetLink")
        w.leaf("TileMatrixSet", set_name)
        w.close("TileMatrixSetLink")
    if ctx.rest and ctx.tile_template is not None:
        url = ctx.service_url + ctx.tile_template.fill(Layer=layer.name, Format=layer.ext)
        w.leaf("ResourceURL", format=layer.mime, resourceType="tile", template=url)
        if layer.queryable and ctx.fi_template is not None:
            for suffix, mime in conf.featureinfo_formats.items():
                url = ctx.service_url + ctx.fi_template.fill(Layer=layer.name, InfoFormat=suffix)
                w.leaf("ResourceURL", format=mime, resourceType="FeatureInfo", template=url)
    w.close("Layer")
