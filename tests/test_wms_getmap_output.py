"""What a GetMap answer looks like, as MapProxy answers it: request parameters
forwarded to sources, GeoTIFF tags, transparency of opaque layers, the bbox_srs
limit, and maps that clients must not keep."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from support.wms import getmap, wms_config
from support.wsgi import call


def test_forward_req_params_take_any_request_parameter(make_app, source) -> None:
    app = make_app(wms_config().replace("    type: wms\n", "    type: wms\n    forward_req_params: [time]\n", 1))
    answer = call(app, getmap("direct", size=(32, 32), time="20041012", other="x"))
    assert answer.status == 200
    sent = dict(parse_qsl(urlsplit(source.requests[-1]).query))
    assert sent["TIME"] == "20041012" and "OTHER" not in sent


def test_tiff_maps_carry_geotiff_tags(make_app, source) -> None:
    app = make_app(wms_config())
    answer = call(app, getmap("direct", "-180,0,0,80", "EPSG:4326", size=(200, 200), fmt="image/tiff"))
    assert answer.content_type == "image/tiff"
    tags = answer.image.tag_v2
    assert tags[33922] == (0.0, 0.0, 0.0, -180.0, 80.0, 0.0)  # tie point: upper left corner
    assert tags[33550][:2] == (0.9, 0.4)  # pixel size
    assert tags[34735][15] == 4326


def test_opaque_layer_stays_opaque_when_transparency_is_asked(make_app, source) -> None:
    app = make_app(wms_config())
    answer = call(app, getmap("direct", size=(64, 64), transparent="true"))
    assert answer.image.mode == "RGB"


def test_request_inside_the_bbox_srs_limit_is_not_reencoded(make_app, source) -> None:
    limited = wms_config().replace("    srs: [", "    bbox_srs:\n      - {srs: 'EPSG:4326', bbox: [-180, -70, 180, 90]}\n    srs: [", 1)
    plain = call(make_app(wms_config(), "plain.yaml"), getmap("direct", size=(64, 64)))
    inside = call(make_app(limited, "limited.yaml"), getmap("direct", size=(64, 64)))
    assert inside.body == plain.body  # the source's image as it came
    partly = call(make_app(limited, "limited2.yaml"), getmap("direct", "0,-80,30,-60", size=(64, 64), transparent="true"))
    assert partly.image.size == (64, 64)
    assert partly.image.convert("RGBA").getpixel((32, 60))[3] == 0  # south of -70: transparent
    assert partly.image.convert("RGBA").getpixel((32, 10))[3] == 255
    # only the part inside the limit is asked for, at its share of the pixels
    sent = dict(parse_qsl(urlsplit(source.requests[-1]).query))
    assert [float(v) for v in sent["BBOX"].split(",")] == [0, -70, 30, -60] and sent["HEIGHT"] == "32"


def test_map_with_error_stand_in_is_not_kept_by_clients(make_app, source) -> None:
    tiles = """  tiles:
    type: tile
    url: {source}/tiles/%(tms_path)s.png
    grid: GLOBAL_WEBMERCATOR
    on_error:
      404: {response: '#ff0080', cache: false}
"""
    config = wms_config().replace("sources:\n  cb_wms:", "sources:\n" + tiles + "  cb_wms:", 1)
    config = config.replace("    sources: [cb_wms]\n    meta_size", "    sources: [tiles]\n    meta_size", 1)
    config = config.replace("globals:\n", "globals:\n  image:\n    paletted: false\n", 1)
    app = make_app(config)
    source.reset("notfound")
    answer = call(app, getmap("cached", "0,0,5000000,5000000", "EPSG:3857", size=(64, 64), transparent="true"))
    assert answer.status == 200
    # an opaque on_error colour gives an opaque map, as in MapProxy
    assert answer.image.mode == "RGB" and answer.image.getpixel((32, 32)) == (255, 0, 128)
    assert answer.headers["Cache-Control"] == "no-cache, no-store"
    source.reset()
    answer = call(app, getmap("cached", "0,0,5000000,5000000", "EPSG:3857", size=(64, 64)))
    assert "Cache-Control" not in answer.headers


def test_cache_draws_nothing_outside_its_sources_resolutions(make_app, source, tmp_path) -> None:
    config = wms_config().replace("    type: wms\n", "    type: wms\n    min_res: 1000\n", 1)
    app = make_app(config)
    coarse = call(app, getmap("cached", "0,0,5000000,5000000", "EPSG:3857", size=(64, 64), transparent="true"))
    assert coarse.image.convert("RGBA").getextrema()[3] == (0, 0)  # fully transparent
    assert not list(tmp_path.rglob("*.png"))  # no blank tiles were made for it
    fine = call(app, getmap("cached", "0,0,50000,50000", "EPSG:3857", size=(64, 64), transparent="true"))
    assert fine.status == 200 and source.count("wms") > 0 and list(tmp_path.rglob("*.png"))


def test_transparent_layer_keeps_its_alpha_channel(make_app, source) -> None:
    # JPEG tiles of a transparent source: opaque pixels, but the layer is transparent
    config = wms_config().replace("    meta_size: [2, 2]", "    format: image/jpeg\n    meta_size: [2, 2]", 1)
    config = config.replace("      layers: base\n", "      layers: base\n      transparent: true\n", 1)
    config = config.replace("globals:\n", "globals:\n  image:\n    paletted: false\n", 1)
    app = make_app(config)
    answer = call(app, getmap("cached", "0,0,5000000,5000000", "EPSG:3857", size=(64, 64), transparent="true"))
    assert answer.image.mode == "RGBA"
    opaque = call(app, getmap("cached", "0,0,5000000,5000000", "EPSG:3857", size=(64, 64)))
    assert opaque.image.mode == "RGB"
