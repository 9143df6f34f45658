"""Tile matrix sets: the configured grids. A grid that is one of the OGC registered
sets (WebMercatorQuad, WorldCRS84Quad) is announced under the registered id, with
its URI and well-known scale set; its levels are the grid's."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...grid import TileGrid, is_close, predefined_grid
from ...srs import MERCATOR_EXTENT
from .crs import ogc_url, public_srs

OGC_PIXEL = 0.00028  # metres


@dataclass(frozen=True)
class Registered:
    id: str
    srs_codes: tuple[str, ...]
    bbox: tuple[float, float, float, float]
    first_res: float
    uri: str
    scale_set: str


_TMS = "http://www.opengis.net/def/tilematrixset/OGC/1.0/"
_WKSS = "http://www.opengis.net/def/wkss/OGC/1.0/"
REGISTERED = (
    Registered("WebMercatorQuad", ("EPSG:3857", "EPSG:900913"),
               (-MERCATOR_EXTENT, -MERCATOR_EXTENT, MERCATOR_EXTENT, MERCATOR_EXTENT),
               2 * MERCATOR_EXTENT / 256, _TMS + "WebMercatorQuad", _WKSS + "GoogleMapsCompatible"),
    Registered("WorldCRS84Quad", ("EPSG:4326", "OGC:CRS84", "CRS:84"), (-180.0, -90.0, 180.0, 90.0),
               180.0 / 256, _TMS + "WorldCRS84Quad", _WKSS + "GoogleCRS84Quad"),
)


def registered_as(grid: TileGrid) -> Registered | None:
    """The registered set ``grid`` is, level for level (top left origin, 256 pixel
    tiles, halving resolutions from the registered first one)."""
    if grid.origin != "nw" or tuple(grid.tile_size) != (256, 256):
        return None
    for reg in REGISTERED:
        if grid.srs.code not in reg.srs_codes:
            continue
        if not all(is_close(a, b) for a, b in zip(grid.bbox, reg.bbox)):
            continue
        if all(is_close(res, reg.first_res / 2**z) for z, res in enumerate(grid.resolutions)):
            return reg
    return None


def matrix_sets(grids: dict[str, TileGrid]) -> dict[str, tuple[TileGrid, Registered | None]]:
    """The tile matrix sets by id: MapProxy's three default grids, then the
    configured ones (a configured grid of a default's name replaces it)."""
    all_grids = {name: grids.get(name) or predefined_grid(name)
                 for name in ("GLOBAL_GEODETIC", "GLOBAL_MERCATOR", "GLOBAL_WEBMERCATOR")}
    all_grids.update(grids)
    out: dict[str, tuple[TileGrid, Registered | None]] = {}
    for name, grid in all_grids.items():
        reg = registered_as(grid)
        if reg is not None and reg.id not in out:
            out[reg.id] = (grid, reg)
        else:
            out[name] = (grid, None)
    return out


def metres_per_unit(grid: TileGrid) -> float:
    if grid.srs.is_latlong:
        return grid.srs.crs.ellipsoid.semi_major_metre * 2 * math.pi / 360
    return 1.0


def definition(tms_id: str, grid: TileGrid, reg: Registered | None) -> dict[str, Any]:
    """The TileMatrixSet document (OGC 17-083r4) of a grid."""
    srs = public_srs(grid.srs)
    doc: dict[str, Any] = {"id": tms_id, "title": tms_id, "crs": ogc_url(srs)}
    if reg is not None:
        doc["uri"] = reg.uri
        doc["wellKnownScaleSet"] = reg.scale_set
    top_left = grid.origin == "nw"
    origin = [grid.bbox[0], grid.bbox[3] if top_left else grid.bbox[1]]
    if srs.is_axis_order_ne:
        origin.reverse()
    unit = metres_per_unit(grid)
    doc["tileMatrices"] = [
        {
            "id": str(z),
            "cellSize": res,
            "scaleDenominator": res * unit / OGC_PIXEL,
            "cornerOfOrigin": "topLeft" if top_left else "bottomLeft",
            "pointOfOrigin": origin,
            "matrixWidth": grid.grid_sizes[z][0],
            "matrixHeight": grid.grid_sizes[z][1],
            "tileWidth": grid.tile_size[0],
            "tileHeight": grid.tile_size[1],
        }
        for z, res in enumerate(grid.resolutions)
    ]
    return doc


def matrix_sets_doc(ctx, sets: dict) -> dict:
    entries = []
    for tms_id, (_, reg) in sets.items():
        entry: dict[str, Any] = {
            "id": tms_id,
            "title": tms_id,
            "links": ctx.pair(f"The JSON representation of the {tms_id} tiling scheme definition",
                              f"The HTML representation of the {tms_id} tiling scheme definition",
                              f"/tileMatrixSets/{tms_id}"),
        }
        if reg is not None:
            entry["uri"] = reg.uri
        entries.append(entry)
    return {"tileMatrixSets": entries}
