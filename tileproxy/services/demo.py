"""The /demo/ pages: every layer of every service on a map, and the capabilities
documents. URLs and query parameters are MapProxy's:

- ``/demo/``                                            layers and capabilities per service
- ``/demo/?wmts_layer=<name>&format=<ext>&srs=<srs>``   map view over WMTS RESTful tiles
- ``/demo/?tms_layer=<name>&format=<ext>&srs=<srs>``    map view over TMS tiles
  (the layer's first grid in that SRS; ``grid=<grid>`` picks a grid by name)
- ``/demo/?wms_layer=<name>&srs=<srs>&format=<mime>``   map view over WMS GetMap (tiled, 256 px)
- ``/demo/?ogcapi_layer=<name>&tms=<id>``                map view over OGC API map tiles of a tile
  matrix set; without ``tms``, over OGC API maps (256 px each)
- ``/demo/?wms_capabilities``, ``?wmsc_capabilities``, ``?wmts_capabilities_kvp``,
  ``?wmts_capabilities``, ``?tms_capabilities[&layer=<name>&srs=<tms grid id>]``:
  a capabilities document shown as text; ``&type=external`` shows it with the
  request's public URL (``X-Forwarded-*``), without it as the server addresses itself
- ``/demo/static/<file>``                               the viewer's JavaScript and CSS

Capabilities are answered in-process by the service itself: the demo makes no
HTTP request (MapProxy's demo fetches them over HTTP from a URL that the
request's headers choose).

The map is drawn by ``static/viewer.js`` from a JSON description of the tile
matrices embedded in the page; its tile URLs use the public base URL
(``req.script_url``), as the capabilities do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ..config.model import ProxyConfig
from ..grid import TileGrid
from ..http import Request, Response, unsafe_segment
from ..layers import TileLayer, WMSLayer
from ..srs import SRSError, get_srs
from .access import authorize
from .client_input import echo
from .demo_html import (
    STATIC_TYPES,
    asset_url,
    demo_link,
    h,
    link,
    not_found_body,
    page_html,
    query,
    read_static,
    script_json,
    seg,
)
from .demo_index import IndexPage
from .demo_view import grid_view
from .demo_wms import bbox_is_yx, getmap_template, viewable_format, wms_format, wms_view_grid
from .ogcapi import OGCAPIService
from .ogcapi.views import map_view, tile_view
from .tms import TileServiceGrid, TMSService
from .wms import WMSService
from .wms.capabilities import extent_in
from .wmts import WMTSService
from .wmts.matrix import matrix_id

HTML = "text/html; charset=utf-8"


def _plain_error(message: str, status: int) -> Response:
    return Response(message + "\n", status)


# demo parameter -> (service label, path, query) of a capabilities document, in the order they are looked for
CAPABILITIES = {
    "wms_capabilities": ("WMS", "/service", "REQUEST=GetCapabilities&SERVICE=WMS"),
    "wmsc_capabilities": ("WMS-C", "/service", "REQUEST=GetCapabilities&SERVICE=WMS&tiled=true"),
    "wmts_capabilities_kvp": ("WMTS", "/service", "REQUEST=GetCapabilities&SERVICE=WMTS"),
    "wmts_capabilities": ("WMTS", "/wmts/1.0.0/WMTSCapabilities.xml", ""),
    "tms_capabilities": ("TMS", "/tms/1.0.0/", ""),
}
# headers by which a proxy names the public URL; left out for the server's own view
PROXY_HEADERS = ("HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_SCRIPT_NAME", "HTTP_HOST")

Dispatch = Callable[[Request], Response]


def mark_current(current: bool) -> str:
    return ' class="current"' if current else ""


class DemoService:
    def __init__(self, config: ProxyConfig, tile_layers: list[TileLayer],
                 tms: TMSService | None, wmts: WMTSService | None, wms: WMSService | None = None,
                 dispatch: Dispatch | None = None, ogcapi: OGCAPIService | None = None):
        self.config = config
        self.ogcapi = ogcapi
        self.tile_layers = tile_layers
        self.tms = tms
        self.wmts = wmts
        self.wms = wms
        self.dispatch = dispatch  # the app's request handler, for capabilities documents
        # the SRS the WMS offers that the viewer can show, with the grid it views them in
        self.wms_grids: dict[str, TileGrid] = {}
        for code in wms.conf.srs if wms else []:
            grid = wms_view_grid(code)
            if grid is not None:
                self.wms_grids[code] = grid

    # -- routing -----------------------------------------------------------

    def handle(self, req: Request, parts: list[str]) -> Response:
        """``parts`` are the path segments after ``demo``."""
        if not (parts and parts[0] == "static"):  # the static files hold nothing to protect
            answer = authorize(req.environ, "demo", [], _plain_error)
            if answer is not None and not answer.full:
                return _plain_error("forbidden", 403)
        if not parts:  # /demo -> /demo/ so that the page has a stable base
            return Response("", 301, content_type=None, headers=[("Location", req.script_url + "/demo/")])
        if parts[0] == "static" and len(parts) == 2:
            return self.static(parts[1])
        if parts != [""]:
            return Response("not found\n", 404)
        args = req.args
        if "wms_layer" in args:
            return self.wms_map_page(req, args["wms_layer"])
        if "tms_layer" in args:
            return self.map_page(req, args["tms_layer"], "tms")
        if "wmts_layer" in args:
            return self.map_page(req, args["wmts_layer"], "wmts")
        if "ogcapi_layer" in args:
            return self.ogcapi_map_page(req, args["ogcapi_layer"])
        for key in CAPABILITIES:
            if key in args:
                return self.capabilities(req, key)
        return self.page("Layers", IndexPage(self).html())

    def static(self, name: str) -> Response:
        data = read_static(name)
        if data is None:
            return Response("not found\n", 404)
        ctype = STATIC_TYPES[name[name.rfind("."):]]
        return Response(data, content_type=ctype, headers=[("Cache-Control", "public, max-age=3600")])

    def page(self, title: str, body: str, status: int = 200, script: str = "") -> Response:
        return Response(page_html(title, body, script), status, HTML)

    def not_found(self, message: str) -> Response:
        """``message`` is HTML."""
        return self.page("Not found", not_found_body(message), 404)

    # -- which layer can be shown how ------------------------------------

    def wmts_ok(self, layer: TileLayer) -> bool:
        """WMTS tiles (RESTful or KVP) exist for this layer and grid."""
        return bool(self.wmts and (self.wmts.conf.restful or self.wmts.conf.kvp) and self.wmts.serves(layer))

    def tms_grid_id(self, layer: TileLayer) -> str:
        """The TMS URL id of the layer's grid."""
        assert self.tms is not None
        return self.tms.public_grid_id(layer)

    def srs_is_ambiguous(self, layer: TileLayer) -> bool:
        """Whether an earlier grid of the layer has the same SRS (so ``srs`` alone finds that one)."""
        first = next(tl for tl in self.tile_layers if tl.name == layer.name and tl.grid.srs == layer.grid.srs)
        return first is not layer

    def find_layer(self, req: Request, name: str) -> TileLayer | None:
        """The layer ``name`` in the grid named by ``grid`` (or the first in ``srs``, or the first)."""
        candidates = [tl for tl in self.tile_layers if tl.name == name]
        grid = req.args.get("grid")
        srs = req.args.get("srs")
        if grid:
            candidates = [tl for tl in candidates if grid in (tl.grid_name, tl.grid.name, tl.grid_id)]
        elif srs:
            try:
                wanted = get_srs(srs)
            except SRSError:
                return None
            candidates = [tl for tl in candidates if tl.grid.srs == wanted]
        return candidates[0] if candidates else None

    def wms_view_format(self, wanted: str | None = None) -> str:
        """The image format of WMS views: ``wanted`` when the WMS offers it and browsers show it."""
        assert self.wms is not None
        if wanted and wanted in self.wms.conf.image_formats and viewable_format(wanted):
            return wanted
        return wms_format(self.wms.conf)

    def wms_tree(self) -> list[tuple[int, WMSLayer]]:
        """(depth, layer) of the WMS layer tree in capabilities order, without an unnamed root."""
        if self.wms is None:
            return []
        out: list[tuple[int, WMSLayer]] = []

        def visit(layer: WMSLayer, depth: int) -> None:
            out.append((depth, layer))
            for child in layer.layers:
                visit(child, depth + 1)

        root = self.wms.root
        for top in [root] if root.name else root.layers:
            visit(top, 0)
        return out

    # -- the viewer's description of a layer -------------------------------

    def viewer_config(self, base: str, layer: TileLayer, service: str) -> dict[str, Any]:
        """Everything viewer.js needs: tile matrices (coarse to fine) with their
        top-left corner, and a URL template with ``{z}``, ``{x}``, ``{y}``."""
        grid = layer.grid
        if service == "wmts":
            assert self.wmts is not None
            levels = [(z, z) for z in range(grid.levels)]
            url, y_axis = self.wmts_template(base, layer), "down"
        else:
            levels = TileServiceGrid(grid).levels()
            url = f"{base}/tms/1.0.0/{seg(layer.name)}/{seg(self.tms_grid_id(layer))}/{{z}}/{{x}}/{{y}}.{layer.format.ext}"
            y_axis = "up"  # TMS rows count from the bottom of the matrix
        view = grid_view(grid, levels)
        if service == "wmts":  # the TileMatrix identifiers of the capabilities
            for matrix in view["matrices"]:
                matrix["id"] = matrix_id(matrix["level"])
        return {"layer": layer.name, "title": layer.title, "grid": layer.grid_name,
                **view, "service": service, "url": url, "yAxis": y_axis}

    def wmts_template(self, base: str, layer: TileLayer) -> str:
        """The WMTS tile URL of a layer with ``{z}``, ``{x}``, ``{y}``: RESTful when enabled, else KVP."""
        assert self.wmts is not None
        if not self.wmts.conf.restful:
            params = query([("SERVICE", "WMTS"), ("REQUEST", "GetTile"), ("VERSION", "1.0.0"),
                            ("LAYER", layer.name), ("STYLE", "default"),
                            ("TILEMATRIXSET", self.wmts.matrix_set_name(layer)),
                            ("FORMAT", layer.mime)])
            return f"{base}/service?{params}&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}"
        url = self.wmts.tile_url_template(base, layer)
        for key, value in (("{TileMatrix}", "{z}"), ("{TileCol}", "{x}"), ("{TileRow}", "{y}")):
            url = url.replace(key, value)
        return url

    def wms_viewer_config(self, base: str, layer: WMSLayer, srs: str, fmt: str) -> dict[str, Any]:
        """The viewer's description of a WMS layer: a viewing grid of the SRS and a
        GetMap URL template with ``{bbox}`` (minx,miny,maxx,maxy, or y/x when ``bboxYX``)."""
        assert self.wms is not None and layer.name
        grid = self.wms_grids[srs]
        conf = {"layer": layer.name, "title": layer.title, "grid": None,
                **grid_view(grid, [(z, z) for z in range(grid.levels)]), "srs": srs, "service": "wms",
                "url": getmap_template(base, self.wms.conf, layer.name, srs, grid.tile_size, fmt),
                "yAxis": "down", "bboxYX": bbox_is_yx(self.wms.conf, srs)}
        fit = extent_in(layer.extent(), grid.srs)
        if fit is not None:
            conf["fit"] = list(fit)
        return conf

    # -- map pages ---------------------------------------------------------

    def layer_links(self, layer: TileLayer) -> str:
        """Map view links for a layer and grid, one per service that serves it."""
        links = []
        grid = ("grid", layer.grid_name)
        if self.wmts_ok(layer):
            links.append(link(demo_link(("wmts_layer", layer.name), ("format", layer.format.ext), grid), "WMTS"))
        if self.tms:
            links.append(link(demo_link(("tms_layer", layer.name), ("format", layer.format.ext), grid), "TMS"))
        return " ".join(links) or '<span class="muted">no tile service</span>'

    def wms_links(self, layer: WMSLayer, fmt: str, but: str | None = None) -> str:
        """Map view links for a WMS layer, one per SRS the viewer can show (except ``but``)."""
        return " ".join(link(demo_link(("wms_layer", layer.name), ("format", fmt), ("srs", srs)), h(srs))
                        for srs in self.wms_grids if srs != but)

    def sidebar(self, current: TileLayer | WMSLayer) -> str:
        items = [f'<li{mark_current(layer is current)}><span class="title">{h(layer.title or layer.name)}</span>'
                 f'<span class="grid">{h(layer.name)} · {h(layer.grid_name)}</span>{self.layer_links(layer)}</li>'
                 for layer in sorted(self.tile_layers, key=lambda tl: tl.name)]
        html = '<nav class="layer-list">'
        if items:
            html += "<h2>Tile layers</h2><ul>" + "".join(items) + "</ul>"
        if self.wms:
            fmt = self.wms_view_format()
            named = sorted((layer for _, layer in self.wms_tree() if layer.name), key=lambda lyr: lyr.name)
            wms = [f'<li{mark_current(layer is current)}><span class="title">{h(layer.title or layer.name)}</span>'
                   f'<span class="grid">{h(layer.name)}</span><span class="srs">{self.wms_links(layer, fmt)}</span></li>'
                   for layer in named]
            if wms:
                html += "<h2>WMS layers</h2><ul>" + "".join(wms) + "</ul>"
        return html + "</nav>"

    def map_body(self, current: TileLayer | WMSLayer, info: str, note: str,
                 links: list[str], conf: dict[str, Any]) -> tuple[str, str]:
        """The map page's body (layer list, title, map, links) and its scripts."""
        body = (
            '<div class="map-page">' + self.sidebar(current) +
            f'<main class="map-main"><h2>Layer Preview - {h(current.name)}</h2><p class="layer-info">{info}</p>{note}'
            f'<div id="map" class="tp-map tp-{h(conf["service"])}" tabindex="0"></div>'
            '<div class="map-info"><span id="map-level"></span><span id="map-cursor"></span></div>'
            f'<p class="map-links">{" · ".join(links)}</p></main></div>'
        )
        script = (
            f'<script type="application/json" id="viewer-config">{script_json(conf)}</script>'
            f'<script src="{asset_url("viewer.js")}"></script>'
        )
        return body, script

    def map_page(self, req: Request, name: str, service: str) -> Response:
        layer = self.find_layer(req, name)
        available = layer is not None and (self.wmts_ok(layer) if service == "wmts" else self.tms is not None)
        if layer is None or not available:
            return self.not_found(f"No layer <code>{h(echo(name))}</code> in that grid over {h(service.upper())}.")
        conf = self.viewer_config(req.script_url, layer, service)
        links = []
        if self.tms:
            tms_id = self.tms_grid_id(layer)
            view = demo_link(("tms_capabilities", None), ("layer", layer.name), ("srs", tms_id))
            links.append(f'{link(f"../tms/1.0.0/{seg(layer.name)}/{seg(tms_id)}", "TMS TileMap")} ({link(view, "view")})')
        if self.wmts and self.wmts.conf.restful:
            links.append(f'{link("../wmts/1.0.0/WMTSCapabilities.xml", "WMTS capabilities")} '
                         f'({link("../demo/?wmts_capabilities", "view")})')
        elif self.wmts and self.wmts.conf.kvp:
            links.append(f'{link("../service?REQUEST=GetCapabilities&SERVICE=WMTS", "WMTS capabilities")} '
                         f'({link("../demo/?wmts_capabilities_kvp", "view")})')
        note = "" if layer.format.is_image else f'<p class="warning">{h(layer.mime)} tiles cannot be shown as images.</p>'
        info = (f"{h(layer.title)} · grid {h(layer.grid_name)} · {h(layer.grid.srs.code)} · "
                f"{h(layer.format.ext)} · {h(service.upper())}")
        body, script = self.map_body(layer, info, note, links, conf)
        return self.page(layer.title or layer.name, body, script=script)

    def wms_map_page(self, req: Request, name: str) -> Response:
        layer = self.wms.layers.get(name) if self.wms else None
        srs = req.args.get("srs") or next(iter(self.wms_grids), "")
        if layer is None or srs not in self.wms_grids:
            what = "WMS layer" if layer is None else f"SRS <code>{h(echo(srs))}</code> for the WMS layer"
            return self.not_found(f"No {what} <code>{h(echo(name))}</code>.")
        assert self.wms is not None
        fmt = self.wms_view_format(req.args.get("format"))
        conf = self.wms_viewer_config(req.script_url, layer, srs, fmt)
        links = [f'{link("../service?REQUEST=GetCapabilities&SERVICE=WMS", "WMS capabilities")} '
                 f'({link("../demo/?wms_capabilities", "view")})']
        others = self.wms_links(layer, fmt, but=srs)
        if others:
            links.append("other SRS: " + others)
        formats = [link(demo_link(("wms_layer", name), ("format", other), ("srs", srs)), h(other))
                   for other in self.wms.conf.image_formats if other != fmt and viewable_format(other)]
        if formats:
            links.append("other format: " + " ".join(formats))
        info = f"{h(layer.title)} · {h(srs)} · {h(fmt)} · WMS"
        body, script = self.map_body(layer, info, "", links, conf)
        return self.page(layer.title or layer.name, body, script=script)

    def ogcapi_tilesets(self, layer: WMSLayer) -> list[str]:
        """The tile matrix sets the OGC API offers map tiles of ``layer`` in."""
        if self.ogcapi is None or not self.ogcapi.conf.enable_tiles:
            return []
        earth = layer.map_extent.srs.code.startswith("EPSG:")
        return [tms_id for tms_id, (grid, _) in self.ogcapi.matrix_sets.items()
                if grid.srs.code.startswith("EPSG:") == earth]

    def ogcapi_links(self, layer: WMSLayer, but: str | None = None) -> str:
        """Map views of a collection: over OGC API Maps, and over its map tiles per tile matrix set."""
        assert self.ogcapi is not None and layer.name
        links = []
        if self.ogcapi.conf.enable_maps and but != "" and map_view(self.ogcapi, "", layer) is not None:
            links.append(link(demo_link(("ogcapi_layer", layer.name)), "Maps"))
        links += [link(demo_link(("ogcapi_layer", layer.name), ("tms", tms_id)), h(tms_id))
                  for tms_id in self.ogcapi_tilesets(layer) if tms_id != but]
        return " ".join(links) or '<span class="muted">nothing the viewer can show</span>'

    def ogcapi_map_page(self, req: Request, name: str) -> Response:
        layer = self.ogcapi.layers.get(name) if self.ogcapi else None
        tms_id = req.args.get("tms")
        base = req.script_url + "/ogcapi"
        conf = None
        if layer is not None and self.ogcapi is not None:
            if tms_id is None:
                conf = map_view(self.ogcapi, base, layer) if self.ogcapi.conf.enable_maps else None
            elif tms_id in self.ogcapi_tilesets(layer):
                conf = tile_view(self.ogcapi, base, name, tms_id)
        if conf is None or layer is None:
            return self.not_found(f"No OGC API view of <code>{h(echo(name))}</code> there.")
        conf = {"layer": name, "title": layer.title, "grid": tms_id, **conf}
        collection = f"../ogcapi/collections/{seg(name)}?f=html"
        links = [f'{link(collection, "OGC API collection")} ({link("../ogcapi?f=html", "service")})',
                 "other views: " + self.ogcapi_links(layer, but=tms_id or "")]
        how = f"OGC API Tiles · {h(tms_id)}" if tms_id else "OGC API Maps"
        info = f"{h(layer.title)} · {h(conf['srs'])} · {how}"
        body, script = self.map_body(layer, info, "", links, conf)
        return self.page(layer.title or name, body, script=script)

    # -- capabilities --------------------------------------------------------

    def capabilities(self, req: Request, key: str) -> Response:
        """A capabilities document as text, answered by its service in-process."""
        label, path, qs = CAPABILITIES[key]
        if key == "wmts_capabilities" and (req.args.get("type") or "").lower() == "kvp":
            label, path, qs = CAPABILITIES["wmts_capabilities_kvp"]  # tileproxy's earlier link
        if key == "tms_capabilities" and req.args.get("layer"):
            path = self.tile_map_path(req)
            if path is None:
                return self.not_found(f"No layer <code>{h(echo(req.args['layer']))}</code> in that grid.")
        if self.dispatch is None:
            return self.not_found("Capabilities documents cannot be shown here.")
        sub = self.service_request(req, path, qs, external=(req.args.get("type") or "").lower() == "external")
        resp = self.dispatch(sub)
        url = sub.script_url + quote(path, safe="/") + ("?" + qs if qs else "")
        text = resp.body.decode("utf-8", "replace")
        body = (f'<main class="index"><h2>{h(label)} GetCapabilities</h2>'
                f'<p><a href="{h(url)}">{h(url)}</a></p><pre class="xml">{h(text)}</pre></main>')
        return self.page(f"{label} capabilities", body, resp.status)

    def tile_map_path(self, req: Request) -> str | None:
        """The TileMap path of ``layer`` and ``srs`` (a TMS grid id) or ``grid``; None if unusable."""
        name = req.args["layer"]
        tms_id = req.args.get("srs")
        if tms_id is None or req.args.get("grid"):
            layer = self.find_layer(req, name)
            if layer is None or self.tms is None:
                return None
            tms_id = self.tms_grid_id(layer)
        if any("/" in part or unsafe_segment(part) for part in (name, tms_id)):
            return None
        return f"/tms/1.0.0/{name}/{tms_id}"

    @staticmethod
    def service_request(req: Request, path: str, qs: str, external: bool) -> Request:
        """A GET of ``path?qs`` with ``req``'s environment; without the proxy headers
        unless ``external``, so that the document names the server's own address."""
        # PATH_INFO as WSGI servers pass it: the UTF-8 bytes as latin-1 text
        environ = dict(req.environ, REQUEST_METHOD="GET", PATH_INFO=path.encode("utf-8").decode("latin-1"),
                       QUERY_STRING=qs)
        if not external:
            for key in PROXY_HEADERS:
                environ.pop(key, None)
        return Request(environ)
