"""WSGI entry point for gunicorn, mod_wsgi or uWSGI.

    TILEPROXY_CONFIG=/path/to/mapproxy.yaml gunicorn tileproxy.deploy:application

Set TILEPROXY_RELOAD=1 to rebuild the app when the configuration changes.
"""

from __future__ import annotations

import logging
import os

from . import make_wsgi_app

_path = os.environ.get("TILEPROXY_CONFIG") or os.environ.get("MAPPROXY_CONFIG")
if not _path:
    raise RuntimeError("set TILEPROXY_CONFIG to the path of your mapproxy.yaml")
if not logging.getLogger().handlers:
    logging.basicConfig(level=os.environ.get("TILEPROXY_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
application = make_wsgi_app(_path, reloader=os.environ.get("TILEPROXY_RELOAD", "") not in ("", "0"))
