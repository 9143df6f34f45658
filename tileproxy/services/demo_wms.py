"""What the demo needs to show WMS layers in its tile viewer: a viewing grid
per SRS the WMS offers, and the GetMap URL template of a layer.

The viewer draws a WMS layer as tiled GetMap requests (256 px, WMS 1.1.1, so
the BBOX is always x/y order). The viewing grids of web mercator and lon/lat
use the resolutions and origins of GLOBAL_WEBMERCATOR and GLOBAL_GEODETIC, so
a view of a cached layer asks for exactly the cached tiles; other SRS get a
grid over their area of use with a resolution factor of 2.
"""

from __future__ import annotations

from urllib.parse import urlencode

from ..config.model import WMSConfig
from ..grid import GEODETIC_MIN_RES, GridError, TileGrid, build_grid
from ..maps import WORLD_4326
from ..srs import SRSError, default_bbox, get_srs
from .wms.capabilities import extent_in

VIEW_LEVELS = 20


def wms_view_grid(code: str) -> TileGrid | None:
    """A grid (origin top left) to view a WMS in SRS ``code``; None when the
    SRS is unknown or has no area to show."""
    try:
        srs = get_srs(code)
        if srs.is_latlong:
            # the top level is 2x1 tiles, as in TMS global-geodetic, so nothing lies beyond +-90
            res = [GEODETIC_MIN_RES / 2 ** (i + 1) for i in range(VIEW_LEVELS)]
            return build_grid(code, code, (-180.0, -90.0, 180.0, 90.0), res=res, origin="nw")
        bbox = default_bbox(srs) or extent_in(WORLD_4326, srs)
        if bbox is None:
            return None
        return build_grid(code, code, bbox, num_levels=VIEW_LEVELS, origin="nw")
    except (SRSError, GridError):
        return None


# formats browsers show as images
VIEWABLE = ("image/png", "image/jpeg", "image/gif", "image/webp")


def viewable_format(name: str) -> bool:
    """Whether a WMS format name (``image/png``, ``image/png; mode=8bit``, ``png``) is one browsers show."""
    mime = name.split(";")[0].strip().lower()
    return (mime if "/" in mime else "image/" + mime) in VIEWABLE


def wms_format(conf: WMSConfig) -> str:
    """The image format the viewer asks for: PNG (for transparency) when offered."""
    for name, opts in conf.image_formats.items():
        if opts.format.mime == "image/png":
            return name
    return next(iter(conf.image_formats), "image/png")


def wms_version(conf: WMSConfig) -> str:
    """1.1.1 when offered (its BBOX is always x/y), else 1.3.0, else the newest."""
    for version in ("1.1.1", "1.3.0"):
        if version in conf.versions:
            return version
    return max(conf.versions, default="1.1.1")


def bbox_is_yx(conf: WMSConfig, srs: str) -> bool:
    """Whether GetMap wants the BBOX in y/x order (WMS 1.3.0 in a north/east SRS)."""
    return wms_version(conf) == "1.3.0" and get_srs(srs).is_axis_order_ne


def getmap_template(base: str, conf: WMSConfig, layer: str, srs: str, size: tuple[int, int],
                    fmt: str | None = None) -> str:
    """A GetMap URL with ``{bbox}`` for the viewer to fill in (``fmt``: the FORMAT, else PNG when offered)."""
    version = wms_version(conf)
    query = urlencode({"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": version, "LAYERS": layer,
                       "STYLES": "", "CRS" if version == "1.3.0" else "SRS": srs, "FORMAT": fmt or wms_format(conf),
                       "TRANSPARENT": "TRUE", "WIDTH": size[0], "HEIGHT": size[1]})
    return f"{base}/service?{query}&BBOX={{bbox}}"
