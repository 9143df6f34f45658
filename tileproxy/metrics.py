"""Prometheus metrics (``globals.metrics`` / ``services.metrics``), off by default.

The places where things happen (wsgi.py, the tile cache, its creator) look at
``metrics.active``: None while metrics are off, so the cost then is one attribute
test. ``enable()`` imports ``prometheus_client`` (the ``[metrics]`` extra) and makes
the recorder, once per process. With ``PROMETHEUS_MULTIPROC_DIR`` set before the
process starts (gunicorn's workers inherit it), every worker writes its counts
there and ``/metrics`` of any worker reports the sum of all (prometheus_client's
multiprocess mode); without it, ``/metrics`` reports this process.

Labels take only configured names (services, layers, caches, sources) and status
codes, never raw request text, so their number stays bounded.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qsl

T = TypeVar("T")

SERVICES = {"service": "wms", "ows": "wms", "wms": "wms", "tms": "tms", "tiles": "tiles", "wmts": "wmts",
            "kml": "kml", "demo": "demo", "ogcapi": "ogcapi"}
SEVERAL = "(several)"


class Recorder:
    """The counters and histograms; one per process, made by ``enable``."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.requests = Counter("tileproxy_requests", "Requests answered, by service, layer and status",
                                ["service", "layer", "status"])
        self.cache_tiles = Counter("tileproxy_cache_tiles",
                                   "Tiles looked up, by cache and result (hit, miss, stale_served)",
                                   ["cache", "result"])
        self.refreshes = Counter("tileproxy_cache_refreshes", "Stale tiles refreshed, by cache and mode "
                                 "(background: served stale and queued; blocking: refreshed before answering)",
                                 ["cache", "mode"])
        self.source_requests = Counter("tileproxy_source_requests", "Requests to a source", ["source"])
        self.source_errors = Counter("tileproxy_source_errors", "Source requests that failed", ["source"])
        self.source_seconds = Histogram("tileproxy_source_request_seconds", "Time a source took to answer",
                                        ["source"])
        self.lock_wait_seconds = Histogram("tileproxy_lock_wait_seconds", "Time waited for a meta tile's lock",
                                           ["cache"], buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60))
        self.lock_timeouts = Counter("tileproxy_lock_timeouts", "Meta tile locks not taken in time", ["cache"])
        self.tiles_stored = Counter("tileproxy_tiles_stored", "Tiles written to a cache", ["cache"])
        self.bytes_stored = Counter("tileproxy_stored_bytes", "Bytes of tiles written to a cache", ["cache"])

        # the children of the two counters every cached tile touches, by label values:
        # a dict lookup instead of prometheus_client's labels() on the hot path
        self._request_children: dict[tuple[str, str, int], object] = {}
        self._hit_children: dict[str, object] = {}

    def request(self, service: str, layer: str, status: int) -> None:
        key = (service, layer, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children.setdefault(key, self.requests.labels(service, layer, str(status)))
        child.inc()  # type: ignore[attr-defined]

    def hit(self, cache: str) -> None:
        child = self._hit_children.get(cache)
        if child is None:
            child = self._hit_children.setdefault(cache, self.cache_tiles.labels(cache, "hit"))
        child.inc()  # type: ignore[attr-defined]

    def lookups(self, cache: str, hits: int = 0, misses: int = 0, stale: int = 0) -> None:
        for result, n in (("hit", hits), ("miss", misses), ("stale_served", stale)):
            if n:
                self.cache_tiles.labels(cache, result).inc(n)

    def refreshed(self, cache: str, mode: str, n: int = 1) -> None:
        if n:
            self.refreshes.labels(cache, mode).inc(n)

    def source(self, source: str, seconds: float, failed: bool) -> None:
        self.source_requests.labels(source).inc()
        self.source_seconds.labels(source).observe(seconds)
        if failed:
            self.source_errors.labels(source).inc()

    def lock_wait(self, cache: str, seconds: float, timed_out: bool = False) -> None:
        self.lock_wait_seconds.labels(cache).observe(seconds)
        if timed_out:
            self.lock_timeouts.labels(cache).inc()

    def stored(self, cache: str, tiles: int, nbytes: int) -> None:
        self.tiles_stored.labels(cache).inc(tiles)
        self.bytes_stored.labels(cache).inc(nbytes)


active: Recorder | None = None
_enable_lock = threading.Lock()


def drawn_by(source: str, draw: Callable[[], T]) -> T:
    """``draw()``, a request to the configured source ``source`` made outside a cache
    (a WMS layer of the source itself, a cache's direct source), counted and timed as
    a source request when metrics are on; anything it raises counts as an error."""
    recorder = active
    if recorder is None:
        return draw()
    started = time.monotonic()
    try:
        result = draw()
    except BaseException:
        recorder.source(source, time.monotonic() - started, failed=True)
        raise
    recorder.source(source, time.monotonic() - started, failed=False)
    return result


def enable() -> Recorder:
    """The process's recorder, made at the first call (raises ImportError without
    prometheus_client)."""
    global active
    with _enable_lock:
        if active is None:
            active = Recorder()
        return active


def exposition() -> tuple[bytes, str]:
    """(body, content type) of the metrics in Prometheus text format: of all processes
    sharing ``PROMETHEUS_MULTIPROC_DIR`` when it is set, else of this process."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class LayerNames:
    """The layer label of a request: a configured layer named by its URL, else ""."""

    def __init__(self, names: dict[str, str]):
        self.names = names  # every name a URL may use for a layer -> the layer's name

    def service_and_layer(self, path: str, query: str) -> tuple[str, str]:
        parts = path.split("/", 4)
        service = SERVICES.get(parts[1] if len(parts) > 1 else "", "other")
        if service == "wms":
            return self._kvp(query)
        candidates = parts[2:4]
        if service == "tms" and candidates and candidates[0] == "1.0.0":
            candidates = candidates[1:]
        elif service == "ogcapi" and candidates[:1] == ["collections"]:
            candidates = candidates[1:]
        layer = self.names.get(candidates[0], "") if candidates else ""
        return service, layer

    def _kvp(self, query: str) -> tuple[str, str]:
        service, layer = "wms", ""
        for key, value in parse_qsl(query):
            key = key.lower()
            if key == "service" and value.upper() == "WMTS":
                service = "wmts"
            elif key in ("layers", "layer", "query_layers") and not layer:
                names = value.split(",")
                layer = SEVERAL if len(names) > 1 else self.names.get(value, "")
        return service, layer
