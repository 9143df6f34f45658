"""``layers``: the layer tree, its sources resolved, and layer ``dimensions``."""

from __future__ import annotations

from typing import Any

from .caches import cache, source_ref
from .context import BuildContext
from .dimensions import Dimension, dimension_values
from .errors import ConfigError, join_path
from .grids import res_limits
from .model import LayerConfig


def build_layers(ctx: BuildContext) -> list[LayerConfig]:
    """The top-level layers (a list, or MapProxy's legacy ``{name: {title, sources}}``)."""
    raw = ctx.raw.get("layers") or []
    if isinstance(raw, dict):
        raw = [{"name": k, **(v or {})} for k, v in raw.items()]
    return [_layer(ctx, conf, join_path("layers", i)) for i, conf in enumerate(raw)]


def _layer(ctx: BuildContext, conf: dict, path: str) -> LayerConfig:
    if "title" not in conf:
        raise ConfigError("missing required key 'title'", path)
    for key in ("sources", "tile_sources"):
        for i, ref in enumerate(conf.get(key) or []):
            name = ref.partition(":")[0]
            if name not in ctx.section("sources") and name not in ctx.section("caches"):
                raise ConfigError(f"unknown source or cache '{name}'", join_path(join_path(path, key), i))
    resolved: list[Any] = []
    for i, ref in enumerate(conf.get("sources") or []):
        name = ref.partition(":")[0]
        if name in ctx.section("caches"):
            resolved_cache = cache(ctx, name, join_path(join_path(path, "sources"), i))
            if conf.get("dimensions") and not all(m.keeps_dimensions for m in resolved_cache.managers.values()):
                ctx.warn(path, f"cache '{name}' cannot keep tiles of different dimension values apart "
                               "(a file cache or disable_storage: true can); its tiles ignore the dimensions")
            resolved.append(resolved_cache)
        else:
            resolved.append(source_ref(ctx, ref, join_path(join_path(path, "sources"), i)))
    min_res, max_res = res_limits(conf)
    children = [_layer(ctx, c, join_path(join_path(path, "layers"), i)) for i, c in enumerate(conf.get("layers") or [])]
    return LayerConfig(
        name=conf.get("name"),
        title=str(conf["title"]),
        sources=list(conf.get("sources") or []),
        tile_sources=None if conf.get("tile_sources") is None else list(conf["tile_sources"]),
        layers=children,
        md=dict(conf.get("md") or {}),
        min_res=min_res,
        max_res=max_res,
        legendurl=conf.get("legendurl"),
        path=path,
        source_objects=resolved,
        dimensions=_dimensions(conf.get("dimensions"), join_path(path, "dimensions")),
        wmts_kvp_legendurl=conf.get("wmts_kvp_legendurl"),
        wmts_rest_legendurl=conf.get("wmts_rest_legendurl"),
        nominal_scale=_nominal_scale(conf),
    )


def _dimensions(conf: Any, path: str) -> dict[str, Dimension]:
    """Layer ``dimensions``: name -> values (ISO 8601 intervals expanded) and default."""
    result: dict[str, Dimension] = {}
    for name, dim in (conf or {}).items():
        dpath = join_path(path, name)
        if not isinstance(dim, dict) or not dim.get("values"):
            raise ConfigError("expected a mapping with values (and default)", dpath)
        raw = dim["values"] if isinstance(dim["values"], list) else [dim["values"]]
        try:
            values = dimension_values(str(name), raw)
        except ValueError as ex:
            raise ConfigError(str(ex), join_path(dpath, "values")) from None
        default = str(dim.get("default", values[-1]))
        result[str(name).lower()] = Dimension(str(name).lower(), values, default)
    return result



def _nominal_scale(conf: dict) -> float | None:
    """``nominal_scale``, else ``nominal_res`` as an OGC scale (0.28 mm pixels)."""
    if conf.get("nominal_scale"):
        return float(conf["nominal_scale"])
    if conf.get("nominal_res"):
        return float(conf["nominal_res"]) / 0.00028
    return None
