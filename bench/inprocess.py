#!/usr/bin/env python3
"""Call a WSGI app in-process for a list of paths: the cost of the app alone,
without HTTP or gunicorn, and optionally a cProfile of it.

    PYTHONPATH=. python3 bench/inprocess.py tileproxy bench/work/tiles-file/tileproxy/mapproxy.yaml \\
        bench/work/tiles-file/urls-wmts.txt --profile
    bench/.venv-mapproxy/bin/python bench/inprocess.py mapproxy bench/work/tiles-file/mapproxy/mapproxy.yaml \\
        bench/work/tiles-file/urls-wmts.txt
    # the cost of tileproxy.auth.PolicyMiddleware: the policy tiles.py --policy writes, and its key
    PYTHONPATH=. python3 bench/inprocess.py tileproxy bench/work/tiles-file/tileproxy/mapproxy.yaml \
        bench/work/tiles-file/urls-wmts.txt --policy bench/work/tiles-file/tileproxy/policy.yaml \
        --header "X-API-Key: bench-api-key-0123456789abcdef"
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time


def load_app(kind: str, config: str):
    if kind == "tileproxy":
        from tileproxy import make_wsgi_app

        return make_wsgi_app(config)
    from mapproxy.wsgiapp import make_wsgi_app

    return make_wsgi_app(config)


def environ_for(path: str, headers: dict[str, str] | None = None) -> dict:
    path, _, query = path.partition("?")
    extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()}
    return extra | {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8080",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def run(app, paths: list[str], n: int, headers: dict[str, str] | None = None) -> tuple[float, int]:
    """CPU seconds of this process for ``n`` requests (steadier than wall time on a
    busy machine); the number of non-200 answers."""
    bad = 0
    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    t0 = time.process_time()
    for i in range(n):
        body = app(environ_for(paths[i % len(paths)], headers), start_response)
        for _chunk in body:
            pass
        if hasattr(body, "close"):
            body.close()
        if not statuses.pop().startswith("200"):
            bad += 1
    return time.process_time() - t0, bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=["tileproxy", "mapproxy"])
    p.add_argument("config")
    p.add_argument("url_file")
    p.add_argument("-n", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=5, help="report the best of this many runs")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--policy", help="a policy file: serve tileproxy behind tileproxy.auth.PolicyMiddleware")
    p.add_argument("--header", action="append", default=[], help="'Name: value' sent with every request")
    args = p.parse_args(argv)
    headers = dict((k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in args.header))
    paths = [ln for ln in open(args.url_file).read().splitlines() if ln]
    app = load_app(args.kind, args.config)
    if args.policy:
        from tileproxy.auth import PolicyMiddleware

        app = PolicyMiddleware(app, args.policy)
    run(app, paths, min(2000, args.n), headers)  # warm-up
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
    seconds, bad = min(run(app, paths, args.n, headers) for _ in range(1 if args.profile else args.repeat))
    if args.profile:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
    print(f"{args.kind}: {args.n} requests in {seconds:.2f} CPU s: {seconds / args.n * 1e6:.1f} us/request "
          f"(best of {args.repeat}), {bad} not 200")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
