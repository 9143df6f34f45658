"""Map tilesets: /collections/{id}/map/tiles[/{tms}] and /map/tiles[/{tms}]."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import HTML, JPEG, JSON, PNG, Context
from .crs import is_earth, ogc_url, public_srs
from .landing import OGC_REL

if TYPE_CHECKING:
    from .state import OGCAPIState

_TILES = "/{tileMatrix}/{tileRow}/{tileCol}"


def base_path(coll_id: str | None) -> str:
    return f"/collections/{coll_id}" if coll_id else ""


def _scheme_links(ctx: Context, tms_id: str) -> list[dict]:
    return [{"rel": OGC_REL + "tiling-scheme", "type": kind, "title": f"{tms_id} definition (as {label})",
             "href": ctx.href(f"/tileMatrixSets/{tms_id}?f={f}")}
            for kind, label, f in ((JSON, "JSON", "json"), (HTML, "HTML", "html"))]


def tileset_summary(service: OGCAPIState, ctx: Context, coll_id: str | None, tms_id: str) -> dict[str, Any]:
    grid, reg = service.matrix_sets[tms_id]
    doc: dict[str, Any] = {
        "title": f"{coll_id} with {tms_id} tile matrix set" if coll_id
        else f"Whole dataset with {tms_id} tile matrix set",
    }
    if reg is not None:
        doc["tileMatrixSetURI"] = reg.uri
    doc["dataType"] = "map"
    doc["crs"] = ogc_url(public_srs(grid.srs))
    base = base_path(coll_id)
    end = f"for {coll_id}" if coll_id else "for the whole dataset"
    links = _scheme_links(ctx, tms_id)
    links += ctx.pair(f"{tms_id} map tileset {end} (as JSON)", f"{tms_id} map tileset {end} (as HTML)",
                      f"{base}/map/tiles/{tms_id}")
    links += [
        {"rel": "item", "type": PNG, "title": f"{tms_id} map tiles {end} (as PNG)",
         "href": ctx.href(f"{base}/map/tiles/{tms_id}{_TILES}.png"), "templated": True},
        {"rel": "item", "type": JPEG, "title": f"{tms_id} map tiles {end} (as JPEG)",
         "href": ctx.href(f"{base}/map/tiles/{tms_id}{_TILES}.jpg"), "templated": True},
    ]
    doc["links"] = links
    return doc


def tilesets_doc(service: OGCAPIState, ctx: Context, coll_id: str | None) -> dict[str, Any]:
    """The tilesets of a collection (or the dataset): the matrix sets on the same
    celestial body as its data."""
    base = base_path(coll_id)
    end = f"for {coll_id}" if coll_id else "for the whole dataset"
    doc: dict[str, Any] = {
        "links": ctx.pair(f"The JSON representation of the available map tilesets {end} (as JSON)",
                          f"The HTML representation of the available map tilesets {end} (as HTML)",
                          f"{base}/map/tiles"),
    }
    earth = is_earth(service.layer_of(coll_id).map_extent.srs)
    doc["tilesets"] = [tileset_summary(service, ctx, coll_id, tms_id)
                       for tms_id, (grid, _) in service.matrix_sets.items() if is_earth(grid.srs) == earth]
    return doc


def tileset_doc(service: OGCAPIState, ctx: Context, coll_id: str | None, tms_id: str) -> dict[str, Any]:
    doc = tileset_summary(service, ctx, coll_id, tms_id)
    doc["links"] += _scheme_links(ctx, tms_id)
    if coll_id:
        doc["links"] += [{"rel": OGC_REL + "geodata", "type": kind, "title": f"{coll_id} collection (as {label})",
                          "href": ctx.href(f"/collections/{coll_id}?f={f}")}
                         for kind, label, f in ((JSON, "JSON", "json"), (HTML, "HTML", "html"))]
    return doc


def link_template(ctx: Context, coll_id: str | None, tms_id: str) -> str:
    """The ``Link-Template`` header of a tileset (OGC API Tiles recommendation 5.A)."""
    return f'<{ctx.href(base_path(coll_id))}/map/tiles/{tms_id}{_TILES}.png>; rel="item"; type="image/png"'
