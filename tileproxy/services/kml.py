"""KML super-overlays (``/kml``) for Google Earth and other KML viewers.

``/kml/<layer>[/<grid>]/z/x/y.kml`` describes tile z/x/y: a Region for the tile,
then a NetworkLink and a GroundOverlay for each tile of the next level inside
it, so viewers load finer tiles as they zoom in. The image tiles sit beside the
documents at ``/kml/<layer>[/<grid>]/z/x/y.<ext>``. ``/kml/<layer>[/<grid>]`` is
the entry point (tile 0/0/0). z counts grid levels (every second level of a
sqrt2 grid), rows count from the south. ``<layer>[/<grid>]`` finds a layer as in
TMS (see ``TileLayerNames``), but a bare layer name prefers its EPSG:4326 grid.
"""

from __future__ import annotations

import hashlib
import re
from xml.sax.saxutils import escape

from ..grid import TileCoord, TileGrid
from ..http import HTTPError, Request, Response, cache_headers, make_not_modified, not_modified
from ..layers import TileLayer, TileLayerNames
from ..srs import BBox, get_srs
from .access import AUTHORIZE
from .client_input import echo, short_message
from .tile_access import tile_access
from .tile_response import serve_tile
from .tms import OUTSIDE, TileServiceGrid

KML_MIME = "application/vnd.google-earth.kml+xml"
MERCATOR_EDGE = 20037508.342789244
KML_FALLBACK_GRIDS = ("EPSG4326", "EPSG900913")

ENTRY_PATH = re.compile(r"^/kml/(?P<layer>[^/]+)(?:/(?P<grid>[^/]+))?/?\Z")
TILE_PATH = re.compile(
    r"^/kml/(?P<layer>[^/]+)/(?:(?P<grid>[^/]+)/)?(?P<z>-?\d{1,9})/(?P<x>-?\d{1,9})/(?P<y>-?\d{1,9})\.(?P<ext>\w+)",
    re.ASCII,
)


def _error(message: str, status: int) -> Response:
    return Response(short_message(message) + "\n", status)


class KMLService:
    def __init__(self, layers: list[TileLayer], use_grid_names: bool, max_age: int):
        self.max_age = max_age
        self.use_grid_names = use_grid_names
        self.names = TileLayerNames(layers, use_grid_names, KML_FALLBACK_GRIDS)
        self.grids: dict[int, TileServiceGrid] = {}
        for layer in layers:
            self.grids.setdefault(id(layer.grid), TileServiceGrid(layer.grid))

    def handle(self, req: Request, parts: list[str]) -> Response:
        """``parts`` are the path segments after ``kml``."""
        entry = ENTRY_PATH.match(req.path)
        if entry is not None:
            layer = self._layer(entry["layer"], entry["grid"])
            return self.document(req, layer, entry["layer"], (0, 0, 0))
        match = TILE_PATH.match(req.path)
        if match is None:
            return _error(f"invalid request ({echo(req.path)})", 404)
        layer = self._layer(match["layer"], match["grid"])
        x, y, z, ext = int(match["x"]), int(match["y"]), int(match["z"]), match["ext"]
        if ext == "kml":
            return self.document(req, layer, match["layer"], (x, y, z))
        if not layer.format.matches_ext(ext):
            return _error(f"invalid format ({echo(ext)}). this tile set only supports ({layer.format.ext})", 404)
        coord = self.grids[id(layer.grid)].internal_coord(x, y, z, profiles=False)
        if coord is None:
            return _error(OUTSIDE, 404)
        access = tile_access(req.environ, "kml", layer, coord, _error)
        return serve_tile(req, layer, coord, self.max_age, _error, access)

    def _layer(self, name: str, grid_part: str | None) -> TileLayer:
        layer = self.names.find(name, grid_part)
        if layer is None:
            raise HTTPError(_error(f"unknown layer: {echo(name)}", 404))
        return layer

    def document(self, req: Request, layer: TileLayer, name: str, sw_coord: TileCoord) -> Response:
        """The KML document of tile ``sw_coord`` (x, y from the south, z as in URLs)."""
        grid = layer.grid
        tsg = self.grids[id(grid)]
        coord = tsg.internal_coord(*sw_coord, profiles=False)
        if coord is None:
            return _error(OUTSIDE, 404)
        if AUTHORIZE in req.environ:  # the document of a tile the layer may not show is refused
            tile_access(req.environ, "kml", layer, coord, _error)
        base = f"{req.script_url}/kml/{layer.name}/{layer.path_id(self.use_grid_names)}"
        bbox = _clipped_bbox(grid, coord)
        north, south, east, west = _wgs84(grid, bbox)
        tile_px = grid.tile_size[0]
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<kml xmlns="http://www.opengis.net/kml/2.2">',
            "  <Document>",
            f"    <name>{escape(name)}</name>",
            "    <Region>",
            _lat_lon_box("LatLonAltBox", north, south, east, west, "      "),
            "    </Region>",
        ]
        subtiles = [(_public_coord(tsg, sub), box) for sub, box in _subtiles(tsg, coord, bbox)]
        for (sx, sy, sz), (n, s, e, w) in subtiles:
            out += [
                "    <NetworkLink>",
                f"      <name>{escape(name)} - {sz}/{sx}/{sy}</name>",
                "      <Region>",
                _lat_lon_box("LatLonAltBox", n, s, e, w, "        "),
                f"        <Lod><minLodPixels>{tile_px // 2}</minLodPixels><maxLodPixels>-1</maxLodPixels></Lod>",
                "      </Region>",
                f"      <Link><href>{escape(base)}/{sz}/{sx}/{sy}.kml</href>"
                "<viewRefreshMode>onRegion</viewRefreshMode><viewFormat/></Link>",
                "    </NetworkLink>",
            ]
        for (sx, sy, sz), (n, s, e, w) in subtiles:
            out += [
                "    <GroundOverlay>",
                f"      <name>{sz}/{sx}/{sy}</name>",
                "      <Region>",
                _lat_lon_box("LatLonAltBox", n, s, e, w, "        "),
                f"        <Lod><minLodPixels>{tile_px // 2}</minLodPixels><maxLodPixels>{tile_px * 3}</maxLodPixels>"
                "<minFadeExtent>8</minFadeExtent><maxFadeExtent>8</maxFadeExtent></Lod>",
                "      </Region>",
                f"      <drawOrder>{sz}</drawOrder>",
                f"      <Icon><href>{escape(base)}/{sz}/{sx}/{sy}.{layer.format.ext}</href></Icon>",
                _lat_lon_box("LatLonBox", n, s, e, w, "      "),
                "    </GroundOverlay>",
            ]
        out += ["  </Document>", "</kml>", ""]
        body = "\n".join(out).encode()
        # documents change only with the configuration: no time; MapProxy's ETag, the md5 of the content
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        resp = Response(body, content_type=KML_MIME)
        cache_headers(resp.headers, None, body, self.max_age, etag)
        if not_modified(req, None, body, etag):
            return make_not_modified(resp)
        return resp


def _public_coord(tsg: TileServiceGrid, coord: TileCoord) -> TileCoord:
    """URL coordinates of a grid tile: rows from the south, z as in URLs."""
    x, y, z = coord
    grid = tsg.grid
    return (x, y if grid.origin == "sw" else grid.flip_y(y, z), tsg.public_level(z))


def _clipped_bbox(grid: TileGrid, coord: TileCoord) -> BBox:
    b, g = grid.tile_bbox(coord), grid.bbox
    return (max(b[0], g[0]), max(b[1], g[1]), min(b[2], g[2]), min(b[3], g[3]))


def _subtiles(tsg: TileServiceGrid, coord: TileCoord, bbox: BBox):
    """Tiles of the next published level whose lower left corner lies in ``bbox``
    (so that each appears in one document only), with their north/south/east/west."""
    grid = tsg.grid
    level = tsg.grid_level(tsg.public_level(coord[2]) + 1)
    if level >= grid.levels:
        return
    x0, y0, x1, y1 = grid.tile_range(bbox, level)
    rows = range(y1, y0 - 1, -1) if grid.origin == "sw" else range(y0, y1 + 1)
    for y in rows:
        for x in range(x0, x1 + 1):
            sub = (x, y, level)
            sb = _clipped_bbox(grid, sub)
            if sb[0] - bbox[0] > -1e-7 and sb[1] - bbox[1] > -1e-7:
                yield sub, _wgs84(grid, sb)


def _wgs84(grid: TileGrid, bbox: BBox) -> tuple[float, float, float, float]:
    """north, south, east, west of ``bbox``; the poles for the edges of the mercator world."""
    wgs = get_srs("EPSG:4326")
    minx, miny, maxx, maxy = grid.srs.transform_bbox_to(wgs, bbox) if grid.srs != wgs else bbox
    if grid.srs == get_srs("EPSG:3857"):
        if abs(bbox[1] + MERCATOR_EDGE) < 0.1:
            miny = -90.0
        if abs(bbox[3] - MERCATOR_EDGE) < 0.1:
            maxy = 90.0
    return maxy, miny, maxx, minx


def _lat_lon_box(tag: str, north: float, south: float, east: float, west: float, indent: str) -> str:
    return (
        f"{indent}<{tag}><north>{north:.10f}</north><south>{south:.10f}</south>"
        f"<east>{east:.10f}</east><west>{west:.10f}</west></{tag}>"
    )
