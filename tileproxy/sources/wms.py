"""WMS 1.0.0 - 1.3.0 sources: GetMap requests, SRS and format fallbacks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from ..image.codec import ImageDataError, check_image_bytes
from ..image.formats import ImageFormat
from ..image.placement import Part, contains, overlaps, part_within, placed
from ..image.result import ImageResult
from ..image.transform import blank_image, transform_image
from ..res_range import ResRange, res_range
from ..srs import SRS, SRSError, clip_to_world
from .base import MapQuery, Source, SourceDataError, SourceError, source_image
from .featureinfo import FeatureInfoDoc, FeatureInfoQuery, number, pixel
from .http import HTTPClient, HTTPOptions, read_file_url, split_credentials
from .limits import NO_LIMITS, SourceLimits
from .on_error import ErrorPolicy

_WMS100_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/tiff": "TIFF"}


@dataclass(frozen=True)
class WMSSourceOptions:
    """``wms_opts`` and the resolution limits of a WMS source."""

    map: bool = True
    featureinfo: bool = False
    featureinfo_format: str | None = None
    featureinfo_xslt: str | None = None
    featureinfo_out_format: str | None = None
    legendgraphic: bool = False
    legendurl: str | None = None
    min_res: float | None = None
    max_res: float | None = None
    forward_req_params: tuple[str, ...] = ()  # request parameters passed on (lower case)
    query_layers: str | None = None  # QUERY_LAYERS of feature info requests (default: LAYERS)


class WMSSource(Source):
    kind = "WMS"  # in error messages: "WMS source 'name'"

    def __init__(
        self,
        name: str,
        url: str,
        params: dict[str, str],
        client: HTTPClient | None,
        version: str = "1.1.1",
        transparent: bool = False,
        supported_srs: list[SRS] | None = None,
        supported_formats: list[ImageFormat] | None = None,
        resampling: str = "bicubic",
        options: WMSSourceOptions | None = None,
        transparent_param: str | None = None,
        limits: SourceLimits = NO_LIMITS,
        on_error: ErrorPolicy | None = None,
    ):
        super().__init__(name, transparent, limits, on_error)
        self.options = options or WMSSourceOptions()
        self.url, self.auth = split_credentials(url)
        self.params = params  # extra request parameters, LAYERS included
        self.client = client  # None for sources that run a program (MapServer)
        self.version = version
        # req.transparent as configured: sent as written ('True' for YAML true, as MapProxy)
        self.transparent_param = transparent_param
        self.supported_srs = supported_srs or []
        self.supported_formats = supported_formats or []
        self.resampling = resampling

    def draw(self, query: MapQuery) -> ImageResult:
        req_srs = self._request_srs(query.srs)
        req_format = self._request_format(query.format)
        if req_srs == query.srs:
            bbox, size = query.bbox, query.size
        else:
            bbox = clip_to_world(req_srs, query.srs.transform_bbox_to(req_srs, query.bbox))
            if bbox is None:  # nothing of the query lies where the source SRS is defined
                return ImageResult(image=blank_image(query.size))
            size = _projected_size(query, bbox)
        forward = self._forwarded(query.params)
        part = self._covered_part(bbox, size, req_srs)
        if part is None:
            # another size passes here: a cache refuses it, a map is scaled to the size asked for
            result = source_image(self._fetch(bbox, size, req_srs, req_format, forward), size, self.label, exact=False)
        else:  # only the part inside the coverage is asked for
            part_size, offset, part_bbox = part
            if not part_size[0] or not part_size[1]:
                return ImageResult(image=blank_image(query.size))
            data = self._fetch(part_bbox, part_size, req_srs, req_format, forward)
            part_image = source_image(data, part_size, self.label, exact=False).fitted(part_size).image
            result = ImageResult(image=placed(part_image, size, offset))
        if req_srs != query.srs:
            img = transform_image(result.image, bbox, req_srs, query.bbox, query.srs, query.size, self.resampling)
            return ImageResult(image=img)
        if req_format.mime != query.format.mime:
            return ImageResult(image=result.image)
        return result

    def res_range(self) -> ResRange | None:
        return super().res_range() or res_range(self.options.min_res, self.options.max_res)

    @property
    def label(self) -> str:
        return f"{self.kind} source '{self.name}'"

    def _covered_part(self, bbox, size: tuple[int, int], srs: SRS) -> Part | None:
        """The part of the request inside the source's coverage bbox when the request
        reaches beyond it (None: ask for all of it)."""
        coverage = self.limits.coverage
        if coverage is None or coverage.is_empty:
            return None
        try:
            limit = coverage.srs.transform_bbox_to(srs, coverage.written_bbox)  # numbers as configured
        except SRSError:
            return None
        if contains(limit, bbox) or not overlaps(limit, bbox):
            return None
        return part_within(bbox, size, limit)

    def _request_srs(self, srs: SRS) -> SRS:
        if not self.supported_srs or srs in self.supported_srs:
            return srs
        for cand in self.supported_srs:
            if cand.is_latlong == srs.is_latlong:
                return cand
        return self.supported_srs[0]

    def _request_format(self, fmt: ImageFormat) -> ImageFormat:
        if not self.supported_formats or any(f.mime == fmt.mime for f in self.supported_formats):
            return fmt
        return self.supported_formats[0]

    def map_url(self, bbox, size, srs: SRS, fmt: ImageFormat, forward: dict[str, str] | None = None) -> str:
        return self._url(self._map_params(bbox, size, srs, fmt, forward))

    def _map_params(self, bbox, size, srs: SRS, fmt: ImageFormat, forward: dict[str, str] | None) -> dict[str, str]:
        fmt_value = _WMS100_FORMATS.get(fmt.mime, fmt.mime) if self.version == "1.0.0" else str(fmt)
        params = self._base_params("GetMap", "map", bbox, size, srs, {"FORMAT": fmt_value})
        params.update(forward or {})
        return params

    def _posts(self, params: dict[str, str]) -> bool:
        """``http.method``: POST, GET, or AUTO: POST when an SLD_BODY goes along (it
        is often too long for a URL), as MapProxy decides."""
        method = self.client.opts.method if self.client is not None else "AUTO"
        return method == "POST" or (method != "GET" and "SLD_BODY" in params)

    # -- one request for neighbouring layers --------------------------------

    def combined_with(self, other: Source, query: MapQuery) -> WMSSource | None:
        """One source that asks for this source's layers and ``other``'s in one
        request (this one's below), when both send the same request apart from
        LAYERS and treat the answer alike; else None. MapProxy combines neighbouring
        layers of a GetMap this way, and servers see the same requests."""
        if type(other) is not type(self) or not self._same_request(other, query):
            return None
        return self.with_layers([v for v in (_layers_of(self.params), _layers_of(other.params)) if v])

    def with_layers(self, layers: list[str]) -> WMSSource:
        """A copy that asks for ``layers`` (LAYERS) instead of its own."""
        clone = copy.copy(self)
        clone.params = {k: v for k, v in self.params.items() if k.lower() != "layers"}
        clone.params["LAYERS"] = ",".join(layers)
        return clone

    def _same_request(self, other: WMSSource, query: MapQuery) -> bool:
        def rest(params: dict[str, str]) -> dict[str, str]:
            return {k.upper(): v for k, v in params.items() if k.lower() != "layers"}

        return (
            (self.url, self.auth, self.version) == (other.url, other.auth, other.version)
            and _http_options(self.client) == _http_options(other.client)  # headers, timeouts
            and rest(self.params) == rest(other.params)
            and (self.transparent, self.transparent_param) == (other.transparent, other.transparent_param)
            and self.supported_srs == other.supported_srs
            and self.supported_formats == other.supported_formats
            and self.resampling == other.resampling
            and (self.options.min_res, self.options.max_res) == (other.options.min_res, other.options.max_res)
            and self.on_error is other.on_error
            # same coverage, resolution range, transparent_color; opacity never (applied per layer)
            and self.limits == other.limits
            and self.limits.opacity is None
            and self._forwarded(query.params) == other._forwarded(query.params)
        )

    def _forwarded(self, params: tuple[tuple[str, str], ...]) -> dict[str, str]:
        wanted = self.options.forward_req_params
        return {k.upper(): v for k, v in params if k.lower() in wanted}

    # -- feature info ----------------------------------------------------

    def get_feature_info(self, query: FeatureInfoQuery) -> FeatureInfoDoc:
        """Forward a GetFeatureInfo (the point translated when the source needs
        another SRS). The answer is read as ``featureinfo_format`` if configured,
        else as the source's Content-Type, else as the format asked for."""
        query = query.in_srs(self._request_srs(query.srs))
        data, ctype = self.request(self.feature_info_url(query))
        return FeatureInfoDoc(data, self.options.featureinfo_format or ctype or query.info_format or "text/plain")

    def feature_info_url(self, query: FeatureInfoQuery) -> str:
        """The source's GetFeatureInfo URL for ``query`` (in a SRS the source serves)."""
        params = self._base_params("GetFeatureInfo", "feature_info", query.bbox, query.size, query.srs,
                                   {"FORMAT": query.map_format}, bbox_number=number)
        params["QUERY_LAYERS"] = self.options.query_layers or params.get("LAYERS", "")
        info_format = self.options.featureinfo_format or query.info_format
        if info_format:
            params["INFO_FORMAT"] = info_format
        x, y = pixel(query.pos[0]), pixel(query.pos[1])
        if self.version == "1.3.0":
            params["I"], params["J"] = x, y
        else:
            params["X"], params["Y"] = x, y
        if query.feature_count:
            params["FEATURE_COUNT"] = str(query.feature_count)
        return self._url(params)

    # -- legends ---------------------------------------------------------

    def legend_urls(self, scale: float | None = None, fmt: str = "image/png") -> list[str]:
        """The URLs of this source's legends in ``fmt``: its ``legendurl``, or one
        GetLegendGraphic per WMS layer (a ``req.format`` is kept for images)."""
        if self.options.legendurl:
            return [self.options.legendurl]
        if not self.options.legendgraphic:
            return []
        layers = next((v for k, v in self.params.items() if k.lower() == "layers"), "")
        urls = []
        for layer in [v for v in layers.split(",") if v]:
            params = {"SERVICE": "WMS", "REQUEST": "GetLegendGraphic", "VERSION": self.version,
                      "FORMAT": fmt, "LAYER": layer, "SLD_VERSION": "1.1.0"}
            if scale:
                params["SCALE"] = repr(float(scale))
            for key, value in self.params.items():
                if key.lower() not in ("layers", "transparent"):
                    params[key.upper()] = value
            params["LAYER"] = layer
            if not fmt.startswith("image/"):
                params["FORMAT"] = fmt
            urls.append(self._url(params))
        return urls

    def fetch(self, url: str) -> tuple[bytes, str]:
        """GET ``url`` with this source's HTTP client: the body and its Content-Type
        (``file://`` URLs are read, with no type)."""
        if url.startswith("file://"):
            return read_file_url(url, f"WMS source '{self.name}'"), ""
        return self.request(url)

    def request(self, url: str) -> tuple[bytes, str]:
        """GET one of this source's own URLs: the body and its Content-Type."""
        resp = self.client.get(url, auth=self.auth)
        return resp.content, resp.headers.get("Content-Type", "")

    # -- requests --------------------------------------------------------

    def _base_params(self, request: str, old_request: str, bbox, size, srs: SRS,
                     extra: dict[str, str] | None = None,
                     bbox_number: Callable[[float], str] | None = None) -> dict[str, str]:
        params: dict[str, str] = {}
        v = self.version
        if v == "1.0.0":
            params.update(WMTVER="1.0.0", REQUEST=old_request, SRS=srs.code)
        else:
            params.update(SERVICE="WMS", REQUEST=request, VERSION=v)
            params["CRS" if v == "1.3.0" else "SRS"] = srs.code
        params.update(extra or {})
        if v == "1.3.0" and srs.is_axis_order_ne:
            bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
        params["BBOX"] = ",".join((bbox_number or _num)(c) for c in bbox)
        params["WIDTH"], params["HEIGHT"] = str(size[0]), str(size[1])
        params["STYLES"] = ""
        for key, value in self.params.items():
            params[key.upper()] = value
        if self.transparent_param is not None:
            params["TRANSPARENT"] = self.transparent_param
        elif self.transparent:
            params["TRANSPARENT"] = "TRUE"
        return params

    def _url(self, params: dict[str, str]) -> str:
        sep = "&" if "?" in self.url else "?"
        if self.url.endswith(("?", "&")):
            sep = ""
        return self.url + sep + urlencode(params, safe=",")

    def _fetch(self, bbox, size, srs: SRS, fmt: ImageFormat, forward: dict[str, str] | None = None) -> bytes:
        params = self._map_params(bbox, size, srs, fmt, forward)
        if self._posts(params):
            resp = self.client.post(self.url.rstrip("?&"), urlencode(params, safe=",").encode(), auth=self.auth)
        else:
            resp = self.client.get(self._url(params), auth=self.auth)
        data = resp.content
        try:
            check_image_bytes(data)
        except ImageDataError as ex:
            if "xml" in resp.headers.get("Content-Type", ""):
                raise SourceError(f"WMS source '{self.name}' returned a service exception") from None
            raise SourceDataError(f"WMS source '{self.name}' returned {ex}") from None
        return data


def _layers_of(params: dict[str, str]) -> str:
    return next((v for k, v in params.items() if k.lower() == "layers"), "")


def _num(value: float) -> str:
    """A coordinate as MapProxy writes it: floats always with a decimal point
    (``1000.0``), whole numbers from the configuration (a coverage or extent
    bbox written as ``[10, 15, 30, 31]``) as written."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(float(value))


MAX_REQUEST_SIDE = 4096  # pixels; a reprojected request never asks for more per side


def _projected_size(query: MapQuery, bbox) -> tuple[int, int]:
    """Pixel size for a request in another SRS: square pixels at the finer of the
    two resolutions the query's size gives in that SRS (as MapProxy sizes it), so
    that no detail is lost; at most MAX_REQUEST_SIDE pixels per side."""
    w, h = query.size
    width, height = bbox[2] - bbox[0], bbox[3] - bbox[1]
    res = min(width / w, height / h)
    size_w, size_h = width / res, height / res
    scale = min(1.0, MAX_REQUEST_SIDE / max(size_w, size_h))
    return max(1, round(size_w * scale)), max(1, round(size_h * scale))


def _http_options(client: HTTPClient | None) -> HTTPOptions | None:
    return client.opts if client is not None else None
