"""/collections and /collections/{id}: each named layer is a map collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...layers import WMSLayer
from ...srs import get_srs
from .context import HTML, JPEG, JSON, PNG, Context
from .crs import geographic, is_earth, ogc_url
from .landing import COLLECTIONS_TITLE, OGC_REL
from .vector_tiles import collection_links
from .vector_tiles import describe as describe_vector

if TYPE_CHECKING:
    from .state import OGCAPIState

OGC_SCALE_PIXEL = 0.00028  # metres: the OGC standardized rendering pixel


def _attribution(md: dict) -> dict:
    """A layer's ``md.attribution`` as the collection's (markdown with a link)."""
    attribution = md.get("attribution")
    if not isinstance(attribution, dict) or not attribution.get("title"):
        return {}
    title, url = attribution["title"], attribution.get("url")
    if not url:
        return {"attribution": title}
    logo = (attribution.get("logo") or {}).get("url") if isinstance(attribution.get("logo"), dict) else None
    # the logo link is written as MapProxy writes it (clients compare the text)
    text = f"[![{title}]({logo}]({url})" if logo else f"[{title}]({url})"
    return {"attribution": text, "attributionMediaType": "text/markdown"}


def describe(service: OGCAPIState, ctx: Context, layer: WMSLayer) -> dict[str, Any]:
    """A collection's description."""
    name = layer.name
    col: dict[str, Any] = {"dataType": "map", "id": name, "title": layer.title}
    if layer.md.get("abstract"):
        col["description"] = layer.md["abstract"]
    col.update(_attribution(layer.md))
    extent = layer.map_extent
    lonlat = get_srs("EPSG:4326") if is_earth(extent.srs) else geographic(extent.srs)
    spatial: dict[str, Any] = {"bbox": [list(extent.bbox_in(lonlat))]}
    if lonlat.code != "EPSG:4326":
        spatial["crs"] = ogc_url(lonlat)
    if extent.srs != lonlat:
        spatial["storageCrsBbox"] = [list(extent.bbox)]
    col["extent"] = {"spatial": spatial}
    crs = [ogc_url(get_srs("OGC:CRS84")), ogc_url(get_srs("EPSG:4326"))] if is_earth(extent.srs) else []
    crs += [ogc_url(srs) for srs in service.map_srs if srs.code != "EPSG:4326"]
    col["crs"] = crs
    storage = get_srs("OGC:CRS84") if extent.srs.code == "EPSG:4326" else extent.srs
    col["storageCrs"] = ogc_url(storage)
    base = f"/collections/{name}"
    col["links"] = ctx.pair("The JSON representation of this data collection",
                            "The HTML representation of this data collection", base)
    if service.conf.enable_maps:
        col["links"] += [
            {"rel": OGC_REL + "map", "type": PNG, "title": "Default map (as PNG)", "href": ctx.href(f"{base}/map.png")},
            {"rel": OGC_REL + "map", "type": JPEG, "title": "Default map (as JPEG)",
             "href": ctx.href(f"{base}/map.jpg")},
        ]
    if service.conf.enable_tiles:
        col["links"] += [
            {"rel": OGC_REL + "tilesets-map", "type": kind,
             "title": f"Map tilesets available for this collection (as {label})",
             "href": ctx.href(f"{base}/map/tiles?f={f}")}
            for kind, label, f in ((JSON, "JSON", "json"), (HTML, "HTML", "html"))
        ]
    if name in service.vector:
        col["links"] += collection_links(ctx, name)
    res = layer.res_range
    if res is not None and res.max_res:
        col["minCellSize"] = res.max_res
        col["minScaleDenominator"] = res.max_res / OGC_SCALE_PIXEL
    if res is not None and res.min_res:
        col["maxCellSize"] = res.min_res
        col["maxScaleDenominator"] = res.min_res / OGC_SCALE_PIXEL
    return col


def collections_doc(service: OGCAPIState, ctx: Context) -> dict:
    vector_only = [next(iter(sets.values())) for name, sets in service.vector.items() if name not in service.layers]
    return {
        "collections": [describe(service, ctx, layer) for layer in service.layers.values()]
        + [describe_vector(ctx, layer) for layer in vector_only],
        "links": ctx.pair(f"The JSON {COLLECTIONS_TITLE}", f"The HTML {COLLECTIONS_TITLE}", "/collections"),
    }
