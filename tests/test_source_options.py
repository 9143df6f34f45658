"""Options all sources share: resolution limits, coverage with clip, seed_only,
transparent_color, opacity."""

from __future__ import annotations

import pytest
from support.configs import CACHE_DATA, NO_PALETTE, cache, layer, wms_cache_config
from support.source_server import COLORS, expected_color
from support.wsgi import call

from tileproxy.config.errors import ConfigError
from tileproxy.grid import predefined_grid
from tileproxy.sources.limits import set_seeding

GRID = predefined_grid("GLOBAL_WEBMERCATOR")


def _config(services: dict | None = None, **source_options: object) -> dict:
    """Layer ``l`` over cache ``c`` over the WMS ``wms`` (``source_options``: more keys
    of it), without palettes."""
    return wms_cache_config(services=services, globals=NO_PALETTE, source_options=source_options)


def _app(make_app, **source_options: object):
    return make_app(_config(**source_options))


def _tile(app, z: int, x: int, y: int):
    answer = call(app, f"/tiles/l/EPSG3857/{z}/{x}/{y}.png?origin=nw")
    assert answer.status == 200, answer.body
    return answer.image.convert("RGBA")


def _is_blank(img) -> bool:
    return img.getchannel("A").getextrema() == (0, 0)


def test_resolution_limits(make_app, source) -> None:
    res = GRID.resolutions
    # min_res at a level's resolution draws that level; max_res between levels 3 and 4
    # (a max_res at a level's own resolution draws it too, as in MapProxy, but only
    # just: the tile's computed resolution decides)
    app = _app(make_app, min_res=res[2], max_res=res[4] * 1.5)
    assert _is_blank(_tile(app, 1, 0, 0))
    assert source.count("wms") == 0
    assert not _is_blank(_tile(app, 2, 0, 0))
    assert not _is_blank(_tile(app, 3, 0, 0))
    assert source.count("wms") == 2
    assert _is_blank(_tile(app, 4, 0, 0))
    assert source.count("wms") == 2


def test_scale_limits(make_app, source) -> None:
    # level 3 of web mercator is at scale 1:69885283 (0.28 mm pixels); max_scale is the coarse end
    app = _app(make_app, max_scale=100000000, min_scale=50000000)
    assert _is_blank(_tile(app, 2, 0, 0))
    assert not _is_blank(_tile(app, 3, 0, 0))
    assert _is_blank(_tile(app, 4, 0, 0))


def coverage(clip: bool) -> dict:
    return {"bbox": [0, 0, 5000000, 5000000], "srs": "EPSG:3857", "clip": clip}


@pytest.mark.parametrize("clip", [True, False])
def test_coverage_limits_requests_and_clips(make_app, source, clip) -> None:
    app = _app(make_app, coverage=coverage(clip))
    # level 2 tile (2, 1) covers x 0..10018754, y 0..10018754: a quarter lies inside
    img = _tile(app, 2, 2, 1)
    assert source.count("wms") == 1
    inside = img.getpixel((32, 223))
    outside = img.getpixel((200, 40))
    assert inside[3] == 255 and inside[:3] in COLORS
    # as MapProxy: only the covered part is asked for (its bbox as configured, its
    # pixels cut at whole pixels), so the rest is transparent, clipped or not
    params = source.params()
    assert params["BBOX"] == "0.0,0.0,5000000,5000000"  # the tile's edges where they are inside
    # pixel edges truncated: right edge at 127.8 -> 127, top edge at 128.2 -> 128
    assert (params["WIDTH"], params["HEIGHT"]) == ("127", "128")
    assert outside[3] == 0
    # a tile away from the coverage is not requested at all
    assert _is_blank(_tile(app, 2, 0, 0))
    assert source.count("wms") == 1


def test_seed_only_sources_answer_only_while_seeding(make_app, source) -> None:
    app = _app(make_app, seed_only=True)
    assert _is_blank(_tile(app, 2, 0, 0))
    assert source.count("wms") == 0
    set_seeding(True)
    try:
        assert not _is_blank(_tile(app, 2, 1, 1))
    finally:
        set_seeding(False)
    assert source.count("wms") == 1


@pytest.mark.parametrize(("color", "tolerance", "transparent"), [
    ("#c81e1e", 0, True),
    ([205, 25, 30], 5, True),
    ([205, 25, 30], 2, False),
])
def test_transparent_color(make_app, source, color, tolerance, transparent) -> None:
    app = _app(make_app, image={"transparent_color": color, "transparent_color_tolerance": tolerance})
    img = _tile(app, 3, 3, 3)
    bbox = GRID.tile_bbox((3, 3, 3))
    seen = set()
    for px, py in ((10, 10), (128, 128), (245, 245), (10, 245), (245, 10), (70, 10)):
        x = bbox[0] + (px + 0.5) * (bbox[2] - bbox[0]) / 256
        y = bbox[3] - (py + 0.5) * (bbox[3] - bbox[1]) / 256
        want = expected_color(x, y)
        seen.add(want)
        pixel = img.getpixel((px, py))
        if want == COLORS[0] and transparent:
            assert pixel[3] == 0
        else:
            assert pixel == (*want, 255)
    assert seen == set(COLORS)


def test_opacity(make_app) -> None:
    app = _app(make_app, image={"opacity": 0.4})
    img = _tile(app, 2, 1, 1)
    assert img.getchannel("A").getextrema() == (102, 102)


@pytest.mark.parametrize(("options", "message"), [
    ({"image": {"transparent_color": "#12"}}, "sources.wms.image.transparent_color: expected a colour"),
    ({"image": {"opacity": 1.5}}, "sources.wms.image.opacity: expected a number from 0 to 1"),
    ({"coverage": {"srs": "EPSG:4326"}}, "sources.wms.coverage"),
])
def test_option_errors_name_the_key(make_app, options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _app(make_app, **options)


TILE_COVERAGE = {
    "services": {"tms": None},
    "layers": [layer("t", "T", "tc")],
    "caches": {"tc": cache("tiles", meta_size=None)},
    "sources": {
        "tiles": {
            "type": "tile",
            "grid": "GLOBAL_WEBMERCATOR",
            "url": "{source}/tiles/%(z)s/%(x)s/%(y)s.png",
            "coverage": {"bbox": [0, 0, 5000000, 5000000], "srs": "EPSG:3857", "clip": True},
        },
    },
}


def test_tile_source_passthrough_is_clipped_to_its_coverage(make_app, source) -> None:
    from support.source_server import tile_color

    app = make_app(TILE_COVERAGE)
    img = call(app, "/tiles/t/EPSG3857/2/2/1.png?origin=nw").image.convert("RGBA")
    assert img.getpixel((32, 223)) == (*tile_color(2, 1, 2), 255)
    assert img.getpixel((200, 40))[3] == 0
    assert _is_blank(call(app, "/tiles/t/EPSG3857/2/0/0.png?origin=nw").image.convert("RGBA"))
    assert source.count("tile") == 1


def test_concurrent_requests_cap_local_renderers(tmp_path) -> None:
    """A fake mapserv counts how many copies of it run at once."""
    import io
    import stat
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from tileproxy.image.formats import ImageFormat
    from tileproxy.sources.base import MapQuery
    from tileproxy.srs import get_srs
    from tileproxy.wsgi import make_wsgi_app

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "PNG")
    (tmp_path / "tile.png").write_bytes(buf.getvalue())
    (tmp_path / "n").write_text("0")
    (tmp_path / "max").write_text("0")
    fake = tmp_path / "mapserv"
    fake.write_text(
        "#!/bin/sh\n"
        f"d={tmp_path}\n"
        '( flock 9; n=$(( $(cat $d/n) + 1 )); echo $n > $d/n; [ $n -gt $(cat $d/max) ] && echo $n > $d/max ) 9>$d/lock\n'
        "sleep 0.3\n"  # hold the slot so that the copies overlap
        '( flock 9; echo $(( $(cat $d/n) - 1 )) > $d/n ) 9>$d/lock\n'
        'printf "Content-Type: image/png\\r\\n\\r\\n"; cat $d/tile.png\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "mapproxy.yaml").write_text(
        "sources:\n  m:\n    type: mapserver\n    concurrent_requests: 2\n"
        f"    req: {{map: x.map, layers: a}}\n    mapserver: {{binary: {fake}}}\n"
    )
    source = make_wsgi_app(tmp_path / "mapproxy.yaml").config.sources["m"]
    query = MapQuery((0, 0, 8, 8), (8, 8), get_srs("EPSG:3857"), ImageFormat("image/png"))
    with ThreadPoolExecutor(6) as pool:
        images = list(pool.map(lambda _: source.get_map(query).image, range(6)))
    assert all(img.convert("RGB").getpixel((0, 0)) == (1, 2, 3) for img in images)
    assert (tmp_path / "max").read_text().strip() == "2"


def test_limited_sources_keep_their_type_and_tags(make_app) -> None:
    from tileproxy.sources.wms import WMSSource

    app = _app(make_app, min_res=100000)
    source = app.config.sources["wms"]
    assert isinstance(source, WMSSource) and source.limits.min_res == 100000
    assert source.params["layers"] == "base"


def test_source_coverage_is_the_wms_layer_extent(make_app) -> None:
    config = _config({"wms": None}, coverage={"bbox": [5, 45, 15, 55], "srs": "EPSG:4326"})
    config["layers"][0]["sources"] = ["wms"]
    app = make_app(config)
    caps = call(app, "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1").text
    assert '<LatLonBoundingBox minx="5" miny="45" maxx="15" maxy="55"' in caps.replace(".0\"", "\"")


def test_seed_only_source_is_asked_by_tileproxy_seed(tmp_path, source) -> None:
    from support.seed import cached, run_seed, write_configs

    from tileproxy.sources.limits import is_seeding

    seeds = {"s": {"caches": ["osm_cache"], "levels": {"to": 1}}}
    write_configs(tmp_path, source.url, {"seeds": seeds}, source_options={"seed_only": True})
    status, _, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))
    assert status == 0, err
    assert source.count("wms") > 0
    assert cached(tmp_path, range(0, 2)) == {(0, 0, 0), (0, 0, 1), (1, 0, 1), (0, 1, 1), (1, 1, 1)}
    assert not is_seeding()  # serving in this process answers blank again


def test_on_error_tile_is_a_plain_colour_without_palette(make_app, source) -> None:
    # globals.image.paletted is on (the default), but the error colour standing in
    # for the only source is encoded without a palette (as MapProxy encodes it)
    app = make_app(wms_cache_config(source_options={"on_error": {500: {"response": "transparent"}}},
                                    globals=CACHE_DATA))
    source.reset("error")
    img = call(app, "/tiles/l/EPSG3857/1/1/0.png").image
    assert img.mode == "RGBA" and img.getchannel("A").getextrema() == (0, 0)


def test_sources_get_their_limits_and_error_answers_when_built(make_app, source) -> None:
    """A source with limits is still exactly its own class (no subclass made up at
    load time) and holds its limits and on_error answers from its constructor; a
    source without them holds none."""
    from tileproxy.image.formats import ImageFormat
    from tileproxy.sources.base import MapQuery
    from tileproxy.sources.errors import SourceError
    from tileproxy.sources.limits import NO_LIMITS
    from tileproxy.sources.wms import WMSSource
    from tileproxy.srs import get_srs

    built = _app(make_app, coverage=coverage(True), on_error={500: {"response": "#ff0000"}}).config.sources["wms"]
    assert type(built) is WMSSource
    assert built.limits.coverage is not None and built.limits.coverage.clip
    assert built.transparent  # clipping leaves transparent pixels
    assert built.stand_in(SourceError("down", status=500), (4, 4))[0].image.getpixel((0, 0)) == (255, 0, 0)
    assert built.stand_in(SourceError("gone", status=404), (4, 4)) is None
    mercator = get_srs("EPSG:3857")
    assert not built.delivers((-9e6, -9e6, -8e6, -8e6), (256, 256), mercator)
    far = MapQuery((-9e6, -9e6, -8e6, -8e6), (64, 64), mercator, ImageFormat("image/png"))
    assert _is_blank(built.get_map(far).image.convert("RGBA"))
    assert source.count("wms") == 0  # outside the coverage nothing is asked for

    plain = _app(make_app).config.sources["wms"]
    assert type(plain) is WMSSource and plain.limits == NO_LIMITS and plain.on_error is None
    assert plain.stand_in(SourceError("down", status=500), (4, 4)) is None
