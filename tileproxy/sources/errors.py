"""What sources raise when they cannot deliver an image."""

from __future__ import annotations


class SourceError(Exception):
    """A source could not deliver an image; the message is safe to show to clients."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # upstream HTTP status, None for timeouts and bad data


class SourceTimeout(SourceError):
    pass


class SourceDataError(SourceError):
    """A source answered, but not with image data that can be used (not an image,
    cut off, undecodable)."""
