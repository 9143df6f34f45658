"""The accepted keys of mapproxy.yaml (MapProxy 7 compatible)."""

from __future__ import annotations

from .schema import (
    ANY,
    BBOX,
    BOOL,
    DATETIME,
    INT,
    NUMBER,
    NUMBER_PAIR,
    STR,
    STR_LIST,
    STR_OR_NUMBER,
    ListOf,
    Mapping,
    OneOf,
    Switch,
)

COLOR = OneOf((STR, ListOf(NUMBER)))
# layer names as YAML may read them: ``layers: 4`` is the layer '4'
LAYER_NAMES = OneOf((ListOf(STR_OR_NUMBER), STR_OR_NUMBER))

encoding_options = Mapping(
    {
        "jpeg_quality": NUMBER,
        "quantizer": STR,
        "tiff_compression": STR,
    }
)

image_opts = Mapping(
    {
        "mode": STR,
        "colors": NUMBER,  # MapProxy takes any number (256.0)
        "transparent": BOOL,
        "resampling_method": STR,
        "format": STR,
        "encoding_options": encoding_options,
        "opacity": NUMBER,
        "transparent_color": COLOR,
        "transparent_color_tolerance": NUMBER,
    }
)

http_opts = Mapping(
    {
        "method": STR,
        "client_timeout": NUMBER,
        "ssl_no_cert_checks": BOOL,
        "ssl_ca_certs": STR,
        "headers": Mapping(values=STR_OR_NUMBER),
        "hide_error_details": BOOL,
        "manage_cookies": BOOL,
        "access_control_allow_origin": STR,
        "concurrent_requests": INT,  # globals.http only
    }
)

coverage: Mapping = Mapping(
    {
        "polygons": STR,
        "polygons_srs": STR,
        "bbox": BBOX,
        "bbox_srs": STR,
        "ogr_datasource": STR,
        "ogr_where": STR,
        "ogr_srs": STR,
        "datasource": OneOf((STR, ListOf(NUMBER))),
        "where": STR,
        "srs": STR,
        "expire_tiles": STR,
        "union": ANY,
        "difference": ANY,
        "intersection": ANY,
        "clip": BOOL,
        "geometry": STR,
    }
)

on_error = Mapping(
    values=Mapping({"response": COLOR, "cache": BOOL, "authorize_stale": BOOL})
)

_source_common = {
    "type": STR,
    "concurrent_requests": INT,
    "coverage": coverage,
    "seed_only": BOOL,
    "min_res": NUMBER,
    "max_res": NUMBER,
    "min_scale": NUMBER,
    "max_scale": NUMBER,
    "image": image_opts,
    "http": http_opts,
    "on_error": on_error,
    "transparent": BOOL,
}


def _source(**keys) -> Mapping:
    return Mapping({**_source_common, **keys})


wms_source = _source(
    wms_opts=Mapping(
        {
            "version": STR_OR_NUMBER,
            "map": BOOL,
            "featureinfo": BOOL,
            "legendgraphic": BOOL,
            "legendurl": STR,
            "featureinfo_format": STR,
            "featureinfo_xslt": STR,
            "featureinfo_out_format": STR,
            "query_layers": STR_LIST,
        }
    ),
    req=Mapping({"url": STR, "layers": LAYER_NAMES, "transparent": OneOf((BOOL, STR))}, values=ANY),
    supported_srs=ListOf(STR_OR_NUMBER),
    supported_formats=ListOf(STR),
    forward_req_params=ListOf(STR),
)

tile_source = _source(
    url=STR,
    grid=STR,
    origin=STR,
    format=STR,
)

arcgis_source = _source(
    req=Mapping({"url": STR, "layers": LAYER_NAMES, "transparent": BOOL, "dpi": INT, "time": STR_OR_NUMBER}, values=ANY),
    opts=Mapping(
        {"featureinfo": BOOL, "featureinfo_tolerance": NUMBER, "featureinfo_return_geometries": BOOL, "map": BOOL}
    ),
    supported_srs=ListOf(STR_OR_NUMBER),
    supported_formats=ListOf(STR),
)

sources = Mapping(
    values=Switch(
        "type",
        {
            "wms": wms_source,
            "tile": tile_source,
            "debug": _source(),
            "arcgis": arcgis_source,
            "mapserver": _source(
                req=Mapping(values=ANY),
                mapserver=Mapping({"binary": STR, "working_dir": STR}),
                supported_srs=ListOf(STR_OR_NUMBER),
                supported_formats=ListOf(STR),
                forward_req_params=ListOf(STR),
            ),
            "mapnik": _source(
                mapfile=STR, layers=LAYER_NAMES, scale_factor=NUMBER, multithreaded=BOOL, use_mapnik2=BOOL
            ),
            "ogcapitiles": _source(landingpage_url=STR, collection=STR, tile_matrix_set_id=STR),
            "ogcapimaps": _source(
                landingpage_url=STR, collection=STR, supported_srs=ListOf(STR_OR_NUMBER), bgcolor=COLOR
            ),
        },
    )
)

grid = Mapping(
    {
        "base": STR,
        "name": STR,
        "srs": STR_OR_NUMBER,
        "bbox": BBOX,
        "bbox_srs": STR_OR_NUMBER,
        "origin": STR,
        "res": ListOf(NUMBER),
        "res_factor": OneOf((NUMBER, STR)),
        "num_levels": INT,
        "min_res": NUMBER,
        "max_res": NUMBER,
        "tile_size": NUMBER_PAIR,
        "threshold_res": ListOf(NUMBER),
        "stretch_factor": NUMBER,
        "max_shrink_factor": NUMBER,
        "align_resolutions_with": STR,
    }
)

cache_backend = Mapping(
    {
        "type": STR,
        "directory_layout": STR,
        "use_grid_names": BOOL,
        "directory": STR,
        "tile_lock_dir": STR,
        "filename": STR,
        "table_name": STR,
        "levels": BOOL,
        "sqlite_timeout": NUMBER,
        "sqlite_wal": BOOL,
        "ttl": NUMBER,
        "version": NUMBER,
        "timestamps": BOOL,  # tileproxy: per-tile times in MBTiles
        "coverage": coverage,
    },
    values=ANY,  # backends of later issues (s3, redis, ...) carry their own keys
)

watermark = Mapping(
    {"text": STR, "font_size": NUMBER, "color": COLOR, "opacity": NUMBER, "spacing": STR}
)

refresh_before = Mapping(
    {"time": OneOf((STR, DATETIME)), "mtime": STR, "weeks": NUMBER, "days": NUMBER, "hours": NUMBER, "minutes": NUMBER, "seconds": NUMBER}
)

cache = Mapping(
    {
        "sources": OneOf((ListOf(STR), Mapping(values=ANY))),
        "name": STR,
        "grids": ListOf(STR),
        "cache_dir": STR,
        "meta_size": NUMBER_PAIR,
        "meta_buffer": NUMBER,
        "bulk_meta_tiles": BOOL,
        "minimize_meta_requests": BOOL,
        "concurrent_tile_creators": INT,
        "format": STR,
        "request_format": STR,
        "image": image_opts,
        "link_single_color_images": OneOf((BOOL, STR)),
        "disable_storage": BOOL,
        "cache": cache_backend,
        "watermark": watermark,
        "use_direct_from_level": NUMBER,
        "use_direct_from_res": NUMBER,
        "upscale_tiles": INT,
        "downscale_tiles": INT,
        "cache_rescaled_tiles": BOOL,
        "refresh_before": refresh_before,
        "tile_lock_dir": STR,
        "directory_permissions": STR,
        "file_permissions": STR,
        "max_tile_limit": NUMBER,
        "refresh_mode": STR,
    },
    required=("sources",),
)

layer_md = Mapping(values=ANY)

layer: Mapping = Mapping(
    {
        "name": STR,
        "title": STR,
        "abstract": STR,
        "sources": ListOf(STR),
        "tile_sources": ListOf(STR),
        "min_res": NUMBER,
        "max_res": NUMBER,
        "min_scale": NUMBER,
        "max_scale": NUMBER,
        "nominal_res": NUMBER,
        "nominal_scale": NUMBER,
        "legendurl": STR,
        "md": layer_md,
        "dimensions": Mapping(values=ANY),
        "wmts_kvp_legendurl": STR,
        "wmts_rest_legendurl": STR,
    }
)
layer.keys["layers"] = ListOf(layer)

service_md = Mapping(values=ANY)

# tileproxy's own: Prometheus metrics (docs/deployment.md); true, or where and with which token
metrics = OneOf((BOOL, Mapping({"enabled": BOOL, "path": STR, "token": STR})))

services = Mapping(
    {
        "demo": ANY,
        "kml": Mapping({"use_grid_names": BOOL, "md": service_md}),
        "tms": Mapping({"use_grid_names": BOOL, "origin": STR, "md": service_md}),
        "wmts": Mapping(
            {
                "kvp": BOOL,
                "restful": BOOL,
                "restful_template": STR,
                "restful_featureinfo_template": STR,
                "md": service_md,
                "featureinfo_formats": ListOf(Mapping({"mimetype": STR, "suffix": STR})),
            }
        ),
        "wms": Mapping(
            {
                "srs": ListOf(STR_OR_NUMBER),
                "bbox_srs": ListOf(OneOf((STR, Mapping({"srs": STR, "bbox": BBOX})))),
                "image_formats": ListOf(STR),
                "attribution": Mapping({"text": STR}),
                "featureinfo_types": ListOf(STR),
                "featureinfo_xslt": Mapping(values=STR),
                "on_source_errors": STR,
                "max_output_pixels": OneOf((NUMBER_PAIR, NUMBER)),
                "strict": BOOL,
                "md": service_md,
                "inspire_md": Mapping(values=ANY),
                "versions": ListOf(STR_OR_NUMBER),
                "concurrent_layer_renderer": NUMBER,
                "max_layers": INT,
            }
        ),
        "ogcapi": Mapping(values=ANY),
        "metrics": metrics,
    }
)

globals_ = Mapping(
    {
        "image": Mapping(
            {
                "resampling_method": STR,
                "paletted": BOOL,
                "stretch_factor": NUMBER,
                "max_shrink_factor": NUMBER,
                "jpeg_quality": NUMBER,
                "formats": Mapping(values=image_opts),
                "font_dir": STR,
                "transparent_color_tolerance": NUMBER,
            }
        ),
        "http": http_opts,
        "cache": Mapping(
            {
                "base_dir": STR,
                "lock_dir": STR,
                "tile_lock_dir": STR,
                "meta_size": NUMBER_PAIR,
                "meta_buffer": NUMBER,
                "bulk_meta_tiles": BOOL,
                "max_tile_limit": NUMBER,
                "minimize_meta_requests": BOOL,
                "concurrent_tile_creators": INT,
                "link_single_color_images": OneOf((BOOL, STR)),
                "directory_permissions": STR,
                "file_permissions": STR,
                "sqlite_timeout": NUMBER,
                "sqlite_wal": BOOL,
                "s3": Mapping(values=ANY),
                "azureblob": Mapping(values=ANY),
                # tileproxy: meta tile locks in files (default) or in Redis, for several nodes
                "lock": Mapping({"type": STR, "url": STR, "ttl": NUMBER, "timeout": NUMBER, "prefix": STR}),
            }
        ),
        "grid": Mapping({"tile_size": NUMBER_PAIR}),
        "srs": Mapping(
            {
                "proj_data_dir": STR,
                "axis_order_ne": ListOf(STR),
                "axis_order_en": ListOf(STR),
                "preferred_src_proj": Mapping(values=ListOf(STR)),
            }
        ),
        "tiles": Mapping({"expires_hours": NUMBER}),
        "mapserver": Mapping({"binary": STR, "working_dir": STR}),
        "background": Mapping({"url": STR}),
        "renderd": Mapping({"address": STR}),
        "metrics": metrics,
        # tileproxy's own: POST /admin/invalidate, off unless a token is set (docs/seeding.md)
        "admin": Mapping({"token": STR}),
        # tileproxy's own: the access log lines as JSON (json) or key=value pairs (text)
        "log_format": STR,
    }
)

MAPPROXY_YAML = Mapping(
    {
        "globals": globals_,
        "services": services,
        "sources": sources,
        "caches": Mapping(values=cache),
        "grids": Mapping(values=grid),
        "layers": OneOf((ListOf(layer), Mapping(values=layer))),
        "parts": ANY,
        "base": ANY,
    }
)
