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


def make_multi_wsgi_app(config_dir: str | Path, allow_listing: bool = True, app_cache_size: int = 100,
                        reload_interval: float = 1.0) -> Callable:
    """A WSGI application serving every ``*.yaml`` of ``config_dir`` under ``/<name>/``,
    as MapProxy's MultiMapProxy: ``allow_listing`` links them at ``/``; each is reloaded
    when its files change (checked at most every ``reload_interval`` seconds); at most
    ``app_cache_size`` stay loaded (see docs/deployment.md)."""
    from .multiapp import make_multi_wsgi_app as _make

    return _make(config_dir, allow_listing=allow_listing, app_cache_size=app_cache_size,
                 reload_interval=reload_interval)


__all__ = ["__version__", "make_multi_wsgi_app", "make_wsgi_app"]
