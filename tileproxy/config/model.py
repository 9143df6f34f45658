"""Typed configuration objects: what the runtime sees of mapproxy.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..grid import TileGrid
from ..image.formats import ImageFormat, ImageOptions
from ..sources.base import Source
from .dimensions import Dimension

if TYPE_CHECKING:
    from ..tilecache.manager import TileManager


@dataclass
class GlobalsConfig:
    base_dir: str
    lock_dir: str
    expires_hours: float = 72.0
    access_control_allow_origin: str = "*"
    max_tile_limit: int = 500  # the most tiles one map drawn from tiles may need (cache.max_tile_limit)
    admin_token: str | None = None  # globals.admin.token: POST /admin/invalidate is on (Bearer token)
    log_format: str = "text"  # globals.log_format: the access log lines as "text" (key=value) or "json"


@dataclass
class CacheConfig:
    name: str
    format: ImageFormat
    grids: list[str]
    managers: dict[str, TileManager]  # by grid name
    # use_direct_from_level/res: maps finer than this go to direct_source uncached
    direct_from_res: float | None = None
    direct_source: Source | None = None
    max_tile_limit: int = 500  # the most tiles one map drawn from the cache may need


@dataclass
class LayerConfig:
    name: str | None
    title: str
    sources: list[str] = field(default_factory=list)
    tile_sources: list[str] | None = None  # None: not set (an empty list publishes no tiles)
    layers: list[LayerConfig] = field(default_factory=list)
    md: dict[str, Any] = field(default_factory=dict)
    min_res: float | None = None
    max_res: float | None = None
    legendurl: str | None = None
    path: str = ""
    # the entries of ``sources`` resolved: CacheConfig for caches, Source for sources
    source_objects: list[Any] = field(default_factory=list)
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    wmts_kvp_legendurl: str | None = None  # LegendURL templates ({base_url}, {layer_name})
    wmts_rest_legendurl: str | None = None
    nominal_scale: float | None = None  # OGC API Maps: the scale of a map without one asked for


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
    origin: str | None = None  # rows of /tiles URLs; None: as the grid counts them
    md: ServiceMetadata = field(default_factory=ServiceMetadata)


@dataclass
class KMLConfig:
    use_grid_names: bool = False  # /kml/<layer>/<grid name>/... instead of the grid's SRS code


@dataclass
class WMTSConfig:
    kvp: bool = True
    restful: bool = True
    restful_template: str = "/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.{Format}"
    restful_fi_template: str = "/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}/{I}/{J}.{InfoFormat}"
    featureinfo_formats: dict[str, str] = field(default_factory=dict)  # URL suffix -> mime type
    md: ServiceMetadata = field(default_factory=ServiceMetadata)
    md_raw: dict[str, Any] = field(default_factory=dict)  # services.wms.md updated by services.wmts.md
    # the WMS version of default LegendURLs (GetLegendGraphic) for layers with a legendurl;
    # None without a WMS service
    legend_wms_version: str | None = None


DEFAULT_WMS_SRS = ("EPSG:4326", "EPSG:4258", "CRS:84", "EPSG:900913", "EPSG:3857")
SUPPORTED_WMS_VERSIONS = ("1.0.0", "1.1.0", "1.1.1", "1.3.0")
DEFAULT_WMS_FORMATS = ("image/png", "image/jpeg", "image/gif", "image/GeoTIFF", "image/tiff")
DEFAULT_FEATUREINFO_TYPES = ("text", "html", "xml")


@dataclass
class BBoxSRS:
    """An SRS advertised with BoundingBox elements; an explicit ``bbox`` also clips GetMap."""

    srs: str
    bbox: tuple[float, float, float, float] | None = None


@dataclass
class WMSConfig:
    versions: list[str] = field(default_factory=lambda: ["1.0.0", "1.1.0", "1.1.1", "1.3.0"])
    srs: list[str] = field(default_factory=lambda: list(DEFAULT_WMS_SRS))
    bbox_srs: list[BBoxSRS] = field(default_factory=list)  # empty: capabilities use EPSG:3857, 4326, 900913
    image_formats: dict[str, ImageOptions] = field(default_factory=dict)  # as configured -> options
    max_output_pixels: int = 4000 * 4000
    strict: bool = False
    on_source_errors: str = "notify"  # or "raise"
    attribution: str | None = None
    featureinfo_types: list[str] = field(default_factory=lambda: list(DEFAULT_FEATUREINFO_TYPES))
    featureinfo_xslt: dict[str, str] = field(default_factory=dict)  # info type -> xslt path
    md: ServiceMetadata = field(default_factory=ServiceMetadata)
    md_raw: dict[str, Any] = field(default_factory=dict)
    inspire_md: dict[str, Any] = field(default_factory=dict)  # INSPIRE View Service metadata, as configured
    concurrent_layer_renderer: int = 1
    max_layers: int = 50  # distinct layers per GetMap / GetFeatureInfo (tileproxy's own key)


@dataclass
class OGCAPIConfig:
    """``services.ogcapi``: OGC API Maps and Tiles at /ogcapi."""

    enable_tiles: bool = True
    enable_maps: bool = True
    map_srs: list[str] = field(default_factory=lambda: ["EPSG:4326", "EPSG:3857"])
    attribution: str | None = None
    md: dict[str, Any] = field(default_factory=dict)
    default_dataset_layers: list[str] | None = None
    on_source_errors: str = "notify"  # or "raise"
    max_output_pixels: int | None = 4000 * 4000
    image_formats: dict[str, ImageOptions] = field(default_factory=dict)  # mime type -> options
    concurrent_layer_renderer: int = 1


@dataclass
class MetricsConfig:
    """``/metrics`` (tileproxy's own, from globals.metrics or services.metrics)."""

    path: str = "/metrics"
    token: str | None = None  # when set, asked as "Authorization: Bearer <token>"


@dataclass
class ServicesConfig:
    tms: TMSConfig | None = None
    wmts: WMTSConfig | None = None
    demo: bool = False
    wms: WMSConfig | None = None
    kml: KMLConfig | None = None
    ogcapi: OGCAPIConfig | None = None
    metrics: MetricsConfig | None = None  # None: off


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
    # entries no layer uses that could not be built: "caches.name" -> the error
    skipped: dict[str, str] = field(default_factory=dict)
