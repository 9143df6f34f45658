"""Vector tilesets (OGC API Tiles Part 1, dataType ``vector``) of layers whose
cache holds Mapbox Vector Tiles: ``/collections/{id}/tiles[/{tms}[/{z}/{row}/{col}]]``.

A vector tileset is offered in each tile matrix set that has the same tiles as one
of the layer's caches; its tiles are the stored (or passed-through) bytes. Raster
layers have none. A tile without data is a 204, a tile outside the tileset's
limits a 404. The authorize callback is asked about ``ogcapi.tiles`` (the ``tile``
right): a vector tile cannot be clipped, so a tile not wholly inside a
``limited_to`` area is refused (403)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...extent import Extent
from ...http import Response
from ...layers import TileLayer
from ...srs import SRS, SRSError, get_srs
from ..access import AUTHORIZE
from ..demo_html import h
from ..tile_access import tile_access
from ..tile_response import serve_tile
from .answers import answer, error_answer
from .context import HTML, JSON, Context, HtmlPage
from .crs import geographic, is_earth, ogc_url, public_srs
from .errors import OGCAPIError, collection_not_found, invalid, not_found
from .landing import OGC_REL

if TYPE_CHECKING:
    from .state import OGCAPIState

MVT = "application/vnd.mapbox-vector-tile"
ACCESS_SERVICE = "ogcapi.tiles"  # what the authorize callback is told
CONFORMANCE = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt"
_TILES = "/{tileMatrix}/{tileRow}/{tileCol}"
_KINDS = {400: "Invalid Parameter", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          503: "Service Unavailable", 504: "Gateway Timeout"}


def _tileset_layer(service: OGCAPIState, coll_id: str, tms_id: str | None = None) -> TileLayer:
    sets = service.vector.get(coll_id)
    if sets is None:
        if coll_id in service.layers:
            raise not_found("This collection has no vector tilesets")
        raise collection_not_found()
    if tms_id is None:
        return next(iter(sets.values()))
    if tms_id not in sets:
        raise not_found("TileMatrixSet not found")
    return sets[tms_id]


def collection_links(ctx: Context, coll_id: str) -> list[dict]:
    """The collection's links to its vector tilesets."""
    return [{"rel": OGC_REL + "tilesets-vector", "type": kind,
             "title": f"Vector tilesets available for this collection (as {label})",
             "href": ctx.href(f"/collections/{coll_id}/tiles?f={f}")}
            for kind, label, f in ((JSON, "JSON", "json"), (HTML, "HTML", "html"))]


def describe(ctx: Context, layer: TileLayer) -> dict[str, Any]:
    """The description of a collection that is vector tiles only."""
    name = layer.name
    col: dict[str, Any] = {"id": name, "title": layer.title, "dataType": "vector"}
    if layer.md.get("abstract"):
        col["description"] = layer.md["abstract"]
    srs = layer.grid.srs
    try:
        lonlat = get_srs("EPSG:4326") if is_earth(srs) else geographic(srs)
        spatial: dict[str, Any] = {"bbox": [list(_bbox_in(layer, lonlat))]}
        if lonlat.code != "EPSG:4326":
            spatial["crs"] = ogc_url(lonlat)
        col["extent"] = {"spatial": spatial}
    except SRSError:
        pass
    col["crs"] = [ogc_url(public_srs(srs))]
    col["storageCrs"] = ogc_url(public_srs(srs))
    col["links"] = ctx.pair("The JSON representation of this data collection",
                            "The HTML representation of this data collection", f"/collections/{name}")
    col["links"] += collection_links(ctx, name)
    return col


def _bbox_in(layer: TileLayer, srs: SRS) -> list[float]:
    return list(Extent(layer.bbox, layer.grid.srs).bbox_in(srs))


def _limits(layer: TileLayer) -> list[dict[str, Any]]:
    """The rows and columns of each level that hold the layer's extent."""
    grid = layer.grid
    out = []
    for z in range(grid.levels):
        x0, y0, x1, y1 = grid.tile_range(layer.bbox, z)
        if x1 < x0 or y1 < y0:
            continue
        out.append({"tileMatrix": str(z), "minTileRow": y0, "maxTileRow": y1, "minTileCol": x0, "maxTileCol": x1})
    return out


def _summary(service: OGCAPIState, ctx: Context, coll_id: str, tms_id: str) -> dict[str, Any]:
    grid, reg = service.matrix_sets[tms_id]
    doc: dict[str, Any] = {"title": f"{coll_id} vector tiles in the {tms_id} tile matrix set"}
    if reg is not None:
        doc["tileMatrixSetURI"] = reg.uri  # type: ignore[attr-defined]
    doc["dataType"] = "vector"
    doc["crs"] = ogc_url(public_srs(grid.srs))
    path = f"/collections/{coll_id}/tiles/{tms_id}"
    links = [{"rel": OGC_REL + "tiling-scheme", "type": kind, "title": f"{tms_id} definition (as {label})",
              "href": ctx.href(f"/tileMatrixSets/{tms_id}?f={f}")}
             for kind, label, f in ((JSON, "JSON", "json"), (HTML, "HTML", "html"))]
    links += ctx.pair(f"{tms_id} vector tileset for {coll_id} (as JSON)",
                      f"{tms_id} vector tileset for {coll_id} (as HTML)", path)
    links.append({"rel": "item", "type": MVT, "title": f"{tms_id} vector tiles for {coll_id} (as MVT)",
                  "href": ctx.href(path + _TILES), "templated": True})
    doc["links"] = links
    return doc


def tilesets(service: OGCAPIState, ctx: Context, coll_id: str) -> Response:
    ctx.check()
    _tileset_layer(service, coll_id)
    doc = {
        "links": ctx.pair(f"The available vector tilesets for {coll_id} (as JSON)",
                          f"The available vector tilesets for {coll_id} (as HTML)", f"/collections/{coll_id}/tiles"),
        "tilesets": [_summary(service, ctx, coll_id, tms_id) for tms_id in service.vector[coll_id]],
    }
    return answer(ctx, doc, _tilesets_page(coll_id))


def tileset(service: OGCAPIState, ctx: Context, coll_id: str, tms_id: str) -> Response:
    ctx.check()
    layer = _tileset_layer(service, coll_id, tms_id)
    doc = _summary(service, ctx, coll_id, tms_id)
    doc["tileMatrixSetLimits"] = _limits(layer)
    doc["links"] += [{"rel": OGC_REL + "geodata", "type": kind, "title": f"{coll_id} collection (as {label})",
                      "href": ctx.href(f"/collections/{coll_id}?f={f}")}
                     for kind, label, f in ((JSON, "JSON", "json"), (HTML, "HTML", "html"))]
    template = f'<{ctx.href(f"/collections/{coll_id}/tiles/{tms_id}")}{_TILES}>; rel="item"; type="{MVT}"'
    return answer(ctx, doc, _tileset_page(coll_id, tms_id), headers=[("Link-Template", template)])


def _index(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise invalid(f"Invalid {what}: {text} is not a whole number") from None


def get_tile(service: OGCAPIState, ctx: Context, coll_id: str, tms_id: str, z_text: str, row_text: str,
             col_text: str) -> Response:
    """A stored vector tile; 204 when the source has none, 404 outside the tileset."""
    ctx.check(formats=(None, "mvt"))
    ctx.html = False  # errors about a tile: JSON
    layer = _tileset_layer(service, coll_id, tms_id)
    col_text, _, ext = col_text.partition(".")
    if ext not in ("", "mvt", "pbf"):
        raise OGCAPIError("Not Acceptable", f"Unsupported tile format {ext}", 406)
    coord = (_index(col_text, "tile col"), _index(row_text, "tile row"), _index(z_text, "tile matrix"))
    grid = layer.grid
    if not grid.is_valid(coord):
        raise not_found("Tile outside the tile matrix set")
    x0, y0, x1, y1 = grid.tile_range(layer.bbox, coord[2])
    if not (x0 <= coord[0] <= x1 and y0 <= coord[1] <= y1):
        raise not_found("Tile outside the tileset's limits")

    def error(message: str, status: int) -> Response:
        return error_answer(ctx, OGCAPIError(_KINDS.get(status, "InternalError"), message, status))

    if AUTHORIZE in ctx.req.environ:
        access = tile_access(ctx.req.environ, ACCESS_SERVICE, layer, coord, error)  # raises HTTPError when denied
        if access is not None and access.limit is not None and not access.limit.contains(access.bbox, grid.srs):
            return error("the tile is not wholly inside the area this request may see", 403)
    resp = serve_tile(ctx.req, layer, coord, service.max_age, error, empty=lambda: Response(b"", 204, None))
    if resp.status == 200 and not resp.body:  # the source had an empty answer: no data here
        resp.status = 204
        resp.headers = [(k, v) for k, v in resp.headers if k.lower() != "content-type"]
    elif resp.status == 200:
        resp.set("Content-Type", MVT)
    return resp


def _crumbs(coll_id: str) -> list[tuple[str, str]]:
    return [("Collections", "/collections"), (coll_id, f"/collections/{coll_id}"),
            ("Vector tilesets", f"/collections/{coll_id}/tiles")]


def _links_html(links: list[dict]) -> str:
    items = [f'<li><a title="{h(link["rel"])}" href="{h(link["href"])}">{h(link["title"])}</a> '
             f'<span class="muted">{h(link["type"])}</span></li>' for link in links if not link.get("templated")]
    templates = [f"<li><code>{h(link['href'])}</code></li>" for link in links if link.get("templated")]
    out = "<ul>" + "".join(items) + "</ul>"
    if templates:
        out += "<h2>Tile URL templates</h2><ul>" + "".join(templates) + "</ul>"
    return out


def _tilesets_page(coll_id: str) -> HtmlPage:
    def page(doc: dict, ctx: Context) -> str:
        from .html import frame

        items = "".join(f'<li><a href="{h(_own_page(ts))}">{h(ts["title"])}</a> '
                        f'<span class="muted">{h(ts["crs"])}</span></li>' for ts in doc["tilesets"])
        return frame(ctx, f"Vector tilesets of {coll_id}", f"<ul>{items}</ul>", doc["links"], _crumbs(coll_id))

    return page


def _own_page(summary: dict) -> str:
    """The HTML page of a tileset (from its summary's links)."""
    return next(link["href"] for link in summary["links"] if link["type"] == HTML and "/tiles/" in link["href"])


def _tileset_page(coll_id: str, tms_id: str) -> HtmlPage:
    def page(doc: dict, ctx: Context) -> str:
        from .html import frame

        body = f"<p>CRS: <i>{h(doc['crs'])}</i></p><p>Tiles: <i>{MVT}</i></p>" + _links_html(doc["links"])
        return frame(ctx, doc["title"], body, doc["links"],
                     _crumbs(coll_id) + [(tms_id, f"/collections/{coll_id}/tiles/{tms_id}")])

    return page


def collection_page(doc: dict, ctx: Context) -> str:
    """The HTML page of a vector-only collection."""
    from .html import frame

    body = f"<p>{h(doc['description'])}</p>" if doc.get("description") else ""
    if "extent" in doc:
        body += f"<p>Extent: {h(', '.join(str(v) for v in doc['extent']['spatial']['bbox'][0]))}</p>"
    body += "<h2>Links</h2>" + _links_html(doc["links"])
    return frame(ctx, doc["title"], body, doc["links"],
                 [("Collections", "/collections"), (doc["id"], f"/collections/{doc['id']}")])
