"""``tileproxy wms-capabilities URL``: the layers of a WMS, as ``mapproxy-util wms-capabilities`` lists them."""

from __future__ import annotations

import argparse
import math
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
FIRST_KEYS = ("name", "title", "url", "srs", "llbbox", "bbox")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("wms-capabilities", help="show the layers of a WMS's capabilities (not a configuration)")
    p.add_argument("url", nargs="?", help="the WMS URL (GetCapabilities parameters are added)")
    p.add_argument("--host", dest="capabilities_url", help="the WMS URL, as an option")
    p.add_argument("--version", dest="wms_version", choices=["1.1.1", "1.3.0"], default="1.1.1",
                   help="capabilities version to ask for")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import requests

    from .missing import given

    url = given(args.capabilities_url or args.url, "the WMS URL")
    if url is None:
        return 2
    try:
        answer = requests.get(capabilities_url(url, args.wms_version), timeout=60)
        answer.raise_for_status()
    except requests.RequestException as ex:
        print(f"ERROR: {ex}", file=sys.stderr)
        return 1
    try:
        root = parse_capabilities(answer.content)
    except ValueError as ex:
        print(f"Received document:\n{'-' * 80}\n{answer.text}\n{'-' * 80}\n{ex}", file=sys.stderr)
        return 1
    lines = ["# Note: This is not a valid MapProxy configuration!",
             f"Capabilities Document Version {args.wms_version}", "Root-Layer:"]
    for layer in root["layers"]:
        lines += layer_lines(layer, 4)
    print("\n".join(lines))
    return 0


def capabilities_url(url: str, version: str) -> str:
    base, _, query = url.partition("?")
    params = {k: v for k, v in parse_qsl(query, keep_blank_values=True)
              if k.lower() not in ("service", "version", "request")}
    params.update({"REQUEST": "GetCapabilities", "SERVICE": "WMS", "VERSION": version})
    return f"{base}?{urlencode(params)}"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in elem if _local(c.tag) == name), None)


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if _local(c.tag) == name]


def _text(elem: ET.Element, name: str) -> str | None:
    child = _child(elem, name)
    return child.text if child is not None else None


def _path(elem: ET.Element | None, *names: str) -> ET.Element | None:
    for name in names:
        if elem is None:
            return None
        elem = _child(elem, name)
    return elem


@dataclass
class Capabilities:
    """What the tools read of a WMS capabilities document."""

    version: str  # "1.1.1" or "1.3.0", by the document's root element
    title: str | None  # Service/Title
    root: dict[str, Any]  # the root layer with its sublayers (see _layer)

    def named_layers(self) -> list[dict[str, Any]]:
        """Every layer with a name, parents before their children."""
        out: list[dict[str, Any]] = []
        todo = [self.root]
        while todo:
            layer = todo.pop()
            if layer["name"]:
                out.append(layer)
            todo.extend(reversed(layer["layers"]))
        return out


def parse_capabilities(data: bytes) -> dict[str, Any]:
    """The root layer of a WMS 1.1.1 or 1.3.0 capabilities document, with its sublayers."""
    return parse_document(data).root


def parse_document(data: bytes) -> Capabilities:
    """A WMS 1.1.1 or 1.3.0 capabilities document; ValueError when it is none."""
    try:
        doc = ET.fromstring(data)
    except ET.ParseError as ex:
        raise ValueError(f"Could not parse the document: {ex}") from None
    if _local(doc.tag) not in ("WMT_MS_Capabilities", "WMS_Capabilities"):
        raise ValueError(f"Not a capabilities document: root element {_local(doc.tag)}")
    getmap = _path(doc, "Capability", "Request", "GetMap", "DCPType", "HTTP", "Get", "OnlineResource")
    url = getmap.get(XLINK_HREF) if getmap is not None else None
    root = _path(doc, "Capability", "Layer")
    if root is None:
        raise ValueError("Not a capabilities document: no Capability/Layer")
    wms130 = _local(doc.tag) == "WMS_Capabilities"
    service = _child(doc, "Service")
    title = _text(service, "Title") if service is not None else None
    return Capabilities("1.3.0" if wms130 else "1.1.1", title, _layer(root, {}, url, wms130))


def _layer(elem: ET.Element, parent: dict[str, Any], url: str | None, wms130: bool) -> dict[str, Any]:
    srs = {code for e in _children(elem, "CRS" if wms130 else "SRS") for code in (e.text or "").strip().upper().split()}
    layer: dict[str, Any] = {
        "queryable": elem.get("queryable") == "1",
        "opaque": elem.get("opaque") == "1",
        "title": _text(elem, "Title"),
        "abstract": _text(elem, "Abstract"),
        "name": _text(elem, "Name"),
        "srs": srs | parent.get("srs", set()),
        "res_hint": _res_hint(elem, parent),
        "llbbox": _llbbox(elem, wms130) or parent.get("llbbox"),
        "bbox_srs": _bboxes(elem, wms130) or (parent.get("bbox_srs", {}) if parent else {}),
        "url": url,
        "legend": _legend(elem),
    }
    layer["layers"] = [_layer(child, layer, url, wms130) for child in _children(elem, "Layer")]
    return layer


def _llbbox(elem: ET.Element, wms130: bool) -> list[float] | None:
    if wms130:
        e = _child(elem, "EX_GeographicBoundingBox")
        if e is None:
            return None
        return [float(_text(e, k) or "nan") for k in
                ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")]
    e = _child(elem, "LatLonBoundingBox")
    return [float(e.get(k, "nan")) for k in ("minx", "miny", "maxx", "maxy")] if e is not None else None


def _bboxes(elem: ET.Element, wms130: bool) -> dict[str, list[float]]:
    key = "CRS" if wms130 else "SRS"
    return {e.get(key, ""): [float(e.get(k, "nan")) for k in ("minx", "miny", "maxx", "maxy")]
            for e in _children(elem, "BoundingBox")}


def _res_hint(elem: ET.Element, parent: dict[str, Any]) -> tuple | None:
    hint = _child(elem, "ScaleHint")
    if hint is None:
        return parent.get("res_hint")
    # ScaleHint gives diagonal pixel sizes: the side is diagonal / sqrt(2); max is the coarse end
    def side(value: str | None) -> float | None:
        return math.sqrt(float(value) ** 2 / 2.0) if value else None
    return side(hint.get("max")), side(hint.get("min"))


def _legend(elem: ET.Element) -> dict[str, str | None] | None:
    for style in _children(elem, "Style"):
        if _text(style, "Name") in ("default", ""):
            resource = _path(style, "LegendURL", "OnlineResource")
            return None if resource is None else {"url": resource.get(XLINK_HREF)}
    return None


def layer_lines(layer: dict[str, Any], indent: int) -> list[str]:
    """A layer as ``key: value`` lines, the first marked ``- ``; its sublayers below ``layers:``."""
    lines: list[str] = []

    def add(key: str, value: Any, at: int) -> None:
        if value is None:
            value = ""
        elif isinstance(value, set):
            value = sorted(value)
        marker = "- " if not lines else ""
        lines.append(f"{' ' * (at - len(marker))}{marker}{key}: {value}")

    shown = [k for k in FIRST_KEYS if layer.get(k)]
    shown += [k for k in layer if k not in FIRST_KEYS and k != "layers"]
    for key in shown:
        add(key, layer[key], indent)
    if layer["layers"]:
        lines.append(f"{' ' * indent}layers: ")
        for child in layer["layers"]:
            lines += layer_lines(child, indent + 4)
    return lines
