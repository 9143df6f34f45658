"""Stores and cache configurations on the real servers of tests/support/servers.py:
one bucket, container or key prefix per test, so tests never see each other's tiles."""

from __future__ import annotations

import os
from typing import Any

from tileproxy.stores.base import TileStore

REMOTE_BACKENDS = ["s3", "azureblob", "redis"]

_PREFIXES = iter(range(1, 1 << 30))


class RemoteSpace:
    """A fresh place on one server: ``conf`` is the cache's ``cache:`` block for
    mapproxy.yaml, ``store()`` the store the builder makes of it."""

    def __init__(self, kind: str, server: Any, **options: Any):
        self.kind = kind
        self.server = server
        if kind == "s3":
            os.environ.update(server.credentials_env())
            self.bucket = server.new_bucket()
            self.conf = {"type": "s3", "bucket_name": self.bucket, "endpoint_url": server.endpoint_url}
        elif kind == "azureblob":
            self.container = server.new_container()
            self.conf = {"type": "azureblob", "container_name": self.container,
                         "connection_string": server.connection_string}
        elif kind == "redis":
            self.conf = {"type": "redis", "host": server.host, "port": server.port,
                         "prefix": f"t{os.getpid()}x{next(_PREFIXES)}"}
        else:
            raise ValueError(kind)
        self.conf.update(options)

    def store(self, readonly: bool = False, cache: str = "c", **options: Any) -> TileStore:
        from tileproxy.config.stores import StoreContext, build_store
        from tileproxy.grid import predefined_grid

        grid = predefined_grid("GLOBAL_WEBMERCATOR")
        ctx = StoreContext(cache_name=cache, grid_name="GLOBAL_WEBMERCATOR", grid=grid, cache_dir="/nonexistent",
                           conf_dir="/nonexistent", path=f"caches.{cache}", readonly=readonly)
        return build_store({**self.conf, **options}, ctx)

    def raw_keys(self) -> list[str]:
        """Every key in the bucket / container / redis database, as the server lists them."""
        if self.kind == "s3":
            import boto3

            client = boto3.client("s3", endpoint_url=self.server.endpoint_url)
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        if self.kind == "azureblob":
            from azure.storage.blob import ContainerClient

            client = ContainerClient.from_connection_string(self.server.connection_string, self.container)
            return sorted(client.list_blob_names())
        import redis

        client = redis.Redis(host=self.server.host, port=self.server.port)
        return sorted(k.decode() for k in client.scan_iter(match=f"{self.conf.get('prefix', '')}*"))
