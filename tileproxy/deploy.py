"""WSGI entry point for gunicorn, granian, mod_wsgi or uWSGI.

    TILEPROXY_CONFIG=/path/to/mapproxy.yaml gunicorn tileproxy.deploy:application

Set TILEPROXY_RELOAD=1 to rebuild the app when the configuration changes. Every
configuration that loads is kept as the last good one; a worker started while
the file is broken serves it and logs the error (``TILEPROXY_LAST_GOOD=off``
fails instead; a path there names the file to keep it in).

Set TILEPROXY_AUTH_POLICY=/path/to/policy.yaml to put tileproxy.auth.PolicyMiddleware
in front (docs/security.md); a policy with errors stops the worker at start.
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


def _on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "off", "no", "false")


application = make_wsgi_app(
    _path,
    reloader=_on("TILEPROXY_RELOAD"),
    last_good=os.environ.get("TILEPROXY_LAST_GOOD", "").strip().lower() not in ("0", "off", "no", "false"),
)

_policy = os.environ.get("TILEPROXY_AUTH_POLICY", "").strip()
if _policy:
    from .auth import PolicyMiddleware

    application = PolicyMiddleware(application, _policy)
    logging.getLogger("tileproxy.auth").info("access policy %s in force", _policy)
