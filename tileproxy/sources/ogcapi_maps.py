"""``ogcapimaps`` sources: maps of an OGC API Maps server, asked like a WMS.

The server is asked on first use: the landing page (or collection) links to its
map in PNG and JPEG and names the CRS it draws in (``crs``, ``storageCrs``;
CRS84 when it names none). Maps in other SRS are reprojected, as for WMS
sources; ``supported_srs`` in the configuration takes the place of the CRS the
server names."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from ..crs_uri import CRS84_URL, crs_uri
from ..image.codec import ImageDataError, check_image_bytes
from ..image.formats import ImageFormat, parse_format
from ..image.result import ImageResult
from ..srs import SRS, SRSError, get_srs
from .base import MapQuery, Source, SourceDataError, SourceError
from .limits import NO_LIMITS, SourceLimits
from .ogcapi_links import OGC_REL, OGCAPIServer, Once, crs_srs, find_link
from .on_error import Color, ErrorPolicy
from .wms import WMSSource

log = logging.getLogger("tileproxy.source.ogcapimaps")

MAP_FORMATS = ("image/png", "image/jpeg")
WGS84 = get_srs("EPSG:4326")


@dataclass(frozen=True)
class MapLinks:
    """What the server tells of its map: the URL per image format and the CRS it
    draws in, with the URI it names each by."""

    urls: dict[str, str]  # mime -> map URL
    crs: dict[SRS, str]  # SRS -> CRS URI, in the server's order


def bgcolor_param(color: Color) -> str:
    """``bgcolor`` as OGC API Maps writes it: 0xRRGGBB, or 0xAARRGGBB for a colour
    that is not opaque."""
    r, g, b, a = color
    return f"0x{r:02X}{g:02X}{b:02X}" if a == 255 else f"0x{a:02X}{r:02X}{g:02X}{b:02X}"


def coord(value: float) -> str:
    """A bbox coordinate: the shortest text that reads back as the same number."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


class OGCAPIMapsSource(WMSSource):
    """Maps of a collection (or of the whole dataset) of an OGC API Maps server."""

    kind = "OGC API Maps"

    def __init__(self, name: str, server: OGCAPIServer, *, supported_srs: list[SRS] | None = None,
                 transparent: bool = False, bgcolor: Color | None = None, resampling: str = "bicubic",
                 limits: SourceLimits = NO_LIMITS, on_error: ErrorPolicy | None = None):
        super().__init__(name, server.landingpage_url, {}, server.client, transparent=transparent,
                         supported_srs=supported_srs, resampling=resampling, limits=limits, on_error=on_error)
        self.server = replace(server, label=self.label)
        self.configured_srs = list(supported_srs or [])
        self.bgcolor = bgcolor
        self._links = Once(self._find_links)

    def draw(self, query: MapQuery) -> ImageResult:
        self._links.get()  # the server is asked before the first map
        return super().draw(query)

    def combined_with(self, other: Source, query: MapQuery) -> None:
        return None  # an OGC API map has no layers to combine

    def _request_format(self, fmt: ImageFormat) -> ImageFormat:
        urls = self._links.get().urls
        if fmt.mime in urls:
            return fmt
        return parse_format(next(iter(urls)))

    def map_url(self, bbox, size, srs: SRS, fmt: ImageFormat, forward: dict[str, str] | None = None) -> str:
        links = self._links.get()
        served = self.configured_srs or list(links.crs)
        uri = links.crs.get(srs) if not self.configured_srs else None
        uri = uri or (CRS84_URL if srs == WGS84 else crs_uri(srs))
        if srs != WGS84 and srs.is_axis_order_ne:
            bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
        params = {"bbox": ",".join(coord(v) for v in bbox)}
        if srs != WGS84:  # without bbox-crs a bbox is CRS84, longitude first
            params["bbox-crs"] = uri
        if srs != WGS84 or len(served) != 1:
            params["crs"] = uri
        params["width"], params["height"] = str(size[0]), str(size[1])
        if self.transparent:
            params["transparent"] = "true"
        if self.bgcolor is not None:
            params["bgcolor"] = bgcolor_param(self.bgcolor)
        url = links.urls[fmt.mime]
        return url + ("&" if "?" in url else "?") + urlencode(params, safe=",")

    def _fetch(self, bbox, size, srs: SRS, fmt: ImageFormat, forward: dict[str, str] | None = None) -> bytes:
        data = self.client.get(self.map_url(bbox, size, srs, fmt)).content
        try:
            check_image_bytes(data)
        except ImageDataError as ex:
            raise SourceDataError(f"{self.label} returned {ex}") from None
        return data

    def _find_links(self) -> MapLinks:
        server = self.server
        doc = server.document(server.start_url, "links")
        urls = {}
        for mime in MAP_FORMATS:
            href = find_link(doc["links"], OGC_REL + "map", mime)
            if href:
                urls[mime] = server.url(href)
        if not urls:
            raise SourceError(f"{self.label}: {server.start_url} links to no PNG or JPEG map")
        crs: dict[SRS, str] = {}
        named = [doc["storageCrs"]] if isinstance(doc.get("storageCrs"), str) else []
        named += [u for u in doc.get("crs") or [] if isinstance(u, str)]
        for uri in named:
            try:
                crs.setdefault(crs_srs(uri), uri)
            except SRSError as ex:
                log.info("%s: CRS skipped: %s", self.label, ex)
        links = MapLinks(urls, crs or {WGS84: CRS84_URL})
        if not self.configured_srs:  # requests go in the CRS the server names
            self.supported_srs = list(links.crs)
        return links
