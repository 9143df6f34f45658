"""TMS 1.0.0 (``/tms``) and the plain ``/tiles`` service."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from ..config.model import TMSConfig
from ..grid import TileGrid
from ..http import HTTPError, Request, Response
from ..layers import TileLayer
from .tile_response import serve_tile
from .xmltext import xml_text


class TileServiceGrid:
    """How a grid is addressed over TMS: the global profiles start one level down
    (TMS z=0 is 2x2 / 2x1 tiles), sqrt2 grids publish every second level, and
    rows always count from the south."""

    def __init__(self, grid: TileGrid):
        self.grid = grid
        if grid.is_global_mercator:
            self.profile, self.srs_name, skip_first = "global-mercator", "OSGEO:41001", True
        elif grid.is_global_geodetic:
            self.profile, self.srs_name, skip_first = "global-geodetic", "EPSG:4326", True
        else:
            self.profile, self.srs_name, skip_first = "local", grid.srs.code, False
        res = grid.resolutions
        sqrt2 = len(res) > 1 and all(math.isclose(a / b, math.sqrt(2), rel_tol=1e-3) for a, b in zip(res, res[1:]))
        self._step = 2 if sqrt2 else 1
        # MapProxy's mapping: the profile shift is applied before doubling, so a
        # global sqrt2 grid starts at internal level 2 * (0 + 2) = 4
        self._first = (2 if sqrt2 else 1) if skip_first else 0

    def internal_level(self, level: int) -> int | None:
        internal = (self._first + level) * self._step
        return internal if 0 <= level and internal < self.grid.levels else None

    def levels(self) -> list[tuple[int, int]]:
        """(tms level, internal level) pairs."""
        out = []
        level = 0
        while (internal := self.internal_level(level)) is not None:
            out.append((level, internal))
            level += 1
        return out

    def internal_coord(self, x: int, y: int, z: int) -> tuple[int, int, int] | None:
        internal = self.internal_level(z)
        if internal is None:
            return None
        if self.grid.origin == "nw":
            y = self.grid.flip_y(y, internal)
        return (x, y, internal)


def _tms_error(message: str, status: int) -> Response:
    body = f'<?xml version="1.0"?>\n<TileMapServerError>\n<Message>{xml_text(message)}</Message>\n</TileMapServerError>\n'
    return Response(body, status, "text/xml")


def _text_error(message: str, status: int) -> Response:
    return Response(message, status)


class TMSService:
    def __init__(self, layers: list[TileLayer], conf: TMSConfig, max_age: int):
        self.conf = conf
        self.max_age = max_age
        self.layers = layers
        # (layer name, grid id) -> layer; grid id is EPSGnnnn or the grid name
        self.index: dict[tuple[str, str], TileLayer] = {}
        for layer in layers:
            ids = [layer.grid.name or layer.grid_name] if conf.use_grid_names else [layer.grid_id]
            ids.append(layer.grid_name)
            for gid in ids:
                self.index.setdefault((layer.name, gid), layer)
        self.first_by_name: dict[str, TileLayer] = {}
        for layer in layers:
            self.first_by_name.setdefault(layer.name, layer)
        self.grids = {id(layer.grid): TileServiceGrid(layer.grid) for layer in layers}

    def public_grid_id(self, layer: TileLayer) -> str:
        return (layer.grid.name or layer.grid_name) if self.conf.use_grid_names else layer.grid_id

    # -- /tms ------------------------------------------------------------------

    def handle_tms(self, req: Request, parts: list[str]) -> Response:
        """``parts`` are the path segments after ``tms``."""
        if not parts or parts == [""]:
            return self.root(req)
        if parts[0] != "1.0.0":
            return _tms_error("unknown TMS version", 404)
        rest = [p for p in parts[1:] if p != ""]
        if not rest:
            return self.capabilities(req)
        layer, rest = self._layer_from(rest, _tms_error)
        if not rest:
            return self.tile_map(req, layer)
        z, x, y, ext = _parse_zxy(rest, _tms_error)
        if not layer.format.matches_ext(ext):
            return _tms_error(f"invalid format '{ext}' for this layer (use {layer.format.ext})", 404)
        coord = self.grids[id(layer.grid)].internal_coord(x, y, z)
        if coord is None or not layer.grid.is_valid(coord):
            return _tms_error("tile is outside the grid", 404)
        return serve_tile(req, layer, coord, self.max_age, _tms_error)

    def _layer_from(self, rest: list[str], error) -> tuple[TileLayer, list[str]]:
        name = rest[0]
        if len(rest) >= 2 and (name, rest[1]) in self.index:
            return self.index[(name, rest[1])], rest[2:]
        # <layer>_<grid>: layer and grid names may both contain underscores
        for pos in (i for i, ch in enumerate(name) if ch == "_"):
            key = (name[:pos], name[pos + 1 :])
            if key in self.index:
                return self.index[key], rest[1:]
        raise HTTPError(error(f"unknown layer or grid: {'/'.join(rest[:2])}", 404))

    def root(self, req: Request) -> Response:
        base = req.script_url
        body = (
            '<?xml version="1.0"?>\n<Services>\n'
            f'  <TileMapService title={quoteattr(self.conf.md.title)} version="1.0.0" href="{escape(base)}/tms/1.0.0/" />\n'
            "</Services>\n"
        )
        return Response(body, content_type="text/xml")

    def capabilities(self, req: Request) -> Response:
        base = req.script_url
        md = self.conf.md
        rows = []
        for layer in self.layers:
            tsg = self.grids[id(layer.grid)]
            href = f"{base}/tms/1.0.0/{layer.name}/{self.public_grid_id(layer)}"
            rows.append(
                f"    <TileMap title={quoteattr(layer.title)} srs={quoteattr(tsg.srs_name)} "
                f"profile={quoteattr(tsg.profile)} href={quoteattr(href)} />"
            )
        body = (
            '<?xml version="1.0"?>\n<TileMapService version="1.0.0">\n'
            f"  <Title>{escape(md.title)}</Title>\n  <Abstract>{escape(md.abstract)}</Abstract>\n"
            "  <TileMaps>\n" + "\n".join(rows) + "\n  </TileMaps>\n</TileMapService>\n"
        )
        return Response(body, content_type="text/xml")

    def tile_map(self, req: Request, layer: TileLayer) -> Response:
        base = req.script_url
        grid = layer.grid
        tsg = self.grids[id(grid)]
        href = f"{base}/tms/1.0.0/{layer.name}/{self.public_grid_id(layer)}"
        bbox = grid.bbox
        tilesets = "\n".join(
            f'    <TileSet href="{escape(href)}/{level}" units-per-pixel="{grid.resolutions[internal]!r}" order="{level}" />'
            for level, internal in tsg.levels()
        )
        tw, th = grid.tile_size
        body = (
            f'<?xml version="1.0"?>\n<TileMap version="1.0.0" tilemapservice="{escape(base)}/tms/1.0.0/">\n'
            f"  <Title>{escape(layer.title)}</Title>\n  <Abstract>{escape(str(layer.md.get('abstract', '')))}</Abstract>\n"
            f"  <SRS>{escape(tsg.srs_name)}</SRS>\n"
            f'  <BoundingBox minx="{bbox[0]!r}" miny="{bbox[1]!r}" maxx="{bbox[2]!r}" maxy="{bbox[3]!r}" />\n'
            f'  <Origin x="{bbox[0]!r}" y="{bbox[1]!r}" />\n'
            f'  <TileFormat width="{tw}" height="{th}" mime-type="{layer.mime}" extension="{layer.format.ext}" />\n'
            f'  <TileSets profile="{tsg.profile}">\n{tilesets}\n  </TileSets>\n</TileMap>\n'
        )
        return Response(body, content_type="text/xml")

    # -- /tiles ----------------------------------------------------------------

    def handle_tiles(self, req: Request, parts: list[str]) -> Response:
        """``/tiles/<layer>[/<grid>]/z/x/y.ext`` with internal levels; ``?origin=nw|sw``."""
        rest = [p for p in parts if p != ""]
        if len(rest) < 4:
            return _text_error("expected /tiles/<layer>[/<grid>]/<z>/<x>/<y>.<format>", 404)
        head, zxy = rest[:-3], rest[-3:]
        if len(head) == 1 and head[0] in self.first_by_name:
            layer = self.first_by_name[head[0]]
        else:
            layer, left = self._layer_from(head, _text_error)
            if left:
                return _text_error("unknown layer or grid", 404)
        z, x, y, ext = _parse_zxy(zxy, _text_error)
        if not layer.format.matches_ext(ext):
            return _text_error(f"invalid format '{ext}' for this layer (use {layer.format.ext})", 404)
        origin = (req.args.get("origin") or self.conf.origin).lower()
        origin = {"ll": "sw", "ul": "nw"}.get(origin, origin)
        if origin not in ("sw", "nw"):
            return _text_error(f"invalid origin '{origin}' (use nw or sw)", 400)
        grid = layer.grid
        if origin != grid.origin:
            if not grid.supports_access_with_origin(origin):
                return _text_error(f"this grid cannot be accessed with origin {origin}", 400)
            if not 0 <= z < grid.levels:
                return _text_error("tile is outside the grid", 404)
            y = grid.flip_y(y, z)
        coord = (x, y, z)
        if not grid.is_valid(coord):
            return _text_error("tile is outside the grid", 404)
        return serve_tile(req, layer, coord, self.max_age, _text_error)


def _parse_zxy(parts: list[str], error) -> tuple[int, int, int, str]:
    if len(parts) != 3:
        raise HTTPError(error("expected <z>/<x>/<y>.<format>", 404))
    z, x, last = parts
    y, dot, ext = last.partition(".")
    if not dot:
        raise HTTPError(error("missing format extension", 404))
    try:
        zi, xi, yi = int(z), int(x), int(y)
    except ValueError:
        raise HTTPError(error("tile coordinates must be integers", 404)) from None
    if not (z.isdigit() and x.isdigit() and y.isdigit()):
        raise HTTPError(error("tile coordinates must be non-negative integers", 404))
    return zi, xi, yi, ext
