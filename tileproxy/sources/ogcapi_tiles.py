"""``ogcapitiles`` sources: map tiles of an OGC API Tiles server.

The server is asked on first use: the landing page (or collection) links to its
map tilesets; the tilesets in the CRS of a request, or the one tile matrix set
``tile_matrix_set_id`` names, lead to a tile matrix set (read as a TileGrid) and
a tile URL template. A request must then be exactly one tile of that grid, as
a cache with the same grid asks for it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Any

from ..grid import GridError, TileCoord, TileGrid
from ..image.result import ImageResult
from ..image.transform import blank_image
from ..srs import SRS, SRSError
from .base import MapQuery, Source, SourceError, source_image
from .limits import NO_LIMITS, SourceLimits
from .ogcapi_links import OGC_REL, OGCAPIServer, Once, crs_srs, find_link
from .on_error import ErrorPolicy

log = logging.getLogger("tileproxy.source.ogcapitiles")

NOT_ALIGNED = "BBOX does not align to tile"  # MapProxy's words, which clients may know


@dataclass(frozen=True)
class TileSet:
    """One map tileset of the server: its grid, the ids of its tile matrices (one
    per grid level) and the URL template of its tiles."""

    grid: TileGrid
    matrix_ids: tuple[str, ...]
    template: str

    def tile_url(self, coord: TileCoord) -> str:
        x, y, z = coord
        return (self.template.replace("{tileMatrix}", self.matrix_ids[z])
                .replace("{tileRow}", str(y)).replace("{tileCol}", str(x)))


def grid_from_tile_matrix_set(doc: dict) -> tuple[TileGrid, tuple[str, ...]]:
    """The grid of an OGC Two Dimensional Tile Matrix Set (JSON encoding) and the
    ids of its tile matrices. Raises GridError for what a TileGrid cannot be: tile
    matrices of different tile sizes, origins or corners, variable widths."""
    try:
        srs_uri = doc["crs"] if isinstance(doc["crs"], str) else doc["crs"]["uri"]
        srs = crs_srs(srs_uri)
        # pointOfOrigin is in the CRS's own axis order; CRS84 is east first
        north_first = srs.is_axis_order_ne and not srs_uri.endswith("/CRS84")
        matrices = doc["tileMatrices"]
        first = matrices[0]
        tile_size = (int(first["tileWidth"]), int(first["tileHeight"]))
        a, b = (float(v) for v in first["pointOfOrigin"])
        corner = first.get("cornerOfOrigin", "topLeft")
        for m in matrices:
            if "variableMatrixWidths" in m:
                raise GridError("tile matrices with variableMatrixWidths are not supported")
            if ((int(m["tileWidth"]), int(m["tileHeight"])) != tile_size
                    or [float(v) for v in m["pointOfOrigin"]] != [a, b]
                    or m.get("cornerOfOrigin", "topLeft") != corner):
                raise GridError("tile matrices of different tile sizes, origins or corners are not supported")
        res = [float(m["cellSize"]) for m in matrices]
        sizes = [(int(m["matrixWidth"]), int(m["matrixHeight"])) for m in matrices]
        ids = tuple(str(m.get("id", i)) for i, m in enumerate(matrices))
    except (KeyError, IndexError, TypeError, ValueError) as ex:
        raise GridError(f"not a tile matrix set ({type(ex).__name__}: {ex})") from None
    if corner not in ("topLeft", "bottomLeft"):
        raise GridError(f"unknown cornerOfOrigin '{corner}'")
    x, y = (b, a) if north_first else (a, b)
    width, height = tile_size[0] * sizes[0][0] * res[0], tile_size[1] * sizes[0][1] * res[0]
    if corner == "topLeft":
        bbox, origin = (x, y - height, x + width, y), "nw"
    else:
        bbox, origin = (x, y, x + width, y + height), "sw"
    grid = TileGrid(srs=srs, bbox=bbox, resolutions=res, tile_size=tile_size, origin=origin,
                    name=str(doc.get("id", "")))
    grid.grid_sizes = sizes  # as the server counts its tiles
    return grid, ids


def aligned_tile(grid: TileGrid, query: MapQuery) -> TileCoord | None:
    """The tile of ``grid`` whose bbox and size are exactly the query's, else None."""
    if query.srs != grid.srs or tuple(query.size) != tuple(grid.tile_size):
        return None
    res = (query.bbox[2] - query.bbox[0]) / query.size[0]
    level = grid.level_for_resolution(res)
    if level is None:
        return None
    x0, y0, x1, y1 = grid.tile_range(query.bbox, level)
    if (x0, y0) != (x1, y1):
        return None
    coord = (x0, y0, level)
    tolerance = res / 1000
    if any(abs(a - b) > tolerance for a, b in zip(grid.tile_bbox(coord), query.bbox)):
        return None
    return coord


class OGCAPITilesSource(Source):
    """Tiles of a collection (or of the whole dataset) of an OGC API Tiles server."""

    supports_meta_tiles = False  # one tile per request

    def __init__(
        self,
        name: str,
        server: OGCAPIServer,
        *,
        tile_matrix_set_id: str | None = None,
        transparent: bool = False,
        limits: SourceLimits = NO_LIMITS,
        on_error: ErrorPolicy | None = None,
    ):
        super().__init__(name, transparent, limits, on_error)
        self.label = f"OGC API Tiles source '{name}'"
        self.server = replace(server, label=self.label)
        self.tile_matrix_set_id = tile_matrix_set_id
        self._tilesets = Once(self._find_tilesets)
        self._chosen: dict[tuple[SRS, str], TileSet] = {}
        self._choosing = threading.Lock()

    def draw(self, query: MapQuery) -> ImageResult:
        if not query.format.is_image:
            raise SourceError(f"{self.label}: only map tiles (images) are read, not {query.format.mime}")
        mime = "image/png" if query.format.mime == "mixed" else query.format.mime
        tileset = self.tileset(query.srs, mime)
        if tuple(tileset.grid.tile_size) != tuple(query.size):
            raise SourceError(f"{self.label}: the server's tiles are {tileset.grid.tile_size[0]}x"
                              f"{tileset.grid.tile_size[1]} pixels, the cache's {query.size[0]}x{query.size[1]}")
        coord = aligned_tile(tileset.grid, query)
        if coord is None:
            log.warning("%s: %s: no tile of the tile matrix set '%s' is exactly %s", self.label, NOT_ALIGNED,
                        tileset.grid.name, query.bbox)
            raise SourceError(NOT_ALIGNED)
        data = self.server.client.get(tileset.tile_url(coord)).content
        if not data:  # an empty answer: nothing there
            return ImageResult(image=blank_image(tuple(query.size)))
        return source_image(data, tuple(query.size), self.label)

    def tileset(self, srs: SRS, mime: str) -> TileSet:
        """The server's tileset for requests in ``srs`` with tiles of ``mime``
        (asked for once, kept for the source's life)."""
        key = (srs, mime)
        found = self._chosen.get(key)
        if found is not None:
            return found
        candidates = [ts for ts_srs, ts in self._tilesets.get() if ts_srs == srs]
        with self._choosing:
            if key not in self._chosen:
                self._chosen[key] = self._first_usable(candidates, srs, mime)
            return self._chosen[key]

    def _find_tilesets(self) -> list[tuple[SRS, dict]]:
        """The server's map tilesets (of ``tile_matrix_set_id`` when configured) with their SRS."""
        server = self.server
        start = server.document(server.start_url, "links")
        href = find_link(start["links"], OGC_REL + "tilesets-map", "application/json")
        if not href:
            raise SourceError(f"{self.label}: {server.start_url} links to no map tilesets (tilesets-map)")
        listing = server.document(server.url(href), "tilesets")["tilesets"]
        found = []
        for tileset in listing if isinstance(listing, list) else []:
            if not isinstance(tileset, dict) or tileset.get("dataType") != "map":
                continue
            if self.tile_matrix_set_id and not _is_of_matrix_set(tileset, self.tile_matrix_set_id):
                continue
            try:
                found.append((crs_srs(tileset.get("crs")), tileset))
            except SRSError as ex:
                log.info("%s: tileset skipped: %s", self.label, ex)
        return found

    def _first_usable(self, candidates: list[dict], srs: SRS, mime: str) -> TileSet:
        problem = "none is offered"
        for tileset in candidates:
            try:
                return self._read_tileset(tileset, mime)
            except (SourceError, GridError, SRSError) as ex:
                problem = str(ex)
                log.info("%s: tileset skipped: %s", self.label, problem)
        raise SourceError(f"{self.label}: no usable map tileset in {srs.code} with {mime} tiles ({problem})")

    def _read_tileset(self, tileset: dict, mime: str) -> TileSet:
        server = self.server
        links = tileset.get("links")
        scheme_href = find_link(links, OGC_REL + "tiling-scheme", "application/json")
        self_href = find_link(links, "self", "application/json")
        if not scheme_href or not self_href:
            raise SourceError(f"tileset '{tileset.get('title', '')}' has no tiling-scheme or self link")
        grid, ids = grid_from_tile_matrix_set(server.document(server.url(scheme_href), "tileMatrices"))
        full = server.document(server.url(self_href), "links")
        template = find_link(full["links"], "item", mime)
        if not template:
            raise SourceError(f"tileset {server.url(self_href)} has no {mime} tiles")
        return TileSet(grid, ids, server.url(template))


def _is_of_matrix_set(tileset: dict[str, Any], matrix_set_id: str) -> bool:
    """Does one of the tileset's links end in ``/<matrix_set_id>`` (before a query)?"""
    for link in tileset.get("links") or []:
        href = link.get("href") if isinstance(link, dict) else None
        if isinstance(href, str) and href.partition("?")[0].endswith("/" + matrix_set_id):
            return True
    return False

