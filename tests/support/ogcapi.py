"""OGC API tests: a configuration with a WMS collection over the source server's
checkerboard, a cached one and a dataset, and validation of JSON answers against
the OGC API Maps and Tiles OpenAPI schemas (tests/schemas/ogcapi/)."""

from __future__ import annotations

import copy
import json
from functools import cache as memoized
from pathlib import Path

import jsonschema

from support.configs import NO_PALETTE, cache, layer, merge, wms_source

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas" / "ogcapi"
HALF = 20037508.342789244  # half the web mercator world

CONFIG = {
    "globals": NO_PALETTE,
    "services": {
        "ogcapi": {
            "map_srs": ["EPSG:3857", "EPSG:4326"],
            "default_dataset_layers": ["checker"],
            "md": {"identification": {"title": "Checkers", "description": "A checkerboard"}},
        },
        "wmts": None,
    },
    "layers": [
        {**layer("checker", "Checkerboard", "checker_wms"), "nominal_scale": 50_000_000,
         "md": {"abstract": "red and blue squares"}},
        layer("cached", "Cached checkerboard", "checker_cache"),
    ],
    "caches": {"checker_cache": cache("checker_wms")},
    "sources": {"checker_wms": wms_source(coverage={"srs": "EPSG:4326", "bbox": [-180, -85, 180, 85]})},
    # the OGC WorldCRS84Quad, configured under another name
    "grids": {"crs84": {"srs": "EPSG:4326", "bbox": [-180, -90, 180, 90], "origin": "ul", "min_res": 0.703125,
                        "num_levels": 10}},
}


def ogcapi_config(**service_options: object) -> dict:
    """``CONFIG`` with more (or other) ``services.ogcapi`` options."""
    return merge(CONFIG, {"services": {"ogcapi": service_options}})


@memoized
def bundle(name: str) -> dict:
    """The OpenAPI document of OGC API Maps (``maps``) or Tiles (``tiles``) Part 1."""
    return json.loads((SCHEMAS / f"ogcapi-{name}-1.bundled.json").read_text())


def validate_openapi(doc: dict) -> None:
    """Validate an OpenAPI 3.0 document against the OpenAPI 3.0 JSON Schema."""
    jsonschema.validate(doc, json.loads((SCHEMAS.parent / "openapi" / "openapi-3.0.x.json").read_text()))


def validate(doc: object, name: str, *, schema: str | None = None, response: str | None = None) -> None:
    """Validate ``doc`` against a schema (``components/schemas``) or a response's JSON
    schema of the ``maps`` or ``tiles`` bundle (``name``); raises jsonschema's ValidationError."""
    components = copy.deepcopy(bundle(name)["components"])
    # OGC API Maps' collection refers to Common's extent, which the bundle calls extent
    # (https://github.com/opengeospatial/ogcapi-maps/issues/140)
    desc = components["schemas"].get("collectionDesc")
    if desc is not None:
        desc["properties"]["extent"]["$ref"] = "#/components/schemas/extent"
    if schema:
        target = dict(components["schemas"][schema])
    else:
        target = dict(components["responses"][response]["content"]["application/json"]["schema"])
    target["components"] = components
    jsonschema.validate(doc, target)
