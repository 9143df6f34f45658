"""MapProxy's decorate_img API: a WSGI middleware puts a callable at
``environ['mapproxy.decorate_img']`` and each image service hands it the image
before sending it, as MapProxy does: ``decorate_img(image, service, layers,
environ=environ, query_extent=(srs code, bbox))``, with ``service`` ``wms.map``,
``tms``, ``wmts`` (and ``kml`` for KML tiles, which MapProxy leaves undecorated).

``image`` is shaped like MapProxy's ImageResult: ``as_image()`` gives the PIL
image, ``image_opts`` its options (``transparent``, ``format``, ...), ``size``.
The callable returns an object with ``as_image()`` (``CallbackImage(img,
image.image_opts)``, or MapProxy's own ImageResult) or a PIL image; that image is
encoded in the format the request asked for.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any

from PIL import Image

from ..image.codec import encode

DECORATE = "mapproxy.decorate_img"


class CallbackImage:
    """The image handed to a decorate_img callback (and one it may return)."""

    def __init__(self, image: Image.Image, image_opts: Any = None, cacheable: bool = True):
        self.image = image
        self.image_opts = image_opts
        self.cacheable = cacheable

    def as_image(self) -> Image.Image:
        return self.image

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    def as_buffer(self, image_opts: Any = None, format: str | None = None, seekable: bool = False) -> io.BytesIO:
        """The image encoded with ``image_opts`` (default its own)."""
        data, _ = encode(self.image, image_opts or self.image_opts)
        return io.BytesIO(data)


_registered = False


def _count_as_mapproxy_image() -> None:
    """Callbacks written for MapProxy may check ``isinstance(image,
    mapproxy.image.ImageResult)``; once such a callback has loaded MapProxy's image
    module, CallbackImage counts as one of its ImageResults (tileproxy never
    imports MapProxy itself)."""
    global _registered
    module = sys.modules.get("mapproxy.image")
    base = getattr(module, "ImageResult", None)
    if base is not None and hasattr(base, "register"):
        base.register(CallbackImage)
        _registered = True


def decorate(callback: Callable, img: Image.Image, image_opts: Any, service: str, layers: list,
             environ: dict, query_extent: tuple) -> Image.Image:
    """The image ``callback`` makes of ``img``."""
    if not _registered:
        _count_as_mapproxy_image()
    result = callback(CallbackImage(img, image_opts), service, list(layers), environ=environ,
                      query_extent=query_extent)
    out = result.as_image() if hasattr(result, "as_image") else result
    if not isinstance(out, Image.Image):
        raise TypeError(f"the decorate_img callback returned {type(result).__name__}, not an image")
    return out
