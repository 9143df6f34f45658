"""MapProxy's authorization API: a WSGI middleware in front of the app puts a
callable at ``environ['mapproxy.authorize']`` and every service asks it what
the request may see, once it knows the layers involved.

The callable is called as MapProxy calls it: ``authorize(service, layers,
environ=environ, query_extent=(srs code, bbox))`` (``query_extent`` left out
where MapProxy leaves it out). Services are named as in MapProxy (``wms.map``,
``wms.featureinfo``, ``wms.capabilities``, ``tms``, ``kml``, ``wmts``,
``wmts.featureinfo``, ``demo``; tileproxy adds ``wms.legendgraphic`` and
``ogcapi.map`` for OGC API maps and map tiles and ``ogcapi.tiles`` for its vector tiles,
which MapProxy does not ask about). The answer
is a dict whose ``authorized`` is:

- ``full``: everything asked for;
- ``partial``: what ``layers`` (name -> rights such as ``{"map": True}``) grants,
  each layer possibly ``limited_to`` an area, the request as a whole possibly too;
- ``unauthenticated``: HTTP 401, so that the middleware can ask for credentials;
- ``none``, or anything else: HTTP 403.

Denials are answered in the asking service's own error format. Within one
request a question is asked once: the answer is kept in the environ, so the
cached-tile fast path and the general path share it. Without the callable in
the environ, nothing is asked and everything is allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..http import HTTPError, Response
from ..srs import BBox, SRSError, get_srs

if TYPE_CHECKING:  # shapely loads with the first limit only (see test_import_weight)
    from ..coverage import Coverage

log = logging.getLogger("tileproxy.access")

AUTHORIZE = "mapproxy.authorize"
_ASKED = "tileproxy.authorize.answers"  # questions asked in this request -> answers

ErrorFactory = Callable[[str, int], Response]
QueryExtent = tuple[str, BBox]

_OMIT: Any = object()  # query_extent is not passed at all (as MapProxy leaves it out)


class Answer:
    """What the callback granted: everything (``full``) or the rights per layer."""

    __slots__ = ("full", "rights", "_request_limit", "_limits")

    def __init__(self, full: bool, rights: dict[str, Any] | None = None, request_limit: Any = None):
        self.full = full
        self.rights: dict[str, Any] = rights if isinstance(rights, dict) else {}
        self._request_limit = request_limit
        self._limits: dict[str | None, Coverage | None] = {}

    def allows(self, name: Any, right: str) -> bool:
        """Has layer ``name`` the right (``map``, ``featureinfo``, ``legendgraphic``, ``tile``)?"""
        if self.full:
            return True
        entry = self.rights.get(name)
        return isinstance(entry, dict) and entry.get(right) is True

    def layer_limit(self, name: Any) -> Coverage | None:
        """The area layer ``name`` is limited to by its own ``limited_to``."""
        if self.full:
            return None
        if name not in self._limits:
            entry = self.rights.get(name)
            spec = entry.get("limited_to") if isinstance(entry, dict) else None
            self._limits[name] = limit_coverage(spec) if spec else None
        return self._limits[name]

    def request_limit(self) -> Coverage | None:
        """The area the whole request is limited to (the answer's own ``limited_to``)."""
        if self.full or not self._request_limit:
            return None
        if None not in self._limits:
            self._limits[None] = limit_coverage(self._request_limit)
        return self._limits[None]

    def tile_limit(self, name: Any) -> Coverage | None:
        """For tile services: the layer's own limit, else the request's."""
        return self.layer_limit(name) or self.request_limit()


FULL = Answer(True)


def authorize(environ: dict, service: str, layers: list, error: ErrorFactory,
              query_extent: QueryExtent | None = _OMIT) -> Answer | None:
    """The callback's answer for ``service`` and ``layers``; None when there is no
    callback. ``unauthenticated`` raises HTTPError with ``error("unauthorized", 401)``,
    ``none`` and unknown answers with ``error("forbidden", 403)``."""
    callback = environ.get(AUTHORIZE)
    if callback is None:
        return None
    answer = ask(callback, environ, service, layers, query_extent)
    if answer == "unauthenticated":
        raise HTTPError(error("unauthorized", 401))
    if answer is None:
        raise HTTPError(error("forbidden", 403))
    return answer


def ask(callback: Callable, environ: dict, service: str, layers: list,
        query_extent: QueryExtent | None = _OMIT) -> Answer | str | None:
    """The callback's answer: an Answer for ``full`` and ``partial``,
    ``"unauthenticated"``, or None for a denial."""
    key = (service, tuple(layers), None if query_extent is _OMIT else query_extent)
    asked = environ.get(_ASKED)
    if asked is not None and key in asked:
        return asked[key]
    if query_extent is _OMIT:
        result = callback(service, list(layers), environ=environ)
    else:
        result = callback(service, list(layers), environ=environ, query_extent=query_extent)
    answer = _read(result, service)
    if asked is None:
        asked = environ[_ASKED] = {}
    asked[key] = answer
    return answer


def _read(result: Any, service: str) -> Answer | str | None:
    kind = result.get("authorized") if isinstance(result, dict) else None
    if kind == "full":
        return FULL
    if kind == "partial":
        return Answer(False, result.get("layers"), result.get("limited_to"))
    if kind == "unauthenticated":
        return kind
    if kind != "none":
        log.warning("%s: the authorize callback answered %r, taken as 'none'", service, kind)
    return None


def granted_whole(callback: Callable, environ: dict, service: str, name: str, right: str, srs: Any,
                  bbox: BBox, limits: Callable[[Answer], tuple[Coverage | None, ...]]) -> bool:
    """For stored tiles sent as they are: does the callback grant ``right`` on ``name``
    with none of ``limits(answer)`` cutting ``bbox`` (in ``srs``)? Anything but a plain
    yes (a denial, a cut, a failing callback) is False: the general path asks again
    (answered from the environ) and answers as its service does."""
    try:
        answer = ask(callback, environ, service, [name], (srs.code, bbox))
        if not isinstance(answer, Answer) or not answer.allows(name, right):
            return False
        return all(limit is None or limit.contains(bbox, srs) for limit in limits(answer))
    except Exception:
        return False


def limit_coverage(spec: Any) -> Coverage:
    """A ``limited_to`` entry (``geometry``: a bbox list, WKT polygons one per line, or a
    Shapely geometry; ``srs``) as a coverage. A malformed one is the middleware's
    error: ValueError (the request fails, nothing is shown). Middlewares answer the
    same few areas again and again: each is built (and reprojected) once."""
    try:
        geom = spec["geometry"]
        key = tuple(float(v) for v in geom) if isinstance(geom, (list, tuple)) else geom
        return _limit_coverage(spec["srs"], key)
    except (KeyError, TypeError, ValueError) as ex:
        raise ValueError(f"invalid limited_to from the authorize callback: {ex}") from None


@lru_cache(maxsize=64)
def _limit_coverage(srs_code: Any, geom: Any) -> Coverage:
    from shapely.geometry import box
    from shapely.geometry.base import BaseGeometry

    from ..coverage import Coverage, CoverageError, geometry_from_text

    try:
        srs = get_srs(srs_code)
        if isinstance(geom, BaseGeometry):
            shape = geom
        elif isinstance(geom, tuple):
            minx, miny, maxx, maxy = geom
            shape = box(minx, miny, maxx, maxy)
        else:
            shape = geometry_from_text(str(geom))
    except (TypeError, ValueError, SRSError, CoverageError) as ex:
        raise ValueError(str(ex)) from None
    return Coverage(shape, srs, clip=True)


def covers_point(limit: Coverage, x: float, y: float, srs: Any) -> bool:
    """Does ``limit`` hold the point x/y (in ``srs``)?"""
    return limit.contains((x, y, x, y), srs)
