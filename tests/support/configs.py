"""mapproxy.yaml text many tests share: WMS sources on the local source server and
the usual layer -> cache -> source chain. The make_app fixture fills in ``{source}``."""

from __future__ import annotations

from textwrap import dedent, indent

import yaml

TMS = "services:\n  tms:\n"
NO_PALETTE = "globals:\n  image:\n    paletted: false\n"
CACHE_DATA = "globals:\n  cache:\n    base_dir: ./cache_data\n"
# names of the osm layer -> osm_cache -> osm_wms chain several tests use
OSM = {"layer_name": "osm", "title": "OSM", "cache_name": "osm_cache", "source_name": "osm_wms"}


def lines(text: str) -> str:
    """``text`` ending in a newline (empty stays empty)."""
    return text if not text or text.endswith("\n") else text + "\n"


def nested(text: str) -> str:
    """Option lines written flush left, indented as keys of a cache or source."""
    return lines(indent(text, "    "))


def wms_source(name: str = "wms", url: str = "{source}/wms", layers: str = "base") -> str:
    """A ``sources:`` entry: a WMS source on the local source server."""
    return f"  {name}:\n    type: wms\n    req:\n      url: {url}\n      layers: {layers}\n"


def tile_source(name: str, url: str, grid: str = "GLOBAL_WEBMERCATOR") -> str:
    """A ``sources:`` entry: a tile source at the URL template ``url``."""
    return f"  {name}:\n    type: tile\n    grid: {grid}\n    url: {url}\n"


def layer(name: str, title: str, sources: str) -> str:
    """A ``layers:`` list entry."""
    return f"  - name: {name}\n    title: {title}\n    sources: [{sources}]\n"


def cache(name: str, sources: str, grid: str = "GLOBAL_WEBMERCATOR", meta_size: str | None = "[1, 1]",
          meta_buffer: int = 0) -> str:
    """A ``caches:`` entry; ``meta_size=None`` leaves meta_size and meta_buffer out."""
    text = f"  {name}:\n    grids: [{grid}]\n    sources: [{sources}]\n"
    if meta_size is not None:
        text += f"    meta_size: {meta_size}\n    meta_buffer: {meta_buffer}\n"
    return text


def cache_config(sources_yaml: str, *, source_name: str, layer_name: str = "l", title: str = "L",
                 cache_name: str = "c", grid: str = "GLOBAL_WEBMERCATOR", meta_size: str | None = "[1, 1]",
                 meta_buffer: int = 0, cache_yaml: str = "", head: str = TMS, tail: str = "") -> str:
    """One layer over one cache over ``source_name``, defined in ``sources_yaml``.
    ``cache_yaml`` holds more keys of the cache (4 spaces in); ``head`` comes first
    (services, globals), ``tail`` last."""
    return (head + "layers:\n" + layer(layer_name, title, cache_name)
            + "caches:\n" + cache(cache_name, source_name, grid, meta_size, meta_buffer) + lines(cache_yaml)
            + "sources:\n" + lines(sources_yaml) + lines(tail))


def wms_cache_config(*, source_name: str = "wms", url: str = "{source}/wms", source_yaml: str = "",
                     **kwargs) -> str:
    """``cache_config`` over a WMS source; ``source_yaml`` holds more keys of the source (4 spaces in)."""
    return cache_config(wms_source(source_name, url) + lines(source_yaml), source_name=source_name, **kwargs)


def debug_cache_config(backend: str, base_dir: str = "./cache") -> str:
    """A layer ``c`` over a 1x1-meta-tile cache of a debug source on
    GLOBAL_WEBMERCATOR, served over TMS (grid names) and WMS; ``backend`` is the
    ``cache:`` block's keys, written flush left."""
    block = indent(backend.strip("\n"), "      ")
    return f"""services:
  tms:
    use_grid_names: true
  wms:
    srs: ['EPSG:3857']
layers:
  - name: c
    title: c
    sources: [c]
caches:
  c:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [dbg]
    meta_size: [1, 1]
    meta_buffer: 0
    cache:
{block}
sources:
  dbg:
    type: debug
globals:
  cache:
    base_dir: {base_dir}
"""


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
