"""Read YAML configuration files: ``base:`` includes, ``${ENV}`` expansion, merging."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand_env(value: Any) -> Any:
    """Replace ``$VAR`` and ``${VAR}`` in every string; unset variables stay as written."""
    if isinstance(value, str):
        if "$" not in value:
            return value
        return _ENV_RE.sub(lambda m: os.environ.get(m.group(1) or m.group(2), m.group(0)), value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


def merge_dicts(base: dict, overlay: dict) -> dict:
    """Recursive merge: ``overlay`` wins, nested dicts are merged key by key."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as ex:
        raise ConfigError(f"cannot read configuration: {ex.strerror}", file=str(path)) from None
    if "\t" in text.split("#", 1)[0] or any("\t" in line.split("#", 1)[0] for line in text.splitlines()):
        for lineno, line in enumerate(text.splitlines(), 1):
            if "\t" in line.split("#", 1)[0]:
                raise ConfigError(f"line {lineno}: tabs are not allowed in YAML, use spaces", file=str(path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(ex, "problem", None) or str(ex)
        raise ConfigError(f"{where}invalid YAML: {problem}", file=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections", file=str(path))
    return data


def load_config_files(
    path: str | Path, _seen: tuple[Path, ...] = (), origins: dict[str, Path] | None = None
) -> tuple[dict, list[Path]]:
    """Load ``path`` with its ``base`` files merged in first. Returns the merged
    dict (env vars expanded) and every file read, for reloading.

    ``origins``, when given, is filled with the file that last set each section
    (``caches``) and each entry of a section (``caches.osm``), for error messages."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError("base files include each other in a loop", file=str(path))
    data = read_yaml(path)
    files = [path]
    bases = data.pop("base", None)
    if bases:
        if isinstance(bases, str):
            bases = [bases]
        if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
            raise ConfigError("base: expected a file name or a list of file names", file=str(path))
        merged: dict = {}
        for base in bases:
            base_path = (path.parent / os.path.expandvars(base)).resolve()
            base_data, base_files = load_config_files(base_path, _seen + (path,), origins)
            merged = merge_dicts(merged, base_data)
            files += base_files
        _note_origins(data, path, origins)
        data = merge_dicts(merged, data)
    else:
        _note_origins(data, path, origins)
    return expand_env(data), files


def _note_origins(data: dict, path: Path, origins: dict[str, Path] | None) -> None:
    if origins is None:
        return
    for section, value in data.items():
        origins[str(section)] = path
        if isinstance(value, dict):
            for key in value:
                origins[f"{section}.{key}"] = path


def origin_of(key_path: str, origins: dict[str, Path], default: Path) -> Path:
    """The file that holds ``key_path`` (``caches.osm.grids[0]``) as far as ``origins`` know."""
    parts = re.split(r"[.\[]", key_path, maxsplit=2)
    for depth in (2, 1):
        key = ".".join(parts[:depth])
        if len(parts) >= depth and key in origins:
            return origins[key]
    return default
