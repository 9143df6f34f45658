"""mapproxy.yaml configurations for tests, built as dicts: WMS and tile sources on
the local source server, the usual layer -> cache -> source chain, and a debug
cache per backend. ``dump`` writes a dict as YAML; the make_app fixture takes a
dict and fills in ``{source}`` (the source server's URL)."""

from __future__ import annotations

import copy
from pathlib import Path
from textwrap import dedent

import yaml

# names of the osm layer -> osm_cache -> osm_wms chain several tests use
OSM = {"layer_name": "osm", "title": "OSM", "cache_name": "osm_cache", "source_name": "osm_wms"}
# globals: caches under ./cache_data (next to the config)
CACHE_DATA = {"cache": {"base_dir": "./cache_data"}}
# globals: images not paletted (exact colours)
NO_PALETTE = {"image": {"paletted": False}}


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:  # a list used twice is written twice
        return True


def dump(config: dict) -> str:
    """YAML text of a config dict, keys in their order."""
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False)


def config_text(config: dict | str, source_url: str = "") -> str:
    """The mapproxy.yaml text of ``config``: a dict (see ``dump``), or YAML text
    (dedented); ``{source}`` in it becomes ``source_url``."""
    text = dump(config) if isinstance(config, dict) else dedent(config)
    return text.replace("{source}", source_url)


def write_config(path: Path, config: dict | str, source_url: str = "") -> Path:
    """Write ``config`` (see ``config_text``) to ``path``; returns ``path``."""
    path.write_text(config_text(config, source_url))
    return path


def merge(base: dict, *changes: dict) -> dict:
    """A deep copy of ``base`` with ``changes`` merged in: dicts key by key, any
    other value replaces (``None`` too)."""
    out = copy.deepcopy(base)
    for change in changes:
        for key, value in change.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def put(config: dict, path: str, value: object) -> dict:
    """``config``, changed in place, with ``value`` set at the dotted ``path`` (list items by number)."""
    *parents, last = [int(key) if key.isdigit() else key for key in path.split(".")]
    node = config
    for key in parents:
        node = node[key]
    node[last] = value
    return config


def fill(config: object, **values: str) -> object:
    """A copy of ``config`` with ``{name}`` in its strings replaced by ``values[name]``."""
    if isinstance(config, dict):
        return {key: fill(value, **values) for key, value in config.items()}
    if isinstance(config, list):
        return [fill(value, **values) for value in config]
    if isinstance(config, str):
        for name, value in values.items():
            config = config.replace("{" + name + "}", value)
    return config


def wms_source(url: str = "{source}/wms", layers: str = "base", **options: object) -> dict:
    """A WMS source on the local source server."""
    return {"type": "wms", "req": {"url": url, "layers": layers}, **options}


def tile_source(url: str, grid: str = "GLOBAL_WEBMERCATOR", **options: object) -> dict:
    """A tile source at the URL template ``url``."""
    return {"type": "tile", "grid": grid, "url": url, **options}


def layer(name: str, title: str, *sources: str) -> dict:
    """A ``layers:`` list entry."""
    return {"name": name, "title": title, "sources": list(sources)}


def cache(*sources: str, grid: str = "GLOBAL_WEBMERCATOR", meta_size: tuple[int, int] | None = (1, 1),
          meta_buffer: int = 0, **options: object) -> dict:
    """A cache on ``grid``; ``meta_size=None`` leaves meta_size and meta_buffer out."""
    entry: dict = {"grids": [grid], "sources": list(sources)}
    if meta_size is not None:
        entry.update(meta_size=list(meta_size), meta_buffer=meta_buffer)
    return {**entry, **options}


def cache_config(sources: dict[str, dict], *, source_name: str, layer_name: str = "l", title: str = "L",
                 cache_name: str = "c", grid: str = "GLOBAL_WEBMERCATOR",
                 meta_size: tuple[int, int] | None = (1, 1), meta_buffer: int = 0, cache_options: dict | None = None,
                 services: dict | None = None, globals: dict | None = None) -> dict:
    """One layer over one cache over ``source_name``, one of ``sources``; TMS unless
    ``services`` says otherwise; ``cache_options`` are more keys of the cache."""
    config = {
        "services": {"tms": None} if services is None else services,
        "layers": [layer(layer_name, title, cache_name)],
        "caches": {cache_name: cache(source_name, grid=grid, meta_size=meta_size, meta_buffer=meta_buffer,
                                     **(cache_options or {}))},
        "sources": sources,
    }
    if globals is not None:
        config["globals"] = globals
    return copy.deepcopy(config)  # shares nothing with the caller's dicts


def wms_cache_config(*, source_name: str = "wms", url: str = "{source}/wms", source_options: dict | None = None,
                     **kwargs: object) -> dict:
    """``cache_config`` over a WMS source; ``source_options`` are more keys of the source."""
    return cache_config({source_name: wms_source(url, **(source_options or {}))}, source_name=source_name,
                        **kwargs)  # type: ignore[arg-type]


def write_debug_config(tmp_path: Path, backend: dict | str = "type: file", base_dir: str = "./cache",
                       **options: object) -> Path:
    """``debug_cache_config`` written to ``tmp_path/mapproxy.yaml``."""
    return write_config(tmp_path / "mapproxy.yaml", debug_cache_config(backend, base_dir, **options))  # type: ignore[arg-type]


def debug_layers_config(*names: str, grid: str = "GLOBAL_WEBMERCATOR", source_type: str = "debug") -> dict:
    """Layers ``names``, all over cache ``dbg`` (1x1 meta tiles on ``grid``) of a debug
    source, served over TMS and the demo; caches under ./cache."""
    return {
        "services": {"tms": None, "demo": None},
        "layers": [layer(name, name, "dbg") for name in names],
        "caches": {"dbg": cache("dbg_src", grid=grid)},
        "sources": {"dbg_src": {"type": source_type}},
        "globals": {"cache": {"base_dir": "./cache"}},
    }


def debug_cache_config(backend: dict | str, base_dir: str = "./cache", *, grid: str = "GLOBAL_WEBMERCATOR",
                       sources: tuple[str, ...] = ("dbg",), meta_size: tuple[int, int] = (1, 1),
                       wms: bool = True, wms_url: str | None = None) -> dict:
    """A layer ``c`` over a cache of ``sources``: ``dbg``, a debug source, and with
    ``wms_url`` a WMS source ``wms`` there; served over TMS (grid names) and, with
    ``wms``, WMS in EPSG:3857; ``backend`` is the ``cache:`` block, as a dict or as the
    YAML of one (``"type: mbtiles"``)."""
    if isinstance(backend, str):
        backend = yaml.safe_load(backend)
    services: dict = {"tms": {"use_grid_names": True}}
    if wms:
        services["wms"] = {"srs": ["EPSG:3857"]}
    return {
        "services": services,
        "layers": [layer("c", "c", "c")],
        "caches": {"c": cache(*sources, grid=grid, meta_size=meta_size, cache=backend)},
        "sources": {"dbg": {"type": "debug"}, **({"wms": wms_source(f"{wms_url}/wms")} if wms_url else {})},
        "globals": {"cache": {"base_dir": base_dir}},
    }
