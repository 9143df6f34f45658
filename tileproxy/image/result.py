"""An image that keeps its encoded bytes as long as nobody needs pixels."""

from __future__ import annotations

from PIL import Image

from .codec import check_image_bytes, decode, encode, peek_size, sniff_mime
from .formats import ImageOptions
from .png_tiles import decode_read_rows, decode_rows
from .whole import PngRows, check_whole


class ImageResult:
    """Either encoded ``data`` (with its ``mime``) or a decoded PIL ``image``, or both.

    ``cacheable`` is False for stand-in images (error tiles) that must not be stored.
    """

    __slots__ = ("_data", "_mime", "_image", "cacheable", "_rows", "_size")

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
        self._rows: PngRows | None = None  # a PNG's inflated rows (see ``whole_image``)
        self._size: tuple[int, int] | None = None

    @property
    def mime(self) -> str | None:
        return self._mime

    @property
    def has_data(self) -> bool:
        return self._data is not None

    @property
    def data(self) -> bytes | None:
        """The encoded bytes, if the image came encoded."""
        return self._data

    @property
    def decoded(self) -> bool:
        """Are the pixels (or a PNG's inflated rows) at hand, so that ``image`` costs little?"""
        return self._image is not None or self._rows is not None

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            rows, self._rows = self._rows, None
            img = None
            if rows is not None:
                img = (decode_rows(rows.mode, rows.size, rows.rows) if rows.mode
                       else decode_read_rows(self._data, rows.rows))  # type: ignore[arg-type]
            self._image = img if img is not None else decode(self._data)  # type: ignore[arg-type]
        return self._image

    def encoded(self, opts: ImageOptions) -> tuple[bytes, str]:
        """Bytes in the format of ``opts``: the original bytes when they already are."""
        if self._data is not None and self._mime is not None and _same_format(self._mime, opts):
            return self._data, self._mime
        if self._data is not None and not opts.format.is_image:
            return self._data, opts.format.mime  # opaque payloads (vector tiles) pass as they are
        data, mime = encode(self.image, opts)
        return data, mime

    def fitted(self, size: tuple[int, int]) -> ImageResult:
        """This image at ``size``: itself when it has that size, else scaled to it (for
        a source that answered another size than it was asked for)."""
        size = tuple(size)
        if self.size == size:
            return self
        img = self.image
        if img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA")
        return ImageResult(image=img.resize(size, Image.Resampling.BICUBIC), cacheable=self.cacheable)

    @property
    def size(self) -> tuple[int, int]:
        """Pixel size; read from the image header when the pixels are not decoded yet."""
        if self._image is not None:
            return self._image.size
        if self._size is None:
            self._size = peek_size(self._data)  # type: ignore[arg-type]
        return self._size


def whole_image(data: bytes, size: tuple[int, int] | None = None, exact: bool = True) -> ImageResult:
    """Encoded image bytes from a source, once they are a whole image of ``size``
    (see ``whole.check_whole``): raises ImageDataError (ImageSizeError for a whole
    image of a size that does not pass). What the check learnt stays with the
    result: the size, and a PNG's inflated rows for a decode that follows."""
    mime = sniff_mime(data) or check_image_bytes(data)  # (raises, naming what came instead)
    whole = check_whole(data, mime, size, exact)
    result = ImageResult(data=data, image=whole.image, mime=whole.mime)
    result._rows, result._size = whole.rows, whole.size
    return result


def _same_format(mime: str, opts: ImageOptions) -> bool:
    want = opts.format.mime
    if want == "mixed":
        return mime in ("image/png", "image/jpeg")
    return mime == want
