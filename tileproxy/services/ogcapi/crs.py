"""CRS names in OGC API: ``http://www.opengis.net/def/crs/AUTH/VERSION/CODE`` URLs
and ``[AUTH:CODE]`` CURIEs."""

from __future__ import annotations

from ...srs import SRS, SRSError, get_srs

_PREFIX = "http://www.opengis.net/def/crs/"


def ogc_url(srs: SRS) -> str:
    """``EPSG:3857`` -> ``.../EPSG/0/3857``, ``OGC:CRS84`` -> ``.../OGC/1.3/CRS84``,
    ``IAU_2015:30100`` -> ``.../IAU/2015/30100``."""
    auth, _, code = srs.code.partition(":")
    version = "0"
    if auth == "OGC":
        version, code = "1.3", "CRS84" if code == "84" else code
    elif auth.startswith("IAU_"):
        auth, version = "IAU", auth[4:]
    return f"{_PREFIX}{auth}/{version}/{code}"


def parse_crs(text: str) -> SRS:
    """A CRS given as an OGC URL, a safe CURIE ``[EPSG:4326]`` or ``EPSG:4326``;
    raises SRSError (a ValueError) for anything else."""
    if text.startswith("http"):
        if not text.startswith(_PREFIX):
            raise SRSError(f"{text} is not an OGC CRS URL")
        parts = text[len(_PREFIX):].split("/")
        if len(parts) != 3:
            raise SRSError(f"{text} is not an OGC CRS URL")
        auth, version, code = parts
        text = f"IAU_{version}:{code}" if auth == "IAU" else f"{auth}:{code}"
    elif text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return get_srs(text)


def is_earth(srs: SRS) -> bool:
    """Earth CRS are EPSG ones; others (IAU) belong to other celestial bodies."""
    return srs.code.startswith("EPSG:")


def geographic(srs: SRS) -> SRS:
    """The lon/lat CRS extents are given in: EPSG:4326 on Earth, the body's own
    geographic CRS elsewhere."""
    if srs.code.startswith("IAU"):
        base = srs.crs.geodetic_crs
        auth = base.to_authority() if base is not None else None
        if auth:
            return get_srs(":".join(auth))
    return get_srs("EPSG:4326")


def public_srs(srs: SRS) -> SRS:
    """The CRS a grid is announced in: lon/lat as CRS84, old web mercator as EPSG:3857."""
    if srs.code == "EPSG:4326":
        return get_srs("OGC:CRS84")
    if srs.code == "EPSG:900913":
        return get_srs("EPSG:3857")
    return srs
