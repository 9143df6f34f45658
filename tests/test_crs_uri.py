"""OGC CRS URIs and tileproxy's SRS codes, both ways, as the OGC API service and the
OGC API sources read and write them."""

from __future__ import annotations

import pytest

from tileproxy.crs_uri import CRS84_URL, crs_uri, uri_code
from tileproxy.srs import SRSError, get_srs

P = "http://www.opengis.net/def/crs/"


@pytest.mark.parametrize("code, uri", [
    ("EPSG:3857", P + "EPSG/0/3857"),
    ("EPSG:4326", P + "EPSG/0/4326"),
    ("OGC:CRS84", CRS84_URL),
])
def test_codes_and_uris_round_trip(code, uri):
    assert crs_uri(get_srs(code)) == uri
    assert uri_code(uri) == code


def test_iau_codes_carry_their_version():
    assert uri_code(P + "IAU/2015/30100") == "IAU_2015:30100"


@pytest.mark.parametrize("text", [P + "EPSG/0", P + "EPSG/0/3857/x", "http://example.com/EPSG/0/3857",
                                  "EPSG:3857", None])
def test_other_texts_are_no_crs_uris(text):
    with pytest.raises(SRSError):
        uri_code(text)


def test_slashes_around_the_path_only_when_not_strict():
    with pytest.raises(SRSError):
        uri_code(P + "EPSG/0/3857/")
    assert uri_code(P + "EPSG/0/3857/", strict=False) == "EPSG:3857"
