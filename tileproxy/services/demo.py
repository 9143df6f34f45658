"""The /demo/ pages: a list of every tile layer, a map view per layer and grid,
and a capabilities viewer.

URLs (query parameters follow MapProxy's demo):

- ``/demo/``                                   the list of layers and services
- ``/demo/?wmts_layer=<name>&grid=<grid>``     map view over WMTS RESTful tiles
- ``/demo/?tms_layer=<name>&grid=<grid>``      map view over TMS tiles
  (``srs=EPSG:nnnn`` instead of ``grid`` picks the layer's first grid in that SRS)
- ``/demo/?wms_layer=<name>&srs=<srs>``        map view over WMS GetMap (tiled, 256 px)
- ``/demo/?wmts_capabilities[&type=kvp]``      WMTS capabilities as text
- ``/demo/?tms_capabilities[&layer=..&grid=..]``  TMS capabilities or TileMap as text
- ``/demo/?wms_capabilities``                   WMS 1.1.1 capabilities as text
- ``/demo/static/<file>``                      the viewer's JavaScript and CSS

The map itself is drawn by ``static/viewer.js`` from a JSON description of the
tile matrices embedded in the page; every URL uses the public base URL
(``req.script_url``), so the demo works behind a proxy prefix.
"""

from __future__ import annotations

import hashlib
import json
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from ..config.model import ProxyConfig
from ..grid import TileGrid
from ..http import Request, Response
from ..layers import TileLayer, WMSLayer
from ..srs import SRSError, get_srs
from .demo_wms import bbox_is_yx, getmap_template, wms_version, wms_view_grid
from .tms import TileServiceGrid, TMSService
from .wms import WMSService
from .wms.capabilities import extent_in
from .wmts import METERS_PER_DEGREE, PIXEL_SIZE, WMTSService
from .wmts.matrix import matrix_id

STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
HTML = "text/html; charset=utf-8"


def _h(value: object) -> str:
    """Escape text for HTML element content and quoted attribute values."""
    return escape(str(value), quote=True)


def _seg(value: str) -> str:
    """Quote a URL path segment."""
    return quote(value, safe="")


def script_json(data: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``</script>``, no
    ``<!--``, no HTML entities and no line separators that break old parsers."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, repl in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, repl)
    return text


def _read_static(name: str) -> bytes | None:
    """A file of the static folder (no subfolders, known types only), or None."""
    if name.startswith(".") or "/" in name or name[name.rfind("."):] not in STATIC_TYPES:
        return None
    try:
        return resources.files(__package__).joinpath("static", name).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def mark_current(current: bool) -> str:
    return " class='current'" if current else ""


def grid_view(grid: TileGrid, levels: list[tuple[int, int]]) -> dict[str, Any]:
    """The viewer's grid description: tile matrices (public id, grid level),
    coarse to fine, with their top-left corner, and the grid's SRS and bbox."""
    th = grid.tile_size[1]
    unit_m = METERS_PER_DEGREE if grid.srs.is_latlong else 1.0
    matrices = []
    for z, internal in levels:
        res = grid.resolutions[internal]
        w, h = grid.grid_sizes[internal]
        # a sw grid's matrix grows upwards from the bbox bottom, an nw grid's down from its top
        top = grid.bbox[3] if grid.origin == "nw" else grid.bbox[1] + h * th * res
        matrices.append({"id": str(z), "level": internal, "res": res,
                         "scale": res * unit_m / PIXEL_SIZE, "left": grid.bbox[0], "top": top,
                         "width": w, "height": h})
    return {"srs": grid.srs.code, "units": "degrees" if grid.srs.is_latlong else "m",
            "webMercator": grid.srs == get_srs("EPSG:3857"), "bbox": list(grid.bbox),
            "tileSize": list(grid.tile_size), "matrices": matrices}


class DemoService:
    def __init__(self, config: ProxyConfig, tile_layers: list[TileLayer],
                 tms: TMSService | None, wmts: WMTSService | None, wms: WMSService | None = None):
        self.config = config
        self.tile_layers = tile_layers
        self.tms = tms
        self.wmts = wmts
        self.wms = wms
        # the SRS the WMS offers that the viewer can show, with the grid it views them in
        self.wms_grids: dict[str, TileGrid] = {}
        for code in wms.conf.srs if wms else []:
            grid = wms_view_grid(code)
            if grid is not None:
                self.wms_grids[code] = grid

    # -- routing -----------------------------------------------------------

    def handle(self, req: Request, parts: list[str]) -> Response:
        """``parts`` are the path segments after ``demo``."""
        if not parts:  # /demo -> /demo/ so that the page has a stable base
            return Response("", 301, content_type=None, headers=[("Location", req.script_url + "/demo/")])
        if parts[0] == "static" and len(parts) == 2:
            return self.static(parts[1])
        if parts != [""]:
            return Response("not found\n", 404)
        args = req.args
        if "wmts_layer" in args:
            return self.map_page(req, args["wmts_layer"], "wmts")
        if "tms_layer" in args:
            return self.map_page(req, args["tms_layer"], "tms")
        if "wms_layer" in args:
            return self.wms_map_page(req, args["wms_layer"])
        if "wmts_capabilities" in args:
            return self.wmts_capabilities(req)
        if "tms_capabilities" in args:
            return self.tms_capabilities(req)
        if "wms_capabilities" in args:
            return self.wms_capabilities(req)
        return self.index(req)

    def static(self, name: str) -> Response:
        data = _read_static(name)
        if data is None:
            return Response("not found\n", 404)
        ctype = STATIC_TYPES[name[name.rfind("."):]]
        return Response(data, content_type=ctype, headers=[("Cache-Control", "public, max-age=3600")])

    def asset_url(self, base: str, name: str) -> str:
        """URL of a static file, with a content hash so browsers never keep a stale copy."""
        digest = hashlib.sha1(_read_static(name) or b"").hexdigest()[:12]
        return f"{base}/demo/static/{name}?v={digest}"

    # -- which layer can be shown how ------------------------------------

    def wmts_ok(self, layer: TileLayer) -> bool:
        """WMTS RESTful tiles exist for this layer and grid."""
        return bool(self.wmts and self.wmts.conf.restful and self.wmts.serves(layer))

    def tms_grid_id(self, layer: TileLayer) -> str:
        """The TMS URL id of the layer's grid: the published id when it is unambiguous."""
        assert self.tms is not None
        public = self.tms.public_grid_id(layer)
        return public if self.tms.index.get((layer.name, public)) is layer else layer.grid_name

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

    def view_url(self, base: str, layer: TileLayer, service: str) -> str:
        query = urlencode({f"{service}_layer": layer.name, "grid": layer.grid_name,
                           "format": layer.format.ext, "srs": layer.grid.srs.code})
        return f"{base}/demo/?{query}"

    def tile_map_url(self, base: str, layer: TileLayer) -> str:
        return f"{base}/tms/1.0.0/{_seg(layer.name)}/{_seg(self.tms_grid_id(layer))}"

    # -- the viewer's description of a layer -------------------------------

    def viewer_config(self, base: str, layer: TileLayer, service: str) -> dict[str, Any]:
        """Everything viewer.js needs: tile matrices (coarse to fine) with their
        top-left corner, and a URL template with ``{z}``, ``{x}``, ``{y}``."""
        grid = layer.grid
        if service == "wmts":
            assert self.wmts is not None
            levels = [(z, z) for z in range(grid.levels)]
            url = self.wmts.tile_url_template(base, layer)
            for key, value in (("{TileMatrix}", "{z}"), ("{TileCol}", "{x}"), ("{TileRow}", "{y}")):
                url = url.replace(key, value)
            y_axis = "down"
        else:
            assert self.tms is not None
            levels = TileServiceGrid(grid).levels()
            url = f"{self.tile_map_url(base, layer)}/{{z}}/{{x}}/{{y}}.{layer.format.ext}"
            y_axis = "up"  # TMS rows count from the bottom of the matrix
        view = grid_view(grid, levels)
        if service == "wmts":  # the TileMatrix identifiers of the capabilities
            for matrix in view["matrices"]:
                matrix["id"] = matrix_id(matrix["level"])
        return {"layer": layer.name, "title": layer.title, "grid": layer.grid_name,
                **view, "service": service, "url": url, "yAxis": y_axis}

    def wms_viewer_config(self, base: str, layer: WMSLayer, srs: str) -> dict[str, Any]:
        """The viewer's description of a WMS layer: a viewing grid of the SRS and a
        GetMap URL template with ``{bbox}`` (minx,miny,maxx,maxy, or y/x when ``bboxYX``)."""
        assert self.wms is not None and layer.name
        grid = self.wms_grids[srs]
        conf = {"layer": layer.name, "title": layer.title, "grid": None,
                **grid_view(grid, [(z, z) for z in range(grid.levels)]), "srs": srs, "service": "wms",
                "url": getmap_template(base, self.wms.conf, layer.name, srs, grid.tile_size),
                "yAxis": "down", "bboxYX": bbox_is_yx(self.wms.conf, srs)}
        fit = extent_in(layer.extent(), grid.srs)
        if fit is not None:
            conf["fit"] = list(fit)
        return conf

    # -- pages -------------------------------------------------------------

    def page(self, req: Request, title: str, body: str, status: int = 200, script: str = "") -> Response:
        base = req.script_url
        html = (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_h(title)} – tileproxy demo</title>"
            f"<link rel='stylesheet' href='{_h(self.asset_url(base, 'demo.css'))}'></head>\n"
            f"<body><header><a class='home' href='{_h(base)}/demo/'>tileproxy demo</a>"
            f"<span class='page-title'>{_h(title)}</span></header>\n{body}\n{script}</body></html>\n"
        )
        return Response(html, status, HTML)

    def layer_links(self, base: str, layer: TileLayer) -> str:
        """Map view links for a layer and grid, one per service that serves it."""
        links = []
        if self.wmts_ok(layer):
            links.append(f"<a href='{_h(self.view_url(base, layer, 'wmts'))}'>WMTS</a>")
        if self.tms:
            links.append(f"<a href='{_h(self.view_url(base, layer, 'tms'))}'>TMS</a>")
        return " ".join(links) or "<span class='muted'>no tile service</span>"

    def service_links(self, base: str) -> str:
        items = []
        if self.tms:
            items.append(f"<li>TMS: <a href='{_h(base)}/tms/1.0.0/'>capabilities</a> · "
                         f"<a href='{_h(base)}/demo/?tms_capabilities'>view</a></li>")
        if self.wmts and self.wmts.conf.restful:
            items.append(f"<li>WMTS RESTful: <a href='{_h(base)}/wmts/1.0.0/WMTSCapabilities.xml'>capabilities</a> · "
                         f"<a href='{_h(base)}/demo/?wmts_capabilities&amp;type=rest'>view</a></li>")
        if self.wmts and self.wmts.conf.kvp:
            kvp = f"{base}/service?SERVICE=WMTS&REQUEST=GetCapabilities"
            items.append(f"<li>WMTS KVP: <a href='{_h(kvp)}'>capabilities</a> · "
                         f"<a href='{_h(base)}/demo/?wmts_capabilities&amp;type=kvp'>view</a></li>")
        if self.wms:
            caps = f"{base}/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION={wms_version(self.wms.conf)}"
            items.append(f"<li>WMS: <a href='{_h(caps)}'>capabilities</a> · "
                         f"<a href='{_h(base)}/demo/?wms_capabilities'>view</a></li>")
        return "<ul class='services'>" + "".join(items) + "</ul>" if items else ""

    def wms_view_url(self, base: str, layer: WMSLayer, srs: str) -> str:
        return f"{base}/demo/?" + urlencode({"wms_layer": layer.name, "format": "image/png", "srs": srs})

    def wms_links(self, base: str, layer: WMSLayer) -> str:
        """Map view links for a WMS layer, one per SRS the viewer can show."""
        if not layer.name:
            return "<span class='muted'>group without a name</span>"
        links = [f"<a href='{_h(self.wms_view_url(base, layer, srs))}'>{_h(srs)}</a>" for srs in self.wms_grids]
        return " ".join(links) or "<span class='muted'>no SRS the viewer can show</span>"

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

    def wms_table(self, base: str) -> str:
        rows = []
        for depth, layer in self.wms_tree():
            name = _h(layer.name) if layer.name else "<span class='muted'>(group)</span>"
            rows.append(f"<tr><td class='name' style='padding-left:{0.6 + 1.2 * depth:.1f}em'>{name}</td>"
                        f"<td>{_h(layer.title)}</td><td class='links'>WMS: {self.wms_links(base, layer)}</td></tr>")
        if not rows:
            return "<p class='muted'>The WMS has no layers.</p>"
        return ("<table class='layers wms-layers'><thead><tr><th>Layer</th><th>Title</th><th>Map</th></tr></thead>"
                "<tbody>" + "".join(rows) + "</tbody></table>")

    def index(self, req: Request) -> Response:
        base = req.script_url
        rows = []
        for layer in self.tile_layers:
            tilemap = ""
            if self.tms:
                url = self.tile_map_url(base, layer)
                view = f"{base}/demo/?" + urlencode({"tms_capabilities": "", "layer": layer.name, "grid": layer.grid_name})
                tilemap = f"<a href='{_h(url)}'>TileMap</a> · <a href='{_h(view)}'>view</a>"
            rows.append(
                f"<tr><td class='name'>{_h(layer.name)}</td><td>{_h(layer.title)}</td>"
                f"<td>{_h(layer.grid_name)}</td><td>{_h(layer.grid.srs.code)}</td><td>{_h(layer.mime)}</td>"
                f"<td class='links'>{self.layer_links(base, layer)}</td><td>{tilemap}</td></tr>"
            )
        if rows:
            table = ("<table class='layers'><thead><tr><th>Layer</th><th>Title</th><th>Grid</th><th>SRS</th>"
                     "<th>Format</th><th>Map</th><th>TMS</th></tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table>")
        else:
            table = "<p class='muted'>No tile layers are configured.</p>"
        wms = f"<h2>WMS layers</h2>{self.wms_table(base)}" if self.wms else ""
        body = (f"<main class='index'><h1>Tile layers</h1>{table}{wms}"
                f"<h2>Services</h2>{self.service_links(base)}</main>")
        return self.page(req, "Layers", body)

    def sidebar(self, base: str, current: TileLayer | WMSLayer) -> str:
        items = []
        for layer in self.tile_layers:
            items.append(f"<li{mark_current(layer is current)}><span class='title'>{_h(layer.title or layer.name)}</span>"
                         f"<span class='grid'>{_h(layer.grid_name)}</span>{self.layer_links(base, layer)}</li>")
        html = "<nav class='layer-list'>"
        if items:
            html += "<h2>Tile layers</h2><ul>" + "".join(items) + "</ul>"
        wms = [f"<li{mark_current(layer is current)}>"
               f"<span class='title'>{_h(layer.title or layer.name)}</span>"
               f"<span class='grid'>{_h(layer.name)}</span><span class='srs'>{self.wms_links(base, layer)}</span></li>"
               for _, layer in self.wms_tree() if layer.name]
        if wms:
            html += "<h2>WMS layers</h2><ul>" + "".join(wms) + "</ul>"
        return html + "</nav>"

    def map_body(self, base: str, current: TileLayer | WMSLayer, heading: str, note: str,
                 links: list[str], conf: dict[str, Any]) -> tuple[str, str]:
        """The map page's body (layer list, title, map, links) and its scripts."""
        body = (
            "<div class='map-page'>" + self.sidebar(base, current) +
            f"<main class='map-main'><h1>{heading}</h1>{note}"
            f"<div id='map' class='tp-map tp-{_h(conf['service'])}' tabindex='0'></div>"
            "<div class='map-info'><span id='map-level'></span><span id='map-cursor'></span></div>"
            f"<p class='map-links'>{' · '.join(links)}</p></main></div>"
        )
        script = (
            f"<script type='application/json' id='viewer-config'>{script_json(conf)}</script>"
            f"<script src='{_h(self.asset_url(base, 'viewer.js'))}'></script>"
        )
        return body, script

    def map_page(self, req: Request, name: str, service: str) -> Response:
        layer = self.find_layer(req, name)
        available = layer is not None and (self.wmts_ok(layer) if service == "wmts" else self.tms is not None)
        if layer is None or not available:
            body = (f"<main class='index'><h1>Not found</h1><p>No layer <code>{_h(name)}</code> in that grid over "
                    f"{_h(service.upper())}.</p><p><a href='{_h(req.script_url)}/demo/'>All layers</a></p></main>")
            return self.page(req, "Not found", body, 404)
        base = req.script_url
        conf = self.viewer_config(base, layer, service)
        links = []
        if self.tms:
            view = f"{base}/demo/?" + urlencode({"tms_capabilities": "", "layer": layer.name, "grid": layer.grid_name})
            links.append(f"<a href='{_h(self.tile_map_url(base, layer))}'>TMS TileMap</a> "
                         f"(<a href='{_h(view)}'>view</a>)")
        if self.wmts and self.wmts.conf.restful:
            links.append(f"<a href='{_h(base)}/wmts/1.0.0/WMTSCapabilities.xml'>WMTS capabilities</a> "
                         f"(<a href='{_h(base)}/demo/?wmts_capabilities&amp;type=rest'>view</a>)")
        if not layer.format.is_image:
            note = f"<p class='warning'>{_h(layer.mime)} tiles cannot be shown as images.</p>"
        else:
            note = ""
        heading = (f"{_h(layer.title or layer.name)} <small>{_h(layer.name)} · {_h(layer.grid_name)} · "
                   f"{_h(layer.grid.srs.code)} · {_h(service.upper())}</small>")
        body, script = self.map_body(base, layer, heading, note, links, conf)
        return self.page(req, layer.title or layer.name, body, script=script)

    def wms_map_page(self, req: Request, name: str) -> Response:
        layer = self.wms.layers.get(name) if self.wms else None
        srs = req.args.get("srs") or next(iter(self.wms_grids), "")
        if layer is None or srs not in self.wms_grids:
            what = "WMS layer" if layer is None else f"SRS <code>{_h(srs)}</code> for the WMS layer"
            body = (f"<main class='index'><h1>Not found</h1><p>No {what} <code>{_h(name)}</code>.</p>"
                    f"<p><a href='{_h(req.script_url)}/demo/'>All layers</a></p></main>")
            return self.page(req, "Not found", body, 404)
        base = req.script_url
        conf = self.wms_viewer_config(base, layer, srs)
        caps = f"{base}/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION={wms_version(self.wms.conf)}"
        others = [f"<a href='{_h(self.wms_view_url(base, layer, code))}'>{_h(code)}</a>"
                  for code in self.wms_grids if code != srs]
        links = [f"<a href='{_h(caps)}'>WMS capabilities</a> (<a href='{_h(base)}/demo/?wms_capabilities'>view</a>)"]
        if others:
            links.append("other SRS: " + " ".join(others))
        heading = f"{_h(layer.title or layer.name)} <small>{_h(layer.name)} · {_h(srs)} · WMS</small>"
        body, script = self.map_body(base, layer, heading, "", links, conf)
        return self.page(req, layer.title or layer.name, body, script=script)

    def xml_page(self, req: Request, title: str, raw_url: str, resp: Response) -> Response:
        text = resp.body.decode("utf-8", "replace")
        body = (f"<main class='index'><h1>{_h(title)}</h1><p><a href='{_h(raw_url)}'>{_h(raw_url)}</a></p>"
                f"<pre class='xml'>{_h(text)}</pre></main>")
        return self.page(req, title, body, 200 if resp.status == 200 else resp.status)

    def wmts_capabilities(self, req: Request) -> Response:
        kind = (req.args.get("type") or "rest").lower()
        if self.wmts and kind == "kvp" and self.wmts.conf.kvp:
            raw = f"{req.script_url}/service?SERVICE=WMTS&REQUEST=GetCapabilities"
            return self.xml_page(req, "WMTS capabilities (KVP)", raw, self.wmts.capabilities(req, rest=False))
        if self.wmts and kind != "kvp" and self.wmts.conf.restful:
            raw = f"{req.script_url}/wmts/1.0.0/WMTSCapabilities.xml"
            return self.xml_page(req, "WMTS capabilities (RESTful)", raw, self.wmts.capabilities(req, rest=True))
        return self.page(req, "Not found", "<main class='index'><p>WMTS is not enabled.</p></main>", 404)

    def wms_capabilities(self, req: Request) -> Response:
        if not self.wms:
            return self.page(req, "Not found", "<main class='index'><p>WMS is not enabled.</p></main>", 404)
        version = wms_version(self.wms.conf)
        raw = f"{req.script_url}/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION={version}"
        return self.xml_page(req, f"WMS {version} capabilities", raw, self.wms.capabilities(req, version))

    def tms_capabilities(self, req: Request) -> Response:
        if not self.tms:
            return self.page(req, "Not found", "<main class='index'><p>TMS is not enabled.</p></main>", 404)
        name = req.args.get("layer")
        if not name:
            return self.xml_page(req, "TMS capabilities", f"{req.script_url}/tms/1.0.0/", self.tms.capabilities(req))
        layer = self.find_layer(req, name)
        if layer is None:
            body = f"<main class='index'><p>No layer <code>{_h(name)}</code> in that grid.</p></main>"
            return self.page(req, "Not found", body, 404)
        return self.xml_page(req, f"TMS TileMap {layer.name} ({layer.grid_name})",
                             self.tile_map_url(req.script_url, layer), self.tms.tile_map(req, layer))
