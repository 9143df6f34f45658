"""Configuration errors that name the file and the key path."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem; ``str()`` reads ``file: key.path: message``."""

    def __init__(self, message: str, path: str = "", file: str = ""):
        self.message = message
        self.path = path
        self.file = file
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.path) if p]
        return ": ".join(parts + [self.message])

    def with_file(self, file: str) -> ConfigError:
        if not self.file:
            self.file = file
            self.args = (str(self),)
        return self


def join_path(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else str(key)
