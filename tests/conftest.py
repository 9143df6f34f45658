"""Shared fixtures, thin over tests/support: the local source server, apps built
from config dicts (or YAML text), and apps served through a real HTTP server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.configs import config_text
from support.redis_server import RedisServer
from support.source_server import SourceServer
from support.wsgi import LiveServer

from tileproxy.wsgi import TileProxyApp, make_wsgi_app


@pytest.fixture(scope="session")
def _source_server() -> Iterator[SourceServer]:
    server = SourceServer()
    yield server
    server.close()


@pytest.fixture
def source(_source_server: SourceServer) -> Iterator[SourceServer]:
    """The local WMS/tile server, reset to answer ``ok`` with zeroed counters."""
    _source_server.reset()
    _source_server.delay = 0.0
    yield _source_server
    _source_server.release()
    _source_server.reset()


@pytest.fixture(scope="session")
def _redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except FileNotFoundError as ex:
        pytest.skip(str(ex))
    yield server
    server.stop()


@pytest.fixture
def redis_server(_redis_server: RedisServer) -> RedisServer:
    """A real redis-server (started once per session), emptied for each test."""
    _redis_server.flush()
    return _redis_server


@pytest.fixture
def make_app(tmp_path: Path, source: SourceServer) -> Callable[..., TileProxyApp]:
    """Build an app from a config dict (or YAML text where the text is the point);
    ``{source}`` in its strings is the source server URL and relative paths
    resolve in the test's tmp_path."""

    def build(config: dict | str, name: str = "mapproxy.yaml") -> TileProxyApp:
        path = tmp_path / name
        path.write_text(config_text(config, source.url))
        return make_wsgi_app(path)  # type: ignore[return-value]

    return build


@pytest.fixture
def serve() -> Iterator[Callable[[Callable], str]]:
    """Serve a WSGI app on 127.0.0.1 through a real HTTP server; returns its base URL."""
    servers: list[LiveServer] = []

    def start(app: Callable) -> str:
        servers.append(LiveServer(app))
        return servers[-1].url

    yield start
    for server in servers:
        server.close()
