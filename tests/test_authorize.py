"""MapProxy's authorization API (``environ['mapproxy.authorize']``), through the
real WSGI app behind a tiny middleware that puts a callback into the environ, over
a real local source server: who is asked what, 401 and 403 in each service's own
format, layers left out of capabilities, and maps and tiles clipped to the area a
user may see."""

from __future__ import annotations

import pytest
from lxml import etree
from support.authorize import (
    CONFIG,
    MAP,
    MERC,
    NW_BBOX,
    NW_TILE,
    WEST_HALF_4326,
    Callbacks,
    partial,
)
from support.source_server import COLORS
from support.wsgi import call


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def guarded(app, answer) -> Callbacks:
    return Callbacks(app, answer)


def nw_color(app) -> tuple[int, int, int]:
    """The colour of the north-west tile as the source draws it (one colour per tile)."""
    return call(app, NW_TILE).image.convert("RGB").getpixel((10, 10))


def xml(body: bytes) -> etree._Element:
    return etree.fromstring(body)


# -- the cached-tile fast path -------------------------------------------------


def test_a_cached_tile_of_a_forbidden_layer_is_never_sent(app):
    url = "/tms/1.0.0/secret/EPSG3857/0/0/0.png"
    first = call(app, url)
    assert first.status == 200 and first.image.size == (256, 256)
    assert call(app, url).headers["Cache-Status"] == "tileproxy; hit"  # stored: the fast path serves it
    denied = guarded(app, partial({"open": {"tile": True}}))
    answer = call(denied, url)
    assert answer.status == 403
    assert first.body not in answer.body
    assert xml(answer.body).tag == "TileMapServerError"
    assert denied.asked == [("tms", ["secret"], {"query_extent": ("EPSG:3857", (-MERC, -MERC, 0.0, 0.0))})]
    # the same stored tile over WMTS
    rest = call(denied, "/wmts/secret/GLOBAL_WEBMERCATOR/0/0/0.png")
    assert rest.status == 403 and b"ExceptionReport" in rest.body


def test_the_fast_path_asks_once_and_serves_what_is_allowed(app):
    color = nw_color(app)
    allowed = guarded(app, partial({"open": {"tile": True}}))
    answer = call(allowed, NW_TILE)
    assert answer.status == 200 and answer.headers["Cache-Status"] == "tileproxy; hit"
    assert answer.image.convert("RGB").getpixel((10, 10)) == color
    assert allowed.asked == [("wmts", ["open"], {"query_extent": ("EPSG:3857", NW_BBOX)})]


def test_a_limited_tile_is_asked_about_once_per_request(app):
    call(app, NW_TILE)
    limited = guarded(app, partial({"open": {"tile": True, "limited_to": WEST_HALF_4326}}))
    assert call(limited, NW_TILE).content_type == "image/png"
    assert len(limited.asked) == 1  # the fast path's answer serves the general path too


# -- 401 and 403 ---------------------------------------------------------------


@pytest.mark.parametrize("url, marker", [
    ("/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1", b"ServiceExceptionReport"),
    ("/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=map_a&STYLES=&SRS=EPSG:3857"
     "&BBOX=0,0,4000000,2000000&WIDTH=200&HEIGHT=100&FORMAT=image/png&EXCEPTIONS=application/vnd.ogc.se_inimage",
     b"ServiceExceptionReport"),
    ("/wmts/1.0.0/WMTSCapabilities.xml", b"ExceptionReport"),
    ("/tms/1.0.0/", b"TileMapServerError"),
    ("/tiles/open/EPSG3857/0/0/0.png", None),
    ("/kml/open/EPSG3857/0/0/0.kml", None),
    ("/demo/", None),
])
@pytest.mark.parametrize("kind, status", [("unauthenticated", 401), ("none", 403)])
def test_denials_answer_401_or_403_in_the_services_format(app, url, marker, kind, status):
    answer = call(guarded(app, {"authorized": kind}), url)
    assert answer.status == status
    if marker is not None:
        assert marker in answer.body  # an XML exception, even where an image exception was asked for
    else:
        assert answer.body.strip() in (b"unauthorized", b"forbidden")


def test_an_unknown_answer_is_a_denial(app):
    assert call(guarded(app, {"authorized": "maybe"}), NW_TILE).status == 403
    assert call(guarded(app, None), "/tms/1.0.0/").status == 403


def test_the_demo_page_is_asked_about_but_not_its_static_files(app):
    denied = guarded(app, {"authorized": "none"})
    assert call(denied, "/demo/").status == 403
    assert denied.asked == [("demo", [], {})]
    assert call(denied, "/demo/static/demo.css").status == 200


# -- limited_to: tiles ---------------------------------------------------------


def test_a_tile_is_clipped_to_the_area_it_is_limited_to(app):
    color = nw_color(app)
    limited = guarded(app, partial({"open": {"tile": True, "limited_to": WEST_HALF_4326}}))
    answer = call(limited, NW_TILE)
    assert answer.status == 200 and answer.content_type == "image/png"
    img = answer.image.convert("RGBA")
    assert img.getpixel((10, 128)) == (*color, 255)  # west of 90°W: the tile
    assert img.getpixel((240, 128))[3] == 0  # east of it: transparent


def test_a_request_wide_limit_clips_tiles_too(app):
    color = nw_color(app)
    limited = guarded(app, partial({"open": {"tile": True}}, limited_to=WEST_HALF_4326))
    img = call(limited, "/tms/1.0.0/open/EPSG3857/0/0/1.png").image.convert("RGBA")  # TMS: the same tile
    assert img.getpixel((10, 128)) == (*color, 255) and img.getpixel((240, 128))[3] == 0


def test_a_tile_outside_its_area_is_transparent_and_one_inside_is_untouched(app):
    plain = call(app, NW_TILE)
    outside = call(guarded(app, partial({"open": {"tile": True, "limited_to": {
        "srs": "EPSG:4326", "geometry": "POLYGON((10 -50, 40 -50, 40 -10, 10 -10, 10 -50))"}}})), NW_TILE)
    assert outside.status == 200 and outside.content_type == "image/png"
    assert outside.image.convert("RGBA").getextrema()[3] == (0, 0)
    inside = call(guarded(app, partial({"open": {"tile": True, "limited_to": {
        "srs": "EPSG:3857", "geometry": [-MERC, 0, 0, MERC]}}})), NW_TILE)
    assert inside.body == plain.body


def test_kml_tiles_are_asked_about_with_their_bbox(app):
    kml = guarded(app, partial({"open": {"tile": True}}))
    assert call(kml, "/kml/open/EPSG3857/1/0/1.png").status == 200
    assert kml.asked == [("kml", ["open"], {"query_extent": ("EPSG:3857", NW_BBOX)})]
    assert call(guarded(app, partial({"open": {"tile": False}})), "/kml/open/EPSG3857/0/0/0.kml").status == 403


# -- WMS GetMap ----------------------------------------------------------------


def test_getmap_is_asked_about_the_layers_that_draw(app):
    asking = guarded(app, {"authorized": "full"})
    assert call(asking, MAP + "maps").status == 200
    assert asking.asked == [("wms.map", ["map_a", "map_b"],
                             {"query_extent": ("EPSG:3857", (0.0, 0.0, 4000000.0, 2000000.0))})]


def test_a_denied_layer_is_refused_when_named_and_left_out_when_in_a_group(app, source):
    only_a = guarded(app, partial({"map_a": {"map": True}}))
    assert call(only_a, MAP + "map_b").status == 403
    assert call(only_a, MAP + "map_a,map_b").status == 403
    source.reset()
    assert call(only_a, MAP + "maps").status == 200
    assert [p for p in source.requests if "LAYERS=b" in p] == []  # map_b is not even asked for


def test_a_map_is_clipped_per_layer_and_as_a_whole(app):
    west_half = {"srs": "EPSG:3857", "geometry": [0, 0, 2000000, 2000000]}
    for answer in (partial({"map_a": {"map": True, "limited_to": west_half}}),
                   partial({"map_a": {"map": True}}, limited_to=west_half)):
        img = call(guarded(app, answer), MAP + "map_a&BGCOLOR=0x00ff00").image.convert("RGB")
        assert {img.getpixel((25, 75)), img.getpixel((75, 75))} == set(COLORS)  # the checkerboard
        assert img.crop((101, 0, 200, 100)).getcolors() == [(99 * 100, (0, 255, 0))]  # the background


def test_a_transparent_map_is_transparent_outside_the_limit(app):
    limit = {"srs": "EPSG:3857", "geometry": [0, 0, 2000000, 2000000]}
    answer = call(guarded(app, partial({"map_a": {"map": True, "limited_to": limit}})), MAP + "map_a&TRANSPARENT=true")
    img = answer.image.convert("RGBA")
    assert img.getpixel((50, 50))[3] == 255 and img.getpixel((150, 50))[3] == 0


# -- WMS GetFeatureInfo and GetLegendGraphic ------------------------------------

INFO = ("/service?SERVICE=WMS&REQUEST=GetFeatureInfo&VERSION=1.1.1&STYLES=&SRS=EPSG:3857"
        "&BBOX=0,0,4000000,2000000&WIDTH=200&HEIGHT=100&FORMAT=image/png&X=20&Y=50"
        "&LAYERS=map_a&QUERY_LAYERS=map_a")


def test_featureinfo_needs_the_right_and_a_point_inside_the_limit(app):
    assert b"a:" in call(guarded(app, partial({"map_a": {"featureinfo": True}})), INFO).body
    assert call(guarded(app, partial({"map_a": {"map": True}})), INFO).status == 403
    east = {"srs": "EPSG:3857", "geometry": [2000000, 0, 4000000, 2000000]}
    outside = call(guarded(app, partial({"map_a": {"featureinfo": True, "limited_to": east}})), INFO)
    assert outside.status == 200 and outside.body == b""
    outside_all = call(guarded(app, partial({"map_a": {"featureinfo": True}}, limited_to=east)), INFO)
    assert outside_all.body == b""


def test_wmts_featureinfo_is_asked_as_its_own_service(app):
    url = "/wmts/open/GLOBAL_WEBMERCATOR/1/0/0/10/20.txt"
    asking = guarded(app, partial({"open": {"tile": True}}))
    assert call(asking, url).status == 403
    assert asking.asked[0][:2] == ("wmts.featureinfo", ["open"])


def test_legends_need_the_legendgraphic_right(app):
    url = "/service?SERVICE=WMS&REQUEST=GetLegendGraphic&VERSION=1.1.1&FORMAT=image/png&LAYER=map_a"
    asking = guarded(app, partial({"map_a": {"map": True}}))
    assert call(asking, url).status == 403
    assert asking.asked == [("wms.legendgraphic", ["map_a"], {})]


# -- capabilities ----------------------------------------------------------------

WMS_CAPS = "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1"


def wms_layers(answer) -> list[str]:
    return xml(answer.body).xpath("//Layer/Name/text()")


def test_wms_capabilities_list_the_permitted_layers_of_permitted_groups(app):
    asking = guarded(app, partial({"open": {"map": True}, "map_a": {"map": True}}))
    assert wms_layers(call(asking, WMS_CAPS)) == ["open"]  # map_a: its group is not listed
    assert asking.asked == [("wms.capabilities", ["open", "secret", "maps", "map_a", "map_b"], {})]
    group = guarded(app, partial({"maps": {"map": True}, "map_b": {"map": True, "featureinfo": True}}))
    doc = xml(call(group, WMS_CAPS).body)
    assert doc.xpath("//Layer/Name/text()") == ["maps", "map_b"]
    assert doc.xpath("//Layer[Name='map_b']/@queryable") == ["1"]
    assert doc.xpath("//Layer[Name='maps']/@queryable") == []  # no featureinfo right
    empty_group = guarded(app, partial({"maps": {"map": True}}))
    assert wms_layers(call(empty_group, WMS_CAPS)) == []  # a group with nothing to show


def test_wms_capabilities_narrow_the_bbox_to_the_limit(app):
    limited = guarded(app, partial({"open": {"map": True, "limited_to": {
        "srs": "EPSG:4326", "geometry": [5, 40, 15, 50]}}}))
    box = xml(call(limited, WMS_CAPS).body).xpath("//Layer[Name='open']/LatLonBoundingBox")[0]
    assert [float(box.get(k)) for k in ("minx", "miny", "maxx", "maxy")] == [5, 40, 15, 50]
    elsewhere = guarded(app, partial({"open": {"map": True}}, limited_to={
        "srs": "EPSG:4326", "geometry": [5, 40, 15, 50]}))
    assert wms_layers(call(elsewhere, WMS_CAPS)) == ["open"]


def test_tms_capabilities_are_asked_with_grid_names_and_filtered_by_layer(app):
    asking = guarded(app, partial({"open": {"tile": True}}))
    doc = xml(call(asking, "/tms/1.0.0/").body)
    assert doc.xpath("//TileMap/@title") == ["Open tiles"]
    assert asking.asked == [("tms", ["open_EPSG3857", "secret_EPSG3857"], {"query_extent": None})]
    assert call(asking, "/tms/1.0.0/secret/EPSG3857").status == 403
    assert call(asking, "/tms/1.0.0/open/EPSG3857").status == 200


def test_wmts_capabilities_list_the_layers_with_the_tile_right(app):
    asking = guarded(app, partial({"secret": {"tile": True}, "open": {"tile": False}}))
    doc = xml(call(asking, "/wmts/1.0.0/WMTSCapabilities.xml").body)
    ns = {"wmts": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
    assert doc.xpath("//wmts:Contents/wmts:Layer/ows:Identifier/text()", namespaces=ns) == ["secret"]
    assert asking.asked == [("wmts", ["open", "secret"], {"query_extent": None})]
