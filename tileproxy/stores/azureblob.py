"""The ``azureblob`` cache: one blob per tile in an Azure Blob Storage container,
keyed as MapProxy keys them, through azure-storage-blob.

A tile's time is the blob's last_modified; ``tileproxy invalidate --stale`` sets
it back with a ``tileproxy_time`` metadata entry, which a later upload drops."""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..grid import TileCoord
from .base import StoreError, Tile, log_throttled, usable_tile_data
from .remote import KeyLayout, ObjectStore, Parallel, PerProcess, chunks, marked_time, mime_type

log = logging.getLogger("tileproxy.stores")

TIME_META = "tileproxy_time"  # metadata names are identifiers: no '-'
DELETE_BATCH = 256  # a blob batch holds at most 256 requests


def _tile_time(last_modified: Any, metadata: dict | None) -> float | None:
    stored = None if last_modified is None else float(calendar.timegm(last_modified.utctimetuple()))
    return marked_time(stored, (metadata or {}).get(TIME_META))


class AzureBlobStore(ObjectStore):

    def __init__(self, container: str, connection_string: str, directory: str, layout: str = "tms",
                 ext: str = "png", *, check_images: bool = True, readonly: bool = False):
        from azure.storage.blob import ContainerClient  # noqa: F401  (fails at configuration time when missing)

        self.container = container
        self.where = f"azure container {container}"
        self.connection_string = connection_string
        self.keys = KeyLayout(directory, layout, ext)
        self.check_images = check_images
        self.readonly = readonly
        self.lock_id = f"azureblob://{self._account()}/{container}/{self.keys.prefix}"
        self._content_type = mime_type(ext)
        self._client = PerProcess(self._make_client)
        self._parallel = Parallel("azureblob-store")

    def _account(self) -> str:
        parts = dict(p.split("=", 1) for p in self.connection_string.split(";") if "=" in p)
        return parts.get("BlobEndpoint") or parts.get("AccountName", "")

    def _make_client(self) -> Any:
        from azure.storage.blob import ContainerClient

        return ContainerClient.from_connection_string(self.connection_string, self.container,
                                                      connection_timeout=5, read_timeout=30)

    @property
    def client(self) -> Any:
        return self._client.get()

    def _failed(self, what: str, key: str, ex: Exception) -> None:
        log_throttled(log, logging.WARNING, self.lock_id, "azureblob container %s: cannot %s %s: %s",
                      self.container, what, key, ex)

    def remote_location(self) -> str:
        return f"azureblob://{self._account()}/{self.container}/{self.keys.prefix}"

    def probe(self) -> str | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            self.client.get_container_properties()
        except ResourceNotFoundError:
            return f"container {self.container} does not exist"
        except AzureError as ex:
            return f"container {self.container}: {str(ex).splitlines()[0]}"
        return None

    # -- reading ----------------------------------------------------------------

    def load(self, tile: Tile) -> bool:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        key = self.keys.key(tile.coord)
        try:
            download = self.client.download_blob(key)
            data = download.readall()
        except ResourceNotFoundError:
            return False
        except AzureError as ex:  # unreachable, timed out: the tile is created again
            self._failed("read", key, ex)
            return False
        if not usable_tile_data(data, self.check_images):
            return False
        tile.data = data
        tile.timestamp = _tile_time(download.properties.last_modified, download.properties.metadata)
        return True

    def timestamp(self, coord: TileCoord) -> float | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        key = self.keys.key(coord)
        try:
            props = self.client.get_blob_client(key).get_blob_properties()
        except ResourceNotFoundError:
            return None
        except AzureError as ex:
            self._failed("read", key, ex)
            return None
        return _tile_time(props.last_modified, props.metadata)

    # -- writing ----------------------------------------------------------------

    def store(self, tile: Tile) -> None:
        self._writable()
        if tile.data is None:
            raise ValueError(f"tile {tile.coord} has no data to store")
        from azure.core.exceptions import AzureError
        from azure.storage.blob import ContentSettings

        key = self.keys.key(tile.coord)
        try:
            answer = self.client.get_blob_client(key).upload_blob(
                bytes(tile.data), overwrite=True, content_settings=ContentSettings(content_type=self._content_type))
        except AzureError as ex:
            raise StoreError(f"cannot write {key} to azure container {self.container}: {ex}") from None
        # the blob's own last_modified, as loads report it
        tile.timestamp = _tile_time(answer.get("last_modified"), None) or float(int(time.time()))

    def _delete_keys(self, keys: Iterable[str]) -> None:
        from azure.core.exceptions import AzureError

        for batch in chunks(keys, DELETE_BATCH):
            try:
                answers = self.client.delete_blobs(*batch, raise_on_any_failure=False)
            except AzureError as ex:
                raise StoreError(f"cannot delete from azure container {self.container}: {ex}") from None
            for key, answer in zip(batch, answers):
                if answer.status_code not in (200, 202, 404):
                    raise StoreError(f"cannot delete {key} from azure container {self.container}: "
                                     f"HTTP {answer.status_code}")

    def _mark(self, key: str, when: float) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            self.client.get_blob_client(key).set_blob_metadata({TIME_META: repr(float(when))})
        except ResourceNotFoundError:
            pass
        except AzureError as ex:
            raise StoreError(f"cannot mark {key} stale in azure container {self.container}: {ex}") from None

    # -- listing ----------------------------------------------------------------

    def _list_keys(self, prefix: str) -> Iterator[str]:
        return iter(self.client.list_blob_names(name_starts_with=prefix))
