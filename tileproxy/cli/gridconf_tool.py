"""``tileproxy gridconf-from-ogcapitilematrixset URL``: the ``grids:`` of a mapproxy.yaml
for the tile matrix sets an OGC API offers, as ``mapproxy-util`` 7.0 prints them.

The landing page's ``tiling-schemes`` link leads to the list of tile matrix sets; each
set's own JSON document (OGC 17-083r4) becomes a grid with its srs, bbox, origin,
tile_size and res. Sets these grids cannot express (tile sizes, origins or corners that
change between levels, variable matrix widths, an unknown CRS) are named on stderr."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urljoin

from ..crs_uri import uri_code
from ..srs import SRSError, get_srs

OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
JSON = "application/json"
# the codes mapproxy-util writes for these CRS
_SHOWN_CODES = {"OGC:CRS84": "EPSG:4326", "EPSG:900913": "EPSG:3857"}


class Unsupported(Exception):
    """A tile matrix set a grid cannot express."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gridconf-from-ogcapitilematrixset",
                       help="grid configuration from the tile matrix sets of an OGC API")
    p.add_argument("landing_page", nargs="?", help="URL of the OGC API landing page")
    p.add_argument("--url", help="URL of the OGC API landing page")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    url = args.url or args.landing_page
    if not url:
        args.parser.print_help()
        return 1
    import requests

    from .autoconfig_tool import MapProxyStyleDumper

    session = requests.Session()
    session.headers["Accept"] = JSON
    try:
        grids = grid_confs(url, lambda u: _get_json(session, u))
    except (requests.RequestException, ValueError) as ex:
        print(f"ERROR: {ex}", file=sys.stderr)
        return 1
    if grids is None:
        return 0
    import yaml

    print("Configuration to add to mapproxy.yml:\n")
    print(yaml.dump({"grids": grids}, Dumper=MapProxyStyleDumper, default_flow_style=False, sort_keys=True))
    return 0


def _get_json(session: Any, url: str) -> Any:
    answer = session.get(url, timeout=60)
    answer.raise_for_status()
    try:
        return answer.json()
    except ValueError:
        raise ValueError(f"{url}: not a JSON document") from None


def grid_confs(landing_url: str, get_json: Any) -> dict[str, dict] | None:
    """The grid configurations by tile matrix set id; None (after saying so) when the
    landing page links to no tiling schemes."""
    landing = get_json(landing_url)
    sets_href = find_href(landing.get("links") or [], OGC_REL + "tiling-schemes", JSON)
    if not sets_href:
        print("Cannot find a link to tile matrix set definitions")
        return None
    listing = get_json(urljoin(landing_url, sets_href))
    grids: dict[str, dict] = {}
    for entry in listing.get("tileMatrixSets") or []:
        href = find_href(entry.get("links") or [], "self", JSON)
        if not href:
            print(f"Cannot find definition for {href}", file=sys.stderr)
            continue
        set_url = urljoin(landing_url, href)
        doc = get_json(set_url)
        try:
            grids[str(doc["id"])] = grid_conf(doc)
        except (Unsupported, KeyError, TypeError) as ex:
            reason = f"missing {ex}" if isinstance(ex, KeyError) else str(ex)
            print(f"Cannot handle {set_url}: {reason}", file=sys.stderr)
    return grids


def find_href(links: list[dict], rel: str, media_type: str) -> str | None:
    """The href of the link with relation ``rel`` (or its ``[ogc-rel:...]`` CURIE) and
    ``media_type``, else of the first such link without a type."""
    rels = {rel}
    if rel.startswith(OGC_REL):
        rels.add(f"[ogc-rel:{rel[len(OGC_REL):]}]")
    untyped = None
    for link in links:
        if link.get("rel") not in rels:
            continue
        if link.get("type") == media_type:
            return link.get("href")
        if "type" not in link and untyped is None:
            untyped = link.get("href")
    return untyped


def grid_conf(doc: dict[str, Any]) -> dict[str, Any]:
    """A ``grids:`` entry for one tile matrix set document."""
    crs = doc["crs"]
    crs_text = crs.get("uri") if isinstance(crs, dict) else crs
    try:
        srs = get_srs(uri_code(crs_text))
    except SRSError:
        raise Unsupported(f"CRS {crs_text} is not supported") from None
    matrices = doc["tileMatrices"]
    if not matrices:
        raise Unsupported("no tile matrices")
    first = matrices[0]
    for matrix in matrices:
        if "variableMatrixWidths" in matrix:
            raise Unsupported("Tile matrix with variableMatrixWidths are not supported")
        for key in ("tileWidth", "tileHeight", "pointOfOrigin", "cornerOfOrigin"):
            if matrix.get(key) != first.get(key):
                raise Unsupported(f"Tile matrix set with varying {key} depending on tile matrix")
    width, height = first["tileWidth"], first["tileHeight"]
    point = first["pointOfOrigin"]
    x, y = (point[1], point[0]) if srs.is_axis_order_ne else (point[0], point[1])
    cell, columns, rows = first["cellSize"], first["matrixWidth"], first["matrixHeight"]
    corner = first.get("cornerOfOrigin", "topLeft")  # the standard's default
    if corner == "topLeft":
        origin, bbox = "ul", [x, y - height * rows * cell, x + width * columns * cell, y]
    elif corner == "bottomLeft":
        origin, bbox = "ll", [x, y, x + width * columns * cell, y + height * rows * cell]
    else:
        raise Unsupported(f"Invalid cornerOfOrigin={corner}")
    return {
        "srs": _SHOWN_CODES.get(srs.code, srs.code),
        "bbox": bbox,
        "origin": origin,
        "tile_size": [width, height],
        "res": [m["cellSize"] for m in matrices],
    }
