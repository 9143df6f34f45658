"""Maps (``/map``) and map tiles (``/map/tiles/{tms}/{z}/{row}/{col}``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...http import Response
from ...layers import WMSLayer
from ..access import AUTHORIZE
from ..decorate import DECORATE
from ..tile_response import serve_tile
from ..wms.access import MapAccess
from .answers import error_answer
from .context import Context
from .drawing import content_headers, draw, image_options
from .errors import OGCAPIError, invalid
from .images import canvas, image_format
from .mapparams import (
    MapArea,
    MapParams,
    display_res,
    scale_denominator,
    scale_to_res,
    width_height,
)
from .stored import ACCESS_SERVICE, served_as_stored

if TYPE_CHECKING:
    from .state import OGCAPIState

_MAP_ARGS = {"f", "crs", "bbox-crs", "bbox", "center-crs", "center", "subset", "subset-crs", "width", "height",
             "scale-denominator", "mm-per-pixel", "bgcolor", "transparent"}


def _layers(service: OGCAPIState, ctx: Context, coll_id: str | None) -> tuple[WMSLayer, list[str]]:
    """The layer to draw and the collections it draws: one collection, those of the
    ``collections`` parameter, or the default dataset layers."""
    if coll_id is not None:
        layer = service.layer_of(coll_id)
        return layer, [coll_id]
    names_text = ctx.args.get("collections")
    if names_text:
        names = names_text.split(",")
        for name in names:
            if name not in service.layers:
                raise invalid(f"unknown collection {name}")
        return service.group([service.layers[n] for n in names]), names
    if service.dataset is None:
        raise invalid("collections is required: this service has no default_dataset_layers")
    return service.dataset, list(service.conf.default_dataset_layers or [])


def _access(service: OGCAPIState, ctx: Context) -> MapAccess | None:
    if not _callbacks(ctx):
        return None
    environ = ctx.req.environ

    def error(message: str, status: int) -> Response:
        kind = "Unauthorized" if status == 401 else "Forbidden"
        return error_answer(ctx, OGCAPIError(kind, message, status))

    return MapAccess(environ, "", ACCESS_SERVICE, error)


def _draw(service: OGCAPIState, ctx: Context, layer: WMSLayer, names: list[str], area: MapArea,
          mime: str) -> Response:
    background, transparent = canvas(ctx.args, mime)
    opts = image_options(service.conf.image_formats, mime)
    ctx.html = False  # errors from here on are about an image: JSON
    return draw(layer, names, area, opts, background, transparent, service.render_conf, _access(service, ctx))


def _wms_style_args(args: dict[str, str]) -> dict[str, str]:
    """A WMS 1.1.1 GetMap sent to a collection's map (as MapProxy's own map viewer
    sends them): its SRS, BBOX (x/y), WIDTH and HEIGHT as an OGC API map request."""
    srs = args.get("srs") or args.get("crs") or "EPSG:4326"
    out = {"crs": srs, "bbox-crs": srs, "bbox": args.get("bbox", ""), "width": args.get("width", ""),
           "height": args.get("height", "")}
    from ...srs import SRSError, get_srs

    try:
        if get_srs(srs).is_axis_order_ne:
            values = out["bbox"].split(",")
            if len(values) == 4:
                out["bbox"] = ",".join([values[1], values[0], values[3], values[2]])
    except SRSError:
        pass
    if "transparent" in args:
        out["transparent"] = args["transparent"].lower()
    return out


def get_map(service: OGCAPIState, ctx: Context, coll_id: str | None, filename: str) -> Response:
    args = ctx.args
    subsets = [v for k, v in ctx.req.params if k.lower() == "subset"]
    if args.get("service", "").upper() == "WMS":
        args = ctx.args = _wms_style_args(args)
        subsets = []
    else:
        allowed = set(_MAP_ARGS)
        if coll_id is None:
            allowed.add("collections")
        ctx.check(allowed, (None, "png", "jpeg"))
    layer, names = _layers(service, ctx, coll_id)
    mime = image_format(ctx, filename)
    area = MapParams(args, subsets, layer, service.map_srs, service.limits).area()
    return _draw(service, ctx, layer, names, area, mime)


def get_tile(service: OGCAPIState, ctx: Context, coll_id: str | None, tms_id: str, z_text: str,
             row_text: str, col_text: str) -> Response:
    allowed = {"f", "bgcolor", "transparent"}
    if coll_id is None:
        allowed.add("collections")
    if service.conf.enable_maps:
        allowed |= {"width", "height", "scale-denominator", "mm-per-pixel"}
    ctx.check(allowed, (None, "png", "jpeg"))
    layer, names = _layers(service, ctx, coll_id)
    grid = service.matrix_set(tms_id)
    mime = image_format(ctx, col_text)
    args = ctx.args
    width, height = width_height(args)
    z = tile_index(z_text, grid.levels, "zoom level")
    pixel_m = display_res(args)
    scale = args.get("scale-denominator")
    if scale and (width or height):
        raise invalid("scale-denominator is mutually exclusive with width or height")
    tw, th = grid.tile_size
    zoom = 0.00028 / pixel_m
    if width and height:
        size = (width, height)
    elif scale:
        zoom = grid.resolutions[z] / scale_to_res(scale_denominator(args), pixel_m, grid.srs)  # type: ignore[arg-type]
        size = (round(tw * zoom), round(th * zoom))
    elif width:
        size = (width, round(width * tw / th))
    elif height:
        size = (round(height * th / tw), height)
    else:
        size = (round(tw * zoom), round(th * zoom))
    size = (max(1, size[0]), max(1, size[1]))
    service.limits.check(*size)
    cols, rows = grid.grid_sizes[z]
    row = tile_index(row_text, rows, "row number")
    col = tile_index(col_text.split(".", 1)[0], cols, "col number")
    area = MapArea(grid.tile_bbox((col, row, z)), size, grid.srs)
    stored = service.stored.get((coll_id, tms_id)) if coll_id else None
    if stored is not None and size == tuple(grid.tile_size) and set(args) <= {"f"} \
            and stored.format.mime == mime and served_as_stored(ctx.req.environ, coll_id, grid, (col, row, z)):
        ctx.html = False
        resp = serve_tile(ctx.req, stored, (col, row, z), service.max_age,
                          lambda message, status: error_answer(ctx, OGCAPIError(_KINDS.get(status, "InternalError"),
                                                                                message, status)))
        resp.headers += content_headers(area)
        return resp
    return _draw(service, ctx, layer, names, area, mime)


_KINDS = {400: "Invalid Parameter", 404: "Not Found", 504: "Gateway Timeout"}


def _callbacks(ctx: Context) -> bool:
    environ = ctx.req.environ
    return AUTHORIZE in environ or DECORATE in environ


def tile_index(text: str, count: int, what: str) -> int:
    """A level, row or column number within ``range(count)``."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < count:
        article = "Invalid zoom level" if what == "zoom level" else f"Invalid {what}"
        raise invalid(f"{article}. Valid range is [0,{count - 1}]")
    return value
