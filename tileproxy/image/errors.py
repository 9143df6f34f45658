"""Errors about image data."""


class ImageDataError(ValueError):
    """Bytes that are not a complete image of a known format."""
