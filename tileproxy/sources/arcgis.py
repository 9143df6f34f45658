"""ArcGIS REST sources: MapServer ``export`` and ImageServer ``exportImage``,
with feature info through ``identify``."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from ..image.formats import ImageFormat
from ..srs import SRS
from .base import SourceError
from .featureinfo import FeatureInfoDoc, FeatureInfoQuery, number
from .http import HTTPClient
from .limits import NO_LIMITS, SourceLimits
from .on_error import ErrorPolicy
from .wms import WMSSource, WMSSourceOptions, _num

log = logging.getLogger("tileproxy.source.arcgis")

# ArcGIS names its formats by extension; png32 keeps the alpha channel
_FORMATS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/tiff": "tiff"}


def normalize_url(url: str) -> str:
    """``.../MapServer`` -> ``.../MapServer/export``, ``.../ImageServer`` -> ``.../ImageServer/exportImage``."""
    base, sep, query = url.partition("?")
    base = base.rstrip("/")
    if base.endswith("/MapServer"):
        base += "/export"
    elif base.endswith("/ImageServer"):
        base += "/exportImage"
    return base + (sep + query if query else "")


def spatial_reference(srs: SRS) -> str:
    """The well-known id ArcGIS expects in bboxSR/imageSR/sr (web mercator aliases -> 3857)."""
    if srs == SRS("EPSG:3857"):
        return "3857"
    return srs.code.rpartition(":")[2]


def json_error(data: bytes) -> str | None:
    """The message of an ArcGIS JSON error document (served with HTTP 200), else None."""
    if not data.lstrip()[:1] == b"{":
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return "invalid JSON answer"
    err = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(err, dict):
        return None
    parts = [str(err.get("message") or "unknown error")]
    parts += [str(d) for d in err.get("details") or [] if d]
    code = err.get("code")
    return (f"{code}: " if code else "") + "; ".join(parts)


class ArcGISSource(WMSSource):
    """An ArcGIS MapServer/ImageServer answering export requests like a WMS."""

    kind = "ArcGIS"

    def __init__(
        self,
        name: str,
        url: str,
        params: dict[str, str],
        client: HTTPClient,
        transparent: bool = False,
        supported_srs: list[SRS] | None = None,
        supported_formats: list[ImageFormat] | None = None,
        resampling: str = "bicubic",
        featureinfo: bool = False,
        fi_tolerance: float = 5,
        fi_return_geometries: bool = False,
        limits: SourceLimits = NO_LIMITS,
        on_error: ErrorPolicy | None = None,
    ):
        super().__init__(
            name,
            normalize_url(url),
            params,
            client,
            transparent=transparent,
            supported_srs=supported_srs,
            supported_formats=supported_formats,
            resampling=resampling,
            # the WMS service looks in the options for queryable sources
            options=WMSSourceOptions(featureinfo=featureinfo),
            limits=limits,
            on_error=on_error,
        )
        self.is_image_server = "/ImageServer/" in self.url.partition("?")[0] + "/"
        self.featureinfo = featureinfo
        self.fi_tolerance = fi_tolerance
        self.fi_return_geometries = fi_return_geometries

    def map_url(self, bbox, size, srs: SRS, fmt: ImageFormat) -> str:
        sr = spatial_reference(srs)
        params = {
            "bbox": ",".join(_num(c) for c in bbox),
            "size": f"{size[0]},{size[1]}",
            "bboxSR": sr,
            "imageSR": sr,
            "format": self._format_name(fmt),
            "f": "image",
        }
        if not self.is_image_server:
            params["transparent"] = "true" if self.transparent else "false"
        for key, value in self.params.items():
            if self.is_image_server and key.lower() == "layers":
                continue  # image services have no layers
            params[key] = value
        return _join(self.url, params)

    def _format_name(self, fmt: ImageFormat) -> str:
        name = _FORMATS.get(fmt.mime, fmt.ext)
        if name == "png" and self.transparent and not fmt.paletted:
            return "png32"
        return name

    def _fetch(self, bbox, size, srs: SRS, fmt: ImageFormat, forward: dict[str, str] | None = None) -> bytes:
        # forward_req_params are a WMS feature; ArcGIS exports take none
        url = self.map_url(bbox, size, srs, fmt)
        data = self.client.get(url, auth=self.auth).content
        self._raise_for_json_error(data)
        return self._checked_image(data, url)

    def _checked_image(self, data: bytes, url: str) -> bytes:
        from ..image.codec import ImageDataError, check_image_bytes

        try:
            check_image_bytes(data)
        except ImageDataError as ex:
            raise SourceError(f"ArcGIS source '{self.name}' returned {ex}") from None
        return data

    def _raise_for_json_error(self, data: bytes) -> None:
        message = json_error(data)
        if message is not None:
            log.warning("ArcGIS source '%s' answered with an error: %s", self.name, message)
            raise SourceError(f"ArcGIS source '{self.name}' answered with an error: {message}")

    # -- feature info ------------------------------------------------------

    def identify_url(self, query: FeatureInfoQuery) -> str:
        """The ``identify`` URL for ``query`` (in a SRS the server serves). The
        ``req`` parameters (``layers`` too) go along as configured."""
        base, sep, q = self.url.partition("?")
        base = base.rsplit("/", 1)[0] + "/identify"
        x, y = query.coord
        params = {
            "geometry": f"{x:f},{y:f}",
            "geometryType": "esriGeometryPoint",
            "sr": spatial_reference(query.srs),
            "mapExtent": ",".join(number(c) for c in query.bbox),
            "imageDisplay": f"{query.size[0]},{query.size[1]},96",
            "tolerance": f"{self.fi_tolerance:g}",
            "returnGeometry": "true" if self.fi_return_geometries else "false",
            "f": "html" if _wants_html(query) else "json",
        }
        for key, value in self.params.items():
            if self.is_image_server and key.lower() == "layers":
                continue  # image services have no layers
            params[key] = value
        return _join(base + (sep + q if q else ""), params)

    def get_feature_info(self, query: FeatureInfoQuery) -> FeatureInfoDoc:
        """Ask the server's ``identify`` about the point of ``query``. The answer is
        read as the format asked for (servers often label JSON as text/plain)."""
        if not self.featureinfo:
            raise SourceError(f"ArcGIS source '{self.name}' has no feature info (opts.featureinfo)")
        query = query.in_srs(self._request_srs(query.srs))
        resp = self.client.get(self.identify_url(query), auth=self.auth)
        self._raise_for_json_error(resp.content)
        return FeatureInfoDoc(resp.content, query.info_format or "application/json")


def _wants_html(query: FeatureInfoQuery) -> bool:
    return (query.info_format or "").startswith("text/html")


def _join(url: str, params: dict[str, str]) -> str:
    if url.endswith(("?", "&")):
        return url + urlencode(params)
    return url + ("&" if "?" in url else "?") + urlencode(params)
