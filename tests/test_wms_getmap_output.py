"""What a GetMap answer looks like, as MapProxy answers it: request parameters
forwarded to sources, GeoTIFF tags, transparency of opaque layers, the bbox_srs
limit, and maps that clients must not keep."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from support.configs import NO_PALETTE, merge, tile_source
from support.wms import getmap, wms_config
from support.wsgi import call


def test_forward_req_params_take_any_request_parameter(make_app, source) -> None:
    app = make_app(merge(wms_config(), {"sources": {"cb_wms": {"forward_req_params": ["time"]}}}))
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
    limited = wms_config(bbox_srs=[{"srs": "EPSG:4326", "bbox": [-180, -70, 180, 90]}])
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
    tiles = tile_source("{source}/tiles/%(tms_path)s.png", on_error={404: {"response": "#ff0080", "cache": False}})
    config = wms_config()
    config["sources"] = {"tiles": tiles, **config["sources"]}
    config["caches"]["cb_cache"]["sources"] = ["tiles"]
    config["globals"] = {**NO_PALETTE, **config["globals"]}
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
    app = make_app(merge(wms_config(), {"sources": {"cb_wms": {"min_res": 1000}}}))
    coarse = call(app, getmap("cached", "0,0,5000000,5000000", "EPSG:3857", size=(64, 64), transparent="true"))
    assert coarse.image.convert("RGBA").getextrema()[3] == (0, 0)  # fully transparent
    assert not list(tmp_path.rglob("*.png"))  # no blank tiles were made for it
    fine = call(app, getmap("cached", "0,0,50000,50000", "EPSG:3857", size=(64, 64), transparent="true"))
    assert fine.status == 200 and source.count("wms") > 0 and list(tmp_path.rglob("*.png"))


def test_transparent_layer_keeps_its_alpha_channel(make_app, source) -> None:
    # JPEG tiles of a transparent source: opaque pixels, but the layer is transparent
    config = merge(wms_config(), {"caches": {"cb_cache": {"format": "image/jpeg"}},
                                  "sources": {"cb_wms": {"req": {"transparent": True}}}})
    config["globals"] = {**NO_PALETTE, **config["globals"]}
    app = make_app(config)
    answer = call(app, getmap("cached", "0,0,5000000,5000000", "EPSG:3857", size=(64, 64), transparent="true"))
    assert answer.image.mode == "RGBA"
    opaque = call(app, getmap("cached", "0,0,5000000,5000000", "EPSG:3857", size=(64, 64)))
    assert opaque.image.mode == "RGB"
