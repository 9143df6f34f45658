"""Feature info answers of several sources made into one document, for WMS and
WMTS GetFeatureInfo.

Each answer is read as one of four kinds by its mime type: ``xml``, ``html``,
``json`` or ``text``. Answers of one kind merge (XML: the other roots' children
join the first root; HTML: the other bodies join the first body; JSON: objects
merge, lists concatenate); answers of different kinds are joined as text, one
per line. XSLT stylesheets may rewrite a source's answer and the merged one."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..sources.base import SourceError
from ..sources.featureinfo import FeatureInfoDoc, FeatureInfoQuery

if TYPE_CHECKING:
    from ..sources.wms import WMSSource

log = logging.getLogger("tileproxy.service.featureinfo")

_XML_TYPES = ("text/xml", "application/xml", "application/gml+xml", "application/vnd.ogc.gml")

# the mime type that stands for a kind in WMS answers (xml is GML before WMS 1.3.0)
_MIME_OF_KIND = {"text": "text/plain", "html": "text/html", "xml": "application/vnd.ogc.gml", "json": "application/json"}
_MIME_OF_KIND_130 = {**_MIME_OF_KIND, "xml": "text/xml"}


def info_kind(mime: str | None) -> str:
    """'xml', 'html', 'json' or 'text' (anything else) for a mime type."""
    mime = (mime or "").split(";", 1)[0].strip().lower()
    if mime in _XML_TYPES:
        return "xml"
    if mime == "text/html":
        return "html"
    if mime == "application/json":
        return "json"
    return "text"


def mime_of_kind(kind: str, wms_version: str | None = None) -> str:
    """The mime type a WMS of ``wms_version`` answers ``kind`` with."""
    table = _MIME_OF_KIND_130 if wms_version == "1.3.0" else _MIME_OF_KIND
    return table.get(kind, "text/plain")


def with_charset(mime: str) -> str:
    """Content-Type for a feature info body: text types are UTF-8."""
    return mime + "; charset=utf-8" if mime.startswith("text/") and "charset" not in mime else mime


class InfoDoc:
    """One feature info document: its bytes as received, or a parsed tree."""

    def __init__(self, kind: str, data: bytes | None = None, tree: Any = None):
        self.kind = kind
        self.data = data
        self._tree = tree
        self._parsed = tree is not None

    @classmethod
    def of(cls, doc: FeatureInfoDoc) -> InfoDoc:
        return cls(info_kind(doc.mime), data=doc.data)

    def tree(self) -> Any:
        """The lxml tree (None when the document cannot be parsed)."""
        if not self._parsed:
            self._parsed = True
            self._tree = _parse(self.data or b"", self.kind)
        return self._tree

    def text(self) -> str:
        if self.data is not None:
            return self.data.decode("utf-8", "replace")
        return _serialize(self._tree, self.kind)


def _parse(data: bytes, kind: str) -> Any:
    from lxml import etree, html

    if not data.strip():
        return None
    try:
        if kind == "html":
            try:
                root = html.document_fromstring(data.decode("utf-8"))
            except ValueError:  # not UTF-8, or an encoding declaration: lxml reads the bytes
                root = html.document_fromstring(data)
            return root.getroottree()
        return etree.ElementTree(etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True)))
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as ex:
        log.warning("feature info document not readable as %s: %s", kind, ex)
        return None


def _serialize(tree: Any, kind: str) -> str:
    from lxml import etree, html

    if tree is None:
        return ""
    root = tree.getroot()
    if root is None:  # an XSLT result with text output
        return str(tree)
    if kind == "html":
        return html.tostring(root, encoding="unicode")
    return etree.tostring(root, encoding="unicode")


# -- merging -------------------------------------------------------------------


def combine(docs: Sequence[InfoDoc]) -> InfoDoc:
    """One document of all ``docs`` (at least one): merged when they are of one
    kind, else joined as text."""
    kind = docs[0].kind
    if any(d.kind != kind for d in docs) or kind == "text":
        return _join_text(docs)
    if kind == "json":
        return _merge_json(docs)
    trees = [t for t in (d.tree() for d in docs) if t is not None]
    if not trees:
        return _join_text(docs)
    result = copy.deepcopy(trees[0])
    if kind == "html":
        _merge_html(result, trees[1:])
    else:
        for other in trees[1:]:
            result.getroot().extend(list(other.getroot()))
    return InfoDoc(kind, tree=result)


def _join_text(docs: Sequence[InfoDoc]) -> InfoDoc:
    parts = [t for t in (d.text() for d in docs) if t]
    return InfoDoc("text", data="\n".join(parts).encode())


def _merge_html(result: Any, others: Sequence[Any]) -> None:
    body = result.getroot().find("body")
    if body is None:
        body = result.getroot()
    for other in others:
        root = other.getroot()
        part = root.find("body")
        body.extend(list(part if part is not None else root))


def _merge_json(docs: Sequence[InfoDoc]) -> InfoDoc:
    values = []
    for doc in docs:
        try:
            value = json.loads(doc.data or b"null")
        except ValueError:
            log.warning("feature info document is not JSON; answers joined as text")
            return _join_text(docs)
        if value:
            values.append(value)
    if not all(isinstance(v, dict) for v in values):
        return _join_text(docs)
    merged: dict = {}
    for value in values:
        _merge_into(merged, value)
    return InfoDoc("json", data=json.dumps(merged).encode())


def _merge_into(base: dict, other: dict) -> None:
    """Nested objects merge, lists concatenate, other values are replaced."""
    for key, value in other.items():
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            _merge_into(base[key], value)
        elif isinstance(base.get(key), list) and isinstance(value, list):
            base[key] = base[key] + value
        else:
            base[key] = value


# -- XSLT ----------------------------------------------------------------------


@lru_cache(maxsize=32)
def _stylesheet(path: str) -> Any:
    from lxml import etree

    return etree.XSLT(etree.parse(path, etree.XMLParser(no_network=True)))


class XSLTransform:
    """An XSLT stylesheet rewriting documents into ``out_kind`` (xml or html)."""

    def __init__(self, path: str, out_mime: str | None = None):
        self.path = path
        self.out_kind = "html" if info_kind(out_mime or "text/xml") == "html" else "xml"

    def __call__(self, doc: InfoDoc) -> InfoDoc:
        from lxml import etree

        tree = doc.tree()
        if tree is None and doc.kind == "text":  # plain text may well be XML or HTML
            tree = _parse(doc.data or b"", "xml") or _parse(doc.data or b"", "html")
        if tree is None:
            log.warning("feature info document not transformed with %s: not XML/HTML", self.path)
            return doc
        try:
            result = _stylesheet(self.path)(tree)
        except (etree.LxmlError, OSError) as ex:
            log.warning("feature info XSLT %s failed: %s", self.path, ex)
            return doc
        return InfoDoc(self.out_kind, tree=result)


# -- asking sources ------------------------------------------------------------


def _covers(source: WMSSource, query: FeatureInfoQuery) -> bool:
    """False when the source's coverage leaves out the queried point."""
    coverage = source.limits.coverage
    if coverage is None:
        return True
    x, y = query.coord
    return coverage.contains((x, y, x, y), query.srs)


def collect(sources: Sequence[WMSSource], query: FeatureInfoQuery) -> list[InfoDoc]:
    """The answers of the ``sources`` (feature info sources: WMS, MapServer,
    ArcGIS) that cover the point, each rewritten by its source's
    ``featureinfo_xslt``. A source that fails is left out (and logged)."""
    docs = []
    for source in sources:
        if not _covers(source, query):
            continue
        try:
            answer = source.get_feature_info(query)
        except SourceError as ex:
            log.warning("GetFeatureInfo of source '%s': %s", source.name, ex)
            continue
        doc = InfoDoc.of(answer)
        options = source.options
        if options.featureinfo_xslt:
            doc = XSLTransform(options.featureinfo_xslt, options.featureinfo_out_format or options.featureinfo_format)(doc)
        docs.append(doc)
    return docs


def tile_feature_info(sources: Sequence[WMSSource], query: FeatureInfoQuery) -> tuple[bytes, str]:
    """Body and Content-Type of a tile service's (WMTS) GetFeatureInfo: the
    merged answers of ``sources``, labelled with the format asked for
    (``query.info_format``)."""
    docs = collect(sources, query)
    body = combine(docs).text().encode() if docs else b""
    return body, with_charset(query.info_format or "text/plain")
