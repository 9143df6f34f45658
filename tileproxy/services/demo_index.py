"""The demo's start page: per service its capabilities documents (as XML, and
viewed in the demo) and a table of its layers, sorted by name, each linked to a
map view. The links and table layout follow MapProxy's demo page (relative
URLs, one ``<table class="code">`` per service with a row per grid and the
layer name spanning its rows), so bookmarks and scripts written for it keep
working."""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby

from .. import __version__
from ..layers import TileLayer, WMSLayer
from .demo_html import demo_link, h, link, query, seg

UNAVAILABLE = '<p class="muted">This service is not enabled in the configuration.</p>'


def capabilities_links(label: str, download: str, view: str) -> str:
    """A capabilities document: as XML, viewed as the server addresses itself and
    as seen through the proxy (the ``X-Forwarded-*`` headers of this request)."""
    return (f'<div class="capabilities"><span>{label}</span> '
            f'{link(download, "download as XML")} · {link(view, "view (server URL)")} · '
            f'{link(view + "&type=external", "view (public URL)")}</div>')


def by_name(layers: list[TileLayer]) -> list[tuple[str, list[TileLayer]]]:
    """Tile layers grouped by name, sorted by name; grids in configuration order."""
    ordered = sorted(layers, key=lambda tl: tl.name)  # stable: keeps the grid order
    return [(name, list(group)) for name, group in groupby(ordered, key=lambda tl: tl.name)]


def layer_rows(groups: list[tuple[str, list[TileLayer]]], cells: Callable[[TileLayer], str]) -> str:
    """Rows of a tile layer table: the name (and title) span the rows of the layer's grids."""
    rows = []
    for name, layers in groups:
        span = len(layers)
        for i, layer in enumerate(layers):
            head = ""
            if i == 0:
                head = (f'<td rowspan="{span}">{h(name)}</td>'
                        f'<td class="title" rowspan="{span}">{h(layer.title)}</td>')
            rows.append(f"<tr>{head}{cells(layer)}</tr>")
    return "".join(rows)


def table(headings: list[str], rows: str) -> str:
    head = "".join(f"<th>{h(text)}</th>" for text in headings)
    return f'<table class="code"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def view_link(layer: TileLayer, service: str, ambiguous: bool) -> str:
    """The map view of a layer in its grid: by SRS as MapProxy links it, plus the
    grid when another grid of the layer has the same SRS."""
    params: list[tuple[str, str | None]] = [(f"{service}_layer", layer.name), ("format", layer.format.ext),
                                            ("srs", layer.grid.srs.code)]
    if ambiguous:
        params.append(("grid", layer.grid_name))
    return demo_link(*params)


class IndexPage:
    """The body of ``/demo/`` for a demo service (see DemoService)."""

    def __init__(self, demo) -> None:  # DemoService; untyped to avoid an import cycle
        self.demo = demo

    def html(self) -> str:
        d = self.demo
        sections = [
            f'<h2>About</h2><p>tileproxy {h(__version__)}. Every layer can be shown on a map: '
            'follow the links in the tables.</p>',
            "<h2>WMS</h2>" + (self.wms() if d.wms else UNAVAILABLE),
            "<h2>WMS-C</h2>" + (self.wmsc() if d.wms else UNAVAILABLE),
            "<h2>WMTS</h2>" + (self.wmts() if d.wmts else UNAVAILABLE),
            "<h2>TMS</h2>" + (self.tms() if d.tms else UNAVAILABLE),
        ]
        if d.ogcapi:
            sections.append("<h2>OGC API</h2>" + self.ogcapi())
        return '<main class="index">' + "".join(sections) + "</main>"

    # -- WMS ---------------------------------------------------------------

    def wms(self) -> str:
        d = self.demo
        caps = capabilities_links("Capabilities document", "../service?" + query(
            [("REQUEST", "GetCapabilities"), ("SERVICE", "WMS")]), "../demo/?wms_capabilities")
        layers = sorted((layer for _, layer in d.wms_tree() if layer.name), key=lambda lyr: lyr.name)
        rows = "".join(f'<tr><td>{h(layer.name)}</td><td class="title">{h(layer.title)}</td>'
                       f'<td class="links">{self.wms_links(layer)}</td></tr>' for layer in layers)
        if not rows:
            return caps + '<p class="muted">The WMS has no named layers.</p>'
        return caps + table(["Layer", "Title", "Coordinate-System"], rows)

    def wms_links(self, layer: WMSLayer) -> str:
        """Map views of a WMS layer, one per SRS the viewer can show."""
        d = self.demo
        links = [link(demo_link(("wms_layer", layer.name), ("format", d.wms_view_format()), ("srs", srs)), h(srs))
                 for srs in d.wms_grids]
        return " ".join(links) or '<span class="muted">no SRS the viewer can show</span>'

    def wmsc(self) -> str:
        return capabilities_links("Capabilities document (tiled)", "../service?" + query(
            [("REQUEST", "GetCapabilities"), ("SERVICE", "WMS"), ("tiled", "true")]), "../demo/?wmsc_capabilities")

    # -- WMTS and TMS -------------------------------------------------------

    def wmts(self) -> str:
        d = self.demo
        parts = []
        if d.wmts.conf.kvp:
            parts.append(capabilities_links("KVP capabilities document", "../service?" + query(
                [("REQUEST", "GetCapabilities"), ("SERVICE", "WMTS")]), "../demo/?wmts_capabilities_kvp"))
        if d.wmts.conf.restful:
            parts.append(capabilities_links("RESTful capabilities document", "../wmts/1.0.0/WMTSCapabilities.xml",
                                            "../demo/?wmts_capabilities"))

        def cells(layer: TileLayer) -> str:
            grid = f"<td>{h(layer.grid_name)}</td>"
            if not d.wmts_ok(layer):
                return f'{grid}<td class="muted" colspan="2">grid not compatible with WMTS</td>'
            url = view_link(layer, "wmts", d.srs_is_ambiguous(layer))
            return f"{grid}<td>{link(url, h(layer.grid.srs.code))}</td><td>{link(url, h(layer.format.ext))}</td>"

        groups = by_name(d.tile_layers)
        parts.append(table(["Layer", "Title", "Grid", "Coordinate-System", "Image-Format"], layer_rows(groups, cells)))
        return "".join(parts)

    def tms(self) -> str:
        d = self.demo
        caps = capabilities_links("Capabilities document", "../tms/1.0.0/", "../demo/?tms_capabilities")

        def cells(layer: TileLayer) -> str:
            url = view_link(layer, "tms", d.srs_is_ambiguous(layer))
            tms_id = d.tms_grid_id(layer)
            tile_map = link(demo_link(("tms_capabilities", None), ("layer", layer.name), ("srs", tms_id)), "view")
            download = link(f"../tms/1.0.0/{seg(layer.name)}/{seg(tms_id)}", "download as XML")
            return (f"<td>{h(layer.grid_name)}</td><td>{link(url, h(layer.grid.srs.code))}</td>"
                    f"<td>{link(url, h(layer.format.ext))}</td><td>TileMap: {download} · {tile_map}</td>")

        rows = layer_rows(by_name(d.tile_layers), cells)
        return caps + table(["Layer", "Title", "Grid", "Coordinate-System", "Image-Format", "Layer Capabilities"], rows)

    # -- OGC API ----------------------------------------------------------------

    def ogcapi(self) -> str:
        """The OGC API landing page, and per collection its map views."""
        d = self.demo
        start = (f'<div class="capabilities"><span>Landing page</span> {link("../ogcapi?f=html", "HTML")} · '
                 f'{link("../ogcapi?f=json", "JSON")} · {link("../ogcapi/api?f=html", "API")}</div>')
        layers = sorted(d.ogcapi.layers.values(), key=lambda lyr: lyr.name)
        rows = "".join(f'<tr><td>{h(layer.name)}</td><td class="title">{h(layer.title)}</td>'
                       f'<td class="links">{d.ogcapi_links(layer)}</td></tr>' for layer in layers)
        if not rows:
            return start + '<p class="muted">No collections.</p>'
        return start + table(["Collection", "Title", "Maps and map tiles"], rows)
