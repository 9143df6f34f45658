"""GetFeatureInfo: forward to queryable sources and merge their answers the way
MapProxy does (HTML into one body, XML into the first root, JSON features into
one collection, anything else concatenated)."""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache

from ...config.model import WMSConfig
from ...http import Response
from ...layers import WMSLayer
from ...sources.base import SourceError
from ...sources.wms import FeatureInfoDoc, FeatureInfoQuery, WMSSource
from .exceptions import WMSError
from .request import layer_names, parse_bbox, parse_number, parse_size, parse_srs

log = logging.getLogger("tileproxy.service.wms")

# an INFO_FORMAT that is not offered as such is echoed as Content-Type: a plain mime type only
_MIME = re.compile(r'[A-Za-z0-9][\w.+-]*/[\w.+-]+(?: ?; ?[\w.+-]+=[\w.+/"-]+)*\Z')
_TYPES = {"text": "text/plain", "html": "text/html", "json": "application/json"}
_KIND_OF_MIME = {
    "text/plain": "text",
    "text/html": "html",
    "text/xml": "xml",
    "application/xml": "xml",
    "application/vnd.ogc.gml": "xml",
    "application/gml+xml": "xml",
    "application/json": "json",
    "application/geojson": "json",
}


def info_mime_types(types: list[str], version: str) -> list[str]:
    """Mime types for the configured ``featureinfo_types`` (xml is GML before 1.3.0)."""
    out = []
    for kind in types:
        if kind == "xml":
            out.append("text/xml" if version == "1.3.0" else "application/vnd.ogc.gml")
        elif "/" in kind:
            out.append(kind)
        else:
            out.append(_TYPES.get(kind, kind))
    return out


def info_kind(mime: str) -> str | None:
    """'text', 'html', 'xml' or 'json' for a feature info mime type (None if unknown)."""
    mime = mime.split(";")[0].strip().lower()
    return _KIND_OF_MIME.get(mime, "xml" if mime.endswith("xml") else None)


def feature_info(args: dict[str, str], version: str, conf: WMSConfig, layers: dict[str, WMSLayer]) -> Response:
    srs, _ = parse_srs(args, version, conf)
    bbox = parse_bbox(args.get("bbox"), srs, version)
    size = parse_size(args, conf)
    query_layers = layer_names(args, "query_layers")
    if conf.strict:
        layer_names(args, "layers")
    xkey, ykey = ("i", "j") if version == "1.3.0" else ("x", "y")
    pos = []
    for key in (xkey, ykey):
        value = args.get(key) or args.get({"i": "x", "j": "y", "x": "i", "y": "j"}[key])
        if value is None:
            raise WMSError(f"missing parameter {key.upper()}", "MissingParameterValue", key)
        pos.append(parse_number(value, key))
    if not (0 <= pos[0] < size[0] and 0 <= pos[1] < size[1]):
        raise WMSError(f"point {int(pos[0])},{int(pos[1])} is outside the map", "InvalidPoint", xkey)
    info_format = args.get("info_format")
    offered = info_mime_types(conf.featureinfo_types, version)
    if not info_format:
        if conf.strict:
            raise WMSError("missing parameter INFO_FORMAT", "MissingParameterValue", "info_format")
        info_format = offered[0] if offered else "text/plain"
    kind = info_kind(info_format)
    if info_format not in offered and (kind is None or kind not in {info_kind(m) for m in offered}
                                       or not _MIME.match(info_format)):
        raise WMSError(f"unsupported INFO_FORMAT '{info_format}'", "InvalidFormat", "info_format")
    count = None
    if args.get("feature_count"):
        count = max(1, int(parse_number(args["feature_count"], "feature_count")))
    sources: list[WMSSource] = []
    for name in query_layers:
        layer = layers.get(name)
        if layer is None:
            raise WMSError(f"unknown layer '{name}'", "LayerNotDefined", "query_layers")
        if not layer.queryable:
            raise WMSError(f"layer '{name}' is not queryable", "LayerNotQueryable", "query_layers")
        sources += [s for s in layer.info_layers() if s not in sources]
    query = FeatureInfoQuery(bbox, size, srs, (pos[0], pos[1]), info_format, count)
    docs = []
    for source in sources:
        try:
            doc = source.get_feature_info(query)
        except SourceError as ex:
            log.warning("GetFeatureInfo: %s", ex)
            continue
        if source.options.featureinfo_xslt:
            doc = FeatureInfoDoc(apply_xslt(source.options.featureinfo_xslt, doc.data),
                                 source.options.featureinfo_out_format or doc.mime)
        docs.append(doc)
    body = merge_docs(docs, kind or "text")
    if kind and kind in conf.featureinfo_xslt and body:
        body = apply_xslt(conf.featureinfo_xslt[kind], body)
    ctype = info_format if kind in ("json",) else f"{info_format}; charset=utf-8"
    return Response(body, content_type=ctype)


def merge_docs(docs: list[FeatureInfoDoc], kind: str) -> bytes:
    datas = [d.data for d in docs if d.data.strip()]
    if not datas:
        return b""
    if len(datas) == 1:
        return datas[0]
    try:
        if kind == "html":
            return _merge_html(datas)
        if kind == "xml":
            return _merge_xml(datas)
        if kind == "json":
            return _merge_json(datas)
    except (ValueError, ImportError) as ex:  # not parseable: fall back to concatenation
        log.info("feature info documents not merged (%s); concatenated", ex)
    return b"\n".join(d.rstrip(b"\n") for d in datas) + b"\n"


def _merge_xml(datas: list[bytes]) -> bytes:
    from lxml import etree

    roots = [etree.fromstring(d) for d in datas]
    first = roots[0]
    for other in roots[1:]:
        for child in list(other):
            first.append(child)
    return etree.tostring(first.getroottree(), xml_declaration=True, encoding="UTF-8")


def _merge_html(datas: list[bytes]) -> bytes:
    from lxml import html

    docs = [html.document_fromstring(d) for d in datas]
    first = docs[0]
    body = first.find("body")
    if body is None:
        raise ValueError("HTML without body")
    for other in docs[1:]:
        other_body = other.find("body")
        for child in list(other_body if other_body is not None else other):
            body.append(child)
    return html.tostring(first, doctype="<!DOCTYPE html>", encoding="utf-8")


def _merge_json(datas: list[bytes]) -> bytes:
    objs = [json.loads(d) for d in datas]
    if all(isinstance(o, dict) and o.get("type") == "FeatureCollection" for o in objs):
        merged = dict(objs[0])
        merged["features"] = [f for o in objs for f in o.get("features") or []]
        return json.dumps(merged).encode()
    result = objs[0]
    for other in objs[1:]:
        result = _merge_values(result, other)
    return json.dumps(result).encode()


def _merge_values(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for key, value in b.items():
            out[key] = _merge_values(out[key], value) if key in out else value
        return out
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    return [a, b] if a != b else a


@lru_cache(maxsize=32)
def _xslt(path: str):
    from lxml import etree

    return etree.XSLT(etree.parse(path))


def apply_xslt(path: str, data: bytes) -> bytes:
    from lxml import etree

    try:
        doc = etree.fromstring(data)
    except etree.XMLSyntaxError:
        doc = etree.fromstring(data, etree.HTMLParser())
    return bytes(_xslt(path)(doc))
