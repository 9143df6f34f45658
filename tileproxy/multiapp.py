"""Many configurations under one app, as MapProxy's MultiMapProxy: every ``NAME.yaml``
of a directory is served under ``/NAME/``. Apps are loaded on their first request,
rebuilt when their files change (``ReloadingApp``), and at most ``app_cache_size``
stay loaded (the least recently used goes first). A configuration that does not load
answers 500 with its error, for its own name only."""

from __future__ import annotations

import html
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from . import __version__
from .http import Request, Response, status_line
from .wsgi import NOSNIFF, ReloadingApp

log = logging.getLogger("tileproxy.multiapp")

SUFFIX = ".yaml"
# a project name is a plain file name: no dots (so no '..' or hidden files), no slashes
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")


class _Broken:
    """A configuration that did not load: its error, until the file changes."""

    def __init__(self, message: str, mtime: float):
        self.message = message
        self.mtime = mtime

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return _send(Response(self.message, 500), environ, start_response)


class MultiApp:
    """The WSGI app serving each ``*.yaml`` of ``config_dir`` under ``/<name>/``."""

    def __init__(self, config_dir: str | Path, allow_listing: bool = True, app_cache_size: int = 100,
                 reload_interval: float = 1.0):
        self.config_dir = Path(config_dir).resolve()
        self.allow_listing = allow_listing
        self.app_cache_size = max(1, app_cache_size)
        self.reload_interval = reload_interval
        self._apps: OrderedDict[str, ReloadingApp | _Broken] = OrderedDict()
        self._lock = threading.Lock()  # guards _apps
        self._load_lock = threading.Lock()  # one configuration loads at a time

    def project_names(self) -> list[str]:
        """The names of the configurations in the directory, sorted."""
        try:
            files = os.listdir(self.config_dir)
        except OSError:
            return []
        names = (f[: -len(SUFFIX)] for f in files if f.endswith(SUFFIX))
        return sorted(n for n in names if _NAME.match(n) and (self.config_dir / (n + SUFFIX)).is_file())

    def loaded(self) -> list[str]:
        """Names of the apps loaded now, least recently used first."""
        with self._lock:
            return list(self._apps)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        req = Request(environ)  # the path without an X-Script-Name prefix
        name, _, rest = req.path[1:].partition("/")
        if not name and not rest:
            return _send(self.index(req), environ, start_response)
        if not _NAME.match(name):
            return _send(Response("not found\n", 404), environ, start_response)
        if not self._config_file(name).is_file():
            with self._lock:
                self._apps.pop(name, None)  # a removed project is unloaded
            return _send(Response("not found\n", 404), environ, start_response)
        inner = dict(environ)  # '/name' is the app's root too, as in MapProxy
        inner["PATH_INFO"] = "/" + rest
        inner["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + "/" + name
        script = environ.get("HTTP_X_SCRIPT_NAME")
        if script:
            inner["HTTP_X_SCRIPT_NAME"] = script.rstrip("/") + "/" + name
        inner["mapproxy.instance_name"] = name  # as MapProxy, for authorize callbacks
        return self._app(name)(inner, start_response)

    def index(self, req: Request) -> Response:
        """The welcome page; with ``allow_listing`` it links every project."""
        page = f"<html><body><h1>Welcome to tileproxy {__version__}</h1>"
        if self.allow_listing:
            url = html.escape(req.script_url)
            items = "\n".join(f'<li><a href="{url}/{n}/">{n}</a></li>' for n in self.project_names())
            page += f"<h2>available instances:</h2><ul>{items}</ul>"
        return Response(page + "</body></html>", content_type="text/html; charset=utf-8")

    def _config_file(self, name: str) -> Path:
        return self.config_dir / (name + SUFFIX)

    def _app(self, name: str) -> ReloadingApp | _Broken:
        with self._lock:
            app = self._apps.get(name)
            if app is not None:
                self._apps.move_to_end(name)
        if app is not None and not self._stale(app, name):
            return app
        with self._load_lock:
            with self._lock:
                app = self._apps.get(name)
            if app is None or self._stale(app, name):
                app = self._load(name)
            with self._lock:
                self._apps[name] = app
                self._apps.move_to_end(name)
                while len(self._apps) > self.app_cache_size:
                    evicted, _ = self._apps.popitem(last=False)
                    log.info("project %s unloaded (app_cache_size %d)", evicted, self.app_cache_size)
        return app

    def _stale(self, app: ReloadingApp | _Broken, name: str) -> bool:
        # a loaded app watches its own files; a broken one is retried when its file changes
        return isinstance(app, _Broken) and _mtime(self._config_file(name)) != app.mtime

    def _load(self, name: str) -> ReloadingApp | _Broken:
        path = self._config_file(name)
        mtime = _mtime(path)
        log.info("loading project %s from %s", name, path)
        try:
            return ReloadingApp(path, check_interval=self.reload_interval)
        except Exception as ex:
            log.error("CONFIGURATION ERROR, project %s not served: %s", name, ex)
            return _Broken(f"configuration error in project {name}: {ex}\n", mtime)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


def _send(resp: Response, environ: dict, start_response: Callable) -> Iterable[bytes]:
    headers = [*resp.headers, NOSNIFF, ("Content-Length", str(len(resp.body)))]
    start_response(status_line(resp.status), headers)
    return [b""] if environ.get("REQUEST_METHOD", "GET").upper() == "HEAD" else [resp.body]


def make_multi_wsgi_app(config_dir: str | Path, allow_listing: bool = True, app_cache_size: int = 100,
                        reload_interval: float = 1.0) -> MultiApp:
    """A WSGI app serving every ``*.yaml`` of ``config_dir`` under ``/<name>/``."""
    return MultiApp(config_dir, allow_listing, app_cache_size, reload_interval)
