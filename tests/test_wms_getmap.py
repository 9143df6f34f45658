"""WMS GetMap: content at the right place after reprojection, caches and direct
sources, formats, transparency, scale limits, WMS-C tiles and source errors."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from PIL import Image
from support.configs import merge, wms_source
from support.wms import check_checkerboard, getmap, wms_config
from support.wsgi import call, fetch

from tileproxy.stores.base import Tile

WORLD_3857 = 20037508.342789244


@pytest.fixture
def app(make_app):
    return make_app(wms_config())


@pytest.mark.parametrize("layer", ["cached", "direct"])
@pytest.mark.parametrize(
    "version, srs, bbox, xy_bbox",
    [
        ("1.1.1", "EPSG:3857", "0,4000000,4000000,8000000", (0, 4e6, 4e6, 8e6)),
        ("1.1.1", "EPSG:4326", "0,40,30,60", (0, 40, 30, 60)),
        ("1.3.0", "EPSG:4326", "40,0,60,30", (0, 40, 30, 60)),  # lat/lon axis order
        ("1.3.0", "CRS:84", "0,40,30,60", (0, 40, 30, 60)),
        ("1.1.1", "EPSG:25832", "300000,5200000,900000,6100000", (3e5, 5.2e6, 9e5, 6.1e6)),
        ("1.3.0", "EPSG:25832", "300000,5200000,900000,6100000", (3e5, 5.2e6, 9e5, 6.1e6)),
    ],
)
def test_content_lands_in_place(app, layer, version, srs, bbox, xy_bbox) -> None:
    answer = call(app, getmap(layer, bbox, srs, version))
    assert answer.status == 200, answer.body[:300]
    assert answer.content_type == "image/png"
    assert answer.image.size == (512, 512)
    assert check_checkerboard(answer.image, xy_bbox, srs) >= 40


def test_cached_layer_fills_cache_once(app, source, tmp_path) -> None:
    url = getmap("cached", "0,40,30,60", "EPSG:4326")
    first = call(app, url)
    requests_after_first = source.count("wms")
    assert requests_after_first > 0
    assert list((tmp_path / "cache_data").rglob("*.png"))
    second = call(app, url)
    assert source.count("wms") == requests_after_first
    assert second.body == first.body


def test_exact_tile_is_passed_through_without_reencoding(app, source) -> None:
    grid_level, x, y = 2, 2, 1  # GLOBAL_WEBMERCATOR has its origin in the north-west
    size = 2 * WORLD_3857 / 4
    minx, maxy = -WORLD_3857 + x * size, WORLD_3857 - y * size
    bbox = f"{minx!r},{maxy - size!r},{minx + size!r},{maxy!r}"
    answer = call(app, getmap("cached", bbox, "EPSG:3857", size=(256, 256)))
    assert answer.status == 200
    manager = app.config.caches["cb_cache"].managers["GLOBAL_WEBMERCATOR"]
    tile = Tile((x, y, grid_level))
    assert manager.store.load(tile)
    assert answer.body == tile.data


def test_tiled_getmap_returns_the_cached_tile_with_cache_headers(app) -> None:
    bbox = f"{-WORLD_3857!r},0.0,0.0,{WORLD_3857!r}"  # tile 0,0 of level 1
    answer = call(app, getmap("cached", bbox, "EPSG:3857", size=(256, 256), tiled="true"))
    assert answer.status == 200 and answer.content_type == "image/png"
    assert "ETag" in answer.headers and "max-age" in answer.headers["Cache-Control"]
    assert "Cache-Status" in answer.headers
    tile = Tile((0, 0, 1))
    assert app.config.caches["cb_cache"].managers["GLOBAL_WEBMERCATOR"].store.load(tile)
    assert answer.body == tile.data
    # a freshly created tile's ETag differs from the stored one's (as in MapProxy)
    cached = call(app, getmap("cached", bbox, "EPSG:3857", size=(256, 256), tiled="true"))
    assert cached.body == answer.body
    again = call(app, getmap("cached", bbox, "EPSG:3857", size=(256, 256), tiled="true"),
                 headers={"If-None-Match": cached.headers["ETag"]})
    assert again.status == 304 and again.body == b""
    # edges within a tenth of a pixel still name the tile (as in MapProxy)
    near = call(app, getmap("cached", f"{-WORLD_3857!r},1000.0,0.0,{WORLD_3857!r}", "EPSG:3857", size=(256, 256), tiled="true"))
    assert near.status == 200 and near.body == answer.body
    # anything else is refused, in MapProxy's words
    refused = {
        "Request too large or invalid BBOX. (query does not align to tile boundaries)":
            getmap("cached", f"{-WORLD_3857!r},100000.0,0.0,{WORLD_3857!r}", "EPSG:3857", size=(256, 256), tiled="true"),
        "Request too large or invalid BBOX. (not a single tile)":
            getmap("cached", f"{-WORLD_3857!r},0.0,200000.0,{WORLD_3857!r}", "EPSG:3857", size=(256, 256), tiled="true"),
        "Invalid request: invalid tile size (use 256x256)":
            getmap("cached", bbox, "EPSG:3857", size=(256, 255), tiled="true"),
        "Invalid request: invalid tile format, use image/png":
            getmap("cached", bbox, "EPSG:3857", size=(256, 256), fmt="image/jpeg", tiled="true"),
    }
    for message, url in refused.items():
        off = call(app, url)
        assert off.status == 500 and f"<ServiceException>{message}</ServiceException>".encode() in off.body


def test_transparent_and_bgcolor_outside_the_cache(app) -> None:
    # EPSG:4326 north of 85.05 is outside the web mercator cache
    transparent = call(app, getmap("cached", "0,86,10,90", "EPSG:4326", size=(64, 64), transparent="TRUE"))
    assert transparent.image.convert("RGBA").getpixel((32, 32))[3] == 0
    colored = call(app, getmap("cached", "0,86,10,90", "EPSG:4326", size=(64, 64), bgcolor="0x00FF00"))
    assert colored.image.convert("RGB").getpixel((32, 32)) == (0, 255, 0)


@pytest.mark.parametrize(
    "fmt, mime, pil_format",
    [("image/jpeg", "image/jpeg", "JPEG"), ("image/gif", "image/gif", "GIF"), ("image/tiff", "image/tiff", "TIFF"),
     ("image/png; mode=8bit", "image/png; mode=8bit", "PNG"), ("png8", "image/png; mode=8bit", "PNG")],
)
def test_output_formats(app, fmt, mime, pil_format) -> None:
    answer = call(app, getmap("direct", "0,40,30,60", "EPSG:4326", fmt=fmt, size=(256, 256)))
    assert answer.status == 200 and answer.content_type == mime
    assert answer.image.format == pil_format
    if "8bit" in fmt or fmt == "png8":
        assert answer.image.mode == "P"
    tolerance = 60 if pil_format in ("JPEG", "GIF") else 40
    assert check_checkerboard(answer.image, (0, 40, 30, 60), "EPSG:4326", margin=6, tolerance=tolerance) >= 20


def test_geotiff_is_georeferenced(app, tmp_path) -> None:
    answer = call(app, getmap("direct", "0,40,30,60", "EPSG:4326", fmt="image/GeoTIFF", size=(300, 200)))
    assert answer.status == 200 and answer.content_type == "image/tiff"
    img = Image.open(io.BytesIO(answer.body))
    assert img.tag_v2[33550][:2] == pytest.approx((0.1, 0.1))  # pixel scale
    assert img.tag_v2[33922][3:5] == pytest.approx((0.0, 60.0))  # tie point: upper left
    if shutil.which("gdalinfo") is None:
        pytest.skip("gdalinfo is not installed")
    path = tmp_path / "map.tif"
    path.write_bytes(answer.body)
    info = subprocess.run(["gdalinfo", str(path)], capture_output=True, text=True, timeout=60).stdout
    assert "Upper Left  (   0.0000000,  60.0000000)" in info
    assert "4326" in info


def test_scale_limits_give_blank_images(app) -> None:
    wide = ("-20000000,-10000000,20000000,10000000", (-2e7, -1e7, 2e7, 1e7))  # ~78 km per pixel
    narrow = ("0,4000000,200000,4200000", (0, 4e6, 2e5, 4.2e6))  # ~390 m per pixel
    for layer, visible, hidden in (("coarse_only", wide, narrow), ("fine_only", narrow, wide)):
        shown = call(app, getmap(layer, visible[0], "EPSG:3857", size=(512, 512), transparent="true"))
        assert check_checkerboard(shown.image, visible[1], "EPSG:3857") > 0
        blank = call(app, getmap(layer, hidden[0], "EPSG:3857", size=(512, 512), transparent="true"))
        assert blank.image.convert("RGBA").getextrema()[3] == (0, 0), f"{layer} should be blank"


def test_named_group_renders_its_children(app) -> None:
    narrow_bbox = (0, 4e6, 2e5, 4.2e6)
    answer = call(app, getmap("group", "0,4000000,200000,4200000", "EPSG:3857", size=(512, 512)))
    assert answer.status == 200
    assert check_checkerboard(answer.image, narrow_bbox, "EPSG:3857") > 0


def test_beyond_max_shrink_factor_is_blank(make_app) -> None:
    config = wms_config()
    config["caches"]["cb_cache"]["grids"] = ["small"]
    config["grids"] = {"small": {"base": "GLOBAL_WEBMERCATOR", "min_res": 1000, "num_levels": 3}}
    app = make_app(config)
    # 1000 m/px at level 0, max_shrink_factor 4: a request at ~78 km/px is blank
    answer = call(app, getmap("cached", "-20000000,-10000000,20000000,10000000", "EPSG:3857", transparent="true"))
    assert answer.status == 200
    assert answer.image.convert("RGBA").getextrema()[3] == (0, 0)
    # and at 3000 m/px (within the factor) it is drawn
    answer = call(app, getmap("cached", "0,4000000,1536000,5536000", "EPSG:3857", transparent="true"))
    assert check_checkerboard(answer.image, (0, 4e6, 1.536e6, 5.536e6), "EPSG:3857") > 0


def test_layers_are_drawn_bottom_to_top(make_app) -> None:
    config = wms_config()
    config["sources"] = {"overlay": {"type": "debug"}, **config["sources"]}
    config["layers"].insert(1, {"name": "debug", "title": "Debug", "sources": ["overlay"]})
    app = make_app(config)
    under = call(app, getmap("direct,debug", "0,40,30,60", "EPSG:4326", size=(256, 256)))
    over = call(app, getmap("debug,direct", "0,40,30,60", "EPSG:4326", size=(256, 256)))
    # the debug layer draws a red frame; it is visible only when drawn last
    assert under.image.convert("RGB").getpixel((0, 128)) == (255, 0, 0)
    assert over.image.convert("RGB").getpixel((0, 128)) != (255, 0, 0)


def test_source_errors_notify_or_raise(make_app, source) -> None:
    config = wms_config()
    config["sources"] = {"broken": wms_source("http://127.0.0.1:9/wms", "nothing"), **config["sources"]}
    config["layers"].insert(1, {"name": "both", "title": "Both", "sources": ["cb_wms", "broken"]})
    notify = make_app(config, "notify.yaml")
    answer = call(notify, getmap("both", "0,40,30,60", "EPSG:4326", size=(256, 256)))
    assert answer.status == 200 and answer.content_type == "image/png"
    assert answer.headers["Cache-Control"] == "no-cache, no-store"  # not the full map
    img = answer.image.convert("RGB")
    assert img.getpixel((2, 2)) != img.getpixel((128, 250))  # error text drawn at the top left
    raising = make_app(merge(config, {"services": {"wms": {"on_source_errors": "raise"}}}), "raise.yaml")
    answer = call(raising, getmap("both", "0,40,30,60", "EPSG:4326", size=(256, 256)))
    assert answer.status == 500 and b"ServiceException>No response from URL" in answer.body
    source.reset("error")
    answer = call(notify, getmap("direct", "0,40,30,60", "EPSG:4326", size=(256, 256)))
    # nothing succeeded: MapProxy's words, then each source's error on a line
    assert answer.status == 500 and b"ServiceException>Could not get any sources:\nHTTP Error" in answer.body


def test_attribution_is_drawn(make_app) -> None:
    app = make_app(wms_config(attribution={"text": "(c) Tests"}))
    plain = make_app(wms_config(), "plain.yaml")
    url = getmap("direct", "0,4000000,4000000,8000000", "EPSG:3857", size=(256, 256))
    with_text = call(app, url).image.convert("RGB").crop((150, 230, 256, 256))
    without = call(plain, url).image.convert("RGB").crop((150, 230, 256, 256))
    assert with_text.tobytes() != without.tobytes()


def test_missing_service_with_getmap_is_wms(app) -> None:
    url = getmap("direct", "0,40,30,60", "EPSG:4326").replace("SERVICE=WMS&", "")
    answer = call(app, url)
    assert answer.status == 200 and answer.content_type == "image/png"
    for path in ("/wms", "/ows"):
        assert call(app, getmap("direct", "0,40,30,60", "EPSG:4326", path=path)).content_type == "image/png"


def test_wms_100_map_request(app) -> None:
    answer = call(app, "/service?WMTVER=1.0.0&REQUEST=map&LAYERS=direct&STYLES=&SRS=EPSG:4326"
                       "&BBOX=0,40,30,60&WIDTH=256&HEIGHT=256&FORMAT=PNG")
    assert answer.status == 200 and answer.content_type == "image/png"
    assert check_checkerboard(answer.image, (0, 40, 30, 60), "EPSG:4326") > 10


def test_explicit_bbox_srs_clips_getmap_and_capabilities(make_app) -> None:
    config = wms_config(bbox_srs=[{"srs": "EPSG:3857", "bbox": [0, 4000000, 2000000, 6000000]}, "EPSG:4326"])
    app = make_app(config)
    # half of the request lies west of the configured bbox: transparent there
    answer = call(app, getmap("direct", "-2000000,4000000,2000000,6000000", "EPSG:3857", size=(400, 200), transparent="true"))
    img = answer.image.convert("RGBA")
    assert img.getpixel((100, 100))[3] == 0
    assert img.getpixel((300, 100))[3] == 255
    outside = call(app, getmap("direct", "-4000000,4000000,-2000000,6000000", "EPSG:3857", size=(100, 100), transparent="true"))
    assert outside.image.convert("RGBA").getextrema()[3] == (0, 0)
    caps = call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1").text
    assert 'SRS="EPSG:3857" minx="0" miny="4000000" maxx="2000000" maxy="6000000"' in caps
    assert 'SRS="EPSG:25832"' not in caps  # only the bbox_srs are listed


def test_aligned_request_is_cut_from_the_tiles_without_resampling(app) -> None:
    z = 3
    size = 2 * WORLD_3857 / 2**z
    res = size / 256
    # 512x512 pixels starting 100 pixels into tile (2, 1): same resolution, pixel-aligned
    minx, maxy = -WORLD_3857 + 2 * size + 100 * res, WORLD_3857 - 1 * size - 37 * res
    bbox = f"{minx!r},{maxy - 512 * res!r},{minx + 512 * res!r},{maxy!r}"
    answer = call(app, getmap("cached", bbox, "EPSG:3857", size=(512, 512)))
    manager = app.config.caches["cb_cache"].managers["GLOBAL_WEBMERCATOR"]
    mosaic = Image.new("RGB", (3 * 256, 3 * 256))
    for dx in range(3):
        for dy in range(3):
            tile = Tile((2 + dx, 1 + dy, z))
            assert manager.store.load(tile)
            mosaic.paste(Image.open(io.BytesIO(tile.data)).convert("RGB"), (dx * 256, dy * 256))
    expected = mosaic.crop((100, 37, 612, 549))
    assert answer.image.convert("RGB").tobytes() == expected.tobytes()


def test_group_sources_replace_its_children(make_app) -> None:
    config = wms_config()
    config["sources"] = {"overlay": {"type": "debug"}, **config["sources"]}
    config["layers"][2]["sources"] = ["overlay"]  # the group
    app = make_app(config)
    answer = call(app, getmap("group", "0,4000000,200000,4200000", "EPSG:3857", size=(128, 128), transparent="true"))
    img = answer.image.convert("RGBA")
    assert img.getpixel((64, 100))[3] == 0  # only the (transparent) debug source, not the children's checkerboard
    assert img.getpixel((0, 64))[:3] == (255, 0, 0)


def test_custom_image_format_options(make_app) -> None:
    config = wms_config()
    config["services"]["wms"]["image_formats"].insert(0, "few_colors")
    config["globals"] = {"image": {"formats": {"few_colors": {"format": "image/png", "colors": 4}}}, **config["globals"]}
    app = make_app(config)
    answer = call(app, getmap("direct", "0,40,30,60", "EPSG:4326", fmt="few_colors", size=(128, 128)))
    assert answer.status == 200 and answer.content_type == "image/png"
    assert answer.image.mode == "P" and len(answer.image.getcolors()) <= 4


def test_on_error_of_a_direct_source_answers_with_its_colour(make_app, source) -> None:
    config = wms_config()
    config["sources"]["cb_wms"]["on_error"] = {500: {"response": "#00ff00"}}
    app = make_app(config)
    source.reset("error")
    answer = call(app, getmap("direct", "0,40,30,60", "EPSG:4326", size=(64, 64)))
    assert answer.status == 200 and answer.content_type == "image/png"
    assert answer.image.convert("RGB").getcolors() == [(64 * 64, (0, 255, 0))]


def test_cache_coverage_and_cache_without_sources(make_app) -> None:
    config = wms_config()
    config["caches"]["cb_cache"]["cache"] = {
        "type": "file", "coverage": {"bbox": [1000000, 4000000, 2000000, 6000000], "srs": "EPSG:3857"}}
    config["caches"] = {"seeded_only": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": []}, **config["caches"]}
    config["layers"].insert(1, {"name": "seeded", "title": "No sources", "sources": ["seeded_only"]})
    app = make_app(config)
    # half inside the coverage: drawn there, transparent outside, no error
    answer = call(app, getmap("cached", "-2000000,4000000,2000000,6000000", "EPSG:3857", size=(400, 200), transparent="true"))
    assert answer.status == 200 and answer.content_type == "image/png"
    img = answer.image.convert("RGBA")
    assert img.getpixel((50, 100))[3] == 0 and img.getpixel((300, 100))[3] == 255
    caps = call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1").text
    cached_layer = caps[caps.index("<Name>cached</Name>"):]
    assert '<BoundingBox SRS="EPSG:3857" minx="1000000" miny="4000000" maxx="2000000" maxy="6000000"' in cached_layer[:2000]
    # a cache without sources and without tiles is blank, not an error
    empty = call(app, getmap("seeded", "0,40,30,60", "EPSG:4326", size=(64, 64), transparent="true"))
    assert empty.content_type == "image/png"
    assert empty.image.convert("RGBA").getextrema()[3] == (0, 0)


def test_cache_grid_is_chosen_by_the_request_srs(make_app, tmp_path) -> None:
    app = make_app(merge(wms_config(), {"caches": {"cb_cache": {"grids": ["GLOBAL_GEODETIC", "GLOBAL_WEBMERCATOR"]}}}))
    base = tmp_path / "cache_data"

    def grids_written() -> set[str]:
        return {p.name for p in base.iterdir() if p.name.startswith("cb_cache")} if base.exists() else set()

    call(app, getmap("cached", "0,40,30,60", "EPSG:4326", size=(128, 128)))  # same SRS as GLOBAL_GEODETIC
    assert grids_written() == {"cb_cache_EPSG4326"}
    answer = call(app, getmap("cached", "300000,5200000,900000,6100000", "EPSG:25832", size=(128, 128)))
    assert grids_written() == {"cb_cache_EPSG4326", "cb_cache_EPSG3857"}  # projected request: projected grid
    assert check_checkerboard(answer.image, (3e5, 5.2e6, 9e5, 6.1e6), "EPSG:25832", steps=8) > 5


def test_concurrent_getmaps_over_http(app, make_app, serve, source) -> None:
    from concurrent.futures import ThreadPoolExecutor

    base = serve(app)
    boxes = [f"{x},{y},{x + 10},{y + 10}" for x in (0, 10, 20) for y in (30, 40, 50)]

    def get(i: int) -> tuple[int, str, bytes]:
        answer = fetch(base + getmap("cached", boxes[i % len(boxes)], "EPSG:4326", size=(256, 256)), timeout=60)
        return answer.status, answer.headers["Content-Type"], answer.body

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(get, range(32)))
    assert all(status == 200 and ctype == "image/png" for status, ctype, _ in results)
    by_box: dict[int, set[bytes]] = {}
    for i, (_, _, body) in enumerate(results):
        by_box.setdefault(i % len(boxes), set()).add(body)
    assert all(len(bodies) == 1 for bodies in by_box.values())  # same answer however the race went
    # each meta tile is requested from the source once, whatever the concurrency:
    # as many requests as one client asking for the same maps one after another
    concurrent = source.count("wms")
    sequential_app = make_app(merge(wms_config(), {"globals": {"cache": {"base_dir": "./cache_sequential"}}}),
                              "sequential.yaml")
    source.reset()
    for box in boxes:
        call(sequential_app, getmap("cached", box, "EPSG:4326", size=(256, 256)))
    assert concurrent == source.count("wms") > 0
