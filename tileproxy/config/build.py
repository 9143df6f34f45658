"""Turn a validated mapproxy.yaml dict into runtime objects, once.

The sections are built in their own modules: grids, sources (and source_options),
caches, layers, services, image_options; context holds what they share."""

from __future__ import annotations

import logging
from pathlib import Path

from .caches import cache
from .context import BuildContext
from .errors import ConfigError, join_path
from .grids import grid
from .layers import build_layers
from .loader import load_config_files, origin_of
from .model import ProxyConfig
from .schema import validate
from .services import build_services
from .sources import build_source
from .spec import MAPPROXY_YAML

log = logging.getLogger("tileproxy.config")


def load_proxy_config(path: str | Path) -> ProxyConfig:
    """Load, validate and build a mapproxy.yaml; errors name the file and key path."""
    path = Path(path)
    origins: dict[str, Path] = {}
    raw, files = load_config_files(path, origins=origins)
    try:
        warnings = validate(raw, MAPPROXY_YAML)
        config = build_proxy_config(raw, path.resolve().parent, files)
    except ConfigError as ex:
        raise ex.with_file(_shown_file(origin_of(ex.path, origins, path), path)) from None
    for warning in warnings:
        log.warning("%s: %s", _shown_file(origin_of(warning, origins, path), path), warning)
    config.warnings = warnings
    return config


def build_proxy_config(raw: dict, conf_dir: Path, files: list[Path]) -> ProxyConfig:
    """Grids, then sources, then caches (which reference both), then layers and services."""
    ctx = BuildContext(raw, conf_dir)
    for name in ctx.section("grids"):
        grid(ctx, name, join_path("grids", name))
    for name, conf in ctx.section("sources").items():
        ctx.sources[name] = build_source(ctx, name, conf, join_path("sources", name))
    for name in ctx.section("caches"):
        cache(ctx, name, join_path("caches", name))
    layers = build_layers(ctx)
    return ProxyConfig(
        files=files,
        warnings=[],
        globals=ctx.globals,
        grids=ctx.grids,
        sources=ctx.sources,
        caches=ctx.caches,
        layers=layers,
        services=build_services(ctx),
    )


def _shown_file(file: Path, main: Path) -> str:
    """The main file as the user named it, base files with their full path."""
    return str(main) if file == main.resolve() else str(file)
