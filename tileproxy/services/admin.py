"""``POST /admin/invalidate``: tileproxy's own admin API, on only when
``globals.admin.token`` is set. The JSON body takes the fields of
``tileproxy invalidate``; every answer is JSON."""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from ..config.model import ProxyConfig
from ..http import Request, Response
from ..seed.invalidate import (
    InvalidateError,
    find_targets,
    invalidate,
    parse_before,
    parse_levels,
    request_coverage,
)

MAX_BODY = 1 << 20  # a request body beyond this is refused
FIELDS = {"layer", "cache", "grid", "bbox", "srs", "coverage", "levels", "before", "mode"}


def _json(status: int, doc: dict, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(json.dumps(doc) + "\n", status, content_type="application/json",
                    headers=[("Cache-Control", "no-store"), *(headers or [])])


def _error(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return _json(status, {"error": message}, headers)


class AdminAPI:
    def __init__(self, config: ProxyConfig, token: str):
        self.config = config
        self._expected = f"Bearer {token}".encode()

    def handle(self, req: Request, parts: list[str]) -> Response:
        if parts != ["invalidate"]:
            return _error(404, "not found")
        if req.method != "POST":
            return _error(405, "use POST", [("Allow", "POST")])
        given = req.environ.get("HTTP_AUTHORIZATION", "")
        if not given:
            return _error(401, "token required", [("WWW-Authenticate", "Bearer")])
        if not hmac.compare_digest(given.encode(), self._expected):
            return _error(403, "wrong token")
        try:
            body = self._body(req)
            return _json(200, {"results": self._invalidate(body)})
        except InvalidateError as ex:
            return _error(400, str(ex))

    def _body(self, req: Request) -> dict:
        try:
            length = int(req.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise InvalidateError("invalid Content-Length") from None
        if length <= 0:
            raise InvalidateError("expected a JSON object in the request body")
        if length > MAX_BODY:
            raise InvalidateError(f"request body larger than {MAX_BODY} bytes")
        try:
            doc = json.loads(req.environ["wsgi.input"].read(length))
        except (ValueError, UnicodeDecodeError) as ex:
            raise InvalidateError(f"the body is not JSON: {ex}") from None
        if not isinstance(doc, dict):
            raise InvalidateError("expected a JSON object in the request body")
        unknown = sorted(set(doc) - FIELDS)
        if unknown:
            raise InvalidateError(f"unknown fields {', '.join(unknown)} (known: {', '.join(sorted(FIELDS))})")
        return doc

    def _invalidate(self, doc: dict) -> list[dict]:
        targets = find_targets(self.config, _text(doc, "layer"), _text(doc, "cache"), _text(doc, "grid"))
        coverage = _coverage(doc)
        before = parse_before(_value(doc, "before", (str, int, float)), time.time())
        mode = _text(doc, "mode") or "remove"
        levels_value = _value(doc, "levels", (str, int, list))
        levels = str(levels_value) if isinstance(levels_value, int) else levels_value
        results = []
        for target in targets:
            found = parse_levels(levels, target.manager.grid.levels - 1)
            results.append(invalidate(target, found, coverage, before, mode).as_dict())
        return results


def _value(doc: dict, key: str, kinds: tuple[type, ...]) -> Any:
    value = doc.get(key)
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
        raise InvalidateError(f"{key}: unexpected {type(value).__name__}")
    return value


def _text(doc: dict, key: str) -> str | None:
    return _value(doc, key, (str,)) or None


def _coverage(doc: dict):  # noqa: ANN202
    """``bbox`` (a list or ``minx,miny,maxx,maxy``) or ``coverage`` (WKT, or a GeoJSON
    geometry), both in ``srs``; no files over HTTP."""
    bbox = _value(doc, "bbox", (str, list))
    geometry = _value(doc, "coverage", (str, dict))
    srs = _text(doc, "srs")
    if geometry is None:
        if isinstance(bbox, list):
            if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
                raise InvalidateError("bbox: expected four numbers")
            bbox = ",".join(repr(float(v)) for v in bbox)
        return request_coverage(bbox, srs)
    if bbox is not None:
        raise InvalidateError("give a bbox or a coverage, not both")
    return _geometry_coverage(geometry, srs)


def _geometry_coverage(geometry: str | dict, srs: str | None):  # noqa: ANN202
    from shapely.geometry import shape

    from ..coverage import Coverage, CoverageError, geometry_from_text
    from ..srs import SRSError, get_srs

    try:
        geom = shape(geometry) if isinstance(geometry, dict) else geometry_from_text(geometry, "coverage")
        if geom.is_empty or geom.area <= 0:
            raise InvalidateError("coverage: expected a polygon with an area")
        return Coverage(geom, get_srs(srs or "EPSG:4326"))
    except (CoverageError, SRSError, ValueError, TypeError, AttributeError, KeyError) as ex:
        if isinstance(ex, InvalidateError):
            raise
        raise InvalidateError(f"coverage: {ex}") from None
