"""The mapproxy.yaml and seed.yaml sections ``tileproxy autoconfig`` makes from a WMS's
capabilities, as ``mapproxy-util autoconfig`` makes them: a ``<layer>_wms`` source per
named layer, a ``<layer>_cache`` where the base configuration has a grid in one of the
source's SRS, the layer tree over them, and a seed and a cleanup task per cache and grid.
Overwrites merge into the result with mapproxy-util's special keys (``__all__``,
``key__extend__``, ``___suffix`` and ``prefix___``)."""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

from ..srs import SRSError, get_srs
from .wms_capabilities_tool import Capabilities

log = logging.getLogger("tileproxy.autoconfig")


def sources(caps: Capabilities) -> dict[str, dict]:
    """A WMS source for each named layer."""
    return {f"{layer['name']}_wms": _source(caps.version, layer) for layer in caps.named_layers()}


def _source(version: str, layer: dict[str, Any]) -> dict[str, Any]:
    req: dict[str, Any] = {"url": layer["url"], "layers": layer["name"]}
    if not layer["opaque"]:
        req["transparent"] = True
    wms_opts: dict[str, Any] = {}
    if version != "1.1.1":
        wms_opts["version"] = version
    if layer["queryable"]:
        wms_opts["featureinfo"] = True
    if layer["legend"]:
        wms_opts["legendurl"] = layer["legend"]["url"]
    source: dict[str, Any] = {"type": "wms"}
    if wms_opts:
        source["wms_opts"] = wms_opts
    source["req"] = req
    source["supported_srs"] = sorted(code for code in layer["srs"] if _known_srs(code))
    if layer["llbbox"]:
        source["coverage"] = {"srs": "EPSG:4326", "bbox": list(layer["llbbox"])}
    min_res, max_res = layer["res_hint"] or (None, None)
    if min_res:
        source["min_res"] = min_res
    if max_res:
        source["max_res"] = max_res
    return source


@functools.cache  # one warning per code
def _known_srs(code: str) -> bool:
    try:
        get_srs(code)
    except SRSError as ex:
        log.warning("unable to initialize srs for %s: %s", code, ex)
        return False
    return True


def caches(sources: dict[str, dict], grid_by_srs: dict[str, str]) -> dict[str, dict]:
    """A cache for each source with an SRS that one of ``grid_by_srs``'s grids has."""
    out = {}
    for name, source in sources.items():
        grids = [grid_by_srs[code] for code in source.get("supported_srs") or [] if code in grid_by_srs]
        if grids:
            out[name.removesuffix("_wms") + "_cache"] = {"sources": [name], "grids": grids}
    return out


def layers(caps: Capabilities, caches: dict[str, dict]) -> list[dict]:
    """The capabilities' layer tree (one root), each named layer on its cache or else its source."""
    return [_layer(caps.root, caches)]


def _layer(layer: dict[str, Any], caches: dict[str, dict]) -> dict[str, Any]:
    conf: dict[str, Any] = {"title": layer["title"]}
    name = layer["name"]
    if name:
        conf["name"] = name
        conf["sources"] = [f"{name}_cache" if f"{name}_cache" in caches else f"{name}_wms"]
    if layer["abstract"]:
        conf["md"] = {"abstract": layer["abstract"]}
    children = [_layer(child, caches) for child in layer["layers"]]
    if children:
        conf["layers"] = children
    return conf


def seeds(caches: dict[str, dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """A seed task and a cleanup task (removing everything) per cache and grid."""
    seed_tasks, cleanups = {}, {}
    for name, cache in caches.items():
        for grid in cache.get("grids") or []:
            task = f"{name}_{grid}"
            seed_tasks[task] = {"caches": [name], "grids": [grid]}
            cleanups[task] = {"caches": [name], "grids": [grid],
                              "remove_before": {"time": "1900-01-01T00:00:00"}}
    return seed_tasks, cleanups


def overwritten(conf: Any, overwrites: dict[str, Any]) -> Any:
    """``conf`` with ``overwrites`` merged in (dicts key by key, other values replace):
    ``__all__`` merges into every entry, ``key__extend__`` appends to the list at ``key``,
    ``___end`` / ``start___`` merge into every entry whose key ends / starts so."""
    if overwrites == {}:
        return conf
    if not isinstance(overwrites, dict) or not isinstance(conf, dict):
        return copy.deepcopy(overwrites)  # a list (of layers, say) replaces
    wildcards = []
    for key, value in overwrites.items():
        if key == "__all__":
            continue
        if key.startswith("___") or key.endswith("___"):
            wildcards.append(key)
        elif key.endswith("__extend__"):
            key = key.removesuffix("__extend__")
            if key not in conf:
                conf[key] = copy.deepcopy(value)
            elif isinstance(conf[key], list) and isinstance(value, list):
                conf[key].extend(copy.deepcopy(value))
            else:
                raise ValueError(f"cannot extend {key}: {key}__extend__ needs a list and {key} to be a list")
        elif key in conf and isinstance(conf[key], dict) and isinstance(value, dict):
            conf[key] = overwritten(conf[key], value)
        else:
            conf[key] = copy.deepcopy(value)
    if "__all__" in overwrites:
        _merge_into(conf, lambda _: True, overwrites["__all__"])
    for key in wildcards:
        if key.startswith("___"):
            _merge_into(conf, lambda k, end=key[3:]: k.endswith(end), overwrites[key])
        else:
            _merge_into(conf, lambda k, start=key[:-3]: k.startswith(start), overwrites[key])
    return conf


def _merge_into(conf: dict[str, Any], matches: Any, value: Any) -> None:
    for key in list(conf):
        if matches(key):
            conf[key] = overwritten(conf[key], value) if isinstance(conf[key], dict) else copy.deepcopy(value)


def geopackage_sections(path: str) -> dict[str, Any]:
    """services, grids, caches and layers for the tile tables of a GeoPackage, as
    mapproxy-util makes them: per table a grid ``<table>_<epsg>`` (the table's bbox and
    tile size, resolutions of levels 0..18 with missing levels extrapolated from the
    first two), a ``<table>_cache`` reading the file, and a layer."""
    import os
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = db.execute("SELECT table_name, min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents "
                            "WHERE data_type = 'tiles'").fetchall()
        conf: dict[str, Any] = {
            "services": {"demo": None, "tms": {"use_grid_names": True, "origin": "nw"},
                         "kml": {"use_grid_names": True}, "wmts": None, "wms": None},
            "grids": {}, "caches": {}, "layers": []}
        for table, minx, miny, maxx, maxy, srs_id in tables:
            matrix = db.execute("SELECT zoom_level, tile_width, tile_height, pixel_x_size, pixel_y_size "
                                "FROM gpkg_tile_matrix WHERE table_name = ? ORDER BY zoom_level", (table,)).fetchall()
            code = db.execute("SELECT organization_coordsys_id FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
                              (srs_id,)).fetchone()
            if not matrix or not code or not code[0]:
                continue
            grid = f"{table}_{code[0]}"
            conf["grids"][grid] = {"srs": f"EPSG:{code[0]}", "tile_size": [matrix[0][1], matrix[0][2]],
                                   "bbox": [minx, miny, maxx, maxy], "res": _gpkg_resolutions(matrix),
                                   "origin": "nw"}
            conf["caches"][f"{table}_cache"] = {
                "sources": [], "grids": [grid],
                "cache": {"type": "geopackage", "filename": os.path.abspath(path), "table_name": table}}
            conf["layers"].append({"name": table, "title": table, "sources": [f"{table}_cache"]})
    return conf


def _gpkg_resolutions(matrix: list[tuple]) -> list[float]:
    """Resolutions of levels 0..18 from (zoom, tile width, tile height, x res, y res) rows."""
    by_level = {row[0]: row for row in matrix}
    first = matrix[0]
    factor = 2.0
    if len(matrix) > 1:
        factor = (first[4] / matrix[1][4]) / (matrix[1][0] - first[0])
    level0 = first[3] if first[0] == 0 else first[3] * (factor ** first[0])
    res = [by_level[0][3] if 0 in by_level else level0]
    for level in range(1, 19):
        res.append(by_level[level][3] if level in by_level else level0 / (factor ** level))
    return res
