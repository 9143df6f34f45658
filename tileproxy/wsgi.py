"""The WSGI application: routing by the first path segment, error handling,
CORS, HEAD, and reloading when the configuration changes."""

from __future__ import annotations

import hmac
import html
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

from . import metrics
from .access_log import ACCESS, INFO, LOGGED, AccessLog
from .config.build import load_proxy_config
from .config.model import ProxyConfig
from .http import HTTPError, Request, Response, status_line, unsafe_segment
from .layers import build_tile_layers, build_wms_layers
from .services.client_input import echo
from .services.demo import DemoService
from .services.fast_tiles import FastTiles
from .services.kml import KMLService
from .services.ogcapi import OGCAPIService
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
        self.ogcapi: OGCAPIService | None = None
        if services.wms:
            root = build_wms_layers(config)
            self.wms = WMSService(services.wms, root, self.tile_layers, config.globals.base_dir, max_age)
        if services.ogcapi is not None:
            ogcapi_root = self.wms.root if self.wms else build_wms_layers(config)
            self.ogcapi = OGCAPIService(services.ogcapi, ogcapi_root, config.grids, self.tile_layers, max_age)
        self.demo = (DemoService(config, self.tile_layers, self.tms, self.wmts, self.wms, dispatch=self.handle,
                                 ogcapi=self.ogcapi)
                     if services.demo else None)
        self.cors = config.globals.access_control_allow_origin
        self.app_headers = [("Access-Control-Allow-Origin", self.cors), NOSNIFF] if self.cors else [NOSNIFF]
        fast = FastTiles(self.tms, self.wmts, self.ogcapi, self.app_headers)
        self.fast: FastTiles | None = fast if fast else None
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
        if self.ogcapi:
            self.routes["ogcapi"] = self.ogcapi.handle
        if services.kml is not None:
            kml = KMLService(self.tile_layers, services.kml.use_grid_names, max_age)
            self.routes["kml"] = kml.handle
        self.admin = None
        if config.globals.admin_token:
            from .services.admin import AdminAPI

            self.admin = AdminAPI(config, config.globals.admin_token)
        self.routes["healthz"] = self.healthz
        self.routes["readyz"] = self.readyz
        self.layer_names = metrics.LayerNames(self._layer_names())
        self.access = AccessLog(self.layer_names, config.globals.log_format)
        self.recorder: metrics.Recorder | None = None
        if services.metrics is not None:
            self.recorder = metrics.enable()
            self.routes[services.metrics.path.split("/")[1]] = self.metrics

    def _layer_names(self) -> dict[str, str]:
        """Every name a URL may give a layer (TMS adds the grid) -> the layer's name."""
        names: dict[str, str] = {}
        todo = list(self.config.layers)
        while todo:
            layer = todo.pop()
            todo.extend(layer.layers)
            if layer.name:
                names[layer.name] = layer.name
        for tl in self.tile_layers:
            names.setdefault(f"{tl.name}_{tl.grid_name}", tl.name)
        return names

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if ACCESS.isEnabledFor(INFO) and LOGGED not in environ:  # this again, through the access log
            return self.access.logged(self, environ, start_response)
        fast = self.fast.answer(environ) if self.fast is not None else None
        if fast is not None:  # complete: the app's headers and Content-Length are in it
            if self.recorder is not None:
                self._record(environ, 200)
            start_response("200 OK", fast[0])
            return [fast[1]]
        req = Request(environ)
        resp = self.handle(req)
        if self.recorder is not None:
            self._record(environ, resp.status)
        headers = resp.headers
        headers += self.app_headers
        headers.append(("Content-Length", str(len(resp.body))))
        start_response(status_line(resp.status), headers)
        return [resp.body] if req.method != "HEAD" and resp.status != 304 else [b""]

    def _record(self, environ: dict, status: int) -> None:
        assert self.recorder is not None
        service, layer = self.layer_names.service_and_layer(environ.get("PATH_INFO", ""),
                                                            environ.get("QUERY_STRING", ""))
        self.recorder.request(service, layer, status)

    def handle(self, req: Request) -> Response:
        if req.path.startswith("/admin/"):  # POST /admin/invalidate, when globals.admin is set
            if self.admin is None:
                return Response("not found\n", 404)
            return self.admin.handle(req, req.path.split("/")[2:])
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
        # absolute: the page is also the answer to '/<name>' of a MultiMapProxy (multiapp.py)
        base = html.escape(req.script_url) + "/"
        if self.demo:
            links.append(f'<li><a href="{base}demo/">Demo</a></li>')
        if self.wms:
            links.append(f'<li><a href="{base}service?REQUEST=GetCapabilities&amp;SERVICE=WMS">WMS capabilities</a></li>')
        if self.tms:
            links.append(f'<li><a href="{base}tms/1.0.0/">TMS capabilities</a></li>')
        if self.wmts:
            links.append(f'<li><a href="{base}wmts/1.0.0/WMTSCapabilities.xml">WMTS capabilities</a></li>')
        if self.ogcapi:
            links.append(f'<li><a href="{base}ogcapi?f=html">OGC API</a></li>')
        body = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>tileproxy</title></head>"
            "<body><h1>tileproxy</h1><ul>" + "".join(links) + "</ul></body></html>"
        )
        return Response(body, content_type="text/html; charset=utf-8")

    def healthz(self, req: Request, parts: list[str]) -> Response:
        """200 while the process answers (load balancers' liveness probe)."""
        if parts:
            return Response("not found\n", 404)
        return Response("ok\n", headers=[("Cache-Control", "no-store")])

    def readyz(self, req: Request, parts: list[str]) -> Response:
        """200 when the configuration is loaded and every cache can write its tiles and
        locks, else 503 with the reasons as JSON."""
        if parts:
            return Response("not found\n", 404)
        from .storage_check import check_storage

        # not writable: no free space figure; a disk that is only nearly full still serves
        problems = [f"{r.what}: {r.path}: {r.problem}" for r in check_storage(self.config)
                    if r.problem and r.free is None]
        body = json.dumps({"ready": not problems, "problems": problems}) + "\n"
        return Response(body, 503 if problems else 200, content_type="application/json",
                        headers=[("Cache-Control", "no-store")])

    def metrics(self, req: Request, parts: list[str]) -> Response:
        """The Prometheus metrics, at the configured path, with its token if one is set."""
        conf = self.config.services.metrics
        assert conf is not None
        if req.path.rstrip("/") != conf.path.rstrip("/"):
            return Response("not found\n", 404)
        if conf.token:
            given = req.environ.get("HTTP_AUTHORIZATION", "")
            if not given:
                return Response("token required\n", 401, headers=[("WWW-Authenticate", "Bearer")])
            if not hmac.compare_digest(given.encode(), f"Bearer {conf.token}".encode()):
                return Response("wrong token\n", 403)
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type, headers=[("Cache-Control", "no-store")])

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
    """Serves the app of one configuration and rebuilds it when a configuration file
    changes, checked at most every ``check_interval`` seconds; with ``math.inf`` only
    once in a process forked after loading (a gunicorn ``--preload`` worker), so that
    a new worker serves the file as it is now. A change that does not load keeps the
    configuration in service and logs why.

    With ``last_good``, every good load is kept on disk (see last_good.py) and a
    process whose first load fails serves that copy, logging the error."""

    def __init__(self, path: str | Path, check_interval: float = 1.0, last_good: bool = False):
        self.path = Path(path)
        self.check_interval = check_interval
        self.last_good = last_good
        self._lock = threading.Lock()
        self._app, self.serving = self._first_app()
        self._mtimes = self._current_mtimes()
        self._checked = time.monotonic()
        # False while no check can be due: with an infinite interval, between the check
        # after a fork and the next fork (no clock read per request then)
        self._may_check = check_interval != math.inf
        _FORKABLE.add(self)

    def _load(self) -> TileProxyApp:
        if not self.last_good:
            return make_app_from_config(load_proxy_config(self.path))
        from . import last_good

        loaded = last_good.load_recording(self.path)
        app = make_app_from_config(loaded.config)
        last_good.save(self.path, loaded)
        return app

    def _first_app(self) -> tuple[TileProxyApp, str]:
        loaded_at = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            return self._load(), f"{self.path} as loaded at {loaded_at}"
        except Exception as ex:
            if not self.last_good:
                raise
            from . import last_good

            try:
                kept = last_good.load_snapshot(self.path)
            except Exception as snap_ex:
                log.error("the last good configuration of %s does not load either: %s", self.path, snap_ex)
                raise ex from None
            if kept is None:
                log.error("configuration %s does not load and no last good copy of it is kept: %s",
                          self.path, ex)
                raise
            saved = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(kept.saved_at))
            log.error("CONFIGURATION ERROR, serving the last good configuration of %s (loaded at %s, "
                      "kept in %s) until the file is fixed: %s", self.path, saved, kept.snapshot, ex)
            return make_app_from_config(kept.config), f"the last good configuration of {self.path} from {saved}"

    def _current_mtimes(self) -> dict[Path, float]:
        out = {}
        for f in [self.path.resolve(), *self._app.config.files]:
            try:
                out[f] = os.stat(f).st_mtime
            except OSError:
                out[f] = -1.0
        return out

    def _forked(self) -> None:
        self._lock = threading.Lock()  # the parent's may have been held by a thread that is gone
        self._checked = -math.inf  # look at the files once, at the next request
        self._may_check = True

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_interval:
            return
        with self._lock:
            self._checked = now
            self._may_check = self.check_interval != math.inf
            current = self._current_mtimes()
            if current == self._mtimes:
                return
            self._mtimes = current
            loaded_at = time.strftime("%Y-%m-%d %H:%M:%S")
            try:
                self._app = self._load()
            except Exception as ex:  # keep serving the old config
                log.error("CONFIGURATION ERROR, %s not reloaded, still serving %s: %s", self.path, self.serving, ex)
                return
            self.serving = f"{self.path} as loaded at {loaded_at}"
            self._mtimes = self._current_mtimes()
            log.info("configuration reloaded from %s", self.path)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self._may_check:
            self._maybe_reload()
        return self._app(environ, start_response)


_FORKABLE: weakref.WeakSet[ReloadingApp] = weakref.WeakSet()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: [app._forked() for app in list(_FORKABLE)])


def make_app_from_config(config: ProxyConfig) -> TileProxyApp:
    return TileProxyApp(config)


def make_wsgi_app(path: str | Path, reloader: bool = False, last_good: bool = False) -> Callable:
    """A WSGI app serving the mapproxy.yaml at ``path``: rebuilt on changes with
    ``reloader``; falling back to the last configuration that loaded with ``last_good``."""
    if reloader or last_good:
        return ReloadingApp(path, 1.0 if reloader else math.inf, last_good=last_good)
    return make_app_from_config(load_proxy_config(path))
