"""WSGI entry point for gunicorn, granian, mod_wsgi or uWSGI.

    TILEPROXY_CONFIG=/path/to/mapproxy.yaml gunicorn tileproxy.deploy:application

Set TILEPROXY_RELOAD=1 to rebuild the app when the configuration changes. Every
configuration that loads is kept as the last good one; a worker started while
the file is broken serves it and logs the error (``TILEPROXY_LAST_GOOD=off``
fails instead; a path there names the file to keep it in).

With TILEPROXY_CONFIG_DIR=/path/to/dir instead, every ``*.yaml`` of that directory
is served under ``/<name>/`` (MapProxy's MultiMapProxy); TILEPROXY_ALLOW_LISTING=1
lists them at ``/``.

Set TILEPROXY_LOG_CONFIG=/path/to/log.ini (or TILEPROXY_LOG_INI) to configure logging from
that file (``tileproxy create -t log-ini``; ``%(here)s`` is its directory; .json/.yaml files
are dictConfig); else INFO and above go to stderr (TILEPROXY_LOG_LEVEL changes the level),
without the access log (a line per request on ``tileproxy.access``, docs/deployment.md)
unless TILEPROXY_ACCESS_LOG=1.

Set TILEPROXY_AUTH_POLICY=/path/to/policy.yaml to put tileproxy.auth.PolicyMiddleware
in front (docs/security.md); a policy with errors stops the worker at start.
"""

from __future__ import annotations

import logging
import os

from . import make_multi_wsgi_app, make_wsgi_app


def _on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "off", "no", "false")


_path = os.environ.get("TILEPROXY_CONFIG") or os.environ.get("MAPPROXY_CONFIG")
_dir = os.environ.get("TILEPROXY_CONFIG_DIR", "").strip()
if not _path and not _dir:
    raise RuntimeError("set TILEPROXY_CONFIG to the path of your mapproxy.yaml "
                       "(or TILEPROXY_CONFIG_DIR to a directory of them)")
_log_config = (os.environ.get("TILEPROXY_LOG_CONFIG") or os.environ.get("TILEPROXY_LOG_INI") or "").strip()
if _log_config:  # as MapProxy's config.py: fileConfig(log.ini) before the app is made
    from .logconfig import apply_log_config

    apply_log_config(_log_config)  # a file that does not work stops the worker at start
elif not logging.getLogger().handlers:
    logging.basicConfig(level=os.environ.get("TILEPROXY_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not _on("TILEPROXY_ACCESS_LOG"):
        logging.getLogger("tileproxy.access").setLevel(logging.WARNING)  # off unless asked for

if _path:
    application = make_wsgi_app(
        _path,
        reloader=_on("TILEPROXY_RELOAD"),
        last_good=os.environ.get("TILEPROXY_LAST_GOOD", "").strip().lower() not in ("0", "off", "no", "false"),
    )
else:  # MultiMapProxy: every *.yaml of the directory under /<name>/, each reloaded when it changes
    application = make_multi_wsgi_app(_dir, allow_listing=_on("TILEPROXY_ALLOW_LISTING"))

_policy = os.environ.get("TILEPROXY_AUTH_POLICY", "").strip()
if _policy:
    from .auth import PolicyMiddleware

    application = PolicyMiddleware(application, _policy)
    logging.getLogger("tileproxy.auth").info("access policy %s in force", _policy)
