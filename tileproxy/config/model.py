"""Typed configuration objects: what the runtime sees of mapproxy.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..grid import TileGrid
from ..image.formats import ImageFormat
from ..sources.base import Source

if TYPE_CHECKING:
    from ..tiles import TileManager


@dataclass
class GlobalsConfig:
    base_dir: str
    lock_dir: str
    expires_hours: float = 72.0
    access_control_allow_origin: str = "*"


@dataclass
class CacheConfig:
    name: str
    format: ImageFormat
    grids: list[str]
    managers: dict[str, TileManager]  # by grid name
    source_names: list[str] = field(default_factory=list)
    # use_direct_from_level/res: maps finer than this go to direct_source uncached
    direct_from_res: float | None = None
    direct_source: Source | None = None


@dataclass
class LayerConfig:
    name: str | None
    title: str
    sources: list[str] = field(default_factory=list)
    tile_sources: list[str] = field(default_factory=list)
    layers: list[LayerConfig] = field(default_factory=list)
    md: dict[str, Any] = field(default_factory=dict)
    min_res: float | None = None
    max_res: float | None = None
    path: str = ""


@dataclass
class ServiceMetadata:
    title: str = "tileproxy"
    abstract: str = ""
    online_resource: str = ""
    access_constraints: str = ""
    fees: str = ""
    keywords: list[str] = field(default_factory=list)
    contact: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, md: dict | None) -> ServiceMetadata:
        md = md or {}
        keywords: list[str] = []
        for entry in md.get("keyword_list") or []:
            if isinstance(entry, dict):
                keywords += [str(k) for k in entry.get("keywords") or []]
        return cls(
            title=str(md.get("title", "tileproxy")),
            abstract=str(md.get("abstract", "")),
            online_resource=str(md.get("online_resource", "")),
            access_constraints=str(md.get("access_constraints", "")),
            fees=str(md.get("fees", "")),
            keywords=keywords,
            contact={k: str(v) for k, v in (md.get("contact") or {}).items() if v is not None},
        )


@dataclass
class TMSConfig:
    use_grid_names: bool = False
    origin: str = "sw"
    md: ServiceMetadata = field(default_factory=ServiceMetadata)


@dataclass
class WMTSConfig:
    kvp: bool = True
    restful: bool = True
    restful_template: str = "/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.{Format}"
    md: ServiceMetadata = field(default_factory=ServiceMetadata)


@dataclass
class ServicesConfig:
    tms: TMSConfig | None = None
    wmts: WMTSConfig | None = None
    demo: bool = False
    wms: dict[str, Any] | None = None  # WMS service options, built out by the WMS service
    kml: dict[str, Any] | None = None


@dataclass
class ProxyConfig:
    files: list[Path]
    warnings: list[str]
    globals: GlobalsConfig
    grids: dict[str, TileGrid]
    sources: dict[str, Source]
    caches: dict[str, CacheConfig]
    layers: list[LayerConfig]
    services: ServicesConfig
