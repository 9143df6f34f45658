"""GetCapabilities documents for WMS 1.0.0, 1.1.0, 1.1.1 (plus WMS-C) and 1.3.0."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlencode

from ...config.model import WMSConfig
from ...extent import Extent, default_extent
from ...layers import TileLayer, WMSLayer
from ...srs import SRS, BBox, SRSError, default_bbox, get_srs
from ..tms import TileServiceGrid
from .access import ShownLayers
from .featureinfo import info_mime_types
from .inspire import INSPIRE_NAMESPACES, INSPIRE_SCHEMA, inspire_capabilities
from .xml import XMLWriter, num

PIXEL_SIZE = 0.00028
LegendSize = Callable[[WMSLayer], "tuple[int, int] | None"]

_DOCTYPES = {
    "1.0.0": "http://schemas.opengis.net/wms/1.0.0/capabilities_1_0_0.dtd",
    "1.1.0": "http://schemas.opengis.net/wms/1.1.0/capabilities_1_1_0.dtd",
    "1.1.1": "http://schemas.opengis.net/wms/1.1.1/WMS_MS_Capabilities.dtd",
}
DEFAULT_BBOX_SRS = ("EPSG:3857", "EPSG:4326", "EPSG:900913")
_WMS100_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/tiff": "TIFF"}


@lru_cache(maxsize=256)
def _area_of_use(srs: SRS) -> BBox | None:
    area = srs.crs.area_of_use
    return (area.west, area.south, area.east, area.north) if area else None


def extent_in(extent: BBox, srs: SRS) -> BBox | None:
    """A lon/lat extent in ``srs``, limited to the SRS's area of use first."""
    wgs = get_srs("EPSG:4326")
    if srs == wgs or srs.code in ("CRS:84", "EPSG:4258"):
        return extent
    area = _area_of_use(srs)
    if area and not srs.is_latlong:
        extent = (max(extent[0], area[0]), max(extent[1], area[1]), min(extent[2], area[2]), min(extent[3], area[3]))
        if extent[0] >= extent[2] or extent[1] >= extent[3]:
            return None
    try:
        box = wgs.transform_bbox_to(srs, extent, steps=32)
    except SRSError:
        return None
    limit = default_bbox(srs)
    if limit:
        box = (max(box[0], limit[0]), max(box[1], limit[1]), min(box[2], limit[2]), min(box[3], limit[3]))
    return box


def limit_llbbox(box: BBox) -> BBox:
    """A lon/lat bbox within ±180° and ±89.999999° (some clients fail on the poles)."""
    return (max(-180, box[0]), max(-89.999999, box[1]), min(180, box[2]), min(89.999999, box[3]))


def _valid(box: BBox) -> bool:
    return all(math.isfinite(v) for v in box) and box[0] < box[2] and box[1] < box[3]


def _diagonal(res: float) -> float:
    """WMS 1.1 ScaleHint: the diagonal of a pixel."""
    return math.sqrt(2 * res**2)


def _entries(md: dict, key: str) -> list[dict]:
    """A layer ``md`` entry that holds a list of mappings (a single mapping counts as one)."""
    value = md.get(key) or []
    if isinstance(value, dict):
        value = [value]
    return [e for e in value if isinstance(e, dict)]


def srs_extents(conf: WMSConfig) -> dict[str, Extent | None]:
    """The SRS that capabilities give layer bboxes in (``bbox_srs``, by default
    EPSG:3857, EPSG:4326 and EPSG:900913), those the service offers only, each with
    its explicit bbox (None: the layer's extent)."""
    entries = [(e.srs, e.bbox) for e in conf.bbox_srs] or [(code, None) for code in DEFAULT_BBOX_SRS]
    return {code: Extent(bbox, get_srs(code)) if bbox is not None else None
            for code, bbox in entries if code in conf.srs}


class Capabilities:
    def __init__(self, conf: WMSConfig, root: WMSLayer, base_url: str, legend_size: LegendSize,
                 tile_layers: list[TileLayer] | None = None, bbox_cache: dict | None = None,
                 shown: ShownLayers | None = None):
        self.conf = conf
        self.shown = shown  # the layers the authorize callback lets the document list (None: all)
        self.root = root
        self.base = base_url.rstrip("/") + "/service?"
        self.legend_size = legend_size
        self.tile_layers = tile_layers  # WMS-C tile sets when not None
        self.bbox_cache = bbox_cache if bbox_cache is not None else {}  # layer id -> bboxes (they never change)
        self.has_info = any(lyr.queryable for lyr in root.walk())
        self.has_legend = any(lyr.name and lyr.has_legend for lyr in root.walk())
        self.srs_extents = srs_extents(conf)

    def document(self, version: str) -> tuple[str, str]:
        """The capabilities XML and its content type."""
        if version == "1.3.0":
            return self._v130(), "text/xml"
        if version == "1.0.0":
            return self._v100(), "text/xml"
        return self._v11x(version), "application/vnd.ogc.wms_xml"

    # -- shared pieces -----------------------------------------------------

    def _formats(self) -> list[str]:
        return list(self.conf.image_formats)

    def _legend_url(self, layer: WMSLayer, version: str) -> str:
        params = {"service": "WMS", "request": "GetLegendGraphic", "version": version, "format": "image/png",
                  "layer": layer.name or "", "style": "default"}
        if version == "1.3.0":
            params["sld_version"] = "1.1.0"
        return self.base + urlencode(params)

    def _keywords(self, w: XMLWriter, md: dict, with_vocabulary: bool) -> None:
        entries = md.get("keyword_list") or []
        if not entries:
            return
        w.open("KeywordList")
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            vocabulary = entry.get("vocabulary") if with_vocabulary else None
            for kw in entry.get("keywords") or []:
                w.leaf("Keyword", str(kw), vocabulary=vocabulary)
        w.close("KeywordList")

    def _contact(self, w: XMLWriter) -> None:
        c = self.conf.md.contact
        if not c:
            return
        w.open("ContactInformation")
        if c.get("person") or c.get("organization"):
            w.open("ContactPersonPrimary")
            w.leaf("ContactPerson", c.get("person", ""))
            w.leaf("ContactOrganization", c.get("organization", ""))
            w.close("ContactPersonPrimary")
        if c.get("position"):
            w.leaf("ContactPosition", c["position"])
        if any(c.get(k) for k in ("address", "city", "state", "postcode", "country")):
            w.open("ContactAddress")
            w.leaf("AddressType", c.get("address_type", "postal"))
            w.leaf("Address", c.get("address", ""))
            w.leaf("City", c.get("city", ""))
            w.leaf("StateOrProvince", c.get("state", ""))
            w.leaf("PostCode", c.get("postcode", ""))
            w.leaf("Country", c.get("country", ""))
            w.close("ContactAddress")
        if c.get("phone"):
            w.leaf("ContactVoiceTelephone", c["phone"])
        if c.get("fax"):
            w.leaf("ContactFacsimileTelephone", c["fax"])
        if c.get("email"):
            w.leaf("ContactElectronicMailAddress", c["email"])
        w.close("ContactInformation")

    def _service(self, w: XMLWriter, name: str, v130: bool) -> None:
        """The opened <Service> element up to AccessConstraints (the caller adds the rest
        and closes it); 1.3.0 has keyword vocabularies and declares xlink on the root."""
        md = self.conf.md
        w.open("Service")
        w.leaf("Name", name)
        w.leaf("Title", md.title)
        if md.abstract:
            w.leaf("Abstract", md.abstract)
        self._keywords(w, self.conf.md_raw, with_vocabulary=v130)
        href = md.online_resource or self.base
        if v130:
            w.leaf("OnlineResource", None, xlink__type="simple", xlink__href=href)
        else:
            self._online(w, href=href)
        self._contact(w)
        w.leaf("Fees", md.fees or "none")
        w.leaf("AccessConstraints", md.access_constraints or "none")

    def _online(self, w: XMLWriter, tag: str = "OnlineResource", href: str | None = None) -> None:
        w.leaf(tag, None, xmlns__xlink="http://www.w3.org/1999/xlink", xlink__type="simple", xlink__href=href or self.base)

    def _operation(self, w: XMLWriter, name: str, formats: list[str]) -> None:
        w.open(name)
        for fmt in formats:
            w.leaf("Format", fmt)
        w.open("DCPType")
        w.open("HTTP")
        w.open("Get")
        self._online(w)
        w.close("Get")
        w.close("HTTP")
        w.close("DCPType")
        w.close(name)

    def _children(self, layer: WMSLayer) -> list[WMSLayer]:
        return layer.layers if self.shown is None else self.shown.children(layer)

    def _queryable(self, layer: WMSLayer) -> bool:
        return layer.queryable if self.shown is None else self.shown.queryable(layer)

    def _boxes(self, layer: WMSLayer) -> tuple[BBox, list[tuple[str, BBox]]]:
        """The layer's lon/lat bbox and its bboxes per SRS (x/y order), computed once
        (those narrowed by the authorize callback's limits for each document)."""
        limited = self.shown.extent(layer) if self.shown is not None else None
        if limited is not None:
            return self._llbbox(limited), self._srs_bboxes(limited)
        key = id(layer)
        if key not in self.bbox_cache:
            self.bbox_cache[key] = (self._llbbox(layer.map_extent), self._srs_bboxes(layer.map_extent))
        return self.bbox_cache[key]

    def _llbbox(self, extent: Extent) -> BBox:
        """The extent in lon/lat, limited to the EPSG:4326 bbox_srs bbox if one is set."""
        if "EPSG:4326" in self.srs_extents:
            limit = self.srs_extents["EPSG:4326"] or default_extent()
            try:
                common = limit.intersection(extent)
            except SRSError:
                common = None
            if common is not None:
                return limit_llbbox(common.bbox)
        try:
            return limit_llbbox(extent.llbbox())
        except SRSError:
            return limit_llbbox(default_extent().bbox)

    def _srs_bboxes(self, extent: Extent) -> list[tuple[str, BBox]]:
        """The extent in each bbox_srs (an explicit bbox limits it; without a layer
        coverage it is that bbox), and in the extent's own SRS when the service offers it."""
        wgs84 = get_srs("EPSG:4326")
        out = []
        for code, limit in self.srs_extents.items():
            srs = get_srs(code)
            try:
                if limit is None:
                    box = extent.bbox_in(srs)
                elif extent.is_default:
                    box = limit.bbox_in(srs)
                else:
                    common = limit.transform(wgs84).intersection(extent.transform(wgs84))
                    if common is None:
                        continue
                    box = common.bbox_in(srs)
            except SRSError:
                continue
            if _valid(box):
                out.append((code, box))
        native = extent.srs.code
        if native not in self.srs_extents and native in self.conf.srs and _valid(extent.bbox):
            out.append((native, extent.bbox))
        return out

    def _dimensions(self, w: XMLWriter, layer: WMSLayer, with_extent: bool) -> None:
        """Dimension elements with their values (as MapProxy writes them in every
        version); WMS 1.1 puts the values in Extent elements as well."""
        for dim in layer.dimensions.values():
            w.leaf("Dimension", ",".join(dim.values), name=dim.name, units=dim.units, default=dim.default,
                   nearestValue="0")
        if with_extent:
            for dim in layer.dimensions.values():
                w.leaf("Extent", ",".join(dim.values), name=dim.name, default=dim.default, nearestValue="0")

    # -- 1.1.0 / 1.1.1 -----------------------------------------------------

    def _v11x(self, version: str) -> str:
        w = XMLWriter()
        w.raw('<?xml version="1.0" encoding="UTF-8"?>')
        w.raw(f'<!DOCTYPE WMT_MS_Capabilities SYSTEM "{_DOCTYPES[version]}">')
        w.open("WMT_MS_Capabilities", version=version)
        self._service(w, "OGC:WMS", v130=False)
        w.close("Service")
        w.open("Capability")
        w.open("Request")
        self._operation(w, "GetCapabilities", ["application/vnd.ogc.wms_xml"])
        self._operation(w, "GetMap", self._formats())
        if self.has_info:
            self._operation(w, "GetFeatureInfo", info_mime_types(self.conf.featureinfo_types, version))
        if self.has_legend and version == "1.1.1":
            self._operation(w, "GetLegendGraphic", ["image/png"])
        w.close("Request")
        w.open("Exception")
        for fmt in ("application/vnd.ogc.se_xml", "application/vnd.ogc.se_inimage", "application/vnd.ogc.se_blank"):
            w.leaf("Format", fmt)
        w.close("Exception")
        if self.tile_layers is not None:
            self._tilesets(w)
        self._layer_11x(w, self.root, version, root=True)
        w.close("Capability")
        w.close("WMT_MS_Capabilities")
        return w.text()

    def _tilesets(self, w: XMLWriter) -> None:
        w.open("VendorSpecificCapabilities")
        for tl in self.tile_layers or []:
            grid = tl.grid
            # the levels TMS publishes (global grids start with 2x1 / 2x2 tiles), as MapProxy lists them
            resolutions = [grid.resolutions[internal] for _, internal in TileServiceGrid(grid).levels()]
            w.open("TileSet")
            w.leaf("SRS", grid.srs.code)
            w.leaf("BoundingBox", None, SRS=grid.srs.code, minx=num(grid.bbox[0]), miny=num(grid.bbox[1]),
                   maxx=num(grid.bbox[2]), maxy=num(grid.bbox[3]))
            w.leaf("Resolutions", " ".join(num(r) for r in resolutions))
            w.leaf("Width", str(grid.tile_size[0]))
            w.leaf("Height", str(grid.tile_size[1]))
            w.leaf("Format", tl.mime)
            w.leaf("Layers", tl.name)
            w.leaf("Styles", "")
            w.close("TileSet")
        w.close("VendorSpecificCapabilities")

    def _layer_head(self, w: XMLWriter, layer: WMSLayer, root: bool, version: str) -> None:
        """Layer up to its SRS/CRS list: the part every version after 1.0.0 shares."""
        w.open("Layer", queryable="1" if self._queryable(layer) else None)
        if layer.name:
            w.leaf("Name", layer.name)
        w.leaf("Title", layer.title)
        if layer.md.get("abstract"):
            w.leaf("Abstract", str(layer.md["abstract"]))
        self._keywords(w, layer.md, with_vocabulary=version == "1.3.0")
        if root and version == "1.1.0":
            w.leaf("SRS", " ".join(self.conf.srs))  # 1.1.0 has one SRS element with all codes
        elif root:
            for code in self.conf.srs:
                w.leaf("CRS" if version == "1.3.0" else "SRS", code)

    def _layer_links(self, w: XMLWriter, layer: WMSLayer, version: str) -> None:
        """Attribution, MetadataURL and Style (with LegendURL) of a layer."""
        self._attribution(w, layer)
        self._metadata_urls(w, layer, version)
        if layer.name and layer.has_legend:
            self._style(w, layer, version)

    def _layer_11x(self, w: XMLWriter, layer: WMSLayer, version: str, root: bool = False) -> None:
        self._layer_head(w, layer, root, version)
        self._bbox_elements(w, layer, "SRS")
        self._dimensions(w, layer, with_extent=True)
        self._layer_links(w, layer, version)
        self._scale_hint(w, layer)
        for child in self._children(layer):
            self._layer_11x(w, child, version)
        w.close("Layer")

    def _bbox_elements(self, w: XMLWriter, layer: WMSLayer, srs_attr: str) -> None:
        """LatLonBoundingBox and BoundingBox elements (WMS 1.0 and 1.1)."""
        ext, boxes = self._boxes(layer)
        w.leaf("LatLonBoundingBox", None, minx=num(ext[0]), miny=num(ext[1]), maxx=num(ext[2]), maxy=num(ext[3]))
        for code, box in boxes:
            w.leaf("BoundingBox", None, **{srs_attr: code}, minx=num(box[0]), miny=num(box[1]), maxx=num(box[2]),
                   maxy=num(box[3]))

    @staticmethod
    def _scale_hint(w: XMLWriter, layer: WMSLayer) -> None:
        """ScaleHint: pixel diagonals of the finest and coarsest resolution (both are
        required: 0 and a huge number stand for no limit)."""
        limits = layer.res_range
        if limits is not None:
            lo = _diagonal(limits.max_res) if limits.max_res is not None else 0
            hi = _diagonal(limits.min_res) if limits.min_res is not None else 1e100
            w.leaf("ScaleHint", None, min=num(lo), max=num(hi))

    def _attribution(self, w: XMLWriter, layer: WMSLayer) -> None:
        attr = layer.md.get("attribution")
        if not isinstance(attr, dict):
            return
        w.open("Attribution")
        if attr.get("title"):
            w.leaf("Title", str(attr["title"]))
        if attr.get("url"):
            self._online(w, href=str(attr["url"]))
        logo = attr.get("logo")
        if isinstance(logo, dict) and logo.get("url"):
            w.open("LogoURL", width=str(logo.get("width", 1)), height=str(logo.get("height", 1)))
            w.leaf("Format", str(logo.get("format", "image/png")))
            self._online(w, href=str(logo["url"]))
            w.close("LogoURL")
        w.close("Attribution")

    def _metadata_urls(self, w: XMLWriter, layer: WMSLayer, version: str) -> None:
        """AuthorityURL, Identifier, MetadataURL, DataURL and FeatureListURL from ``md``."""
        identifiers = [e for e in _entries(layer.md, "identifier") if e.get("name")]
        for entry in identifiers:
            if entry.get("url"):
                w.open("AuthorityURL", name=str(entry["name"]))
                self._online(w, href=str(entry["url"]))
                w.close("AuthorityURL")
        for entry in identifiers:
            if entry.get("value") is not None:
                w.leaf("Identifier", str(entry["value"]), authority=str(entry["name"]))
        for entry in _entries(layer.md, "metadata"):
            if not entry.get("url"):
                continue
            kind = str(entry.get("type", "ISO19115:2003" if version == "1.3.0" else "TC211"))
            if version != "1.3.0" and kind not in ("TC211", "FGDC"):
                kind = "TC211"
            w.open("MetadataURL", type=kind)
            w.leaf("Format", str(entry.get("format", "text/xml")))
            self._online(w, href=str(entry["url"]))
            w.close("MetadataURL")
        for key, tag in (("data", "DataURL"), ("feature_list", "FeatureListURL")):
            for entry in _entries(layer.md, key):
                if entry.get("url"):
                    w.open(tag)
                    w.leaf("Format", str(entry.get("format", "text/xml")))
                    self._online(w, href=str(entry["url"]))
                    w.close(tag)

    def _style(self, w: XMLWriter, layer: WMSLayer, version: str) -> None:
        size = self.legend_size(layer)
        w.open("Style")
        w.leaf("Name", "inspire_common:DEFAULT" if self.conf.inspire_md and version == "1.3.0" else "default")
        w.leaf("Title", "default")
        if size is not None:
            w.open("LegendURL", width=str(size[0]), height=str(size[1]))
            w.leaf("Format", "image/png")
            self._online(w, href=self._legend_url(layer, version))
            w.close("LegendURL")
        w.close("Style")

    # -- 1.3.0 ---------------------------------------------------------------

    def _v130(self) -> str:
        w = XMLWriter()
        w.raw('<?xml version="1.0" encoding="UTF-8"?>')
        schema = "http://www.opengis.net/wms http://schemas.opengis.net/wms/1.3.0/capabilities_1_3_0.xsd"
        ns = {"xmlns": "http://www.opengis.net/wms", "xmlns__xlink": "http://www.w3.org/1999/xlink",
              "xmlns__xsi": "http://www.w3.org/2001/XMLSchema-instance"}
        if self.has_legend:
            ns["xmlns__sld"] = "http://www.opengis.net/sld"
            schema += " http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/sld_capabilities.xsd"
        if self.conf.inspire_md:
            ns.update(INSPIRE_NAMESPACES)
            schema += " " + INSPIRE_SCHEMA
        w.open("WMS_Capabilities", version="1.3.0", **ns, xsi__schemaLocation=schema)
        self._service(w, "WMS", v130=True)
        side = max(1, math.isqrt(self.conf.max_output_pixels))
        w.leaf("MaxWidth", str(side))
        w.leaf("MaxHeight", str(side))
        w.close("Service")
        w.open("Capability")
        w.open("Request")
        self._operation(w, "GetCapabilities", ["text/xml"])
        self._operation(w, "GetMap", self._formats())
        if self.has_info:
            self._operation(w, "GetFeatureInfo", info_mime_types(self.conf.featureinfo_types, "1.3.0"))
        if self.has_legend:
            self._operation(w, "sld:GetLegendGraphic", ["image/png"])
        w.close("Request")
        w.open("Exception")
        for fmt in ("XML", "INIMAGE", "BLANK"):
            w.leaf("Format", fmt)
        w.close("Exception")
        if self.conf.inspire_md:
            inspire_capabilities(w, self.conf.inspire_md)
        self._layer_130(w, self.root, root=True)
        w.close("Capability")
        w.close("WMS_Capabilities")
        return w.text().replace(' xmlns:xlink="http://www.w3.org/1999/xlink" xlink:type', " xlink:type")

    def _layer_130(self, w: XMLWriter, layer: WMSLayer, root: bool = False) -> None:
        self._layer_head(w, layer, root, "1.3.0")
        ext, boxes = self._boxes(layer)
        w.open("EX_GeographicBoundingBox")
        w.leaf("westBoundLongitude", num(ext[0]))
        w.leaf("eastBoundLongitude", num(ext[2]))
        w.leaf("southBoundLatitude", num(ext[1]))
        w.leaf("northBoundLatitude", num(ext[3]))
        w.close("EX_GeographicBoundingBox")
        for code, box in boxes:
            if get_srs(code).is_axis_order_ne:
                box = (box[1], box[0], box[3], box[2])
            w.leaf("BoundingBox", None, CRS=code, minx=num(box[0]), miny=num(box[1]), maxx=num(box[2]), maxy=num(box[3]))
        self._dimensions(w, layer, with_extent=False)
        self._layer_links(w, layer, "1.3.0")
        limits = layer.res_range
        if limits is not None and limits.max_res is not None:
            w.leaf("MinScaleDenominator", num(limits.max_res / PIXEL_SIZE))
        if limits is not None and limits.min_res is not None:
            w.leaf("MaxScaleDenominator", num(limits.min_res / PIXEL_SIZE))
        for child in self._children(layer):
            self._layer_130(w, child)
        w.close("Layer")

    # -- 1.0.0 ---------------------------------------------------------------

    def _v100(self) -> str:
        md = self.conf.md
        w = XMLWriter()
        w.raw('<?xml version="1.0" encoding="UTF-8"?>')
        w.raw(f'<!DOCTYPE WMT_MS_Capabilities SYSTEM "{_DOCTYPES["1.0.0"]}">')
        w.open("WMT_MS_Capabilities", version="1.0.0")
        w.open("Service")
        w.leaf("Name", "GetMap")
        w.leaf("Title", md.title)
        if md.abstract:
            w.leaf("Abstract", md.abstract)
        w.leaf("OnlineResource", md.online_resource or self.base)
        w.leaf("Fees", md.fees or "none")
        w.leaf("AccessConstraints", md.access_constraints or "none")
        w.close("Service")
        w.open("Capability")
        w.open("Request")
        names = []
        for name in self._formats():
            fmt = self.conf.image_formats[name].format
            short = _WMS100_FORMATS.get(fmt.mime)
            if short and short not in names:
                names.append(short)
        self._op100(w, "Map", names)
        self._op100(w, "Capabilities", ["WMS_XML"])
        if self.has_info:
            self._op100(w, "FeatureInfo", ["MIME", "GML.1"])
        w.close("Request")
        w.open("Exception")
        w.open("Format")
        for fmt in ("BLANK", "INIMAGE", "WMS_XML"):
            w.leaf(fmt)
        w.close("Format")
        w.close("Exception")
        self._layer_100(w, self.root)
        w.close("Capability")
        w.close("WMT_MS_Capabilities")
        return w.text()

    def _op100(self, w: XMLWriter, name: str, formats: list[str]) -> None:
        w.open(name)
        w.open("Format")
        for fmt in formats:
            w.leaf(fmt)
        w.close("Format")
        w.open("DCPType")
        w.open("HTTP")
        w.leaf("Get", None, onlineResource=self.base)
        w.close("HTTP")
        w.close("DCPType")
        w.close(name)

    def _layer_100(self, w: XMLWriter, layer: WMSLayer) -> None:
        w.open("Layer", queryable="1" if self._queryable(layer) else None)
        if layer.name:
            w.leaf("Name", layer.name)
        w.leaf("Title", layer.title)
        w.leaf("SRS", " ".join(self.conf.srs))
        self._bbox_elements(w, layer, "SRS")
        self._dimensions(w, layer, with_extent=False)  # not in the 1.0.0 DTD; MapProxy lists them all the same
        if layer.name and layer.has_legend:
            w.open("Style")
            w.leaf("Name", "default")
            w.leaf("Title", "default")
            w.leaf("StyleURL", self._legend_url(layer, "1.1.1"))
            w.close("Style")
        self._scale_hint(w, layer)
        for child in self._children(layer):
            self._layer_100(w, child)
        w.close("Layer")
