"""WMS GetFeatureInfo: the request checked, the queryable sources of the query
layers asked, their answers merged (see ``services.featureinfo``).

The answer's Content-Type follows what was merged (text/plain, text/html, GML
or text/xml from 1.3.0, application/json), as MapProxy's does; with
``featureinfo_xslt`` for the asked kind, the merged document is rewritten and
labelled as asked."""

from __future__ import annotations

import re

from ...config.model import WMSConfig
from ...http import Response
from ...layers import WMSLayer
from ...sources.featureinfo import FeatureInfoQuery
from ..access import AUTHORIZE
from ..client_input import echo
from ..featureinfo import XSLTransform, collect, combine, info_kind, mime_of_kind, with_charset
from .access import featureinfo_limits
from .exceptions import WMSError
from .request import (
    check_styles,
    layer_names,
    parse_bbox,
    parse_number,
    parse_size,
    parse_srs,
    require_params,
)

# INFO_FORMAT is echoed as Content-Type: only a plain mime type is taken
_MIME = re.compile(r'[A-Za-z0-9][\w.+-]*/[\w.+-]+(?: ?; ?[\w.+-]+=[\w.+/"-]+)*\Z')
_TYPES = {"text": "text/plain", "html": "text/html", "json": "application/json"}


def info_mime_types(types: list[str], version: str) -> list[str]:
    """Mime types for the configured ``featureinfo_types`` (xml is GML before 1.3.0)."""
    out = []
    for kind in types:
        if kind == "xml":
            out.append(mime_of_kind("xml", version))
        elif "/" in kind:
            out.append(kind)
        else:
            out.append(_TYPES.get(kind, kind))
    return out


def _required(version: str, strict: bool) -> list[str | tuple[str, ...]]:
    """The parameters a GetFeatureInfo must have (FORMAT and STYLES only when strict)."""
    srs = ("crs", "srs") if version == "1.3.0" else ("srs", "crs")
    point: list[str | tuple[str, ...]] = [("i", "x"), ("j", "y")] if version == "1.3.0" else [("x", "i"), ("y", "j")]
    return ["layers", *(["styles"] if strict else []), srs, "bbox", "width", "height",
            *(["format"] if strict else []), "query_layers", *point]


def _pixel(value: str, name: str) -> float:
    """A pixel position as given: whole numbers stay int (they are passed on as given)."""
    number = parse_number(value, name)
    return number if "." in value or not number.is_integer() else int(number)


def parse_query(args: dict[str, str], version: str, conf: WMSConfig) -> FeatureInfoQuery:
    require_params(args, _required(version, conf.strict))
    srs, _ = parse_srs(args, version, conf)
    bbox = parse_bbox(args.get("bbox"), srs, version)
    size = parse_size(args, conf)
    check_styles(args.get("styles"), conf.strict)
    xkey, ykey = ("i", "j") if version == "1.3.0" else ("x", "y")
    col = _pixel(args.get(xkey) or args.get({"i": "x", "x": "i"}[xkey]) or "", xkey)
    row = _pixel(args.get(ykey) or args.get({"j": "y", "y": "j"}[ykey]) or "", ykey)
    if not (0 <= col < size[0] and 0 <= row < size[1]):
        raise WMSError(f"point {echo(col)},{echo(row)} is outside the map", "InvalidPoint", xkey)
    info_format = args.get("info_format") or None
    if info_format is not None and not _MIME.match(info_format):
        raise WMSError(f"unsupported INFO_FORMAT '{echo(info_format)}'", "InvalidFormat", "info_format")
    count = None
    if args.get("feature_count"):
        count = max(1, int(parse_number(args["feature_count"], "feature_count")))
    return FeatureInfoQuery(bbox, size, srs, (col, row), info_format, count, args.get("format") or None)


def feature_info(args: dict[str, str], version: str, conf: WMSConfig, layers: dict[str, WMSLayer],
                 environ: dict | None = None) -> Response:
    query = parse_query(args, version, conf)
    requested = layer_names(args, "layers", conf.max_layers)
    for name in requested:
        if name not in layers:
            raise WMSError(f"unknown layer: {echo(name)}", "LayerNotDefined", "layers")
    owners: dict[int, tuple[str, list]] = {}  # the layers that answer: name and sources
    for name in layer_names(args, "query_layers", conf.max_layers):
        layer = layers.get(name)
        if layer is None:
            raise WMSError(f"unknown layer: {echo(name)}", "LayerNotDefined", "query_layers")
        if not layer.queryable:
            # MapProxy names no code; LayerNotQueryable is one of WMS 1.3.0's codes
            raise WMSError(f"layer {echo(name)} is not queryable",
                           "LayerNotQueryable" if version == "1.3.0" else None, "query_layers")
        for owner, owner_sources in layer.info_owners():
            owners[id(owner)] = (owner.name or "", owner_sources)
    answering = list(owners.values())
    if environ is not None and AUTHORIZE in environ:
        answering = featureinfo_limits(environ, version, answering, requested, query.coord,
                                       (query.srs.code, query.bbox))
    sources: list = []
    for _, owner_sources in answering:
        sources += [s for s in owner_sources if s not in sources]
    docs = collect(sources, query)
    if not docs:
        return Response(b"", content_type=with_charset(query.info_format) if query.info_format else "text/plain")
    transformers = conf.featureinfo_xslt
    kind = info_kind(query.info_format) if query.info_format else next(
        (k for k in ("xml", "html") if k in transformers), "text")
    xslt = transformers.get(kind)
    if xslt is None:  # labelled by what was merged
        merged = combine(docs)
        return Response(merged.text().encode(), content_type=with_charset(mime_of_kind(merged.kind, version)))
    mime = query.info_format or mime_of_kind(kind, version)
    merged = combine(docs)
    if len({d.kind for d in docs}) > 1:  # mixed answers are text, not transformed
        mime = mime if kind == "text" else "text/plain"
    else:
        merged = XSLTransform(xslt)(merged)
    return Response(merged.text().encode(), content_type=with_charset(mime))
