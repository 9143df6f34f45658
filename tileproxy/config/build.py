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
from .loader import FileReader, load_config_files, origin_of
from .model import ProxyConfig
from .schema import validate
from .services import build_services, check_dataset_layers
from .sources import source
from .spec import MAPPROXY_YAML

log = logging.getLogger("tileproxy.config")


def load_proxy_config(path: str | Path, read: FileReader = Path.read_bytes) -> ProxyConfig:
    """Load, validate and build a mapproxy.yaml; errors and warnings name the file and key path.
    ``read`` reads each YAML file's bytes."""
    path = Path(path)
    origins: dict[str, Path] = {}
    raw, files = load_config_files(path, origins=origins, read=read)
    try:
        warnings = validate(raw, MAPPROXY_YAML)
        config = build_proxy_config(raw, path.resolve().parent, files)
    except ConfigError as ex:
        raise ex.with_file(_shown_file(origin_of(ex.path, origins, path), path)) from None
    config.warnings = warnings + config.warnings
    config.skipped = {key: f"{_shown_file(origin_of(key, origins, path), path)}: {problem}"
                      for key, problem in config.skipped.items()}
    for warning in config.warnings:
        key_path = warning.partition(": ")[0]
        log.warning("%s: %s", _shown_file(origin_of(key_path, origins, path), path), warning)
    return config


def build_proxy_config(raw: dict, conf_dir: Path, files: list[Path]) -> ProxyConfig:
    """The layers first, with the caches, sources and grids they use; then what no
    layer uses, which MapProxy never builds: there an error is a warning and the
    entry is left out (``skipped``), so the rest is served."""
    ctx = BuildContext(raw, conf_dir)
    layers = build_layers(ctx)
    skipped: dict[str, str] = {}
    for section, build in (("grids", grid), ("sources", _source), ("caches", cache)):
        done = {"grids": ctx.grids, "sources": ctx.sources, "caches": ctx.caches}[section]
        for name in ctx.section(section):
            if name in done:
                continue
            said = len(ctx.warnings)
            try:
                build(ctx, name, join_path(section, name))
            except ConfigError as ex:
                del ctx.warnings[said:]  # about an entry that is left out anyway
                where = f"{ex.path}: " if ex.path else ""
                ctx.warn(join_path(section, name), f"used by no layer and left out: {where}{ex.message}")
                skipped[join_path(section, name)] = str(ex)
    services = build_services(ctx)
    check_dataset_layers(services, layers)
    return ProxyConfig(
        files=files,
        warnings=ctx.warnings,
        globals=ctx.globals,
        grids=ctx.grids,
        sources=_in_order(ctx.sources, ctx.section("sources")),
        caches=_in_order(ctx.caches, ctx.section("caches")),
        layers=layers,
        services=services,
        skipped=skipped,
    )


def _source(ctx: BuildContext, name: str, path: str) -> object:
    return source(ctx, name)


def _in_order(built: dict, section: dict) -> dict:
    """``built`` in the order its entries are written in the configuration."""
    return {name: built[name] for name in section if name in built}


def _shown_file(file: Path, main: Path) -> str:
    """The main file as the user named it, base files with their full path."""
    return str(main) if file == main.resolve() else str(file)
