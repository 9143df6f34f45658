"""GetMap: draw the requested layers bottom to top and encode the result."""

from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from PIL import Image, TiffImagePlugin, TiffTags

from ...config.model import WMSConfig
from ...http import Response
from ...image.codec import ImageDataError, encode
from ...image.placement import contains, overlaps, part_within, placed
from ...image.result import ImageResult
from ...image.watermark import draw_text_line
from ...layers import WMSLayer
from ...maps import MapLayer, combine_adjacent, in_res_range, request_resolution
from ...sources.base import MapQuery, SourceError
from ...srs import SRSError, get_srs
from ...tiles import TileError
from .exceptions import WMSError
from .request import MapParams

log = logging.getLogger("tileproxy.service.wms")


def _limit_bbox(conf: WMSConfig, params: MapParams):
    """The explicit ``bbox_srs`` bbox for the request SRS, if one is configured."""
    for entry in conf.bbox_srs:
        if entry.bbox is not None and get_srs(entry.srs) == params.srs:
            return entry.bbox
    return None


def dimension_values(args: dict[str, str], layers: list[WMSLayer]) -> tuple[tuple[str, str], ...]:
    """The dimension parameters of the request (defaults where not given), checked
    against the values of the layers that are drawn."""
    dims = {}
    for layer in layers:
        for owner, _ in [(layer, None), *layer.renders()]:
            dims.update(owner.dimensions)
    out = []
    for dim in dims.values():
        value = args.get(dim.param)
        if value is None or value == "":
            value = dim.default
        elif value not in dim.values:
            raise WMSError(f"invalid {dim.param.upper()} value '{value}'", "InvalidDimensionValue", dim.param)
        out.append((dim.param, value))
    return tuple(out)


def render_map(params: MapParams, layers: list[WMSLayer], conf: WMSConfig,
               dimensions: tuple[tuple[str, str], ...] = ()) -> Response:
    query = MapQuery(params.bbox, params.size, params.srs, params.opts.format, params.transparent, dimensions)
    res = request_resolution(params.bbox, params.size, params.srs)
    jobs: list[MapLayer] = []
    for layer in layers:
        if not in_res_range(res, layer.min_res, layer.max_res):
            continue
        for owner, map_layer in layer.renders():
            if owner is layer or in_res_range(res, owner.min_res, owner.max_res):
                jobs.append(map_layer)
    # a bbox_srs extent: only the part of the map inside it is drawn (the rest is background)
    limit = _limit_bbox(conf, params)
    offset = None
    if limit is not None and not contains(limit, params.bbox):
        size, offset, bbox = part_within(params.bbox, params.size, limit)
        if overlaps(limit, params.bbox) and size[0] and size[1]:
            query = replace(query, bbox=bbox, size=size)
        else:
            jobs = []
    jobs = combine_adjacent(jobs, query)
    results, errors = _render_all(jobs, query, conf.concurrent_layer_renderer)
    if errors and (conf.on_source_errors == "raise" or not results):
        raise WMSError("; ".join(errors))
    if len(results) == 1 and not errors and offset is None and not conf.attribution:
        passthrough = _passthrough(results[0], params, jobs[0])
        if passthrough is not None:
            return passthrough
    img = _compose(results, params, query.size)
    if offset is not None and query.size != params.size:
        img = placed(img, params.size, offset, (*params.bgcolor, 0 if params.transparent else 255))
    if errors:
        img = draw_text_line(img, "; ".join(errors), color=(200, 0, 0, 255), where="ul")
    if conf.attribution:
        img = draw_text_line(img, conf.attribution)
    if not params.transparent and img.mode != "RGB":
        img = img.convert("RGB")
    if params.is_geotiff:
        return Response(encode_geotiff(img, params), content_type="image/tiff")
    data, mime = encode(img, params.opts)
    return Response(data, content_type=mime)


def _render_all(jobs: list[MapLayer], query: MapQuery, workers: int) -> tuple[list[ImageResult], list[str]]:
    def one(job: MapLayer) -> ImageResult | str:
        try:
            return job.render(query)
        except (SourceError, TileError, SRSError, ImageDataError) as ex:
            log.warning("GetMap: %s", ex)
            return str(ex)

    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(min(workers, len(jobs))) as pool:
            outcomes = list(pool.map(one, jobs))
    else:
        outcomes = [one(job) for job in jobs]
    results = [o for o in outcomes if isinstance(o, ImageResult)]
    errors = [o for o in outcomes if isinstance(o, str)]
    return results, errors


def _passthrough(result: ImageResult, params: MapParams, job: MapLayer) -> Response | None:
    """The encoded bytes as they came when nothing has to change (a cached tile that
    matches the request exactly, in the requested format)."""
    if not result.has_data or result.mime != params.opts.format.mime or params.is_geotiff:
        return None
    opts = params.opts
    if opts.format.paletted or opts.mode or opts.colors not in (None, 256) or (job.transparent and not params.transparent):
        return None  # the output asks for more than the plain format
    data, mime = result.encoded(params.opts)
    return Response(data, content_type=mime)


def _compose(results: list[ImageResult], params: MapParams, size: tuple[int, int]) -> Image.Image:
    if len(results) == 1:
        try:
            img = results[0].image
        except ImageDataError as ex:
            raise WMSError(f"source image cannot be used: {ex}") from None
        # one opaque layer, or one layer of a transparent map: nothing to blend (the
        # layer's transparent pixels keep their colour, as in MapProxy's answers)
        if img.size == size and (img.mode == "RGB" or params.transparent):
            return img
    base = Image.new("RGBA", size, (*params.bgcolor, 0 if params.transparent else 255))
    for result in results:
        try:
            img = result.image
        except ImageDataError as ex:
            raise WMSError(f"source image cannot be used: {ex}") from None
        if img.mode != "RGBA":
            img = img.convert("RGBA")
        if img.size != size:
            img = img.resize(size)
        base.alpha_composite(img)
    return base


def encode_geotiff(img: Image.Image, params: MapParams) -> bytes:
    """A TIFF with GeoTIFF tags (pixel scale, tie point, EPSG code) for the map's bbox."""
    b = params.bbox
    w, h = params.size
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[33550] = ((b[2] - b[0]) / w, (b[3] - b[1]) / h, 0.0)  # ModelPixelScale
    tags.tagtype[33550] = TiffTags.DOUBLE
    tags[33922] = (0.0, 0.0, 0.0, b[0], b[3], 0.0)  # ModelTiepoint
    tags.tagtype[33922] = TiffTags.DOUBLE
    code = params.srs.code
    epsg = 3857 if params.srs == get_srs("EPSG:3857") else int(code.split(":")[1]) if code.startswith("EPSG:") else 4326
    if params.srs.is_latlong:
        keys = [1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, epsg]
    else:
        keys = [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, epsg]
    tags[34735] = tuple(keys)  # GeoKeyDirectory
    tags.tagtype[34735] = TiffTags.SHORT
    buf = io.BytesIO()
    img.save(buf, "TIFF", tiffinfo=tags)
    return buf.getvalue()
