"""Image formats and encoding options as MapProxy names them."""

from __future__ import annotations

from dataclasses import dataclass

_ALIASES = {
    "png": "image/png",
    "png8": "image/png; mode=8bit",
    "png24": "image/png",
    "png32": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "tif": "image/tiff",
    "geotiff": "image/tiff",
    "image/geotiff": "image/tiff",
    "mixed": "mixed",
    "image/vnd.jpeg-png": "mixed",
    "mvt": "application/vnd.mapbox-vector-tile",
    "pbf": "application/x-protobuf",
}

_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/tiff": "tiff",
    "mixed": "mixed",
    "application/vnd.mapbox-vector-tile": "mvt",
    "application/x-protobuf": "pbf",
}

VECTOR_MIMES = ("application/vnd.mapbox-vector-tile", "application/x-protobuf")

_PIL_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/tiff": "TIFF"}


class FormatError(ValueError):
    pass


@dataclass(frozen=True)
class ImageFormat:
    """A tile/map format: ``mime`` such as image/png (``mixed`` for png-or-jpeg)."""

    mime: str
    paletted: bool = False  # png8 / "image/png; mode=8bit"
    # a type no encoder knows (``image/foo``): served under that name (file
    # extension, Content-Type) while ``mime`` is what it is encoded as
    label: str | None = None
    # a bare name MapProxy knows no preset for (``png8a``): sources are asked for
    # it as written (FORMAT=image/png8a), tiles are stored and served as ``mime``,
    # its family (file extension .png, Content-Type image/png), as in MapProxy
    source_name: str | None = None

    @property
    def ext(self) -> str:
        if self.label:
            return self.label.split("/")[-1]
        return _EXTENSIONS.get(self.mime, self.mime.split("/")[-1])

    @property
    def content_type(self) -> str:
        """The type a client is told."""
        return self.label or self.mime

    @property
    def pil_name(self) -> str | None:
        return _PIL_NAMES.get(self.mime)

    @property
    def is_image(self) -> bool:
        return self.mime.startswith("image/") or self.mime == "mixed"

    @property
    def is_vector(self) -> bool:
        """Mapbox vector tiles: opaque payloads, never decoded."""
        return self.mime in VECTOR_MIMES

    def matches_ext(self, ext: str) -> bool:
        """Does a URL extension ask for this format? (``mixed`` answers png URLs)."""
        ext = ext.lower()
        if self.mime == "mixed":
            return ext in ("png", "mixed", "jpeg", "jpg")
        if self.mime == "image/jpeg":
            return ext in ("jpeg", "jpg")
        if self.is_vector:
            return ext in ("mvt", "pbf")
        if ext == self.ext:
            return True
        try:
            return parse_format(ext).mime == self.mime
        except FormatError:
            return False

    def __str__(self) -> str:
        if self.label or self.source_name:
            return self.label or self.source_name  # type: ignore[return-value]
        return "image/png; mode=8bit" if self.paletted else self.mime


_FAMILIES = (("png", "image/png"), ("jpeg", "image/jpeg"), ("jpg", "image/jpeg"),
             ("tif", "image/tiff"), ("gif", "image/gif"))


def family_of(name: str) -> str | None:
    """The format an unknown name is encoded as (``png8a`` -> image/png), as
    MapProxy picks its encoder by the name's start; None if none fits."""
    sub = name.split("/")[-1]
    for prefix, mime in _FAMILIES:
        if sub.startswith(prefix):
            return mime
    return None


def parse_format(value: str) -> ImageFormat:
    text = value.strip().lower()
    text = _ALIASES.get(text, text)
    if text and "/" not in text and ";" not in text and text != "mixed":
        # a bare name without a preset: MapProxy serves it as image/<name>
        label = "image/" + text
        family = family_of(text)
        return ImageFormat(family or label, False, source_name=label if family else None)
    paletted = False
    if ";" in text:
        base, _, params = text.partition(";")
        if "8bit" in params:
            paletted = True
        text = base.strip()
    if text != "mixed" and not all(text.partition("/")[::2]):
        raise FormatError(f"unknown image format '{value}'")
    return ImageFormat(text, paletted)


@dataclass(frozen=True)
class ImageOptions:
    """How images of a cache/source are encoded; None means 'as it comes'."""

    format: ImageFormat = ImageFormat("image/png")
    mode: str | None = None
    colors: int | None = None
    transparent: bool | None = None
    resampling: str = "bicubic"
    jpeg_quality: int = 90
    quantizer: str | None = None
    tiff_compression: str | None = None
    opacity: float | None = None
