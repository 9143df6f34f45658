"""The threaded development HTTP server of ``tileproxy serve`` and ``serve-multiapp``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _LoggingHandler(WSGIRequestHandler):
    def log_message(self, format: str, *a: object) -> None:
        # the app logs each request on tileproxy.access (access_log.py); this is the server's view
        logging.getLogger("tileproxy.devserver").debug("%s %s", self.address_string(), format % a)


def run(app: Callable, bind: str) -> int:
    """Serve ``app`` on ``bind`` (``host:port``, host 127.0.0.1 when left out) until interrupted."""
    host, _, port = bind.rpartition(":")
    server = make_server(host or "127.0.0.1", int(port), app, _ThreadingServer, _LoggingHandler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
