"""OGC API maps and map tiles: the pixels are the source's, at the place asked
for in any of the map CRS; the size follows from width/height, scale-denominator
or the collection's nominal scale; outside the collection's extent the map has
the background colour; bad parameters get a 400 (or 404, 406) exception
document, never a 500; the authorize callback is asked about ``ogcapi.map``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.authorize import Callbacks, partial
from support.ogcapi import CONFIG, HALF, validate
from support.source_server import COLORS, expected_color
from support.wsgi import call

MERC = "http://www.opengis.net/def/crs/EPSG/0/3857"


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def _numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def _centre_colors(img, bbox, srs="EPSG:3857", step=5):
    """(expected, actual) colours at the centres of a grid of pixels."""
    w, h = img.size
    img = img.convert("RGB")
    pairs = []
    for j in range(step // 2, h, step):
        for i in range(step // 2, w, step):
            x = bbox[0] + (i + 0.5) * (bbox[2] - bbox[0]) / w
            y = bbox[3] - (j + 0.5) * (bbox[3] - bbox[1]) / h
            pairs.append((expected_color(x, y, srs), img.getpixel((i, j))))
    return pairs


def test_a_map_shows_the_source_at_the_place_asked_for(app, source):
    bbox = (-1_500_000, 500_000, 2_500_000, 2_500_000)
    answer = call(app, f"/ogcapi/collections/checker/map.png?crs={MERC}&bbox-crs={MERC}"
                       f"&bbox={','.join(str(v) for v in bbox)}&width=80&height=40")
    assert answer.status == 200, answer.text
    assert answer.content_type == "image/png"
    assert answer.image.size == (80, 40)
    assert answer.headers["Content-Crs"] == f"<{MERC}>"
    assert answer.headers["Content-Bbox"] == "-1500000,500000,2500000,2500000"
    pairs = _centre_colors(answer.image, bbox)
    assert all(want == got for want, got in pairs), pairs
    assert {got for _, got in pairs} == set(COLORS)


def test_bbox_in_lat_lon_order_of_epsg_4326(app, source):
    answer = call(app, "/ogcapi/collections/checker/map?bbox=10,0,20,20&crs=[EPSG:4326]"
                       "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326&width=40&height=20")
    assert answer.status == 200, answer.text
    assert "Content-Crs" not in answer.headers  # EPSG:4326 is the default CRS of headers
    assert answer.headers["Content-Bbox"] == "0,10,20,20"  # x/y of lon 0..20, lat 10..20
    assert source.params()["BBOX"] == "0.0,10.0,20.0,20.0"


def test_without_parameters_the_map_shows_the_whole_collection(app, source):
    answer = call(app, "/ogcapi/collections/checker/map")
    assert answer.status == 200
    assert answer.image.size[0] == 1024  # the extent in EPSG:3857, the first map CRS, is about square
    assert 1000 < answer.image.size[1] <= 1024
    assert answer.headers["Content-Bbox"].startswith("-20037508.342789244,")


def test_scale_denominator_sets_the_resolution_around_the_center(app, source):
    # 1:10,000,000 at 0.28 mm pixels: 2800 m per pixel
    answer = call(app, f"/ogcapi/collections/checker/map?crs={MERC}&center-crs={MERC}&center=1000000,1000000"
                       "&scale-denominator=10000000&width=100&height=50")
    assert answer.status == 200, answer.text
    assert _numbers(answer.headers["Content-Bbox"]) == pytest.approx([860000, 930000, 1140000, 1070000])
    # the collection's nominal scale (1:50,000,000) when none is given
    nominal = call(app, f"/ogcapi/collections/checker/map?crs={MERC}&center-crs={MERC}&center=0,0&width=10&height=10")
    assert _numbers(nominal.headers["Content-Bbox"]) == pytest.approx([-70000, -70000, 70000, 70000])


def test_outside_the_extent_the_map_has_the_background(app, source):
    # the source covers latitudes up to 85 degrees: the top of this map lies above
    bbox = "-180,60,180,90"
    transparent = call(app, f"/ogcapi/collections/checker/map.png?bbox={bbox}&crs=EPSG:4326&width=360&height=30")
    assert transparent.image.mode == "RGBA"
    assert transparent.image.getpixel((10, 1))[3] == 0
    assert transparent.image.getpixel((10, 28))[3] == 255
    opaque = call(app, f"/ogcapi/collections/checker/map.png?bbox={bbox}&crs=EPSG:4326&width=360&height=30"
                       "&transparent=false&bgcolor=0x102030")
    assert opaque.image.mode == "RGB"
    assert opaque.image.getpixel((10, 1)) == (0x10, 0x20, 0x30)
    named = call(app, f"/ogcapi/collections/checker/map.png?bbox={bbox}&crs=EPSG:4326&width=360&height=30"
                      "&bgcolor=green")
    assert named.image.getpixel((10, 1)) == (0, 128, 0, 0)  # a colour alone: transparent in that colour
    jpeg = call(app, f"/ogcapi/collections/checker/map.jpg?bbox={bbox}&crs=EPSG:4326&width=360&height=30")
    assert jpeg.content_type == "image/jpeg" and jpeg.image.mode == "RGB"


def test_a_map_wholly_outside_is_the_background_and_asks_no_source(app, source):
    answer = call(app, "/ogcapi/collections/checker/map.png?bbox=-180,86,180,90&crs=EPSG:4326&width=36&height=4"
                       "&transparent=false")
    assert answer.status == 200
    assert answer.image.getcolors() == [(144, (255, 255, 255))]
    assert source.count("wms") == 0


def test_dataset_map_and_collections_selection(app, source):
    dataset = call(app, "/ogcapi/map.png?width=64&height=64&bbox=0,0,10,10")
    assert dataset.status == 200
    chosen = call(app, "/ogcapi/map.png?width=64&height=64&bbox=0,0,10,10&collections=cached")
    assert chosen.status == 200
    # the cached layer is drawn from its tiles: the same squares, resampled
    same = int((np.asarray(chosen.image.convert("RGB")) == np.asarray(dataset.image.convert("RGB"))).all(axis=2).sum())
    assert same > 0.8 * 64 * 64
    unknown = call(app, "/ogcapi/map.png?collections=cached,nowhere")
    assert unknown.status == 400
    assert json.loads(unknown.body)["detail"] == "unknown collection nowhere"


# every one answered 400 with this detail
BAD_MAPS = {
    "width=abc": "width is not an integer",
    "width=0": "width must be strictly positive",
    "width=-5": "width must be strictly positive",
    "width=100000": "width=100000 exceeds max_width=40000",
    "width=4001&height=4000": "number of pixels 16004000 exceed max_pixels=16000000",
    "crs=EPSG:99999": "crs is not a valid CRS",
    "crs=EPSG:32631": "crs is incompatible with this layer",
    "crs=http://www.opengis.net/def/crs/EPSG/0": "crs is not a valid CRS",
    "bbox=1,2,3": "bbox must be a list of 4 or 6 numeric values",
    "bbox=1,2,3,nan": "bbox must be a list of 4 or 6 numeric values",
    "bbox=1,2,inf,4": "bbox must be a list of 4 or 6 numeric values",
    "bbox=10,0,0,10": "bbox[2] must be greater than bbox[0]",
    "bbox=0,0,10,10&bbox-crs=nonsense": "bbox-crs is not a valid CRS",
    "bbox=0,0,10,10&bbox-crs=IAU_2015:30100": "bbox cannot be reprojected",
    "bbox=0,0,10,10&center=5,5": "bbox and center are mutually exclusive",
    "bbox=0,0,10,10&scale-denominator=1000&width=10": "mutually exclusive",
    "center=1": "center must be a list of 2 numeric values",
    "subset=lon(0:10)": "subset must include 2 axis",
    "subset=lon(0:10),height(0:10)": "Unsupported axis name height",
    "subset=lon(10:0),lat(0:10)": "Invalid range in subset",
    "scale-denominator=0": "scale-denominator must be a strictly positive numeric value",
    "scale-denominator=abc": "scale-denominator must be a strictly positive numeric value",
    "mm-per-pixel=-1": "mm-per-pixel must be a strictly positive numeric value",
    "bgcolor=0xZZZZZZ": "invalid value for bgcolor",
    "bgcolor=chartreuse": "invalid value for bgcolor",
    "transparent=yes": "invalid value for transparent",
    "f=gif": "Invalid value for f query parameter",
    "collections=checker": "Unknown query parameter collections",
}


@pytest.mark.parametrize(("query", "detail"), BAD_MAPS.items())
def test_bad_map_parameters_get_an_exception_document(app, source, query, detail):
    answer = call(app, "/ogcapi/collections/checker/map?" + query)
    assert answer.status == 400, answer.text
    assert answer.content_type == "application/json"
    doc = json.loads(answer.body)
    assert detail in doc["detail"]
    validate(doc, "maps", schema="exception")
    assert source.count("wms") == 0


def test_unknown_image_formats_are_406(app):
    assert call(app, "/ogcapi/collections/checker/map.gif").status == 404  # no such resource
    assert call(app, "/ogcapi/collections/checker/map", headers={"Accept": "image/gif"}).status == 406
    assert call(app, "/ogcapi/collections/nowhere/map").status == 404


def test_a_failing_source_is_a_server_error_document(app, source):
    source.reset("error")
    answer = call(app, "/ogcapi/collections/checker/map.png?width=10&height=10&bbox=0,0,10,10")
    assert answer.status == 500
    assert json.loads(answer.body)["type"] == "InternalError"


# -- map tiles -----------------------------------------------------------------------


def test_a_map_tile_shows_the_source_in_the_tile(app, source):
    answer = call(app, "/ogcapi/collections/checker/map/tiles/WebMercatorQuad/3/2/4.png")
    assert answer.status == 200, answer.text
    assert answer.image.size == (256, 256)
    size = 2 * HALF / 8
    bbox = (-HALF + 4 * size, HALF - 3 * size, -HALF + 5 * size, HALF - 2 * size)
    assert _numbers(answer.headers["Content-Bbox"]) == pytest.approx(bbox)
    pairs = _centre_colors(answer.image, bbox, step=16)
    assert sum(want == got for want, got in pairs) / len(pairs) > 0.95


def test_a_tile_of_a_cached_layer_matches_its_wmts_tile(app, source):
    ogc = call(app, "/ogcapi/collections/cached/map/tiles/WebMercatorQuad/2/1/2.png")
    wmts = call(app, "/wmts/cached/GLOBAL_WEBMERCATOR/2/2/1.png")
    assert ogc.status == wmts.status == 200
    assert ogc.image.convert("RGB").tobytes() == wmts.image.convert("RGB").tobytes()


def test_tiles_of_a_bottom_left_matrix_count_rows_from_the_bottom(app, source):
    answer = call(app, "/ogcapi/collections/checker/map/tiles/GLOBAL_MERCATOR/1/1/0.png")
    assert _numbers(answer.headers["Content-Bbox"]) == pytest.approx([-HALF, 0, 0, HALF])


def test_tile_size_follows_width_height_and_scale(app, source):
    base = "/ogcapi/collections/checker/map/tiles/WebMercatorQuad/1/0/0.png"
    assert call(app, base + "?width=512&height=512").image.size == (512, 512)
    assert call(app, base + "?mm-per-pixel=0.14").image.size == (512, 512)
    # level 1: 78271.5 m per pixel; at 1:559,082,264 (level 0's scale) a tile is half as large
    assert call(app, base + "?scale-denominator=559082264.0287178").image.size == (128, 128)


BAD_TILES = [
    ("/WebMercatorQuad/20/0/0.png", "", 400, "Invalid zoom level. Valid range is [0,19]"),
    ("/WebMercatorQuad/x/0/0.png", "", 400, "Invalid zoom level. Valid range is [0,19]"),
    ("/WebMercatorQuad/1/2/0.png", "", 400, "Invalid row number. Valid range is [0,1]"),
    ("/WebMercatorQuad/1/0/-1.png", "", 400, "Invalid col number. Valid range is [0,1]"),
    ("/WorldCRS84Quad/0/0/2.png", "", 400, "Invalid col number. Valid range is [0,1]"),
    ("/WebMercatorQuad/0/0/0.webp", "", 406, "Unsupported image format webp"),
    ("/Nowhere/0/0/0.png", "", 404, "TileMatrixSet not found"),
    ("/WebMercatorQuad/0/0/0.png", "scale-denominator=1000&width=10", 400,
     "scale-denominator is mutually exclusive with width or height"),
    ("/WebMercatorQuad/0/0/0.png", "width=100000", 400, "width=100000 exceeds max_width=40000"),
    ("/WebMercatorQuad/0/0/0.png", "bbox=0,0,1,1", 400, "Unknown query parameter bbox"),
]


@pytest.mark.parametrize(("path", "query", "status", "detail"), BAD_TILES)
def test_bad_tile_requests_get_an_exception_document(app, source, path, query, status, detail):
    answer = call(app, f"/ogcapi/collections/checker/map/tiles{path}?{query}")
    assert answer.status == status, answer.text
    assert json.loads(answer.body)["detail"] == detail
    assert source.count("wms") == 0


def test_without_maps_tiles_take_no_map_parameters(make_app, source):
    from support.ogcapi import ogcapi_config

    app = make_app(ogcapi_config(enable_maps=False))
    answer = call(app, "/ogcapi/collections/checker/map/tiles/WebMercatorQuad/0/0/0.png?width=512")
    assert answer.status == 400
    assert call(app, "/ogcapi/collections/checker/map").status == 404


# -- the authorize callback --------------------------------------------------------------


def test_maps_and_tiles_ask_the_authorize_callback(app, source):
    allow_cached = Callbacks(app, lambda service, layers: partial({"cached": {"map": True}}))
    denied = call(allow_cached, "/ogcapi/collections/checker/map.png?width=10&height=10&bbox=0,0,10,10")
    assert denied.status == 403
    assert json.loads(denied.body)["type"] == "Forbidden"
    assert allow_cached.asked[-1][0] == "ogcapi.map"
    assert allow_cached.asked[-1][2]["query_extent"][0] == "EPSG:3857"  # the first map CRS
    tile = call(allow_cached, "/ogcapi/collections/cached/map/tiles/WebMercatorQuad/0/0/0.png")
    assert tile.status == 200
    nobody = Callbacks(app, {"authorized": "unauthenticated"})
    assert call(nobody, "/ogcapi/collections/cached/map/tiles/WebMercatorQuad/0/0/0.png").status == 401
    assert source.count("wms") == 1  # for the allowed tile only


def test_a_limited_collection_is_drawn_inside_its_limit_only(app, source):
    west = {"srs": "EPSG:4326", "geometry": [-180, -85, 0, 85]}
    limited = Callbacks(app, partial({"checker": {"map": True, "limited_to": west}}))
    answer = call(limited, f"/ogcapi/collections/checker/map.png?crs={MERC}&bbox-crs={MERC}"
                           "&bbox=-2000000,0,2000000,1000000&width=40&height=10")
    img = answer.image.convert("RGBA")
    assert img.getpixel((5, 5))[3] == 255  # west of the limit: drawn
    assert img.getpixel((35, 5))[3] == 0  # east: left out


def test_a_cached_collection_serves_its_stored_tiles_as_stored(app, source):
    url = "/ogcapi/collections/cached/map/tiles/WebMercatorQuad/2/1/2.png"
    first = call(app, url)
    again = call(app, url)
    assert first.status == again.status == 200
    assert "hit" in again.headers["Cache-Status"]
    assert again.body == call(app, "/wmts/cached/GLOBAL_WEBMERCATOR/2/2/1.png").body  # the same bytes
    assert "Content-Bbox" in again.headers and again.headers["Content-Crs"] == f"<{MERC}>"
    assert call(app, url, headers={"If-None-Match": again.headers["ETag"]}).status == 304
    # anything more than the stored tile (a colour, another size, a collection drawn
    # from a source) is drawn as a map
    drawn = call(app, url + "?bgcolor=red&transparent=false")
    assert drawn.status == 200 and "Cache-Status" not in drawn.headers
    assert "Cache-Status" not in call(app, "/ogcapi/collections/checker/map/tiles/WebMercatorQuad/2/1/2.png").headers
