"""The ``coverages`` section of seed.yaml, read with ``tileproxy.coverage``.

File names (``datasource``, ``expire_tiles``) are relative to seed.yaml, or to the
proxy configuration as MapProxy documents it, whichever holds the file. Entries
of ``union``/``intersection``/``difference`` may name other coverages of the
section."""

from __future__ import annotations

import os
from typing import Any

from ..config.errors import ConfigError, join_path
from ..coverage import Coverage, CoverageError, Warn, load_coverage


def load_coverages(raw: Any, base_dir: str, proxy_dir: str | None = None,
                   warn: Warn | None = None) -> dict[str, Coverage]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping of coverage names to coverages", "coverages")
    out: dict[str, Coverage] = {}
    for name, conf in raw.items():
        path = join_path("coverages", name)

        def named(ref: str, _path: str = path, _name: Any = name) -> dict:
            if ref not in raw or ref == _name:
                raise CoverageError(f"unknown coverage '{ref}'", _path)
            return _with_files_found(raw[ref], base_dir, proxy_dir)

        try:
            coverage = load_coverage(_with_files_found(conf, base_dir, proxy_dir), base_dir, path, named, warn)
        except CoverageError as ex:
            raise ConfigError(str(ex), ex.path or path) from None
        except RecursionError:
            raise ConfigError("coverages name each other in a loop", path) from None
        if coverage.is_empty:
            raise ConfigError("the coverage is empty (no area)", path)
        out[str(name)] = coverage
    return out


_FILE_KEYS = ("datasource", "polygons", "ogr_datasource", "expire_tiles")


def _with_files_found(conf: Any, base_dir: str, proxy_dir: str | None) -> Any:
    """``conf`` with relative file names made absolute: in ``base_dir`` when the
    file is there, else in ``proxy_dir`` when it is there (nested entries too)."""
    if isinstance(conf, list):
        return [_with_files_found(c, base_dir, proxy_dir) for c in conf]
    if not isinstance(conf, dict):
        return conf
    out = {}
    for key, value in conf.items():
        if key in _FILE_KEYS and isinstance(value, str) and proxy_dir and not os.path.isabs(value):
            here = os.path.join(base_dir, os.path.expanduser(value))
            there = os.path.join(proxy_dir, os.path.expanduser(value))
            if not os.path.exists(here) and os.path.exists(there):
                value = there
        out[key] = _with_files_found(value, base_dir, proxy_dir)
    return out
