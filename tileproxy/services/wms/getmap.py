"""GetMap: draw the requested layers bottom to top and encode the result."""

from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from PIL import Image, ImageDraw, TiffImagePlugin, TiffTags

from ...access_log import carried
from ...config.model import WMSConfig
from ...grid import ResRange
from ...http import Response, no_cache
from ...image.codec import ImageDataError, encode
from ...image.placement import overlaps, part_within, placed
from ...image.result import ImageResult
from ...image.watermark import draw_text_line, font
from ...layers import WMSLayer
from ...maps import (
    CacheMapLayer,
    MapLayer,
    combine_adjacent,
)
from ...sources.base import MapQuery, SourceDataError, SourceError
from ...srs import BBox, SRSError, get_srs
from ...tilecache.outcomes import TileError
from ...tiled_map import TooManyTiles
from ..client_input import echo
from .access import MapAccess
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
    """The dimension parameters the request gives for the dimensions of the layers
    that are drawn, each one of the dimension's values or its default. As in
    MapProxy, a dimension the request leaves out is not filled in: the source
    applies its own default, and a cache keeps those tiles without a dimension."""
    dims = {}
    for layer in layers:
        for owner, _ in [(layer, None), *layer.renders()]:
            dims.update(owner.dimensions)
    out = []
    for dim in dims.values():
        value = args.get(dim.param)
        if value is None or value == "":
            continue
        if value not in dim.values and value != dim.default:
            raise WMSError(f"invalid {dim.param.upper()} value '{echo(value)}'", "InvalidDimensionValue", dim.param)
        out.append((dim.param, value))
    return tuple(out)


def render_map(params: MapParams, layers: list[WMSLayer], conf: WMSConfig,
               dimensions: tuple[tuple[str, str], ...] = (), args: dict[str, str] | None = None,
               access: MapAccess | None = None) -> Response:
    """The map; ``access`` applies the authorize and decorate_img callbacks."""
    full = params
    offset = None  # where the part inside the bbox_srs limit goes in the full map
    outside = False
    limit = _limit_bbox(conf, params)
    if limit is not None and not contains(limit, params.bbox):
        part = _part_inside(limit, params)
        if part is None:
            outside = True
        else:
            params, offset = replace(params, bbox=part[0], size=part[1]), part[2]
    # the request's own parameters go along: sources pass on those in forward_req_params
    forward = {**(args or {}), **dict(dimensions)}
    query = MapQuery(params.bbox, params.size, params.srs, params.opts.format, params.transparent,
                     tuple(forward.items()), dimensions)

    def within(limits: ResRange | None) -> bool:
        return limits is None or limits.contains(params.bbox, params.size, params.srs)

    drawing: list[tuple[WMSLayer, MapLayer]] = []
    drawn: set[tuple[int, int]] = set()  # a layer in a group and named itself is drawn once, where first met
    for layer in layers:
        if not within(layer.res_range):
            continue
        for owner, map_layer in layer.renders():
            if owner is not layer and not within(owner.res_range):
                continue
            if (id(owner), id(map_layer)) in drawn:
                continue
            drawn.add((id(owner), id(map_layer)))
            # outside what a cache's sources draw, the cache draws nothing (as in MapProxy)
            if isinstance(map_layer, CacheMapLayer) and not within(map_layer.res_range()):
                continue
            drawing.append((owner, map_layer))
    jobs = access.restrict(drawing, params) if access is not None else [m for _, m in drawing]
    if outside:
        jobs = []  # the map lies outside the bbox_srs limit
    jobs = combine_adjacent(jobs, query)  # neighbouring layers of one WMS server: one request
    rendered, errors = _render_all(jobs, query, conf)
    if errors and (conf.on_source_errors == "raise" or not rendered):
        if conf.on_source_errors == "raise":
            raise WMSError(errors[0])
        raise WMSError("Could not get any sources:\n" + "\n".join(errors))
    cacheable = not errors and all(result.cacheable for _, result in rendered)
    if len(rendered) == 1 and not errors and offset is None and not conf.attribution and (
            access is None or not access.changes_image):
        passthrough = _passthrough(rendered[0][1], params, rendered[0][0])
        if passthrough is not None:
            return _uncached(passthrough) if not cacheable else passthrough
    img = _compose(rendered, params)
    drawn_part = params  # the map as drawn (within the bbox_srs limit): what the callbacks are told
    if access is not None:
        img = access.clipped(img, params)
    if offset is not None:
        img = placed(img, full.size, offset, (*full.bgcolor, 0 if full.transparent else 255))
        params = full
    if errors:
        img = _error_lines(img, errors)
    if conf.attribution:
        img = draw_text_line(img, conf.attribution)
    if access is not None:
        img = access.decorated(img, drawn_part)
    if not params.transparent and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")  # (a grey map stays grey, as MapProxy sends it)
    if params.is_geotiff:
        resp = Response(encode_geotiff(img, params), content_type="image/tiff")
    else:
        data, mime = encode(img, params.opts)
        resp = Response(data, content_type=_content_type(params, mime))
    return resp if cacheable else _uncached(resp)


def _content_type(params: MapParams, mime: str) -> str:
    """The configured format's name for its own encoding ("image/png; mode=8bit"),
    as MapProxy tells clients; else the mime type of the bytes."""
    fmt = params.opts.format
    return str(fmt) if mime == fmt.mime else mime


def _error_lines(img: Image.Image, errors: list[str]) -> Image.Image:
    """The failed sources' messages in the upper left, one per line, plain black
    text as in MapProxy (long lines run off the map)."""
    img = img.convert("RGBA")
    draw = ImageDraw.Draw(img)
    fnt = font(10)
    y = 5
    for line in errors:
        left, top, _, bottom = draw.textbbox((0, 0), line, font=fnt)
        draw.text((5 - left, y - top), line, font=fnt, fill=(0, 0, 0, 255))
        y += bottom - top + 3
    return img


def _uncached(resp: Response) -> Response:
    """Maps with source errors or error stand-ins: clients must not keep them."""
    no_cache(resp.headers)
    return resp


def contains(outer: BBox, inner: BBox) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def _data_error(job: MapLayer, detail: str) -> str:
    """Unusable image data, worded as MapProxy words it: a cache fails while
    transforming its tiles, a source layer while its image is processed."""
    if isinstance(job, CacheMapLayer):
        return f"unable to transform image: cannot identify image file: {detail}"
    return f"error while processing image file: cannot identify image file: {detail}"


def _render_all(jobs: list[MapLayer], query: MapQuery,
                conf: WMSConfig) -> tuple[list[tuple[MapLayer, ImageResult]], list[str]]:
    """The layers' images (with their layer) and the messages of the sources that
    failed. A request that cannot be drawn at all (its bbox cannot be transformed,
    it needs too many tiles) fails as a whole."""

    def one(job: MapLayer) -> ImageResult | str:
        try:
            return job.render(query)
        except SRSError as ex:
            log.warning("GetMap: %s", ex)
            raise WMSError("Could not transform BBOX: Invalid result.") from None
        except TooManyTiles as ex:
            raise WMSError(f"Request too large or invalid BBOX. ({ex.reason})") from None
        except (SourceDataError, ImageDataError) as ex:
            log.warning("GetMap: %s", ex)
            return _data_error(job, str(ex))
        except (SourceError, TileError) as ex:
            log.warning("GetMap: %s", ex)
            return str(ex)

    workers = conf.concurrent_layer_renderer
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(min(workers, len(jobs))) as pool:
            outcomes = list(pool.map(carried(one), jobs))
    else:
        outcomes = [one(job) for job in jobs]
    rendered = [(job, o) for job, o in zip(jobs, outcomes) if isinstance(o, ImageResult)]
    errors = [o for o in outcomes if isinstance(o, str)]
    return rendered, errors


def _passthrough(result: ImageResult, params: MapParams, job: MapLayer) -> Response | None:
    """The encoded bytes as they came when nothing has to change (a cached tile that
    matches the request exactly, in the requested format)."""
    if not result.has_data or result.mime != params.opts.format.mime or params.is_geotiff:
        return None
    opts = params.opts
    if opts.format.paletted or opts.mode or opts.colors not in (None, 256) or (job.transparent and not params.transparent):
        return None  # the output asks for more than the plain format
    data, mime = result.encoded(params.opts)
    return Response(data, content_type=_content_type(params, mime))


def _image_of(job: MapLayer, result: ImageResult) -> Image.Image:
    try:
        return result.image
    except ImageDataError as ex:
        raise WMSError(_data_error(job, str(ex))) from None


def _compose(rendered: list[tuple[MapLayer, ImageResult]], params: MapParams) -> Image.Image:
    if len(rendered) == 1:
        # one layer of the right size: nothing to blend when it is opaque, or when
        # the client takes transparency. As in MapProxy, an opaque layer stays
        # opaque and a transparent one keeps its alpha channel (even where it is
        # all opaque)
        job, result = rendered[0]
        img = _image_of(job, result)
        if img.size == params.size and (params.transparent or img.mode in ("RGB", "L")):
            if params.transparent and job.transparent and img.mode == "RGB":
                img = img.convert("RGBA")
            return img
    base = Image.new("RGBA", params.size, (*params.bgcolor, 0 if params.transparent else 255))
    for job, result in rendered:
        img = _image_of(job, result)
        if img.mode != "RGBA":
            img = img.convert("RGBA")
        if img.size != params.size:
            img = img.resize(params.size)
        base.alpha_composite(img)
    return base


def _part_inside(limit: BBox, params: MapParams) -> tuple[BBox, tuple[int, int], tuple[int, int]] | None:
    """The part of the map inside ``limit``: its bbox, its size in pixels and its
    offset in the full map; None when nothing of the map is inside."""
    if not overlaps(limit, params.bbox):
        return None
    size, offset, sub = part_within(params.bbox, params.size, limit)
    if not size[0] or not size[1]:
        return None
    return sub, size, offset


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
