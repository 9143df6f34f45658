"""tileproxy: a fast, robust tile proxy that serves MapProxy configurations."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def make_wsgi_app(path: str | Path, reloader: bool = False) -> Callable:
    """A WSGI application for the mapproxy.yaml at ``path``.

    With ``reloader=True`` the app is rebuilt when a configuration file changes.
    """
    from .wsgi import make_wsgi_app as _make

    return _make(path, reloader=reloader)


__all__ = ["__version__", "make_wsgi_app"]
