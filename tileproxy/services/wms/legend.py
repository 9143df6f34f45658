"""GetLegendGraphic: the legends of a layer's sources (or its ``legendurl``),
stacked with the topmost layer's legend on top, as PNG, another configured
image format, or JSON (``application/json``, the sources' JSON legends in one
``Legend`` list).

Each source's legend (its layers' legends stacked) is cached as PNG in
``<base_dir>/legends/``, once every one of its images could be fetched, and is
shared by all layers that use the source."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from ...config.model import WMSConfig
from ...http import Response
from ...image.codec import ImageDataError, decode, encode
from ...layers import WMSLayer
from ...sources.base import SourceError
from ...sources.http import HTTPClient, HTTPOptions, read_file_url
from ...stores.file import write_atomic
from ..client_input import echo
from .exceptions import WMSError
from .request import check_styles, parse_format_param, parse_number, require_params

log = logging.getLogger("tileproxy.service.wms")

RETRY_AFTER = 60.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Fetch = Callable[[str], tuple[bytes, str]]  # URL -> body, Content-Type


@dataclass(frozen=True)
class LegendPart:
    """The legend of one source, or a layer's ``legendurl``: the images at ``urls``, stacked."""

    urls: tuple[str, ...]
    fetch: Fetch
    from_source: bool  # a GetLegendGraphic of a WMS source (not a fixed legendurl)


class LegendCache:
    def __init__(self, base_dir: str, timeout: float = 60.0):
        self.dir = os.path.join(base_dir, "legends")
        self._client = HTTPClient(HTTPOptions(client_timeout=timeout))
        self._failed: dict[str, float] = {}  # layer -> when its legend last failed

    def _fetch_url(self, url: str) -> tuple[bytes, str]:
        """A layer's own ``legendurl``."""
        if url.startswith("file://"):
            return read_file_url(url, "legend"), ""
        resp = self._client.get(url)
        return resp.content, resp.headers.get("Content-Type", "")

    def parts(self, layer: WMSLayer, scale: float | None = None, fmt: str = "image/png") -> list[LegendPart]:
        parts: list[LegendPart] = []
        for owner in layer.legend_layers():
            if owner.legendurl:
                parts.append(LegendPart((owner.legendurl,), self._fetch_url, False))
                continue
            for source in owner.legend_sources:
                urls = tuple(source.legend_urls(scale, fmt))
                if urls:
                    parts.append(LegendPart(urls, source.fetch, not source.options.legendurl))
        return parts

    def legend(self, layer: WMSLayer, scale: float | None = None) -> bytes:
        """The stacked legend PNG of ``layer``; raises SourceError when no legend can be had."""
        parts = self.parts(layer, scale)
        if not parts:
            raise SourceError(f"layer '{layer.name}' has no legend")
        pngs = [png for png in (self._part_png(part, layer.name or "") for part in parts) if png is not None]
        if not pngs:
            raise SourceError(f"no legend image could be fetched for layer '{layer.name}'")
        if len(pngs) == 1:
            return pngs[0]
        return _stack([decode(png) for png in pngs])

    def _part_png(self, part: LegendPart, layer_name: str) -> bytes | None:
        path = os.path.join(self.dir, hashlib.md5("\n".join(part.urls).encode()).hexdigest() + ".png")
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            pass
        images: list[tuple[bytes, Image.Image]] = []
        for url in part.urls:
            try:
                data = part.fetch(url)[0]
                images.append((data, decode(data)))
            except (SourceError, ImageDataError) as ex:
                log.warning("legend for %s: %s", layer_name, ex)
        if not images:
            return None
        if len(images) == 1 and images[0][0].startswith(PNG_SIGNATURE):
            png = images[0][0]
        else:
            png = _stack([img for _, img in images])
        if len(images) == len(part.urls):  # a partial legend is not kept
            try:
                write_atomic(path, png)
            except OSError as ex:  # an unwritable legend cache costs a fetch next time, not the answer
                log.warning("legend for %s not cached: %s", layer_name, ex)
        return png

    def legend_json(self, layer: WMSLayer, scale: float | None = None) -> bytes:
        """The JSON legends of the layer's WMS sources, in one ``Legend`` list (not cached)."""
        entries: list = []
        for part in self.parts(layer, scale, "application/json"):
            if not part.from_source:
                continue  # a fixed legendurl is an image
            for url in part.urls:
                try:
                    data, ctype = part.fetch(url)
                    if ctype.split(";")[0].strip() != "application/json":
                        raise SourceError(f"no JSON legend (Content-Type '{ctype}')")
                    doc = json.loads(data)
                except (SourceError, ValueError) as ex:
                    log.warning("JSON legend for %s: %s", layer.name, ex)
                    continue
                if isinstance(doc, dict) and isinstance(doc.get("Legend"), list):
                    entries += doc["Legend"]
                else:
                    entries.append(doc)
        return json.dumps({"Legend": entries}).encode()

    def size(self, layer: WMSLayer) -> tuple[int, int] | None:
        """The legend's size for LegendURL in capabilities; None (and no new try for
        ``RETRY_AFTER`` seconds) when it cannot be had, so that capabilities stay quick."""
        failed = self._failed.get(layer.name or "")
        if failed is not None and time.monotonic() - failed < RETRY_AFTER:
            return None
        try:
            return Image.open(io.BytesIO(self.legend(layer))).size
        except SourceError:
            self._failed[layer.name or ""] = time.monotonic()
            return None


def _stack(images: Sequence[Image.Image]) -> bytes:
    """One PNG of ``images`` (bottom layer first) one below the other, the last on top."""
    width = max(i.size[0] for i in images)
    height = sum(i.size[1] for i in images)
    out = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    y = 0
    for img in reversed(images):
        img = img.convert("RGBA")
        out.paste(img, (0, y), img)
        y += img.size[1]
    buf = io.BytesIO()
    out.save(buf, "PNG")
    return buf.getvalue()


def legend_graphic(args: dict[str, str], version: str, layers: dict[str, WMSLayer], cache: LegendCache,
                   conf: WMSConfig) -> Response:
    require_params(args, ["layer", "format", *(["sld_version"] if conf.strict else [])])
    sld_version = args.get("sld_version")
    if sld_version is not None and sld_version != "1.1.0":
        raise WMSError(f"invalid sld_version {echo(sld_version)}", "InvalidParameterValue", "sld_version")
    name = args["layer"]
    layer = layers.get(name)
    if layer is None:
        raise WMSError(f"unknown layer: {echo(name)}", "LayerNotDefined", "layer")
    check_styles(args.get("style"), False)
    scale = parse_number(args["scale"], "scale") if args.get("scale") else None
    if not layer.has_legend:
        raise WMSError(f"layer {echo(name)} has no legend graphic", status=404)
    fmt = args["format"]
    mime = fmt.split(";")[0].strip().lower()
    try:
        if mime == "application/json":
            return Response(cache.legend_json(layer, scale), content_type="application/json")
        if mime in ("image/png", "png"):
            return Response(cache.legend(layer, scale), content_type="image/png")
        _, opts = parse_format_param(fmt, conf, False)
        data, out_mime = encode(decode(cache.legend(layer, scale)), opts)
    except SourceError as ex:
        raise WMSError(str(ex)) from None
    return Response(data, content_type=out_mime)
