"""An image that keeps its encoded bytes as long as nobody needs pixels."""

from __future__ import annotations

from PIL import Image

from .codec import decode, encode, peek_size, sniff_mime
from .formats import ImageOptions


class ImageResult:
    """Either encoded ``data`` (with its ``mime``) or a decoded PIL ``image``, or both.

    ``cacheable`` is False for stand-in images (error tiles) that must not be stored.
    """

    __slots__ = ("_data", "_mime", "_image", "cacheable")

    def __init__(
        self,
        data: bytes | None = None,
        image: Image.Image | None = None,
        mime: str | None = None,
        cacheable: bool = True,
    ):
        if data is None and image is None:
            raise ValueError("ImageResult needs data or an image")
        self._data = data
        self._image = image
        self._mime = mime or (sniff_mime(data) if data is not None else None)
        self.cacheable = cacheable

    @property
    def mime(self) -> str | None:
        return self._mime

    @property
    def has_data(self) -> bool:
        return self._data is not None

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            self._image = decode(self._data)  # type: ignore[arg-type]
        return self._image

    def encoded(self, opts: ImageOptions) -> tuple[bytes, str]:
        """Bytes in the format of ``opts``: the original bytes when they already are."""
        if self._data is not None and self._mime is not None and _same_format(self._mime, opts):
            return self._data, self._mime
        if self._data is not None and not opts.format.is_image:
            return self._data, opts.format.mime  # opaque payloads (vector tiles) pass as they are
        data, mime = encode(self.image, opts)
        return data, mime

    @property
    def size(self) -> tuple[int, int]:
        """Pixel size; read from the image header when the pixels are not decoded yet."""
        if self._image is None:
            return peek_size(self._data)  # type: ignore[arg-type]
        return self._image.size


def _same_format(mime: str, opts: ImageOptions) -> bool:
    want = opts.format.mime
    if want == "mixed":
        return mime in ("image/png", "image/jpeg")
    return mime == want
