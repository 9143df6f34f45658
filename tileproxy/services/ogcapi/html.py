"""The HTML pages of the service: the JSON document's content for people, with
its links in the page head (so that crawlers and clients find the alternates)
and, for collections and tilesets, a map."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..demo_html import h, read_static, script_json
from .context import Context, HtmlPage
from .tilesets import base_path

if TYPE_CHECKING:
    from ...layers import WMSLayer
    from .state import OGCAPIState

SWAGGER = "https://unpkg.com/swagger-ui-dist@5"
REDOC = "https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"


def static_asset(name: str) -> bytes | None:
    """The stylesheet and viewer shared with the demo, served at /ogcapi/static/."""
    return read_static(name)


def _head_links(links: list[dict]) -> str:
    out = []
    for link in links:
        if link.get("templated"):
            continue
        if link["rel"] == "self":
            out.append(f'<link rel="canonical" href="{h(link["href"])}" />')
        else:
            out.append(f'<link rel="{h(link["rel"])}" type="{h(link["type"])}" title="{h(link["title"])}" '
                       f'href="{h(link["href"])}"/>')
    return "\n".join(out)


def frame(ctx: Context, title: str, body: str, links: list[dict] | None = None, crumbs: list[tuple[str, str]] = (),
          script: str = "") -> str:
    """A page: head links, a breadcrumb trail (label, path below /ogcapi), ``body``."""
    trail = [f'<a href="{h(ctx.href("?f=html"))}">OGC API</a>']
    trail += [f'<a href="{h(ctx.href(path + "?f=html"))}">{h(label)}</a>' for label, path in crumbs]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{h(title)} – tileproxy OGC API</title>\n"
        f"<link rel=\"stylesheet\" href=\"{h(ctx.href('/static/demo.css'))}\">\n"
        f"{_head_links(links or [])}\n</head>\n"
        f"<body><header><span class=\"home\">{' › '.join(trail)}</span>"
        f"<span class=\"page-title\">{h(title)}</span></header>\n"
        f"<main class=\"index\">\n<h1>{h(title)}</h1>\n{body}\n</main>\n{script}</body></html>\n"
    )


def _link_list(links: list[dict]) -> str:
    items = [f'<li><a title="{h(link["rel"])}" href="{h(link["href"])}">{h(link["title"])}</a> '
             f'<span class="muted">{h(link["type"])}</span></li>' for link in links if not link.get("templated")]
    return "<ul>" + "".join(items) + "</ul>"


def exception_page(doc: dict, ctx: Context) -> str:
    return frame(ctx, f"Error {doc['status']}", f"<p>{h(doc['detail'])}</p>")


def landing_page(service: OGCAPIState) -> HtmlPage:
    def page(doc: dict, ctx: Context) -> str:
        ident = service.conf.md.get("identification") or {}
        title = ident.get("title") or "OGC API"
        body = ""
        if ident.get("description"):
            body += f"<p>{h(ident['description'])}</p>"
        sections = [("Collections", "/collections", bool(service.layers)), ("Conformance", "/conformance", True),
                    ("API definition", "/api", True),
                    ("Tile matrix sets", "/tileMatrixSets", service.conf.enable_tiles and bool(service.matrix_sets))]
        body += "<h2>This service</h2><ul>" + "".join(
            f'<li><a href="{h(ctx.href(path + "?f=html"))}">{label}</a></li>' for label, path, shown in sections
            if shown) + "</ul>"
        if service.conf.enable_maps and service.conf.default_dataset_layers:
            body += (f'<h2>Dataset map</h2><p><img alt="map of the dataset" src="{h(ctx.href("/map.png?width=512"))}">'
                     "</p>")
        body += "<h2>Links</h2>" + _link_list(doc["links"])
        return frame(ctx, title, body, doc["links"])

    return page


def conformance_page(doc: dict, ctx: Context) -> str:
    items = "".join(f'<li><a title="{h(c)}" href="{h(c)}">{h(c)}</a></li>' for c in doc["conformsTo"])
    return frame(ctx, "Conformance", f"<ul>{items}</ul>", crumbs=[("Conformance", "/conformance")])


def api_page(ctx: Context, ui: str) -> str:
    """The OpenAPI document in Swagger UI or ReDoc (loaded from their CDNs)."""
    spec = ctx.href("/api?f=json")
    if ui == "redoc":
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>API – tileproxy OGC API</title></head>"
                f"<body>\n<redoc spec-url='{h(spec)}'></redoc>\n<script src=\"{REDOC}\"></script>\n</body></html>\n")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>API – tileproxy OGC API</title>\n"
        f"<link rel=\"stylesheet\" href=\"{SWAGGER}/swagger-ui.css\"></head>\n<body><div id=\"swagger-ui\"></div>\n"
        f"<script src=\"{SWAGGER}/swagger-ui-bundle.js\"></script>\n<script>\n"
        "  window.onload = function () {\n"
        "    window.ui = SwaggerUIBundle({\n"
        f"        url: {json.dumps(spec).replace(chr(34), chr(39))},\n"
        "        dom_id: '#swagger-ui'\n"
        "    });\n  };\n</script>\n</body></html>\n"
    )


def collections_page(doc: dict, ctx: Context) -> str:
    rows = []
    for col in doc["collections"]:
        href = ctx.href(f"/collections/{col['id']}")
        rows.append(
            "                <tr>\n"
            "                  <td data-label=\"name\">\n"
            f"                    <a  title=\"{h(col['title'])}\"\n"
            f"                      href=\"{h(href)}\">\n"
            f"                      <span>{h(col['title'])}</span></a>\n"
            "                  </td>\n"
            "                  <td data-label=\"description\">\n"
            f"                    {h(col.get('description', ''))}\n"
            "                  </td>\n"
            "                </tr>"
        )
    body = ("<table class=\"layers\"><thead><tr><th>Collection</th><th>Description</th></tr></thead><tbody>\n"
            + "\n".join(rows) + "\n</tbody></table>")
    return frame(ctx, "Collections", body, doc["links"], [("Collections", "/collections")])


def _viewer(conf: dict[str, Any], ctx: Context) -> tuple[str, str]:
    body = ('<div id="map" class="tp-map" tabindex="0" style="height:420px"></div>'
            '<div class="map-info"><span id="map-level"></span><span id="map-cursor"></span></div>')
    script = (f'<script type="application/json" id="viewer-config">{script_json(conf)}</script>'
              f'<script src="{h(ctx.href("/static/viewer.js"))}"></script>')
    return body, script


def collection_page(service: OGCAPIState, layer: WMSLayer) -> HtmlPage:
    def page(doc: dict, ctx: Context) -> str:
        from .views import map_view

        body = f"<p>{h(doc.get('description', ''))}</p>" if doc.get("description") else ""
        if doc.get("attribution"):
            body += f"<p class=\"muted\">Attribution: {h(doc['attribution'])}</p>"
        bbox = doc["extent"]["spatial"]["bbox"][0]
        body += f"<p>Extent: {h(', '.join(str(v) for v in bbox))}</p>"
        body += "<p>CRS: " + ", ".join(f"<i>{h(c)}</i>" for c in doc["crs"]) + "</p>"
        script = ""
        view = map_view(service, ctx.href(), layer) if service.conf.enable_maps else None
        if view is not None:
            viewer, script = _viewer(view, ctx)
            body += "<h2>Map</h2>" + viewer
        body += "<h2>Links</h2>" + _link_list(doc["links"])
        return frame(ctx, doc["title"], body, doc["links"],
                     [("Collections", "/collections"), (doc["id"], f"/collections/{doc['id']}")], script)

    return page


def _tileset_crumbs(coll_id: str | None) -> list[tuple[str, str]]:
    if coll_id:
        return [("Collections", "/collections"), (coll_id, f"/collections/{coll_id}"),
                ("Map tilesets", f"/collections/{coll_id}/map/tiles")]
    return [("Dataset map tilesets", "/map/tiles")]


def tilesets_page(service: OGCAPIState, coll_id: str | None) -> HtmlPage:
    def page(doc: dict, ctx: Context) -> str:
        items = []
        for ts in doc["tilesets"]:
            own = next(link for link in ts["links"] if link["type"] == "text/html" and "tileset" in link["title"])
            items.append(f'<li><a href="{h(own["href"])}">{h(ts["title"])}</a> <span class="muted">'
                         f'{h(ts["crs"])}</span></li>')
        body = "<ul>" + "".join(items) + "</ul>"
        return frame(ctx, f"Map tilesets of {coll_id or 'the dataset'}", body, doc["links"], _tileset_crumbs(coll_id))

    return page


def tileset_page(service: OGCAPIState, coll_id: str | None, tms_id: str) -> HtmlPage:
    def page(doc: dict, ctx: Context) -> str:
        from .views import tile_view

        body = f"<p>CRS: <i>{h(doc['crs'])}</i></p>"
        viewer, script = _viewer(tile_view(service, ctx.href(), coll_id, tms_id), ctx)
        body += viewer + "<h2>Links</h2>" + _link_list(doc["links"])
        templates = [link for link in doc["links"] if link.get("templated")]
        body += "<h2>Tile URL templates</h2><ul>" + "".join(
            f"<li><code>{h(link['href'])}</code></li>" for link in templates) + "</ul>"
        here = f"{base_path(coll_id)}/map/tiles/{tms_id}"
        return frame(ctx, doc["title"], body, doc["links"], _tileset_crumbs(coll_id) + [(tms_id, here)], script)

    return page


def matrix_sets_page(doc: dict, ctx: Context) -> str:
    items = []
    for tms in doc["tileMatrixSets"]:
        href = ctx.href(f"/tileMatrixSets/{tms['id']}?f=html")
        items.append(f'<li><a title="{h(tms["id"])}" href="{h(href)}">{h(tms["id"])}</a></li>')
    return frame(ctx, "Tile matrix sets", "<ul>" + "".join(items) + "</ul>",
                 crumbs=[("Tile matrix sets", "/tileMatrixSets")])


def matrix_set_page(doc: dict, ctx: Context) -> str:
    body = f"<p>CRS: <i>{h(doc['crs'])}</i></p>"
    if doc.get("uri"):
        body += f"<p>Uri: <i>{h(doc['uri'])}</i></p>"
    if doc.get("wellKnownScaleSet"):
        body += f"<p>Well Known Scale Set: <i>{h(doc['wellKnownScaleSet'])}</i></p>"
    rows = "".join(
        f"<tr><td>{h(m['id'])}</td><td>{m['scaleDenominator']:.6g}</td><td>{m['cellSize']:.10g}</td>"
        f"<td>{m['matrixWidth']} × {m['matrixHeight']}</td><td>{m['tileWidth']} × {m['tileHeight']}</td></tr>"
        for m in doc["tileMatrices"])
    body += ("<table class=\"layers\"><thead><tr><th>Tile matrix</th><th>Scale denominator</th><th>Cell size</th>"
             f"<th>Tiles</th><th>Tile size</th></tr></thead><tbody>{rows}</tbody></table>")
    return frame(ctx, doc["title"], body, crumbs=[("Tile matrix sets", "/tileMatrixSets"),
                                                  (doc["id"], f"/tileMatrixSets/{doc['id']}")])
