"""Mapnik XML maps rendered in-process with the Mapnik Python bindings
(``pip install mapnik``), imported only when a mapnik source is configured."""

from __future__ import annotations

import copy
import logging
import os
import threading
from types import ModuleType

from ..image.result import ImageResult
from ..srs import SRS
from .base import MapQuery, Source, SourceError
from .limits import NO_LIMITS, SourceLimits

log = logging.getLogger("tileproxy.source.mapnik")


_ENV_KEYS = ("PROJ_LIB", "PROJ_DATA", "GDAL_DATA")


class MapnikMissing(ImportError):
    pass


def import_mapnik(use_mapnik2: bool = False) -> ModuleType:
    """The bindings, or MapnikMissing with a message that says how to get them."""
    names = ("mapnik2", "mapnik") if use_mapnik2 else ("mapnik",)
    # the PyPI bindings point PROJ_LIB and GDAL_DATA at their own copies when imported,
    # which breaks the system's PROJ in subprocesses (mapserv, gdalinfo): put them back
    saved = {key: os.environ.get(key) for key in _ENV_KEYS}
    for name in names:
        try:
            return __import__(name)
        except ImportError:
            continue
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    raise MapnikMissing(
        "the Mapnik Python bindings are not installed for this Python; install them with "
        "'pip install mapnik' (or your system's python3-mapnik for the system Python)"
    )


def _mapnik_srs(srs: SRS) -> str:
    if srs == SRS("EPSG:3857"):
        return "epsg:3857"
    return srs.code.lower() if srs.code.upper().startswith("EPSG:") else srs.crs.to_proj4()


class MapnikSource(Source):
    """Renders ``mapfile`` for each query. Maps are loaded on first use; with
    ``multithreaded`` every thread keeps its own map and renders in parallel,
    otherwise one map renders one query at a time."""

    def __init__(
        self,
        name: str,
        mapfile: str,
        layers: list[str] | None = None,
        transparent: bool = False,
        scale_factor: float | None = None,
        multithreaded: bool = False,
        use_mapnik2: bool = False,
        limits: SourceLimits = NO_LIMITS,
    ):
        super().__init__(name, transparent, limits)
        self.mapfile = mapfile
        self.layers = set(layers) if layers else None
        self.scale_factor = scale_factor
        self.multithreaded = multithreaded
        self.mapnik = import_mapnik(use_mapnik2)
        self._local = threading.local()
        self._shared: dict = {}
        self._lock = threading.Lock()

    def with_layers(self, layers: list[str]) -> MapnikSource:
        """A copy that draws only ``layers`` (a tagged reference ``name:l1,l2``), with
        maps of its own."""
        clone = copy.copy(self)
        clone.layers = set(layers)
        clone._local = threading.local()
        clone._shared = {}
        clone._lock = threading.Lock()
        return clone

    def _load(self, size: tuple[int, int]):
        mapnik = self.mapnik
        m = mapnik.Map(*size)
        try:
            mapnik.load_map(m, self.mapfile)
        except RuntimeError as ex:
            log.error("mapnik source '%s': cannot load %s: %s", self.name, self.mapfile, ex)
            raise SourceError(f"mapnik source '{self.name}': cannot load the map ({_short(ex)})") from None
        if self.layers is not None:
            for layer in m.layers:
                # unnamed layers always draw
                layer.active = layer.name in self.layers or layer.name in ("", "Unknown")
        if self.transparent:
            m.background = mapnik.Color(0, 0, 0, 0)
        return m

    def _map(self, size: tuple[int, int]):
        """A loaded map of ``size`` pixels (the bindings cannot resize a map), one per
        thread with ``multithreaded``."""
        if self.multithreaded:
            maps = getattr(self._local, "maps", None)
            if maps is None:
                maps = self._local.maps = {}
        else:
            maps = self._shared
        if size not in maps:
            if len(maps) >= 8:
                maps.clear()
            maps[size] = self._load(size)
        return maps[size]

    def draw(self, query: MapQuery) -> ImageResult:
        if self.multithreaded:
            return self._render(self._map(query.size), query)
        with self._lock:
            return self._render(self._map(query.size), query)

    def _render(self, m, query: MapQuery) -> ImageResult:
        mapnik = self.mapnik
        w, h = query.size
        m.srs = _mapnik_srs(query.srs)
        m.zoom_to_box(mapnik.Box2d(*query.bbox))
        img = mapnik.Image(w, h)
        try:
            if self.scale_factor:
                mapnik.render(m, img, self.scale_factor)
            else:
                mapnik.render(m, img)
        except RuntimeError as ex:
            log.error("mapnik source '%s': rendering %s failed: %s", self.name, self.mapfile, ex)
            raise SourceError(f"mapnik source '{self.name}': rendering failed ({_short(ex)})") from None
        result = ImageResult(data=img.to_string("png32"), mime="image/png")
        if not self.transparent:
            return ImageResult(image=result.image.convert("RGB"))
        return result


def _short(ex: Exception) -> str:
    text = " ".join(str(ex).split())
    return text[:200]
