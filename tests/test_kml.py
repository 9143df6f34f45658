"""KML super-overlays: documents, their Region/Link structure, and image tiles."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest
from support.configs import cache, layer, merge, wms_source
from support.wsgi import call

from tileproxy.config.model import KMLConfig

NS = {"k": "http://www.opengis.net/kml/2.2"}

CONFIG = {
    "services": {"tms": None, "kml": {"use_grid_names": False}},
    "layers": [layer("osm", "OSM", "osm_cache"), layer("geo", "Geodetic", "geo_cache")],
    "caches": {
        "osm_cache": cache("wms"),
        "geo_cache": cache("wms", grid="GLOBAL_GEODETIC", format="image/jpeg"),
    },
    "sources": {"wms": wms_source()},
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def _doc(app, url):
    answer = call(app, url)
    assert answer.status == 200, answer.body
    assert answer.content_type == "application/vnd.google-earth.kml+xml"
    return ET.fromstring(answer.body)  # well-formed or this raises


def _box(elem, tag="LatLonAltBox"):
    box = elem if elem.tag.endswith(tag) else elem.find(f"k:{tag}", NS)
    return tuple(round(float(box.find(f"k:{side}", NS).text), 6) for side in ("north", "south", "east", "west"))


def _region_box(elem):
    return _box(elem.find("k:Region", NS))


@pytest.mark.parametrize("entry", ["/kml/osm/EPSG3857", "/kml/osm_EPSG3857", "/kml/osm/EPSG3857/0/0/0.kml"])
def test_entry_document_structure(app, entry) -> None:
    root = _doc(app, entry)
    doc = root.find("k:Document", NS)
    assert doc.find("k:name", NS).text == entry.split("/")[2]  # the layer as the URL names it
    assert _region_box(doc) == (90.0, -90.0, 180.0, -180.0)
    links = doc.findall("k:NetworkLink", NS)
    overlays = doc.findall("k:GroundOverlay", NS)
    assert len(links) == 4 and len(overlays) == 4
    hrefs = sorted(link.find("k:Link/k:href", NS).text for link in links)
    assert hrefs == [f"http://localhost/kml/osm/EPSG3857/1/{x}/{y}.kml" for x in (0, 1) for y in (0, 1)]
    for link in links:
        assert link.find("k:Link/k:viewRefreshMode", NS).text == "onRegion"
        lod = link.find("k:Region/k:Lod", NS)
        assert lod.find("k:minLodPixels", NS).text == "128" and lod.find("k:maxLodPixels", NS).text == "-1"
    by_name = {o.find("k:name", NS).text: o for o in overlays}
    north_east = by_name["1/1/1"]
    assert north_east.find("k:Icon/k:href", NS).text == "http://localhost/kml/osm/EPSG3857/1/1/1.png"
    assert _box(north_east, "LatLonBox") == _region_box(north_east) == (90.0, 0.0, 180.0, 0.0)
    assert north_east.find("k:drawOrder", NS).text == "1"
    assert north_east.find("k:Region/k:Lod/k:maxLodPixels", NS).text == "768"


def test_following_a_link_goes_one_level_down(app) -> None:
    doc = _doc(app, "/kml/osm/EPSG3857/1/1/1.kml").find("k:Document", NS)
    assert _region_box(doc) == (90.0, 0.0, 180.0, 0.0)
    names = sorted(o.find("k:name", NS).text for o in doc.findall("k:GroundOverlay", NS))
    assert names == ["2/2/2", "2/2/3", "2/3/2", "2/3/3"]
    inner = {o.find("k:name", NS).text: o for o in doc.findall("k:GroundOverlay", NS)}["2/2/2"]
    north, south, east, west = _box(inner, "LatLonBox")
    assert (south, east, west) == (0.0, 90.0, 0.0)
    assert north == pytest.approx(66.513260, abs=1e-5)  # mercator y 10018754 m


def test_image_tiles_count_rows_from_the_south(app) -> None:
    kml_tile = call(app, "/kml/osm/EPSG3857/2/3/3.png")
    assert kml_tile.status == 200 and kml_tile.content_type == "image/png"
    assert "max-age" in kml_tile.headers["Cache-Control"]
    same = call(app, "/tiles/osm/EPSG3857/2/3/0.png")  # /tiles: rows as the grid counts them
    assert kml_tile.body == same.body


def test_geodetic_grid_is_clipped_to_the_world(app) -> None:
    doc = _doc(app, "/kml/geo/EPSG4326").find("k:Document", NS)
    assert _region_box(doc) == (90.0, -90.0, 180.0, -180.0)
    overlays = doc.findall("k:GroundOverlay", NS)
    assert sorted(o.find("k:name", NS).text for o in overlays) == ["1/0/0", "1/1/0"]
    assert overlays[0].find("k:Icon/k:href", NS).text.endswith(".jpeg")
    assert call(app, "/kml/geo/EPSG4326/1/1/0.jpeg").content_type == "image/jpeg"


def test_use_grid_names(make_app) -> None:
    app = make_app(merge(CONFIG, {"services": {"kml": {"use_grid_names": True}}}))
    assert app.config.services.kml == KMLConfig(use_grid_names=True)  # typed, like the other services
    doc = _doc(app, "/kml/osm/GLOBAL_WEBMERCATOR").find("k:Document", NS)
    href = doc.find("k:NetworkLink/k:Link/k:href", NS).text
    assert href.startswith("http://localhost/kml/osm/GLOBAL_WEBMERCATOR/1/")
    assert call(app, "/kml/osm/EPSG3857").status == 404


@pytest.mark.parametrize(("url", "status"), [
    ("/kml/nope/EPSG3857", 404),
    ("/kml/osm/EPSG3857/1/5/0.kml", 404),
    ("/kml/osm/EPSG3857/40/0/0.png", 404),
    ("/kml/osm/EPSG3857/1/0/0.jpeg", 404),
    ("/kml/osm/EPSG3857/1/x/0.kml", 404),
    ("/kml/", 404),
])
def test_bad_requests(app, url, status) -> None:
    answer = call(app, url)
    assert answer.status == status
    assert answer.content_type.startswith("text/plain")


def test_no_kml_route_without_the_service(make_app) -> None:
    app = make_app({**CONFIG, "services": {"tms": None}})
    assert call(app, "/kml/osm/EPSG3857").status == 404


def test_documents_are_conditional_on_their_etag(app) -> None:
    first = call(app, "/kml/osm/EPSG3857/1/1/1.kml")
    etag = first.headers["ETag"]
    assert etag == hashlib.md5(first.body).hexdigest()  # MapProxy's document ETag
    assert "max-age" in first.headers["Cache-Control"] and "Last-Modified" not in first.headers
    again = call(app, "/kml/osm/EPSG3857/1/1/1.kml", headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    assert call(app, "/kml/osm/EPSG3857/1/0/1.kml", headers={"If-None-Match": etag}).status == 200
