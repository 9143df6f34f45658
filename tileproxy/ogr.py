"""Polygons from OGR data sources (shapefiles, GeoPackage features, PostGIS, ...),
read with pyogrio, an optional extra: ``pip install 'tileproxy[ogr]'``.

They are read as MapProxy reads them: the first layer; a ``where`` filter becomes
``select * from "<first layer>" where <filter>`` (so it speaks the source's SQL, the
SQLite dialect for GeoPackages), a filter that starts with ``select`` is taken as
the whole statement; polygons and multipolygons count, other geometries are skipped.
Coordinates are taken as they are, in the SRS the configuration names."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import shapely
from shapely.geometry.base import BaseGeometry

INSTALL_HINT = "pip install 'tileproxy[ogr]' (pyogrio)"

# "PG:dbname=...", "WFS:https://..." name data sources that are not files
_CONNECTION = re.compile(r"^\w{2,}:")


class OGRError(ValueError):
    """The data source cannot be read (or pyogrio is missing)."""


@dataclass
class Polygons:
    polygons: list[BaseGeometry]
    skipped: Counter = field(default_factory=Counter)  # geometry type -> features left out


def is_connection(datasource: str) -> bool:
    """True for OGR connection strings, which name no file (a drive letter does not count)."""
    return bool(_CONNECTION.match(datasource))


def read_polygons(datasource: str, where: str | None = None) -> Polygons:
    """The polygons of the first layer of ``datasource`` that pass ``where``."""
    try:
        from pyogrio import list_layers, raw
    except ImportError:
        raise OGRError(f"reading OGR data sources needs pyogrio: {INSTALL_HINT}") from None
    try:
        sql = None
        if where:
            sql = where
            if not where.lstrip().lower().startswith("select"):
                layer = list_layers(datasource)[0][0]
                sql = f'select * from "{layer}" where {where}'
        _, _, wkbs, _ = raw.read(datasource, sql=sql) if sql else raw.read(datasource, layer=0)
    except Exception as ex:  # pyogrio reports through several exception types
        raise OGRError(f"cannot read {datasource}: {ex}") from None
    out = Polygons([])
    for wkb in wkbs:
        if wkb is None:
            continue
        geom = shapely.from_wkb(wkb)
        if geom.geom_type == "Polygon":
            out.polygons.append(geom)
        elif geom.geom_type == "MultiPolygon":
            out.polygons.extend(geom.geoms)
        else:
            out.skipped[geom.geom_type] += 1
    return out
