"""``grids``: user grids (with ``base`` inheritance) and the predefined ones."""

from __future__ import annotations

import logging
from typing import Any

from ..grid import PREDEFINED_GRIDS, GridError, TileGrid, build_grid
from ..srs import SRSError
from .context import BuildContext
from .errors import ConfigError, join_path

log = logging.getLogger("tileproxy.config")


def grid(ctx: BuildContext, name: str, path: str) -> TileGrid:
    """The grid called ``name``, built once; ``path`` is where it is referenced."""
    if name in ctx.grids:
        return ctx.grids[name]
    if ctx.section("grids").get(name) is None:
        if name in PREDEFINED_GRIDS:
            ctx.grids[name] = build_grid(name=name, **PREDEFINED_GRIDS[name])
            return ctx.grids[name]
        raise ConfigError(f"unknown grid '{name}'", path)
    conf = grid_conf(ctx, name)
    gpath = join_path("grids", name)
    if conf.get("res"):
        for key in ("min_res", "max_res"):
            if conf.get(key) is not None:
                ctx.warn(join_path(gpath, key), "ignored: res lists the resolutions")
                conf.pop(key)
    try:
        result = build_grid(
            name=conf.get("name", name),
            srs=str(conf.get("srs", "EPSG:900913")),
            bbox=parse_bbox(conf.get("bbox"), join_path(gpath, "bbox")),
            bbox_srs=conf.get("bbox_srs"),
            tile_size=tuple(conf.get("tile_size") or ctx.g_grid.get("tile_size") or (256, 256)),
            res=conf.get("res"),
            res_factor=conf.get("res_factor", 2.0),
            num_levels=conf.get("num_levels"),
            min_res=conf.get("min_res"),
            max_res=conf.get("max_res"),
            threshold_res=conf.get("threshold_res"),
            stretch_factor=conf.get("stretch_factor", ctx.g_image.get("stretch_factor", 1.15)),
            max_shrink_factor=conf.get("max_shrink_factor", ctx.g_image.get("max_shrink_factor", 4.0)),
            origin=conf.get("origin", "sw"),
        )
    except (GridError, SRSError) as ex:
        raise ConfigError(str(ex), gpath) from None
    if "origin" not in conf:
        log.debug("grid %s has no origin, using sw (MapProxy's default)", name)
    ctx.grids[name] = result
    return result


def grid_conf(ctx: BuildContext, name: str, chain: tuple[str, ...] = ()) -> dict:
    """A grid's options with its ``base`` grid's options beneath."""
    if name in chain:
        raise ConfigError(f"grids inherit from each other in a loop: {' -> '.join(chain + (name,))}", join_path("grids", name))
    user = ctx.section("grids").get(name)
    if user is None:
        if name in PREDEFINED_GRIDS:
            return {k: list(v) if isinstance(v, tuple) else v for k, v in PREDEFINED_GRIDS[name].items()}
        raise ConfigError(f"unknown base grid '{name}'", join_path(join_path("grids", chain[-1]), "base"))
    conf = dict(user)
    base = conf.pop("base", None)
    if base:
        inherited = grid_conf(ctx, base, chain + (name,))
        inherited.pop("name", None)
        if "res" in conf:  # the grid's own resolutions replace how the base computes them
            for key in ("min_res", "max_res", "num_levels", "res_factor"):
                inherited.pop(key, None)
        conf = {**inherited, **conf}
    return conf


def srs_as_written(ctx: BuildContext, name: str) -> str:
    """A built grid's SRS code as the config spells it (cache layouts use it in paths)."""
    return str(grid_conf(ctx, name).get("srs", "EPSG:900913"))


def parse_bbox(value: Any, path: str) -> tuple[float, float, float, float] | None:
    """``[minx, miny, maxx, maxy]`` or ``"minx,miny,maxx,maxy"``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError:
            raise ConfigError(f"expected four numbers, got {value!r}", path) from None
    if len(value) != 4:
        raise ConfigError(f"expected four numbers (minx, miny, maxx, maxy), got {len(value)}", path)
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def res_limits(conf: dict) -> tuple[float | None, float | None]:
    """``min_res``/``max_res``, or the same from ``max_scale``/``min_scale``."""
    min_res, max_res = conf.get("min_res"), conf.get("max_res")
    # scale denominators at 0.28 mm per pixel; min_res is the coarse end, so it
    # comes from the large denominator (max_scale)
    if conf.get("max_scale") is not None:
        min_res = conf["max_scale"] * 0.00028
    if conf.get("min_scale") is not None:
        max_res = conf["min_scale"] * 0.00028
    return min_res, max_res
