"""The cached-tile fast path: a stored tile in answer to a plain GET of the most used
tile URL forms, ``/tms/1.0.0/<layer>[/<grid>]/<z>/<x>/<y>.<ext>`` and WMTS REST
with the default template, ``/wmts/<layer>/<matrix set>/<z>/<x>/<y>.<ext>``.

Under gunicorn every Python call of a request costs several times what it costs in
a warm loop, so this path skips the general request and response machinery. It
answers only when the answer is certain to be the general path's: anything else
(another URL form, HEAD or conditional requests, an unknown layer, a tile outside
the grid, not stored, or under a refresh_before rule) gets None, and the general
path answers it with the same result a request before would have had.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config.model import WMTSConfig
from ..grid import TileCoord
from ..http import cache_headers, unsafe_segment
from ..layers import TileLayer
from ..tilecache.cache_status import HIT
from .tms import TMSService
from .wmts import WMTSService

_HIT = HIT.header()

# coordinates in the URL -> internal tile coordinates (None outside the grid)
ToInternal = Callable[[int, int, int], "TileCoord | None"]


# URL extensions worth knowing in advance (the layer's format decides which it takes)
_EXTENSIONS = ("png", "jpeg", "jpg", "gif", "tif", "tiff", "webp")


class _Entry:
    __slots__ = ("layer", "to_internal", "mime", "exts")

    def __init__(self, layer: TileLayer, to_internal: ToInternal):
        self.layer = layer
        self.to_internal = to_internal
        self.mime = layer.manager.format.mime
        fmt = layer.manager.format
        self.exts = frozenset(e for e in (*_EXTENSIONS, fmt.ext) if fmt.matches_ext(e))


def _eligible(layer: TileLayer, *names: str) -> bool:
    """Layers whose tiles go out as stored, with the layer's image type (no sniffing,
    no Vary for documents), under names the general path's path check lets through."""
    if any(unsafe_segment(n) for n in names):
        return False
    return layer.manager.format.mime.startswith("image/")


class FastTiles:
    """Built once per app from its TMS and WMTS services."""

    def __init__(self, tms: TMSService | None, wmts: WMTSService | None):
        self.tms: dict[int, _Entry] = {}  # id(layer) -> entry
        self.tms_names = tms.names if tms else None
        # the usual URL forms, resolved once: (layer, grid) and (layer or layer_grid, None)
        self.tms_paths: dict[tuple[str, str | None], _Entry] = {}
        self.wmts: dict[tuple[str, str], _Entry] = {}
        self.max_age_tms = tms.max_age if tms else 0
        self.max_age_wmts = wmts.max_age if wmts else 0
        if tms:
            for (name, gid), layer in tms.names.by_path.items():
                if _eligible(layer, name, gid):
                    tsg = tms.service_grid(layer)
                    self.tms[id(layer)] = _Entry(layer, lambda x, y, z, g=tsg: g.internal_coord(x, y, z))
            for name, gid in tms.names.by_path:
                for key in ((name, gid), (f"{name}_{gid}", None), (name, None)):
                    found = tms.names.find(*key)
                    if found is not None and id(found) in self.tms:
                        self.tms_paths.setdefault(key, self.tms[id(found)])
        if wmts and wmts.conf.restful and wmts.conf.restful_template == WMTSConfig.restful_template:
            for name, sets in wmts.layers.items():
                for set_name, layer in sets.items():
                    # layers with dimensions keep the tiles of their default values apart
                    if _eligible(layer, name, set_name) and not layer.dimensions:
                        ms = wmts.matrix_sets[set_name]
                        self.wmts[(name, set_name)] = _Entry(layer, lambda x, y, z, m=ms: m.internal_coord(z, x, y))

    def __bool__(self) -> bool:
        return bool(self.tms or self.wmts)

    def answer(self, environ: dict) -> tuple[list[tuple[str, str]], bytes] | None:
        """(headers, body) of a 200 answer, or None for the general path."""
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_IF_NONE_MATCH" in environ \
                or "HTTP_IF_MODIFIED_SINCE" in environ:
            return None
        parts = environ.get("PATH_INFO", "").split("/")
        n = len(parts)
        if (n == 8 or n == 7) and parts[1] == "tms" and parts[2] == "1.0.0" and self.tms_names is not None:
            name, grid_part = parts[3], (parts[4] if n == 8 else None)
            entry = self.tms_paths.get((name, grid_part))
            if entry is None:  # a rarer spelling (layer/part_of_grid ...): as the general path finds it
                if not name or grid_part == "" or unsafe_segment(name) or (grid_part and unsafe_segment(grid_part)):
                    return None
                layer = self.tms_names.find(name, grid_part)
                entry = self.tms.get(id(layer)) if layer is not None else None
            max_age = self.max_age_tms
        elif n == 7 and parts[1] == "wmts":
            entry = self.wmts.get((parts[2], parts[3]))
            max_age = self.max_age_wmts
        else:
            return None
        if entry is None or max_age <= 0:
            return None
        z, x, (y, dot, ext) = parts[-3], parts[-2], parts[-1].partition(".")
        digits = z + x + y
        # int() refuses more than 4,300 digits; no tile needs more than a few per number
        if not (dot and z and x and y and len(digits) <= 27 and digits.isdecimal() and digits.isascii()):
            return None
        layer = entry.layer
        if ext not in entry.exts and not layer.format.matches_ext(ext):
            return None
        coord = entry.to_internal(int(x), int(y), int(z))
        if coord is None:
            return None
        tile = layer.manager.stored_hit(coord)
        if tile is None or not tile.data or (tile.mime is not None and not tile.mime.startswith("image/")):
            return None
        data = tile.data
        headers = [("Content-Type", tile.mime or entry.mime)]
        cache_headers(headers, tile.timestamp, data, max_age)
        headers.append(("Cache-Status", _HIT))
        return headers, data
