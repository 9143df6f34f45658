"""The ``coverages`` section of seed.yaml, read into geometries with their SRS.

Interim: only ``bbox`` coverages (a list or "minx,miny,maxx,maxy", also as
``datasource``) are read here. Polygon files, GeoJSON, inline geometries and
union/intersection/difference come from ``tileproxy.coverage`` once merged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from ..config.errors import ConfigError, join_path
from ..srs import SRS, SRSError, get_srs


@dataclass
class SeedCoverage:
    name: str
    geometry: BaseGeometry
    srs: SRS


def load_coverages(raw: Any, base_dir: str) -> dict[str, SeedCoverage]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping of coverage names to coverages", "coverages")
    return {str(name): load_coverage(str(name), conf, join_path("coverages", name), base_dir)
            for name, conf in raw.items()}


def load_coverage(name: str, conf: Any, path: str, base_dir: str) -> SeedCoverage:
    if not isinstance(conf, dict):
        raise ConfigError("expected a mapping with bbox/datasource and srs", path)
    srs = _srs(conf.get("srs", conf.get("bbox_srs")), path)
    value = conf.get("bbox", conf.get("datasource"))
    key = "bbox" if "bbox" in conf else "datasource"
    if value is None:
        raise ConfigError("expected bbox or datasource (polygon coverages are not supported yet)", path)
    geometry = box(*_bbox(value, join_path(path, key)))
    return SeedCoverage(name, geometry, srs)


def _srs(value: Any, path: str) -> SRS:
    if value is None:
        raise ConfigError("missing srs, e.g. srs: 'EPSG:4326'", path)
    try:
        return get_srs(value)
    except SRSError as ex:
        raise ConfigError(str(ex), join_path(path, "srs")) from None


def _bbox(value: Any, path: str) -> tuple[float, float, float, float]:
    if isinstance(value, str):
        value = value.split(",")
    try:
        bbox = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected minx, miny, maxx, maxy, got {value!r}", path) from None
    if len(bbox) != 4:
        raise ConfigError(f"expected four numbers minx, miny, maxx, maxy, got {len(bbox)}", path)
    if bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
        raise ConfigError(f"empty bbox {list(bbox)}: expected minx < maxx and miny < maxy", path)
    return bbox  # type: ignore[return-value]
