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
