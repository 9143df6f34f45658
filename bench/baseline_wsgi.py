"""The smallest tile server: every request gets the same PNG from memory.

Serves as the ceiling in bench/tiles.py --baseline: whatever gunicorn, the load
tool and the kernel cost per request on this machine, no app can beat it.
"""

import os

with open(os.environ["BENCH_BASELINE_TILE"], "rb") as _f:
    _BODY = _f.read()
_HEADERS = [("Content-Type", "image/png"), ("Content-Length", str(len(_BODY)))]


def application(environ, start_response):
    start_response("200 OK", list(_HEADERS))
    return [_BODY]
