"""GetLegendGraphic: the legends of a layer's sources (or its ``legendurl``),
stacked top to bottom and cached in ``<base_dir>/legends/``."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time

from PIL import Image

from ...http import Response
from ...image.codec import ImageDataError, decode
from ...layers import WMSLayer
from ...sources.base import SourceError
from ...sources.http import HTTPClient, HTTPOptions, read_file_url
from ...stores.file import write_atomic
from .exceptions import WMSError

log = logging.getLogger("tileproxy.service.wms")

RETRY_AFTER = 60.0


class LegendCache:
    def __init__(self, base_dir: str, timeout: float = 60.0):
        self.dir = os.path.join(base_dir, "legends")
        self._client = HTTPClient(HTTPOptions(client_timeout=timeout))
        self._failed: dict[str, float] = {}  # layer -> when its legend last failed

    def _fetch(self, url: str, fetcher) -> bytes:
        if fetcher is not None:
            return fetcher(url)
        if url.startswith("file://"):
            return read_file_url(url, "legend")
        return self._client.get(url).content

    def _urls(self, layer: WMSLayer, scale: float | None) -> list[tuple[str, object]]:
        urls: list[tuple[str, object]] = []
        for part in layer.legend_layers():
            if part.legendurl:
                urls.append((part.legendurl, None))
                continue
            for source in part.legend_sources:
                urls += [(u, source.fetch) for u in source.legend_urls(scale)]
        return urls

    def legend(self, layer: WMSLayer, scale: float | None = None) -> bytes:
        """The stacked legend PNG of ``layer``; raises SourceError when no legend can be had."""
        urls = self._urls(layer, scale)
        if not urls:
            raise SourceError(f"layer '{layer.name}' has no legend")
        key = hashlib.md5("\n".join(u for u, _ in urls).encode()).hexdigest()
        path = os.path.join(self.dir, key + ".png")
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            pass
        images = []
        for url, fetcher in urls:
            try:
                images.append(decode(self._fetch(url, fetcher)).convert("RGBA"))
            except (SourceError, ImageDataError) as ex:
                log.warning("legend for %s: %s", layer.name, ex)
        if not images:
            raise SourceError(f"no legend image could be fetched for layer '{layer.name}'")
        data = _stack(images)
        try:
            write_atomic(path, data)
        except OSError as ex:  # an unwritable legend cache costs a fetch next time, not the answer
            log.warning("legend for %s not cached: %s", layer.name, ex)
        return data

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


def _stack(images: list[Image.Image]) -> bytes:
    width = max(i.size[0] for i in images)
    height = sum(i.size[1] for i in images)
    out = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    y = 0
    for img in images:
        out.paste(img, (0, y))
        y += img.size[1]
    buf = io.BytesIO()
    out.save(buf, "PNG")
    return buf.getvalue()


def legend_graphic(args: dict[str, str], version: str, layers: dict[str, WMSLayer], cache: LegendCache) -> Response:
    name = args.get("layer")
    if not name:
        raise WMSError("missing parameter LAYER", "MissingParameterValue", "layer")
    layer = layers.get(name)
    if layer is None:
        raise WMSError(f"unknown layer '{name}'", "LayerNotDefined", "layer")
    fmt = (args.get("format") or "image/png").lower()
    if fmt not in ("image/png", "png"):
        raise WMSError(f"unsupported legend format '{args.get('format')}' (use image/png)", "InvalidFormat", "format")
    style = (args.get("style") or "").lower()
    if style not in ("", "default", "inspire_common:default"):
        raise WMSError(f"unsupported style '{args.get('style')}'", "StyleNotDefined", "style")
    if version == "1.3.0" and args.get("sld_version") not in (None, "1.1.0"):
        raise WMSError("SLD_VERSION must be 1.1.0", "InvalidParameterValue", "sld_version")
    scale = None
    if args.get("scale"):
        from .request import parse_number

        scale = parse_number(args["scale"], "scale")
    if not layer.has_legend:
        raise WMSError(f"layer '{name}' has no legend graphic", "LayerNotDefined", "layer", status=404)
    try:
        data = cache.legend(layer, scale)
    except SourceError as ex:
        raise WMSError(str(ex)) from None
    return Response(data, content_type="image/png")
