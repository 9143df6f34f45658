"""Shared fixtures, thin over tests/support: the local source server, apps built
from config dicts (or YAML text), and apps served through a real HTTP server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import servers
from support.configs import config_text
from support.servers import AzuriteServer, Missing, RedisServer, S3Server
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


def _started(starter: Callable) -> Iterator:
    try:
        context = starter()
        server = context.__enter__()
    except Missing as ex:
        pytest.skip(str(ex))
    try:
        yield server
    finally:
        context.__exit__(None, None, None)


@pytest.fixture(scope="session")
def redis_server_session() -> Iterator[RedisServer]:
    yield from _started(servers.redis_server)


@pytest.fixture
def redis_server(redis_server_session: RedisServer) -> RedisServer:
    """A redis-server (no persistence) shared by the session, emptied for each test;
    .host, .port, .url. Skips when redis-server is not installed."""
    assert redis_server_session.command("FLUSHALL").startswith(b"+OK")
    return redis_server_session


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """SeaweedFS serving S3 for the session: .endpoint_url, .access_key, .secret_key,
    .region, .credentials_env(), .new_bucket(). Skips when ``weed`` is not installed."""
    yield from _started(servers.s3_server)


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[AzuriteServer]:
    """Azurite serving Azure Blob for the session: .connection_string, .new_container().
    Skips when azurite-blob is not installed."""
    yield from _started(servers.azurite_server)


@pytest.fixture(params=["s3", "azureblob", "redis"])
def remote_space(request: pytest.FixtureRequest):
    """A fresh bucket (SeaweedFS), container (Azurite) or key prefix (redis) for each
    remote cache backend: ``.conf`` is its ``cache:`` block, ``.store()`` its store."""
    from support.remote_stores import RemoteSpace

    server = request.getfixturevalue({"s3": "s3_server", "azureblob": "azurite_server",
                                      "redis": "redis_server"}[request.param])
    return RemoteSpace(request.param, server)
