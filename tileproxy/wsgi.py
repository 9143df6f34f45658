"""The WSGI application: routing by the first path segment, error handling,
CORS, HEAD, and reloading when the configuration changes."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .config.build import load_proxy_config
from .config.model import ProxyConfig
from .http import HTTPError, Request, Response, status_line, unsafe_segment
from .layers import build_tile_layers, build_wms_layers
from .services.client_input import echo
from .services.demo import DemoService
from .services.fast_tiles import FastTiles
from .services.kml import KMLService
from .services.tms import TMSService
from .services.wms import WMSService
from .services.wmts import WMTSService, ows_exception

log = logging.getLogger("tileproxy.wsgi")

Handler = Callable[[Request, list[str]], Response]

# on every answer: error texts quote the request, and no browser may read them as
# markup; one constant header costs the cached-tile path next to nothing
NOSNIFF = ("X-Content-Type-Options", "nosniff")


class TileProxyApp:
    def __init__(self, config: ProxyConfig):
        self.config = config
        services = config.services
        max_age = int(config.globals.expires_hours * 3600)
        self.tile_layers = build_tile_layers(config)
        self.tms = TMSService(self.tile_layers, services.tms, max_age) if services.tms else None
        self.wmts = WMTSService(self.tile_layers, services.wmts, max_age) if services.wmts else None
        self.wms = None
        if services.wms:
            root = build_wms_layers(config, services.wms.max_tile_limit)
            self.wms = WMSService(services.wms, root, self.tile_layers, config.globals.base_dir, max_age)
        self.demo = (DemoService(config, self.tile_layers, self.tms, self.wmts, self.wms, dispatch=self.handle)
                     if services.demo else None)
        self.cors = config.globals.access_control_allow_origin
        self.fast = FastTiles(self.tms, self.wmts)
        self.routes: dict[str, Handler] = {
            "": self.welcome,
            "service": self.ows,
            "ows": self.ows,
            "wms": self.ows,
        }
        if self.tms:
            self.routes["tms"] = self.tms.handle_tms
            self.routes["tiles"] = self.tms.handle_tiles
        if self.wmts:
            self.routes["wmts"] = self.wmts_rest
        if self.demo:
            self.routes["demo"] = self.demo.handle
        if services.kml is not None:
            kml = KMLService(self.tile_layers, bool(services.kml.get("use_grid_names", False)), max_age)
            self.routes["kml"] = kml.handle

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        fast = self.fast.answer(environ) if self.fast else None
        if fast is not None:
            headers, body = fast
            status, send = "200 OK", True
        else:
            req = Request(environ)
            resp = self.handle(req)
            headers, body, status = resp.headers, resp.body, status_line(resp.status)
            send = req.method != "HEAD" and resp.status != 304
        if self.cors:
            headers.append(("Access-Control-Allow-Origin", self.cors))
        headers.append(NOSNIFF)
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body] if send else [b""]

    def handle(self, req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            if req.method == "OPTIONS":
                return Response(b"", 204, content_type=None, headers=[("Allow", "GET, HEAD, OPTIONS")])
            return Response("method not allowed\n", 405, headers=[("Allow", "GET, HEAD, OPTIONS")])
        path = req.path
        parts = path.split("/")[1:]
        suspicious = "/." in path or "\\" in path or "\x00" in path  # a quick test before the exact one
        if suspicious and any(unsafe_segment(p) for p in parts):
            return Response("invalid path\n", 404)
        handler = self.routes.get(parts[0] if parts else "")
        if handler is None:
            return Response("not found\n", 404)
        try:
            return handler(req, parts[1:])
        except HTTPError as ex:
            return ex.response
        except Exception:
            log.exception("internal error for %s", req.path)
            return Response("internal error\n", 500)

    # -- handlers --------------------------------------------------------

    def welcome(self, req: Request, parts: list[str]) -> Response:
        if parts and parts != [""]:
            return Response("not found\n", 404)
        links = []
        if self.demo:
            links.append('<li><a href="demo/">Demo</a></li>')
        if self.wms:
            links.append('<li><a href="service?REQUEST=GetCapabilities&amp;SERVICE=WMS">WMS capabilities</a></li>')
        if self.tms:
            links.append('<li><a href="tms/1.0.0/">TMS capabilities</a></li>')
        if self.wmts:
            links.append('<li><a href="wmts/1.0.0/WMTSCapabilities.xml">WMTS capabilities</a></li>')
        body = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>tileproxy</title></head>"
            "<body><h1>tileproxy</h1><ul>" + "".join(links) + "</ul></body></html>"
        )
        return Response(body, content_type="text/html; charset=utf-8")

    def ows(self, req: Request, parts: list[str]) -> Response:
        if parts and parts != [""]:
            return Response("not found\n", 404)
        service = (req.args.get("service") or "").upper()
        if service == "WMTS" and self.wmts:
            return self.wmts.handle_kvp(req)
        if self.wms and (service == "WMS" or (not service and WMSService.is_wms_request(req.args))):
            return self.wms.handle(req)
        if not service:
            return ows_exception("missing parameter SERVICE", "MissingParameterValue", "service")
        return ows_exception(f"service '{echo(req.args.get('service'))}' is not available", "InvalidParameterValue", "service")

    def wmts_rest(self, req: Request, parts: list[str]) -> Response:
        return self.wmts.handle_rest(req, "/" + "/".join(parts))  # type: ignore[union-attr]


class ReloadingApp:
    """Rebuilds the app when any configuration file changes (checked at most once a second)."""

    def __init__(self, path: str | Path, check_interval: float = 1.0):
        self.path = Path(path)
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._app = make_app_from_config(load_proxy_config(self.path))
        self._mtimes = self._current_mtimes()
        self._checked = time.monotonic()

    def _current_mtimes(self) -> dict[Path, float]:
        out = {}
        for f in self._app.config.files:
            try:
                out[f] = os.stat(f).st_mtime
            except OSError:
                out[f] = -1.0
        return out

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_interval:
            return
        with self._lock:
            self._checked = now
            current = {}
            for f in self._mtimes:
                try:
                    current[f] = os.stat(f).st_mtime
                except OSError:
                    current[f] = -1.0
            if current == self._mtimes:
                return
            try:
                self._app = make_app_from_config(load_proxy_config(self.path))
                log.info("configuration reloaded from %s", self.path)
            except Exception as ex:  # keep serving the old config
                log.error("configuration not reloaded: %s", ex)
            self._mtimes = self._current_mtimes() if current else current

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        self._maybe_reload()
        return self._app(environ, start_response)


def make_app_from_config(config: ProxyConfig) -> TileProxyApp:
    return TileProxyApp(config)


def make_wsgi_app(path: str | Path, reloader: bool = False) -> Callable:
    """A WSGI app serving the mapproxy.yaml at ``path``."""
    if reloader:
        return ReloadingApp(path)
    return make_app_from_config(load_proxy_config(path))
