"""KML super-overlays (``/kml``) for Google Earth and other KML viewers.

``/kml/<layer>/<grid>/z/x/y.kml`` describes tile z/x/y: a Region for the tile,
then a NetworkLink and a GroundOverlay for each tile of the next level inside
it, so viewers load finer tiles as they zoom in. The image tiles sit beside the
documents at ``/kml/<layer>/<grid>/z/x/y.<ext>``. ``/kml/<layer>/<grid>`` and
``/kml/<layer>_<grid>`` are the entry points (tile 0/0/0). Coordinates are
internal grid levels with rows counted from the south; ``<grid>`` is the SRS
token (``EPSG3857``) or, with ``kml.use_grid_names``, the grid's name.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from ..grid import TileCoord, TileGrid
from ..http import HTTPError, Request, Response, cache_headers, make_not_modified, not_modified
from ..layers import TileLayer
from ..srs import BBox, get_srs
from .tile_response import serve_tile

KML_MIME = "application/vnd.google-earth.kml+xml"
MERCATOR_EDGE = 20037508.342789244


def _error(message: str, status: int) -> Response:
    return Response(message + "\n", status)


class KMLService:
    def __init__(self, layers: list[TileLayer], use_grid_names: bool, max_age: int):
        self.max_age = max_age
        self.index: dict[tuple[str, str], TileLayer] = {}
        for layer in layers:
            if not layer.grid.supports_access_with_origin("sw") or not layer.format.is_image:
                continue  # KML ground overlays need image tiles
            public = (layer.grid.name or layer.grid_name) if use_grid_names else layer.grid_id
            for gid in (public, layer.grid_name):
                self.index.setdefault((layer.name, gid), layer)

    def handle(self, req: Request, parts: list[str]) -> Response:
        """``parts`` are the path segments after ``kml``."""
        rest = [p for p in parts if p != ""]
        if not rest:
            return _error("expected /kml/<layer>/<grid>[/<z>/<x>/<y>.kml]", 404)
        layer, public_path, rest = self._layer(rest)
        if not rest:
            return self.document(req, layer, public_path, (0, 0, 0))
        if len(rest) != 3:
            return _error("expected /kml/<layer>/<grid>/<z>/<x>/<y>.<kml|format>", 404)
        z, x, last = rest
        y, dot, ext = last.partition(".")
        zi, xi, yi = _number(z), _number(x), _number(y)
        if not dot or zi is None or xi is None or yi is None:
            return _error("expected /kml/<layer>/<grid>/<z>/<x>/<y>.<kml|format>", 404)
        grid = layer.grid
        if not 0 <= zi < grid.levels:
            return _error("tile is outside the grid", 404)
        coord = (xi, yi if grid.origin == "sw" else grid.flip_y(yi, zi), zi)
        if not grid.is_valid(coord):
            return _error("tile is outside the grid", 404)
        if ext.lower() == "kml":
            return self.document(req, layer, public_path, (xi, yi, zi))
        if not layer.format.matches_ext(ext):
            return _error(f"invalid format '{ext}' for this layer (use {layer.format.ext})", 404)
        return serve_tile(req, layer, coord, self.max_age, _error)

    def _layer(self, rest: list[str]) -> tuple[TileLayer, str, list[str]]:
        if len(rest) >= 2 and (rest[0], rest[1]) in self.index:
            return self.index[(rest[0], rest[1])], f"{rest[0]}/{rest[1]}", rest[2:]
        name, _, gid = rest[0].rpartition("_")
        if name and (name, gid) in self.index:
            return self.index[(name, gid)], f"{name}/{gid}", rest[1:]
        raise HTTPError(_error(f"unknown layer or grid: {'/'.join(rest[:2])}", 404))

    def document(self, req: Request, layer: TileLayer, public_path: str, sw_coord: TileCoord) -> Response:
        """The KML document of tile ``sw_coord`` (x, y from the south, z)."""
        grid = layer.grid
        x, y, z = sw_coord
        coord = (x, y if grid.origin == "sw" else grid.flip_y(y, z), z)
        if not grid.is_valid(coord):
            return _error("tile is outside the grid", 404)
        base = f"{req.script_url}/kml/{public_path}"
        bbox = _clipped_bbox(grid, coord)
        north, south, east, west = _wgs84(grid, bbox)
        tile_px = grid.tile_size[0]
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<kml xmlns="http://www.opengis.net/kml/2.2">',
            "  <Document>",
            f"    <name>{escape(layer.name)}</name>",
            "    <Region>",
            _lat_lon_box("LatLonAltBox", north, south, east, west, "      "),
            "    </Region>",
        ]
        subtiles = list(_subtiles(grid, coord, bbox))
        for sub, (n, s, e, w) in subtiles:
            sx, sy, sz = _south_coord(grid, sub)
            out += [
                "    <NetworkLink>",
                f"      <name>{escape(layer.name)} - {sz}/{sx}/{sy}</name>",
                "      <Region>",
                _lat_lon_box("LatLonAltBox", n, s, e, w, "        "),
                f"        <Lod><minLodPixels>{tile_px // 2}</minLodPixels><maxLodPixels>-1</maxLodPixels></Lod>",
                "      </Region>",
                f"      <Link><href>{escape(base)}/{sz}/{sx}/{sy}.kml</href>"
                "<viewRefreshMode>onRegion</viewRefreshMode><viewFormat/></Link>",
                "    </NetworkLink>",
            ]
        for sub, (n, s, e, w) in subtiles:
            sx, sy, sz = _south_coord(grid, sub)
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
        # documents change only with the configuration: no time, an ETag from the content
        resp = Response(body, content_type=KML_MIME)
        cache_headers(resp.headers, None, body, self.max_age)
        if not_modified(req, None, body):
            return make_not_modified(resp)
        return resp


def _number(text: str) -> int | None:
    """A tile coordinate: ASCII digits only (``str.isdigit`` also takes '²'), a sane length."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def _south_coord(grid: TileGrid, coord: TileCoord) -> TileCoord:
    x, y, z = coord
    return (x, y if grid.origin == "sw" else grid.flip_y(y, z), z)


def _clipped_bbox(grid: TileGrid, coord: TileCoord) -> BBox:
    b, g = grid.tile_bbox(coord), grid.bbox
    return (max(b[0], g[0]), max(b[1], g[1]), min(b[2], g[2]), min(b[3], g[3]))


def _subtiles(grid: TileGrid, coord: TileCoord, bbox: BBox):
    """Tiles of the next level whose lower left corner lies in ``bbox`` (so that
    each appears in one document only), with their north/south/east/west."""
    level = coord[2] + 1
    if level >= grid.levels:
        return
    x0, y0, x1, y1 = grid.tile_range(bbox, level)
    rows = range(y1, y0 - 1, -1) if grid.origin == "sw" else range(y0, y1 + 1)
    for y in rows:
        for x in range(x0, x1 + 1):
            sub = (x, y, level)
            sb = _clipped_bbox(grid, sub)
            if sb[0] >= bbox[0] and sb[1] >= bbox[1]:
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
