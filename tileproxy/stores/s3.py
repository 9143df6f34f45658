"""The ``s3`` cache: one object per tile in an S3 bucket (AWS, SeaweedFS, MinIO, ...),
keyed as MapProxy keys them, through boto3.

A tile's time is the object's LastModified; ``tileproxy invalidate --stale`` sets
it back by copying the object onto itself with a ``tileproxy-time`` metadata
entry, which a later write (by tileproxy or MapProxy) drops again."""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..grid import TileCoord
from .base import StoreError, StoreUnwritable, Tile, log_throttled, usable_tile_data
from .remote import KeyLayout, ObjectStore, Parallel, PerProcess, chunks, marked_time, mime_type

log = logging.getLogger("tileproxy.stores")

TIME_META = "tileproxy-time"  # x-amz-meta-tileproxy-time: a tile's time set back by invalidation
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
MISSING = {"404", "NoSuchKey", "NotFound"}


def _epoch(value: Any) -> float | None:
    """Seconds since the epoch of a datetime (LastModified) or an HTTP date."""
    if value is None:
        return None
    if isinstance(value, str):
        from email.utils import parsedate_to_datetime

        try:
            value = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return calendar.timegm(value.utctimetuple()) + value.microsecond / 1e6


def _tile_time(last_modified: Any, metadata: dict | None) -> float | None:
    return marked_time(_epoch(last_modified), (metadata or {}).get(TIME_META))


class S3Store(ObjectStore):

    def __init__(self, bucket: str, directory: str, layout: str = "tms", ext: str = "png", *,
                 profile_name: str | None = None, region_name: str | None = None,
                 endpoint_url: str | None = None, access_control_list: str | None = None,
                 use_http_get: bool = False, check_images: bool = True, readonly: bool = False):
        import boto3  # noqa: F401  (fails here, at configuration time, when boto3 is missing)

        self.bucket = bucket
        self.where = f"s3 bucket {bucket}"
        self.keys = KeyLayout(directory, layout, ext)
        self.profile_name = profile_name
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self.access_control_list = access_control_list
        self.use_http_get = use_http_get
        self.check_images = check_images
        self.readonly = readonly
        self.lock_id = f"s3://{endpoint_url or ''}/{bucket}/{self.keys.prefix}"
        self._content_type = mime_type(ext)
        self._client = PerProcess(self._make_client)
        self._http = PerProcess(self._make_http)
        self._parallel = Parallel("s3-store")

    # -- connections ------------------------------------------------------------

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(profile_name=self.profile_name)
        config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"},
                        max_pool_connections=32)
        return session.client("s3", region_name=self.region_name, endpoint_url=self.endpoint_url, config=config)

    def _make_http(self) -> Any:
        import requests

        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    @property
    def client(self) -> Any:
        return self._client.get()

    def object_url(self, coord: TileCoord) -> str:
        """The public URL of a tile (``use_http_get``): path style below endpoint_url,
        else AWS's virtual-hosted style, as MapProxy builds it."""
        key = self.keys.key(coord)
        if self.endpoint_url:
            return f"{self.endpoint_url.rstrip('/')}/{self.bucket}/{key}"
        region = f".{self.region_name}" if self.region_name else ""
        return f"https://{self.bucket}.s3{region}.amazonaws.com/{key}"

    def _failed(self, what: str, key: str, ex: Exception) -> None:
        log_throttled(log, logging.WARNING, self.lock_id, "s3 bucket %s: cannot %s %s: %s", self.bucket, what, key, ex)

    @staticmethod
    def _code(ex: Exception) -> str:
        response = getattr(ex, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    def remote_location(self) -> str:
        return f"s3://{self.bucket}/{self.keys.prefix}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")

    def probe(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as ex:
            code = self._code(ex)
            if code in ("404", "NoSuchBucket", "NotFound"):
                return f"bucket {self.bucket} does not exist"
            if code in ("403", "AccessDenied"):
                return f"access to bucket {self.bucket} denied: check the credentials"
            return f"bucket {self.bucket}: {ex}"
        except BotoCoreError as ex:
            return f"cannot reach S3: {ex}"
        return None

    # -- reading ----------------------------------------------------------------

    def load(self, tile: Tile) -> bool:
        if self.use_http_get:
            return self._load_http(tile)
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.keys.key(tile.coord)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            data = response["Body"].read()
        except ClientError as ex:
            if self._code(ex) not in MISSING:
                self._failed("read", key, ex)
            return False
        except BotoCoreError as ex:  # unreachable, timed out: the tile is created again
            self._failed("read", key, ex)
            return False
        if not usable_tile_data(data, self.check_images):
            return False
        tile.data = data
        tile.timestamp = _tile_time(response.get("LastModified"), response.get("Metadata"))
        return True

    def _load_http(self, tile: Tile) -> bool:
        import requests

        url = self.object_url(tile.coord)
        try:
            response = self._http.get().get(url, timeout=(5, 30))
        except requests.RequestException as ex:
            self._failed("read", url, ex)
            return False
        if response.status_code in (403, 404):  # a public bucket answers 403 for missing keys
            return False
        if response.status_code != 200:
            self._failed("read", url, RuntimeError(f"HTTP {response.status_code}"))
            return False
        if not usable_tile_data(response.content, self.check_images):
            return False
        tile.data = response.content
        meta = {TIME_META: response.headers.get("x-amz-meta-" + TIME_META)}
        tile.timestamp = _tile_time(response.headers.get("Last-Modified"), meta if meta[TIME_META] else None)
        return True

    def timestamp(self, coord: TileCoord) -> float | None:
        if self.use_http_get:
            tile = Tile(coord)
            return tile.timestamp if self._load_http(tile) else None
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.keys.key(coord)
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as ex:
            if self._code(ex) not in MISSING:
                self._failed("read", key, ex)
            return None
        except BotoCoreError as ex:
            self._failed("read", key, ex)
            return None
        return _tile_time(response.get("LastModified"), response.get("Metadata"))

    # -- writing ----------------------------------------------------------------

    def store(self, tile: Tile) -> None:
        self._writable()
        if tile.data is None:
            raise ValueError(f"tile {tile.coord} has no data to store")
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.keys.key(tile.coord)
        extra = {"ContentType": self._content_type}
        if self.access_control_list:
            extra["ACL"] = self.access_control_list
        try:
            response = self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(tile.data), **extra)
        except ClientError as ex:
            kind = StoreUnwritable if self._code(ex) in ("NoSuchBucket", "AccessDenied") else StoreError
            raise kind(f"cannot write s3://{self.bucket}/{key}: {ex}") from None
        except BotoCoreError as ex:
            raise StoreError(f"cannot write s3://{self.bucket}/{key}: {ex}") from None
        # the server's time, in the whole seconds of the LastModified that loads report
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        tile.timestamp = _epoch(date) or float(int(time.time()))

    def _delete_keys(self, keys: Iterable[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for batch in chunks(keys, DELETE_BATCH):
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            except (ClientError, BotoCoreError) as ex:
                raise StoreError(f"cannot delete from s3 bucket {self.bucket}: {ex}") from None
            errors = [e for e in response.get("Errors", []) if e.get("Code") not in MISSING]
            if errors:
                raise StoreError(f"cannot delete s3://{self.bucket}/{errors[0].get('Key')}: {errors[0].get('Message')}")

    def _mark(self, key: str, when: float) -> None:
        """The object copied onto itself with the time in its metadata (S3 cannot set
        LastModified)."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"ACL": self.access_control_list} if self.access_control_list else {}
        try:
            self.client.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
                                    Metadata={TIME_META: repr(float(when))}, MetadataDirective="REPLACE",
                                    ContentType=self._content_type, **extra)
        except ClientError as ex:
            if self._code(ex) not in MISSING:
                raise StoreError(f"cannot mark s3://{self.bucket}/{key} stale: {ex}") from None
        except BotoCoreError as ex:
            raise StoreError(f"cannot mark s3://{self.bucket}/{key} stale: {ex}") from None

    # -- listing ----------------------------------------------------------------

    def _list_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]
