"""TMS 1.0.0 (``/tms``) and the plain ``/tiles`` service.

URLs as MapProxy reads them:
``/tms/1.0.0/<layer>[/<grid>]/<z>/<x>/<y>.<ext>`` (TMS levels and rows from the
south), ``/tiles[/1.0.0]/<layer>[/<grid>]/<z>/<x>/<y>.<ext>`` (grid levels; rows
as the grid counts them unless ``origin`` asks otherwise), ``/tms`` (the root
resource), ``/tms/1.0.0/`` (the TileMapService) and
``/tms/1.0.0/<layer>[/<grid>]`` (a TileMap). How ``<layer>[/<grid>]`` finds a
layer: see ``TileLayerNames``.
"""

from __future__ import annotations

import math
import re
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from ..config.model import TMSConfig
from ..grid import TileCoord, TileGrid
from ..http import HTTPError, Request, Response
from ..layers import TileLayer, TileLayerNames
from .access import authorize
from .client_input import echo, short_message
from .tile_access import tile_access
from .tile_response import (
    KNOWN_EXTENSIONS,
    ErrorFactory,
    TileAddress,
    TileRequestError,
    TileRoute,
    serve_tile,
)
from .xmltext import xml_text

# a bare layer name means this grid, else that one (MapProxy's order for TMS)
TMS_FALLBACK_GRIDS = ("EPSG900913", "EPSG4326")

# /<service>[/1.0.0]/<layer>[/<grid>]/<z>/<x>/<y>.<ext>; like MapProxy, anything
# after the extension is ignored and negative numbers parse (and are outside)
TILE_PATH = re.compile(
    r"^/(?P<service>[^/]+)/(?:1\.0\.0/)?(?P<layer>[^/]+)/(?:(?P<grid>[^/]+)/)?"
    r"(?P<z>-?\d{1,9})/(?P<x>-?\d{1,9})/(?P<y>-?\d{1,9})\.(?P<ext>\w+)",
    re.ASCII,
)

OUTSIDE = "The requested tile is outside the bounding box of the tile map."


class TileServiceGrid:
    """How a grid is addressed over TMS.

    A grid is ``global-mercator`` when it is in web mercator with exactly the
    world bbox, ``global-geodetic`` in EPSG:4326 with exactly (-180, -90, 180, 90),
    else ``local``, whatever its resolutions (MapProxy's rule, which decides the
    level numbers existing clients use). The global profiles start one level down
    (TMS z=0 is 2x2 / 2x1 tiles); grids whose first two resolutions differ by
    sqrt(2) publish every second level."""

    def __init__(self, grid: TileGrid):
        self.grid = grid
        if grid.is_global_mercator:
            self.profile, self.srs_name, skip_first = "global-mercator", "OSGEO:41001", True
        elif grid.is_global_geodetic:
            self.profile, self.srs_name, skip_first = "global-geodetic", "EPSG:4326", True
        else:
            self.profile, self.srs_name, skip_first = "local", grid.srs.code, False
        res = grid.resolutions
        sqrt2 = len(res) > 1 and math.isclose(res[0] / res[1], math.sqrt(2), rel_tol=1e-9)
        self._step = 2 if sqrt2 else 1
        self._skip = 1 if skip_first else 0

    def levels(self) -> list[tuple[int, int]]:
        """(TMS order, grid level) of every published level."""
        start = self._skip * self._step
        return list(enumerate(range(start, self.grid.levels, self._step)))

    def internal_coord(self, x: int, y: int, z: int, profiles: bool = True) -> TileCoord | None:
        """The grid's tile for TMS coordinates (rows from the south), or None outside;
        ``profiles=False`` for /tiles and KML, whose z counts grid levels."""
        return self.grid_coord(x, y, z, profiles, self.grid.origin == "nw")

    def grid_coord(self, x: int, y: int, z: int, profiles: bool, flip: bool = False) -> TileCoord | None:
        """The level mapped, rows counted from the other end when ``flip``; None outside."""
        if z < 0:
            return None
        level = (z + self._skip if profiles else z) * self._step
        sizes = self.grid.grid_sizes
        if level >= len(sizes):
            return None
        width, height = sizes[level]
        if not (0 <= x < width and 0 <= y < height):
            return None
        return (x, height - 1 - y, level) if flip else (x, y, level)

    def grid_level(self, z: int) -> int:
        """The grid level of /tiles and KML level ``z``."""
        return z * self._step

    def public_level(self, level: int) -> int:
        """The /tiles and KML z of grid level ``level``."""
        return level // self._step


class _TileSet:
    """A tile layer as tile URLs reach it: its grid as TMS addresses it, and the
    URL extensions known to ask for its format."""

    __slots__ = ("layer", "grid", "service_grid", "exts")

    def __init__(self, layer: TileLayer, service_grid: TileServiceGrid):
        self.layer = layer
        self.grid = layer.grid
        self.service_grid = service_grid
        fmt = layer.format
        self.exts = frozenset(e for e in (*KNOWN_EXTENSIONS, fmt.ext) if fmt.matches_ext(e))

    def accepts(self, ext: str) -> bool:
        """Does the URL extension ``ext`` ask for the layer's format?"""
        return ext in self.exts or self.layer.format.matches_ext(ext)

    def tms_coord(self, z: int, x: int, y: int) -> TileCoord | None:
        """The grid's tile of TMS numbers in their URL order."""
        return self.service_grid.internal_coord(x, y, z)


def _tms_error(message: str, status: int) -> Response:
    body = f'<?xml version="1.0"?>\n<TileMapServerError>\n<Message>{xml_text(short_message(message))}</Message>\n</TileMapServerError>\n'
    return Response(body, status, "text/xml")


def _text_error(message: str, status: int) -> Response:
    return Response(short_message(message), status)


def request_url(req: Request) -> str:
    """The URL the client asked for, without the query."""
    return req.script_url + quote(req.path)


class TMSService:
    def __init__(self, layers: list[TileLayer], conf: TMSConfig, max_age: int):
        self.conf = conf
        self.max_age = max_age
        self.names = TileLayerNames(layers, conf.use_grid_names, TMS_FALLBACK_GRIDS)
        self.grids: dict[int, TileServiceGrid] = {}
        for layer in layers:
            self.grids.setdefault(id(layer.grid), TileServiceGrid(layer.grid))
        self._tile_sets = {id(layer): _TileSet(layer, self.grids[id(layer.grid)]) for layer in layers}

    def public_grid_id(self, layer: TileLayer) -> str:
        return layer.path_id(self.conf.use_grid_names)

    def service_grid(self, layer: TileLayer) -> TileServiceGrid:
        return self.grids[id(layer.grid)]

    def find(self, name: str, grid_part: str | None, error: ErrorFactory) -> TileLayer:
        layer = self.names.find(name, grid_part)
        if layer is None:
            raise HTTPError(error(f"unknown layer: {echo(name)}", 404))
        return layer

    # -- /tms ------------------------------------------------------------------

    def handle_tms(self, req: Request, parts: list[str]) -> Response:
        """``parts`` are the path segments after ``tms``."""
        if parts in ([], [""]):
            return self.root(req)
        if parts[0] == "1.0.0":
            rest = parts[1:]
            if rest in ([], [""]):
                return self.capabilities(req)
            if 1 <= len(rest) <= 2 and all(rest):
                layer = self.find(rest[0], rest[1] if len(rest) == 2 else None, _tms_error)
                answer = authorize(req.environ, "tms", [layer.name], _tms_error, None)
                if answer is not None and not answer.allows(layer.name, "tile"):
                    return _tms_error("forbidden", 403)
                return self.tile_map(req, layer)
        try:
            found = self.resolve(req.path)
        except TileRequestError as ex:
            return _tms_error(str(ex), ex.status)
        if found is None:
            return _tms_error(f"invalid request ({echo(req.path)})", 404)
        return self._serve(req, *found, _tms_error)

    def _serve(self, req: Request, layer: TileLayer, coord: TileCoord, error: ErrorFactory) -> Response:
        """A tile of /tms or /tiles, as the authorize and decorate_img callbacks allow."""
        access = tile_access(req.environ, "tms", layer, coord, error)
        return serve_tile(req, layer, coord, self.max_age, error, access)

    def resolve(self, path: str, origin: str | None = None) -> TileAddress | None:
        """The tile layer and grid coordinates a ``/tms`` or ``/tiles`` tile URL asks
        for; None when ``path`` is no tile URL of these. ``origin`` is the ``origin``
        argument of a /tiles request. A tile URL that names no tile raises
        TileRequestError: an unknown layer, another format (checked first, as MapProxy
        does), a tile outside the grid, an origin the grid cannot be read from."""
        match = TILE_PATH.match(path)
        if match is None:
            return None
        service, name, grid_part, z, x, y, ext = match.groups()
        if service != "tms" and service != "tiles":
            return None
        layer = self.names.find(name, grid_part)
        if layer is None:
            raise TileRequestError(f"unknown layer: {echo(name)}")
        tile_set = self._tile_sets[id(layer)]
        if not tile_set.accepts(ext):
            raise TileRequestError(f"invalid format ({echo(ext)}). this tile set only supports ({layer.format.ext})")
        if service == "tms":  # TMS levels, rows from the south
            coord = tile_set.service_grid.internal_coord(int(x), int(y), int(z))
            if coord is None:
                raise TileRequestError(OUTSIDE)
            return layer, coord
        # /tiles: grid levels, rows as the grid counts them or from the origin asked for
        grid = tile_set.grid
        origin = _origin(origin) or self.conf.origin
        flip = origin is not None and origin != grid.origin
        coord = tile_set.service_grid.grid_coord(int(x), int(y), int(z), False, flip)
        if coord is None:
            raise TileRequestError(OUTSIDE)
        if flip and not grid.supports_access_with_origin(origin):
            raise TileRequestError(f"this grid cannot be accessed with origin {origin}", 400)
        return layer, coord

    def route(self, path: str) -> TileRoute | None:
        """``resolve`` of a /tms tile URL, for every URL that differs from ``path`` only
        in the numbers z, x, y (see ``TileRoute``); None for /tiles (its origin
        argument) and where the URL goes on after the extension."""
        found = self.resolve(path)
        match = TILE_PATH.match(path)
        if found is None or match is None or match["service"] != "tms" or match.end() != len(path):
            return None
        return found[0], self._tile_sets[id(found[0])].tms_coord

    def root(self, req: Request) -> Response:
        base = request_url(req).rstrip("/")
        body = (
            '<?xml version="1.0"?>\n<Services>\n'
            f'  <TileMapService title={quoteattr(self.conf.md.title)} version="1.0.0" href="{escape(base)}/1.0.0/" />\n'
            "</Services>\n"
        )
        return Response(body, content_type="text/xml")

    def capabilities(self, req: Request) -> Response:
        base = request_url(req).rstrip("/")
        md = self.conf.md
        rows = []
        for path, layer in self._listed(req.environ):
            tsg = self.service_grid(layer)
            rows.append(
                f"    <TileMap title={quoteattr(layer.title)} srs={quoteattr(tsg.srs_name)} "
                f"profile={quoteattr(tsg.profile)} href={quoteattr(base + '/' + path)} />"
            )
        head = [f"  <Title>{escape(md.title)}</Title>", f"  <Abstract>{escape(md.abstract)}</Abstract>"]
        if md.keywords:
            head.append(f"  <KeywordList>{escape(' '.join(f'{chr(34)}{k}{chr(34)}' for k in md.keywords))}</KeywordList>")
        if md.contact:
            head.append(_contact(md.contact))
        body = (
            '<?xml version="1.0"?>\n<TileMapService version="1.0.0">\n' + "\n".join(head) + "\n"
            "  <TileMaps>\n" + "\n".join(rows) + "\n  </TileMaps>\n</TileMapService>\n"
        )
        return Response(body, content_type="text/xml")

    def _listed(self, environ: dict) -> list[tuple[str, TileLayer]]:
        """The published layers the authorize callback lets the capabilities list: it
        is asked about all of them by their internal names (``<layer>_<grid>``, or
        (layer, grid) with ``use_grid_names``, as MapProxy names them) and answers
        with the rights of layer names."""
        published = self.names.published()
        internal = [(name, grid) if self.conf.use_grid_names else f"{name}_{grid}"
                    for name, grid in self.names.by_path]
        answer = authorize(environ, "tms", internal, _tms_error, None)
        if answer is None or answer.full:
            return published
        return [(path, layer) for path, layer in published if answer.allows(layer.name, "tile")]

    def tile_map(self, req: Request, layer: TileLayer) -> Response:
        url = request_url(req)
        grid = layer.grid
        tsg = self.service_grid(layer)
        tilesets = "\n".join(
            f'    <TileSet href="{escape(url)}/{order}" units-per-pixel="{grid.resolutions[level]!r}" order="{order}" />'
            for order, level in tsg.levels()
        )
        minx, miny, maxx, maxy = (str(v) for v in layer.bbox)  # ints as configured stay ints
        tw, th = grid.tile_size
        tms_base = req.script_url + "/tms/1.0.0/"
        body = (
            f'<?xml version="1.0"?>\n<TileMap version="1.0.0" tilemapservice="{escape(tms_base)}">\n'
            f"  <Title>{escape(layer.title)}</Title>\n  <Abstract>{escape(str(layer.md.get('abstract', '')))}</Abstract>\n"
            f"  <SRS>{escape(tsg.srs_name)}</SRS>\n"
            f'  <BoundingBox minx="{minx}" miny="{miny}" maxx="{maxx}" maxy="{maxy}" />\n'
            f'  <Origin x="{minx}" y="{miny}" />\n'
            f'  <TileFormat width="{tw}" height="{th}" mime-type="{layer.mime}" extension="{layer.format.ext}" />\n'
            f'  <TileSets profile="{tsg.profile}">\n{tilesets}\n  </TileSets>\n</TileMap>\n'
        )
        return Response(body, content_type="text/xml")

    # -- /tiles ----------------------------------------------------------------

    def handle_tiles(self, req: Request, parts: list[str]) -> Response:
        """``/tiles[/1.0.0]/<layer>[/<grid>]/z/x/y.ext`` with grid levels; rows as the
        grid counts them, or from ``origin`` (``?origin=`` or ``services.tms.origin``)."""
        try:
            found = self.resolve(req.path, req.args.get("origin"))
        except TileRequestError as ex:
            return _text_error(str(ex), ex.status)
        if found is None:
            return _text_error(f"invalid request ({echo(req.path)})", 404)
        return self._serve(req, *found, _text_error)


def _origin(value: str | None) -> str | None:
    """``sw``/``nw`` (or ``ll``/``ul``) from a request; anything else is no choice."""
    return {"sw": "sw", "ll": "sw", "nw": "nw", "ul": "nw"}.get((value or "").lower())


def _contact(contact: dict[str, str]) -> str:
    def el(tag: str, *keys: str) -> str:
        value = next((contact[k] for k in keys if k in contact), "")
        return f"<{tag}>{escape(value)}</{tag}>"

    return (
        "  <ContactInformation>\n"
        f"    <ContactPersonPrimary>{el('ContactPerson', 'person')}"
        f"{el('ContactOrganization', 'organization', 'organisation')}</ContactPersonPrimary>\n"
        f"    {el('ContactPosition', 'position')}\n"
        f"    <ContactAddress>{el('Address', 'address')}{el('City', 'city')}{el('PostCode', 'postcode')}"
        f"{el('Country', 'country')}</ContactAddress>\n"
        f"    {el('ContactVoiceTelephone', 'phone')}\n    {el('ContactFacsimileTelephone', 'fax')}\n"
        f"    {el('ContactElectronicMailAddress', 'email')}\n"
        "  </ContactInformation>"
    )
