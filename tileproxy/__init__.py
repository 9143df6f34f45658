"""tileproxy: a fast, robust tile proxy that serves MapProxy configurations."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def make_wsgi_app(path: str | Path, reloader: bool = False, last_good: bool = False) -> Callable:
    """A WSGI application for the mapproxy.yaml at ``path``.

    With ``reloader=True`` the app is rebuilt when a configuration file changes.
    With ``last_good=True`` every configuration that loads is kept on disk, and a
    process started while the file is broken serves that copy and logs the error
    (see docs/deployment.md).
    """
    from .wsgi import make_wsgi_app as _make

    return _make(path, reloader=reloader, last_good=last_good)


__all__ = ["__version__", "make_wsgi_app"]
