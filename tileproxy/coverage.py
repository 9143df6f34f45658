"""Coverages: areas in some SRS (bbox, WKT, GeoJSON, expire-tiles lists and their
union/intersection/difference), asked whether they touch or hold a bbox.

Built from MapProxy's coverage options (``bbox``/``datasource``/``where``/``srs``,
the legacy ``polygons``/``bbox_srs``/``ogr_*`` keys, ``expire_tiles``, ``union``,
``intersection``, ``difference``); shapefiles, GeoPackage features and other OGR
data sources are read through ``tileproxy.ogr``. Geometries are transformed once per SRS and
prepared, so a test costs microseconds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import prep

from .ogr import OGRError, is_connection, read_polygons
from .srs import SRS, BBox, SRSError, get_srs


class CoverageError(ValueError):
    """A coverage that cannot be built; ``path`` names the key."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.path = path


class Coverage:
    """An area ``geom`` in ``srs``. ``made_from`` says how the configuration gave it,
    where that matters for following MapProxy (seed/area.py): ``"bbox"``, or
    ``(op, parts)`` for union/intersection/difference; None for a geometry."""

    made_from: Any = None

    def __init__(self, geom: BaseGeometry, srs: SRS, clip: bool = False):
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        self.geom = geom
        self.srs = srs
        self.clip = clip
        self.is_empty: bool = geom.is_empty
        self.bbox: BBox = tuple(geom.bounds) if not self.is_empty else (0.0, 0.0, -1.0, -1.0)  # type: ignore[assignment]
        self.written_bbox: BBox = self.bbox  # a configured bbox with its numbers as written (capabilities)
        # a coverage that is its own bounding box (a bbox, or a lon/lat box in Mercator)
        # answers from its bounds alone: the seeder asks once per meta tile it visits
        self._rectangle = _is_rectangle(geom, self.bbox)
        self._prepared = prep(geom)
        self._by_srs: dict[SRS, Coverage] = {srs: self}

    def transform_to(self, srs: SRS) -> Coverage:
        """This coverage in ``srs`` (cached)."""
        other = self._by_srs.get(srs)
        if other is None:
            other = Coverage(transform_geometry(self.geom, self.srs, srs), srs, self.clip)
            self._by_srs[srs] = other
        return other

    def _in(self, srs: SRS | None) -> Coverage:
        return self.transform_to(srs) if srs is not None and srs != self.srs else self

    def intersects(self, bbox: BBox, srs: SRS | None = None) -> bool:
        """True when ``bbox`` (in ``srs``, default the coverage's) shares area with the coverage."""
        cov = self._in(srs)
        minx, miny, maxx, maxy = cov.bbox
        if bbox[0] >= maxx or bbox[2] <= minx or bbox[1] >= maxy or bbox[3] <= miny:
            return False
        if cov._rectangle:
            return True
        b = box(*bbox)
        return cov._prepared.intersects(b) and not cov._prepared.touches(b)

    def contains(self, bbox: BBox, srs: SRS | None = None) -> bool:
        """True when ``bbox`` lies completely inside the coverage."""
        cov = self._in(srs)
        if cov._rectangle:
            minx, miny, maxx, maxy = cov.bbox
            return minx <= bbox[0] and miny <= bbox[1] and bbox[2] <= maxx and bbox[3] <= maxy
        return cov._prepared.covers(box(*bbox))

    def __repr__(self) -> str:
        return f"Coverage({self.geom.geom_type}, {self.srs.code}, bbox={self.bbox})"


def _is_rectangle(geom: BaseGeometry, bounds: BBox) -> bool:
    """True when ``geom`` is one polygon that fills its bounding box."""
    if geom.geom_type != "Polygon" or geom.interiors:
        return False
    area = (bounds[2] - bounds[0]) * (bounds[3] - bounds[1])
    return area > 0 and abs(geom.area - area) <= 1e-9 * area


def transform_geometry(geom: BaseGeometry, src: SRS, dst: SRS) -> BaseGeometry:
    if src == dst or geom.is_empty:
        return geom
    # add points along the edges so that curved results stay close to the truth
    minx, miny, maxx, maxy = geom.bounds
    step = max(maxx - minx, maxy - miny) / 64 or 1.0
    dense = shapely.segmentize(geom, step)
    src_srs, dst_srs = src, dst

    def fn(coords):
        pts = src_srs.transform_to(dst_srs, [tuple(c[:2]) for c in coords])
        return [p for p in pts]

    out = shapely.transform(dense, lambda arr: _as_array(fn(arr)))
    if not out.is_valid:
        out = shapely.make_valid(out)
    return out


def _as_array(points: list[tuple[float, float]]):
    import numpy as np

    return np.array(points, dtype=float).reshape(-1, 2)


def bbox_coverage(bbox: BBox, srs: SRS | str) -> Coverage:
    return Coverage(box(*bbox), srs if isinstance(srs, SRS) else get_srs(srs))


# -- building from configuration ----------------------------------------------


Warn = Callable[[str, str], None]  # (key path, message): a doubt that still loads


def combine_geoms(op: str, geoms: list[BaseGeometry]) -> BaseGeometry:
    """``union``, ``intersection`` or ``difference`` (the first minus the rest) of ``geoms``."""
    if op == "union":
        return shapely.union_all(geoms)
    if op == "intersection":
        combined = geoms[0]
        for g in geoms[1:]:
            combined = combined.intersection(g)
        return combined
    return geoms[0].difference(shapely.union_all(geoms[1:]))


def load_coverage(conf: dict[str, Any], base_dir: str = ".", path: str = "coverage",
                  named: Callable[[str], dict] | None = None, warn: Warn | None = None) -> Coverage:
    """A coverage from MapProxy coverage options; file names are relative to ``base_dir``.
    Raises CoverageError naming the key path."""
    if not isinstance(conf, dict):
        raise CoverageError("expected a mapping", path)
    clip = bool(conf.get("clip", False))
    for op in ("union", "intersection", "difference"):
        if op in conf:
            return _combined(op, conf[op], base_dir, f"{path}.{op}", clip, named, warn)
    if conf.get("expire_tiles"):
        geom = _expire_tiles(_file(conf["expire_tiles"], base_dir, f"{path}.expire_tiles"), f"{path}.expire_tiles")
        return Coverage(geom, get_srs("EPSG:3857"), clip)
    srs = _srs(conf, path)
    if "geometry" in conf:
        return Coverage(_parse_geometry_text(str(conf["geometry"]), f"{path}.geometry"), srs, clip)
    if "bbox" in conf:
        coverage = _from_bbox(_bbox(conf["bbox"], f"{path}.bbox"), srs, clip)
        if isinstance(conf["bbox"], list) and all(isinstance(v, (int, float)) for v in conf["bbox"]):
            coverage.written_bbox = tuple(conf["bbox"])  # type: ignore[assignment]
        return coverage
    source_key = next((k for k in ("datasource", "polygons", "ogr_datasource") if k in conf), None)
    if source_key is None:
        raise CoverageError("needs one of bbox, datasource, geometry, expire_tiles, union, intersection or difference", path)
    value = conf[source_key]
    key_path = f"{path}.{source_key}"
    if isinstance(value, (list, tuple)):
        return _from_bbox(_bbox(value, key_path), srs, clip)
    text = str(value)
    if _looks_like_bbox(text):
        return _from_bbox(_bbox(text, key_path), srs, clip)
    where = None if source_key == "polygons" else conf.get("ogr_where" if source_key == "ogr_datasource" else "where")
    if is_connection(text) and not os.path.exists(os.path.join(base_dir, text)):
        return Coverage(_ogr_geometry(text, where, key_path, warn), srs, clip)
    filename = _file(text, base_dir, key_path)
    kind = _text_geometry_kind(filename)
    if source_key == "polygons" or kind == "wkt" or (kind == "geojson" and not where):
        return Coverage(_read_geometry_file(filename, key_path), srs, clip)
    return Coverage(_ogr_geometry(filename, where, key_path, warn), srs, clip)


def _srs(conf: dict, path: str) -> SRS:
    for key in ("srs", "bbox_srs", "polygons_srs", "ogr_srs"):
        if conf.get(key):
            try:
                return get_srs(str(conf[key]))
            except SRSError as ex:
                raise CoverageError(str(ex), f"{path}.{key}") from None
    source = conf.get("datasource") or conf.get("polygons") or ""
    if conf.get("expire_tiles") or (isinstance(source, str) and source.lower().endswith((".geojson", ".json"))):
        return get_srs("EPSG:4326")  # GeoJSON is lon/lat unless told otherwise
    raise CoverageError("missing required key 'srs'", path)


def _combined(op: str, items: Any, base_dir: str, path: str, clip: bool, named: Callable[[str], dict] | None,
              warn: Warn | None) -> Coverage:
    if not isinstance(items, list) or not items:
        raise CoverageError("expected a list of coverages", path)
    parts = []
    for i, item in enumerate(items):
        if isinstance(item, str) and named is not None:
            item = named(item)
        parts.append(load_coverage(item, base_dir, f"{path}[{i}]", named, warn))
    srs = parts[0].srs
    geom = combine_geoms(op, [p.transform_to(srs).geom for p in parts])
    result = Coverage(geom, srs, clip)
    result.made_from = (op, parts)
    return result


def _from_bbox(bbox: BBox, srs: SRS, clip: bool) -> Coverage:
    result = Coverage(box(*bbox), srs, clip)
    result.made_from = "bbox"
    return result


def _looks_like_bbox(text: str) -> bool:
    parts = text.split(",")
    if len(parts) != 4:
        return False
    try:
        [float(p) for p in parts]
    except ValueError:
        return False
    return True


def _bbox(value: Any, path: str) -> BBox:
    if isinstance(value, str):
        value = value.split(",")
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        raise CoverageError(f"expected four numbers, got {value!r}", path) from None
    if len(values) != 4:
        raise CoverageError(f"expected four numbers (minx, miny, maxx, maxy), got {len(values)}", path)
    if values[0] >= values[2] or values[1] >= values[3]:
        raise CoverageError(f"bbox {values} is empty: it must be minx, miny, maxx, maxy", path)
    return tuple(values)  # type: ignore[return-value]


def _file(name: str, base_dir: str, path: str) -> str:
    filename = os.path.normpath(os.path.join(base_dir, os.path.expanduser(name)))
    if not os.path.exists(filename):
        raise CoverageError(f"file not found: {filename}", path)
    return filename


def geometry_from_text(text: str, path: str = "") -> BaseGeometry:
    """The polygons in ``text`` (WKT, one geometry per line, or GeoJSON), united."""
    return _parse_geometry_text(text, path)


def _parse_geometry_text(text: str, path: str) -> BaseGeometry:
    text = text.strip()
    try:
        if text.startswith("{"):
            return _geojson_geometry(json.loads(text))
        geoms = [shapely.from_wkt(line) for line in text.splitlines() if line.strip()]
    except (ValueError, shapely.errors.GEOSException, KeyError, TypeError) as ex:
        raise CoverageError(f"cannot read geometry: {ex}", path) from None
    polys = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon", "GeometryCollection")]
    if not polys:
        raise CoverageError("no polygons found", path)
    return shapely.union_all(polys)


def _text_geometry_kind(filename: str) -> str | None:
    """"wkt" or "geojson" for text files of those (by their start, as MapProxy tells
    them apart); None for anything else, which OGR reads."""
    try:
        with open(filename, "rb") as f:
            start = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    except OSError:
        return None
    if start.startswith((b"polygon", b"multipolygon", b"geometrycollection")):
        return "wkt"
    return "geojson" if start.startswith(b"{") else None


def _ogr_geometry(datasource: str, where: str | None, path: str, warn: Warn | None) -> BaseGeometry:
    """The union of the polygons an OGR data source holds (shapefile, GeoPackage, ...)."""
    try:
        found = read_polygons(datasource, where)
    except OGRError as ex:
        raise CoverageError(str(ex), path) from None
    if warn is not None:
        for kind, count in sorted(found.skipped.items()):
            warn(path, f"{count} {kind} feature{'s' * (count != 1)} left out: coverages are made of polygons")
    if not found.polygons:
        filtered = f" where {where}" if where else ""
        raise CoverageError(f"no polygons in {datasource}{filtered}", path)
    return shapely.union_all(found.polygons)


def _read_geometry_file(filename: str, path: str) -> BaseGeometry:
    try:
        with open(filename, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as ex:
        raise CoverageError(f"cannot read {filename}: {ex}", path) from None
    try:
        return _parse_geometry_text(text, path)
    except CoverageError as ex:
        raise CoverageError(f"{filename}: {ex}", path) from None


def _geojson_geometry(doc: dict) -> BaseGeometry:
    kind = doc.get("type")
    if kind == "FeatureCollection":
        geoms = [shape(f["geometry"]) for f in doc.get("features", []) if f.get("geometry")]
    elif kind == "Feature":
        geoms = [shape(doc["geometry"])]
    else:
        geoms = [shape(doc)]
    polys = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        raise ValueError("no polygons in GeoJSON")
    return shapely.union_all(polys)


def _expire_tiles(filename: str, path: str) -> BaseGeometry:
    """Union of web mercator tiles listed as z/x/y lines (nw origin) in a file or directory."""
    from .grid import predefined_grid

    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    files = [filename]
    if os.path.isdir(filename):
        files = [os.path.join(d, n) for d, _, names in os.walk(filename) for n in sorted(names)]
    boxes = []
    for name in files:
        with open(name, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    z, x, y = (int(v) for v in line.split("/"))
                except ValueError:
                    raise CoverageError(f"{name}:{lineno}: expected z/x/y, got {line!r}", path) from None
                if grid.is_valid((x, y, z)):
                    boxes.append(box(*grid.tile_bbox((x, y, z))))
    return shapely.union_all(boxes) if boxes else shapely.Polygon()
