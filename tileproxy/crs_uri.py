"""OGC CRS URIs (``http://www.opengis.net/def/crs/AUTH/VERSION/CODE``) and the SRS
codes tileproxy knows, both ways: the OGC API service and the OGC API sources
read and write them."""

from __future__ import annotations

from .srs import SRS, SRSError

CRS_PREFIX = "http://www.opengis.net/def/crs/"
CRS84_URL = CRS_PREFIX + "OGC/1.3/CRS84"


def crs_uri(srs: SRS) -> str:
    """``EPSG:3857`` -> ``.../EPSG/0/3857``, ``OGC:CRS84`` (or ``OGC:84``) ->
    ``.../OGC/1.3/CRS84``, ``IAU_2015:30100`` -> ``.../IAU/2015/30100``."""
    auth, _, code = srs.code.partition(":")
    if auth == "OGC":
        return f"{CRS_PREFIX}OGC/1.3/{'CRS84' if code == '84' else code}"
    if auth.startswith("IAU_"):
        return f"{CRS_PREFIX}IAU/{auth[4:]}/{code}"
    return f"{CRS_PREFIX}{auth}/0/{code}"


def uri_code(uri: object, strict: bool = True) -> str:
    """The SRS code of an OGC CRS URI: ``EPSG:3857``, ``OGC:CRS84``, ``IAU_2015:30100``.
    Not ``strict``: slashes around the path after the prefix are ignored. Raises
    SRSError for other texts."""
    if not isinstance(uri, str) or not uri.startswith(CRS_PREFIX):
        raise SRSError(f"not an OGC CRS URI: {uri!r}")
    path = uri[len(CRS_PREFIX):]
    parts = (path if strict else path.strip("/")).split("/")
    if len(parts) != 3:
        raise SRSError(f"not an OGC CRS URI: {uri!r}")
    auth, version, code = parts
    return f"IAU_{version}:{code}" if auth == "IAU" else f"{auth}:{code}"
