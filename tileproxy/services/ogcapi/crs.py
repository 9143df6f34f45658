"""CRS names in OGC API: ``http://www.opengis.net/def/crs/AUTH/VERSION/CODE`` URLs
and ``[AUTH:CODE]`` CURIEs."""

from __future__ import annotations

from ...crs_uri import crs_uri as ogc_url
from ...crs_uri import uri_code
from ...srs import SRS, get_srs

__all__ = ["ogc_url", "parse_crs", "is_earth", "geographic", "public_srs"]


def parse_crs(text: str) -> SRS:
    """A CRS given as an OGC URL, a safe CURIE ``[EPSG:4326]`` or ``EPSG:4326``;
    raises SRSError (a ValueError) for anything else."""
    if text.startswith("http"):
        text = uri_code(text)
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
