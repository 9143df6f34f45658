"""Read YAML configuration files: ``base:`` includes, ``${ENV}`` expansion, merging."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
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


# lists a file sets as a whole; other lists add to the base file's
_WHOLE_LISTS = frozenset({"bbox", "tile_size", "max_output_pixels", "sources", "grids", "res"})


def merge_dicts(base: dict, overlay: dict) -> dict:
    """``overlay`` (a file) over ``base`` (its base files) as MapProxy merges them:
    mappings key by key (an empty value keeps the base's), lists added to the base's
    (``bbox``, ``tile_size``, ``max_output_pixels``, ``sources``, ``grids`` and ``res``
    replaced, an empty list deletes the base's), ``layers`` merged by name, anything
    else replaced."""
    out = dict(base)
    for key, value in overlay.items():
        old = out.get(key)
        if key not in out or value is None and isinstance(old, (dict, list)):
            out[key] = old if key in out else value
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge_dicts(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            if key == "layers":
                out[key] = _merge_layers(old, value)
            elif key in _WHOLE_LISTS:
                out[key] = value
            else:
                out[key] = old + value if value else None
        else:
            out[key] = value
    return out


def _merge_layers(base: list, overlay: list) -> list:
    """Layers of a file over its base's: one with a base layer's name is merged into
    it (in the base's place), the others follow."""
    named = {layer["name"]: layer for layer in overlay if isinstance(layer, dict) and "name" in layer}
    out = []
    for layer in base:
        name = layer.get("name") if isinstance(layer, dict) else None
        if name in named:
            out.append(merge_dicts(layer, named.pop(name)))
        else:
            out.append(layer)
    return out + [layer for layer in overlay if not (isinstance(layer, dict) and "name" in layer)
                  or layer["name"] in named]


FileReader = Callable[[Path], bytes]


def read_yaml(path: Path, read: FileReader = Path.read_bytes) -> dict:
    """One YAML file read as MapProxy reads it: bytes (a BOM picks the encoding), parsed
    by libyaml where PyYAML has it, which takes tabs between tokens (``key: value\t#
    note``) as spaces; only tabs that indent are refused."""
    try:
        data_bytes = read(path)
    except OSError as ex:
        raise ConfigError(f"cannot read configuration: {ex.strerror}", file=str(path)) from None
    try:
        data = parse_yaml(data_bytes)
    except yaml.YAMLError as ex:
        raise ConfigError(_yaml_problem(ex, data_bytes), file=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections", file=str(path))
    return data


_LOADER = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


def parse_yaml(data: bytes | str) -> Any:
    """Safe YAML loading with libyaml's reading of tabs, also where PyYAML lacks libyaml:
    its pure Python scanner refuses a tab between tokens, so such a tab is read as a
    space and the text parsed again."""
    if _LOADER is not yaml.SafeLoader:
        return yaml.load(data, Loader=_LOADER)
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    for _ in range(text.count("\t") + 1):
        try:
            return yaml.load(text, Loader=yaml.SafeLoader)
        except yaml.scanner.ScannerError as ex:
            at = ex.problem_mark.index if ex.problem_mark else -1
            if not (0 <= at < len(text) and text[at] == "\t" and _separates(text, at)):
                raise
            text = text[:at] + " " + text[at + 1:]
    return yaml.load(text, Loader=yaml.SafeLoader)


def _separates(text: str, at: int) -> bool:
    """True when the tab at ``at`` stands between tokens: not in the line's indentation,
    and after an indicator (``key:\tvalue``) or before a comment or the line's end
    (a tab inside a plain scalar, ``foo\tbar``, is part of its value)."""
    line_start = text.rfind("\n", 0, at) + 1
    before = text[line_start:at].rstrip(" \t")
    if not before:
        return False
    after = text[at:].lstrip(" \t")
    return before[-1] in ":,-[]{}?" or after[:1] in ("#", "\n", "\r", "")


def _yaml_problem(ex: yaml.YAMLError, data: bytes) -> str:
    mark = getattr(ex, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    lines = data.decode("utf-8", "replace").splitlines()
    if mark and mark.line < len(lines) and lines[mark.line][mark.column:mark.column + 1] == "\t":
        return f"{where}a tab indents this line; YAML indents with spaces"
    problem = getattr(ex, "problem", None) or str(ex)
    return f"{where}invalid YAML: {problem}"


def load_config_files(
    path: str | Path, _seen: tuple[Path, ...] = (), origins: dict[str, Path] | None = None,
    read: FileReader = Path.read_bytes,
) -> tuple[dict, list[Path]]:
    """Load ``path`` with its ``base`` files merged in first. Returns the merged
    dict (env vars expanded) and every file read, for reloading.

    ``origins``, when given, is filled with the file whose value counts for each
    section (``caches``) and each entry of a section (``caches.osm``), for messages.
    ``read`` reads a file's bytes (the last good snapshot replaces it)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError("base files include each other in a loop", file=str(path))
    data = read_yaml(path, read)
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
            found: dict[str, Path] | None = {} if origins is not None else None
            base_data, base_files = load_config_files(base_path, _seen + (path,), found, read)
            merged = merge_dicts(base_data, merged)  # as in MapProxy, earlier base files win
            for key, file in (found or {}).items():
                origins.setdefault(key, file)  # type: ignore[union-attr]
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
