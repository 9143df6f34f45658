"""The landing page and the conformance declaration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import HTML, JPEG, JSON, OPENAPI, PNG, Context

if TYPE_CHECKING:
    from .state import OGCAPIState

OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
_LANDING = ("representation of the landing page for this OGC (geospatial) API Service providing links to the "
            "API definition, the conformance declaration and information about the data collections offered "
            "at this endpoint.")
_CONFORMANCE = ("representation of the conformance declaration for this server listing the requirement "
                "classes implemented by this server")
COLLECTIONS_TITLE = "representation of the list of all data collections served from this endpoint"


def landing_links(service: OGCAPIState, ctx: Context) -> list[dict]:
    links = ctx.pair(f"The JSON {_LANDING}", f"The HTML {_LANDING}", "")

    def link(rel: str, kind: str, title: str, path: str) -> dict:
        return {"rel": rel, "type": kind, "title": title, "href": ctx.href(path)}

    links += [
        link("conformance", JSON, f"The JSON {_CONFORMANCE}", "/conformance?f=json"),
        link(OGC_REL + "conformance", JSON, f"The JSON {_CONFORMANCE}", "/conformance?f=json"),
        link(OGC_REL + "conformance", HTML, f"The HTML {_CONFORMANCE}", "/conformance?f=html"),
        link("service-desc", OPENAPI, "The JSON OpenAPI 3.0 document that describes the API offered at this endpoint",
             "/api?f=json"),
        link("service-doc", HTML, "The HTML documentation of the API offered at this endpoint", "/api?f=html"),
    ]
    for rel in ("data", OGC_REL + "data"):
        links += [link(rel, JSON, f"The JSON {COLLECTIONS_TITLE}", "/collections?f=json"),
                  link(rel, HTML, f"The HTML {COLLECTIONS_TITLE}", "/collections?f=html")]
    if service.conf.enable_maps and service.conf.default_dataset_layers:
        links += [link(OGC_REL + "map", PNG, "Default map of the whole datase (as PNG)", "/map.png"),
                  link(OGC_REL + "map", JPEG, "Default map of the whole datase (as JPEG)", "/map.jpg")]
    if service.conf.enable_tiles and service.matrix_sets:
        links += [link(OGC_REL + "tiling-schemes", JSON, "The list of supported tiling schemes (as JSON)",
                       "/tileMatrixSets?f=json"),
                  link(OGC_REL + "tiling-schemes", HTML, "The list of supported tiling schemes (as HTML)",
                       "/tileMatrixSets?f=html")]
    return links


_SPEC = "http://www.opengis.net/spec/"


def conformance_classes(service: OGCAPIState) -> list[str]:
    common = [f"{_SPEC}ogcapi-common-1/1.0/conf/{c}" for c in ("core", "html", "json", "landing-page", "oas30")]
    classes = [*common, f"{_SPEC}ogcapi-common-2/1.0/conf/collections"]
    conf = service.conf
    if conf.enable_maps:
        maps = ("core", "scaling", "spatial-subsetting", "crs", "display-resolution", "background",
                "collection-map", "collections-selection", "png", "jpeg")
        classes += [f"{_SPEC}ogcapi-maps-1/1.0/conf/{c}" for c in maps]
        if conf.default_dataset_layers:
            classes.append(f"{_SPEC}ogcapi-maps-1/1.0/conf/dataset-map")
        if conf.enable_tiles:
            classes.append(f"{_SPEC}ogcapi-maps-1/1.0/conf/tilesets")
    if conf.enable_tiles:
        tiles = ("core", "oas30", "tileset", "tilesets-list", "geodata-tilesets")
        classes += [f"{_SPEC}ogcapi-tiles-1/1.0/conf/{c}" for c in tiles]
        if conf.default_dataset_layers:
            classes.append(f"{_SPEC}ogcapi-tiles-1/1.0/conf/dataset-tilesets")
        if service.vector:
            classes.append(f"{_SPEC}ogcapi-tiles-1/1.0/conf/mvt")
    return classes
