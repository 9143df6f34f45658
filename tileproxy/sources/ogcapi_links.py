"""What the OGC API sources (``ogcapitiles``, ``ogcapimaps``) share: reading JSON
documents of a server, following their links, CRS URIs and discovery done once."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urljoin

from ..crs_uri import uri_code
from ..srs import SRS, get_srs
from .errors import SourceError
from .http import HTTPClient

OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
_JSON = {"Accept": "application/json"}

T = TypeVar("T")


def find_link(links: Any, rel: str, mime: str) -> str | None:
    """The href of the link of relation ``rel`` (an OGC relation also as its
    ``[ogc-rel:name]`` CURIE) with the media type ``mime``, else of the first such
    link without a media type; None when there is neither."""
    rels = {rel}
    if rel.startswith(OGC_REL):
        rels.add(f"[ogc-rel:{rel[len(OGC_REL):]}]")
    untyped = None
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict) or link.get("rel") not in rels or not isinstance(link.get("href"), str):
            continue
        if "type" not in link:
            untyped = untyped or link["href"]
        elif link["type"] == mime:
            return link["href"]
    return untyped


def crs_code(uri: str) -> str:
    """An OGC CRS URI as the code tileproxy knows (``EPSG:3857``, ``IAU_2015:30100``,
    see ``crs_uri.uri_code``); CRS84 is EPSG:4326 with its axes east first, as OGC API
    servers mean it. Raises SRSError for other texts."""
    code = uri_code(uri, strict=False)
    return "EPSG:4326" if code in ("OGC:CRS84", "OGC:84") else code


def crs_srs(uri: str) -> SRS:
    """The SRS of an OGC CRS URI (SRSError for URIs and codes tileproxy does not know)."""
    return get_srs(crs_code(uri))


@dataclass(frozen=True)
class OGCAPIServer:
    """The server of a source: its landing page (or a collection of it) and the
    JSON documents its links lead to. ``label`` names the source in errors."""

    client: HTTPClient
    landingpage_url: str
    collection: str | None = None
    label: str = "OGC API source"

    def __post_init__(self) -> None:
        object.__setattr__(self, "landingpage_url", self.landingpage_url.rstrip("/"))

    @property
    def start_url(self) -> str:
        """The landing page, or the collection's page when a collection is configured."""
        if self.collection:
            return f"{self.landingpage_url}/collections/{self.collection}"
        return self.landingpage_url

    def url(self, href: str) -> str:
        """``href`` of a link, made absolute against the landing page."""
        return urljoin(self.landingpage_url + "/", href)

    def document(self, url: str, member: str) -> dict:
        """The JSON object at ``url``, which must have ``member``; SourceError otherwise."""
        data = self.client.get(url, headers=_JSON).content
        try:
            doc = json.loads(data)
        except ValueError:
            raise SourceError(f"{self.label}: the answer of {url} is not JSON") from None
        if not isinstance(doc, dict) or member not in doc:
            raise SourceError(f"{self.label}: the answer of {url} has no '{member}'")
        return doc


class Once(Generic[T]):
    """A value found by ``find`` on first use (under a lock: one discovery for all
    threads). A failure is not kept: the next use tries again."""

    def __init__(self, find: Callable[[], T]):
        self._find = find
        self._lock = threading.Lock()
        self._value: T | None = None

    def get(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                self._value = self._find()
            return self._value
