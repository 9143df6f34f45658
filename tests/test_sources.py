"""Sources against the local source server: WMS versions and parameters,
reprojection, formats, HTTP options, tile URL templates and pass-through."""

from __future__ import annotations

import base64
import io
import logging
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from support.configs import (
    CACHE_DATA,
    cache_config,
    tile_source,
    wms_cache_config,
    wms_source,
    write_config,
)
from support.source_server import expected_color, tile_color
from support.wsgi import call, fetch

from tileproxy.grid import predefined_grid
from tileproxy.srs import get_srs


def wms_config(source: dict | None = None, grid: str = "GLOBAL_WEBMERCATOR", url: str = "{source}/wms",
               **globals_options: object) -> dict:
    """Layer ``map`` over cache ``map_cache`` over the WMS ``map_source`` (``source``:
    more keys of it); ``globals_options`` are more keys of globals."""
    return wms_cache_config(layer_name="map", title="Map", cache_name="map_cache", source_name="map_source", url=url,
                            grid=grid, source_options=source, globals={**CACHE_DATA, **globals_options})


def tile_url(grid_id: str, z: int, x: int, y: int, ext: str = "png", origin: str = "nw") -> str:
    """A /tiles URL, rows counted from the north by default (the service's default is sw)."""
    return f"/tiles/map/{grid_id}/{z}/{x}/{y}.{ext}?origin={origin}"


# -- WMS ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1.0", "1.1.1"])
def test_wms_1_1_getmap_parameters(make_app, source, version) -> None:
    app = make_app(wms_config({"wms_opts": {"version": version}}))
    answer = call(app, tile_url("EPSG3857", 1, 0, 0))
    assert answer.status == 200, answer.body
    params = source.params()
    bbox = predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((0, 0, 1))
    assert params == {
        "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": version, "SRS": "EPSG:3857",
        "BBOX": params["BBOX"], "WIDTH": "256", "HEIGHT": "256", "FORMAT": "image/png",
        "STYLES": "", "LAYERS": "base",
    }
    assert [float(v) for v in params["BBOX"].split(",")] == pytest.approx(bbox)


def test_wms_1_0_0_uses_wmtver_and_map_request(make_app, source) -> None:
    app = make_app(wms_config({"wms_opts": {"version": "1.0.0"}}))
    assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 200
    params = source.params()
    assert params == {
        "WMTVER": "1.0.0", "REQUEST": "map", "SRS": "EPSG:3857", "FORMAT": "PNG", "BBOX": params["BBOX"],
        "WIDTH": "256", "HEIGHT": "256", "STYLES": "", "LAYERS": "base",
    }
    bbox = predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((0, 0, 1))
    assert [float(v) for v in params["BBOX"].split(",")] == pytest.approx(bbox)


@pytest.mark.parametrize(
    ("grid", "coord", "crs", "swapped"),
    [("GLOBAL_GEODETIC", (0, 0, 1), "EPSG:4326", True), ("GLOBAL_WEBMERCATOR", (0, 0, 1), "EPSG:3857", False)],
)
def test_wms_1_3_0_crs_and_axis_order(make_app, source, grid, coord, crs, swapped) -> None:
    app = make_app(wms_config({"wms_opts": {"version": "1.3.0"}}, grid=grid))
    x, y, z = coord
    answer = call(app, tile_url(get_srs(crs).epsg_token, z, x, y, origin=predefined_grid(grid).origin))
    assert answer.status == 200, answer.body
    params = source.params()
    assert params == {
        "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "CRS": crs, "BBOX": params["BBOX"],
        "WIDTH": "256", "HEIGHT": "256", "FORMAT": "image/png", "STYLES": "", "LAYERS": "base",
    }
    bbox = predefined_grid(grid).tile_bbox(coord)
    if swapped:
        bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
    assert [float(v) for v in params["BBOX"].split(",")] == pytest.approx(bbox)
    if swapped:
        assert params["BBOX"] == "-90.0,-180.0,90.0,0.0"  # floats written as MapProxy writes them


def test_wms_1_3_0_axis_order_of_a_projected_north_east_crs(make_app, source) -> None:
    config = wms_config({"wms_opts": {"version": "1.3.0"}}, grid="gk4")
    config["grids"] = {"gk4": {"srs": "EPSG:31468", "bbox": [4400000, 5300000, 4600000, 5500000], "origin": "nw",
                               "num_levels": 3}}
    app = make_app(config)
    assert call(app, "/tiles/map/EPSG31468/0/0/0.png?origin=nw").status == 200
    params = source.params()
    assert params["CRS"] == "EPSG:31468"
    # northing first: 5300000 < y < 5500000 comes before easting
    miny, minx, maxy, maxx = (float(v) for v in params["BBOX"].split(","))
    assert (minx, maxx) == (4400000, 4600000) and miny == pytest.approx(5500000 - 200000 * 256 / 256 * 1)


def test_req_extra_params_and_transparent(make_app, source) -> None:
    req = {"url": "{source}/wms", "layers": ["base", "roads"], "styles": "fancy", "map": "/srv/world.map", "dpi": 96,
           "transparent": True}
    app = make_app(wms_config({"req": req}))
    answer = call(app, tile_url("EPSG3857", 1, 1, 1))
    assert answer.status == 200
    params = source.params()
    assert params["STYLES"] == "fancy" and params["MAP"] == "/srv/world.map" and params["DPI"] == "96"
    assert params["LAYERS"] == "base,roads"
    assert params["TRANSPARENT"] == "True"  # req.transparent as configured (YAML true), as MapProxy sends it


def sample_points(bbox, size, step=16, margin_px=6.0, srs="EPSG:3857"):
    """Pixels of an image covering ``bbox`` (in ``srs``) whose colour the checkerboard
    fixes: the colour is the same ``margin_px`` pixels around them. With their colours."""
    w, h = size
    rx, ry = (bbox[2] - bbox[0]) / w, (bbox[3] - bbox[1]) / h
    out = []
    for py in range(step // 2, h, step):
        for px in range(step // 2, w, step):
            x, y = bbox[0] + (px + 0.5) * rx, bbox[3] - (py + 0.5) * ry
            around = {expected_color(x + dx * margin_px * rx, y + dy * margin_px * ry, srs)
                      for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
            if len(around) == 1:
                out.append(((px, py), around.pop()))
    return out


def near(got: tuple, want: tuple, tolerance: int = 32) -> bool:
    """Colours equal but for resampling and the 256-colour palette of the default PNG
    (median cut averages the flat colours with resampled edge colours; the two
    checkerboard colours differ by 170 per channel)."""
    return all(abs(a - b) <= tolerance for a, b in zip(got, want))


def test_supported_srs_reprojects_pixels_into_place(make_app, source) -> None:
    app = make_app(wms_config({"supported_srs": ["EPSG:4326"]}))
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    for coord in ((4, 2, 3), (2, 5, 3)):  # north and south of the equator
        x, y, z = coord
        answer = call(app, tile_url("EPSG3857", z, x, y))
        assert answer.status == 200
        params = source.params()
        assert params["SRS"] == "EPSG:4326"
        img = answer.image.convert("RGB")
        points = sample_points(grid.tile_bbox(coord), img.size)
        assert len(points) > 100
        wrong = [(p, img.getpixel(p), c) for p, c in points if not near(img.getpixel(p), c)]
        assert not wrong, wrong[:5]


def test_supported_formats_asks_for_a_supported_one(make_app, source, tmp_path) -> None:
    app = make_app(wms_config({"supported_formats": ["image/jpeg"]}))
    answer = call(app, tile_url("EPSG3857", 1, 0, 0))
    assert answer.status == 200
    assert source.params()["FORMAT"] == "image/jpeg"
    assert answer.content_type == "image/png" and answer.body[:4] == b"\x89PNG"
    stored = list((tmp_path / "cache_data").rglob("*.png"))
    assert len(stored) == 1 and stored[0].read_bytes()[:4] == b"\x89PNG"


# -- HTTP options ---------------------------------------------------------------


def test_client_timeout_answers_504_quickly_and_caches_nothing(make_app, source, tmp_path) -> None:
    app = make_app(wms_config(http={"client_timeout": 0.5}))
    source.reset("hang")
    start = time.monotonic()
    answer = call(app, tile_url("EPSG3857", 1, 0, 0))
    elapsed = time.monotonic() - start
    assert answer.status == 504
    assert "timeout" in answer.text
    assert elapsed < 3
    assert not list((tmp_path / "cache_data").rglob("*.png"))


def test_per_source_client_timeout(make_app, source) -> None:
    app = make_app(wms_config({"http": {"client_timeout": 0.3}}))
    source.reset("hang")
    start = time.monotonic()
    assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 504
    assert time.monotonic() - start < 3


def test_headers_are_sent(make_app, source) -> None:
    app = make_app(wms_config({"http": {"headers": {"X-Api-Key": "secret123", "Referer": "https://maps.example"}}}))
    assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 200
    headers = source.log[-1]["headers"]
    assert headers["X-Api-Key"] == "secret123"
    assert headers["Referer"] == "https://maps.example"
    assert headers["User-Agent"].startswith("tileproxy/")


def test_basic_auth_from_url_and_credentials_stay_secret(make_app, source, caplog) -> None:
    url = "http://mapuser:p%40ss-w0rd@" + source.url.removeprefix("http://") + "/wms"
    app = make_app(wms_config({"http": {"hide_error_details": False}}, url=url))
    with caplog.at_level(logging.DEBUG):
        assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 200
        auth = source.log[-1]["headers"]["Authorization"]
        assert auth == "Basic " + base64.b64encode(b"mapuser:p@ss-w0rd").decode()
        source.reset("error")
        answer = call(app, tile_url("EPSG3857", 1, 1, 0))
    assert answer.status == 500
    assert "HTTP 500" in answer.text
    assert source.log[-1]["path"].startswith("/wms?")  # the credentials are not in the URL either
    for secret in ("p@ss-w0rd", "p%40ss-w0rd", "mapuser"):
        assert secret not in answer.text
        assert secret not in caplog.text


def test_ssl_options_are_accepted(make_app, tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used in this test\n")
    config = wms_config({"http": {"ssl_ca_certs": "./ca.pem"}}, url="https://127.0.0.1:1/wms")
    insecure = wms_source("https://127.0.0.1:1/wms", "a", http={"ssl_no_cert_checks": True})
    config["sources"] = {"insecure": insecure, **config["sources"]}
    app = make_app(config)
    assert app.config.sources["map_source"].client.session.verify == str(ca)
    assert app.config.sources["insecure"].client.session.verify is False


def test_one_session_per_source_reuses_connections(make_app, source) -> None:
    app = make_app(wms_config())
    for x, y in ((0, 0), (1, 0), (0, 1), (1, 1)):
        assert call(app, tile_url("EPSG3857", 1, x, y)).status == 200
    ports = {entry["client"][1] for entry in source.log}
    assert len(source.log) == 4 and len(ports) == 1


def fetch_parallel(base: str, paths: list[str]) -> list[int]:
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda p=p: statuses.append(fetch(base + p, timeout=20).status))
               for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.mark.parametrize(("limit", "expect_max"), [(1, 1), (2, 2), (0, 4)])
def test_concurrent_requests_caps_parallel_source_requests(make_app, source, serve, limit, expect_max) -> None:
    app = make_app(wms_config({"concurrent_requests": limit} if limit else {}, http={"client_timeout": 10}))
    base = serve(app)
    source.delay = 0.3
    paths = [tile_url("EPSG3857", 2, x, 0) for x in range(4)]
    assert fetch_parallel(base, paths) == [200] * 4
    assert source.count("wms") == 4
    assert source.max_in_flight == expect_max


# -- tile sources ----------------------------------------------------------------


def tile_config(url: str, source_grid: str = "GLOBAL_WEBMERCATOR", cache_grid: str = "GLOBAL_WEBMERCATOR",
                **cache_options: object) -> dict:
    """Layer ``map`` over cache ``map_cache`` (``cache_options``: more keys of it) over
    the tile source ``tiles`` at ``url``."""
    return cache_config({"tiles": tile_source(url, source_grid)}, source_name="tiles", layer_name="map", title="Map",
                        cache_name="map_cache", grid=cache_grid, meta_size=None, cache_options=cache_options,
                        globals=CACHE_DATA)


def test_tile_url_template_keys(make_app, source) -> None:
    url = ("{source}/tiles/%(z)s/%(x)s/%(y)s.png?q=%(quadkey)s&tms=%(tms_path)s&tc=%(tc_path)s"
           "&bbox=%(bbox)s&fmt=%(format)s&pct=100%%")
    app = make_app(tile_config(url))
    answer = call(app, "/tiles/map/EPSG3857/3/5/2.png?origin=nw")
    assert answer.status == 200, answer.body
    assert source.log[-1]["path"].startswith("/tiles/3/5/2.png?")
    params = source.params()
    assert params["Q"] == "121"  # x=5=101b, y=2=010b -> digits 1, 2, 1
    assert params["TMS"] == "3/5/2"
    assert params["TC"] == "03/000/000/005/000/000/002"
    assert params["FMT"] == "png" and params["PCT"] == "100%"
    bbox = [float(v) for v in params["BBOX"].split(",")]
    assert bbox == pytest.approx(predefined_grid("GLOBAL_WEBMERCATOR").tile_bbox((5, 2, 3)))


def test_tile_pass_through_is_byte_equal(make_app, source, tmp_path) -> None:
    app = make_app(tile_config("{source}/tiles/%(z)s/%(x)s/%(y)s.png"))
    answer = call(app, "/tiles/map/EPSG3857/4/9/3.png?origin=nw")
    assert answer.status == 200
    sent = fetch(f"{source.url}/tiles/4/9/3.png", timeout=5).body
    assert answer.body == sent
    stored = tmp_path / "cache_data/map_cache_EPSG3857/04/000/000/009/000/000/003.png"
    assert stored.read_bytes() == sent
    # served again from the cache: still the same bytes, no new source request
    assert call(app, "/tiles/map/EPSG3857/4/9/3.png?origin=nw").body == sent
    assert source.count("tile") == 2  # ours plus the direct request above


def test_bulk_meta_tiles_fetch_every_tile_of_the_meta_tile(make_app, source, tmp_path) -> None:
    config = tile_config("{source}/tiles/%(z)s/%(x)s/%(y)s.png", bulk_meta_tiles=True)
    config["caches"]["map_cache"]["meta_size"] = [2, 2]
    app = make_app(config)
    answer = call(app, "/tiles/map/EPSG3857/4/9/3.png?origin=nw")
    assert answer.status == 200
    assert sorted(source.requests) == ["/tiles/4/8/2.png", "/tiles/4/8/3.png", "/tiles/4/9/2.png", "/tiles/4/9/3.png"]
    stored = sorted(p.name for p in (tmp_path / "cache_data/map_cache_EPSG3857/04").rglob("*.png"))
    assert len(stored) == 4
    # the neighbour came with the meta tile
    assert call(app, "/tiles/map/EPSG3857/4/8/2.png?origin=nw").image.convert("RGB").getpixel((5, 5)) == tile_color(8, 2, 4)
    assert source.count("tile") == 4


def test_tile_source_with_other_origin(make_app, source) -> None:
    # source tiles counted from the south, cache tiles from the north
    app = make_app(tile_config("{source}/tiles/%(z)s/%(x)s/%(y)s.png", source_grid="GLOBAL_MERCATOR"))
    answer = call(app, "/tiles/map/EPSG3857/3/2/1.png?origin=nw")
    assert answer.status == 200
    assert source.log[-1]["path"] == "/tiles/3/2/6.png"
    assert answer.image.convert("RGB").getpixel((100, 100)) == tile_color(2, 6, 3)


def test_tile_source_tms_profile_grid_into_geodetic_cache_stitches(make_app, source) -> None:
    # a cache in another SRS than the tile source: tiles are stitched and reprojected
    app = make_app(tile_config("{source}/tiles/%(z)s/%(x)s/%(y)s.png", cache_grid="GLOBAL_GEODETIC"))
    answer = call(app, "/tiles/map/EPSG4326/2/1/1.png")
    assert answer.status == 200
    assert source.count("tile") >= 1
    assert answer.image.size == (256, 256)


def test_tile_source_file_url(make_app, source, tmp_path) -> None:
    tiles = tmp_path / "tiles"
    data = {}
    for x, y in ((0, 0), (1, 0)):
        buf = io.BytesIO()
        Image.new("RGB", (256, 256), tile_color(x, y, 1)).save(buf, "PNG")
        path = tiles / "1" / str(x) / f"{y}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.getvalue())
        data[(x, y)] = buf.getvalue()
    app = make_app(tile_config(f"file://{tiles}/%(z)s/%(x)s/%(y)s.png"))
    assert call(app, "/tiles/map/EPSG3857/1/0/0.png?origin=nw").body == data[(0, 0)]
    assert call(app, "/tiles/map/EPSG3857/1/1/0.png?origin=nw").body == data[(1, 0)]
    missing = call(app, "/tiles/map/EPSG3857/1/1/1.png?origin=nw")
    assert missing.status == 500 and "No such file" in missing.text  # a source error, not an internal one
    assert source.count("tile") == 0


def test_tile_source_errors_are_config_errors(tmp_path) -> None:
    from tileproxy.config.build import load_proxy_config
    from tileproxy.config.errors import ConfigError

    path = Path(tmp_path / "mapproxy.yaml")
    write_config(path, tile_config("http://x/%(zoom)s.png"))
    with pytest.raises(ConfigError, match=r"sources\.tiles\.url: unknown template key %\(zoom\)s"):
        load_proxy_config(path)


def test_geographic_cache_over_a_mercator_only_source(make_app, source) -> None:
    app = make_app(wms_config({"supported_srs": ["EPSG:900913"]}, grid="GLOBAL_GEODETIC"))
    grid = predefined_grid("GLOBAL_GEODETIC")
    coord = (4, 2, 3)  # lon 0..45, lat 0..45
    answer = call(app, tile_url("EPSG4326", 3, 4, 2, origin="sw"))
    assert answer.status == 200
    assert source.params()["SRS"] == "EPSG:900913"
    img = answer.image.convert("RGB")
    points = sample_points(grid.tile_bbox(coord), img.size, srs="EPSG:4326")
    assert len(points) > 50
    wrong = [(p, img.getpixel(p), c) for p, c in points if not near(img.getpixel(p), c)]
    assert not wrong, wrong[:5]


def test_tagged_source_layers(make_app, source, tmp_path) -> None:
    config = wms_config({"req": {"url": "{source}/wms", "layers": "base,roads,rivers"}})
    config["caches"]["map_cache"]["sources"] = ["map_source:roads,rivers"]
    app = make_app(config)
    assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 200
    assert source.params()["LAYERS"] == "roads,rivers"
    from tileproxy.config.build import load_proxy_config
    from tileproxy.config.errors import ConfigError

    path = tmp_path / "bad.yaml"
    config["caches"]["map_cache"]["sources"] = ["map_source:lakes"]
    write_config(path, config, source.url)
    with pytest.raises(ConfigError, match=r"caches\.map_cache\.sources\[0\]: layers lakes are not in the source's req.layers"):
        load_proxy_config(path)


@pytest.fixture(scope="module")
def https_source(tmp_path_factory):
    """The source server over HTTPS with a self-signed certificate for 127.0.0.1."""
    import shutil
    import ssl
    import subprocess

    from support.source_server import SourceServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = SourceServer(ssl_context=context)
    yield server, cert
    server.close()


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")  # what ssl_no_cert_checks asks for
@pytest.mark.parametrize(("http", "status"), [
    ({}, 500),  # the self-signed certificate is not trusted
    ({"ssl_no_cert_checks": True}, 200),
    ({"ssl_ca_certs": "{cert}"}, 200),
])
def test_https_source_certificate_options(make_app, https_source, http, status) -> None:
    server, cert = https_source
    server.reset()
    http = {key: str(cert) if value == "{cert}" else value for key, value in http.items()}
    app = make_app(wms_config({"http": http} if http else {}, url=server.url + "/wms"))
    answer = call(app, tile_url("EPSG3857", 1, 0, 0))
    assert answer.status == status, answer.body
    if status == 500:
        assert "No response from URL" in answer.text and server.count("wms") == 0
    else:
        assert server.count("wms") == 1


def test_wms_answer_of_the_wrong_size_is_not_cached(make_app, source, tmp_path) -> None:
    app = make_app(wms_config())  # one tile per request: the answer would be stored as it came
    source.reset("wrongsize")
    answer = call(app, tile_url("EPSG3857", 1, 0, 0))
    assert answer.status == 500 and "10x10 pixels, expected 256x256" in answer.text
    assert not list((tmp_path / "cache_data").rglob("*.png"))


def test_polar_tiles_from_a_mercator_source_ask_only_for_the_mercator_world(make_app, source) -> None:
    app = make_app(wms_config({"supported_srs": ["EPSG:3857"]}, grid="GLOBAL_GEODETIC"))
    grid = predefined_grid("GLOBAL_GEODETIC")
    answer = call(app, tile_url("EPSG4326", 3, 0, 3, origin="sw"))  # lon -180..-135, lat 45..90
    assert answer.status == 200
    params = source.params()
    bbox = [float(v) for v in params["BBOX"].split(",")]
    assert bbox[3] == pytest.approx(20037508.342789244)  # not the hundreds of millions of metres of lat 90
    # square pixels at the finer resolution: 256 px across, the height to match
    assert int(params["WIDTH"]) == 256 and int(params["HEIGHT"]) > 600
    img = answer.image.convert("RGBA")
    assert img.getpixel((128, 2))[3] == 0  # north of 85.05 degrees: no data, transparent
    points = sample_points(grid.tile_bbox((0, 3, 3)), img.size, srs="EPSG:4326")
    inside = [(p, c) for p, c in points if p[1] > 30]  # south of 85.05 degrees (row 28)
    assert len(inside) > 30
    assert all(near(img.getpixel(p)[:3], c) for p, c in inside)
    # a tile wholly north of the mercator world: transparent, no request
    before = source.count("wms")
    polar = call(app, tile_url("EPSG4326", 7, 10, 63, origin="sw"))  # lat 87.19..90
    assert polar.status == 200 and source.count("wms") == before
    assert polar.image.convert("RGBA").getextrema()[3] == (0, 0)


def test_tile_source_reprojected_at_the_finer_resolution(make_app, source) -> None:
    import math

    app = make_app(tile_config("{source}/tiles/%(z)s/%(x)s/%(y)s.png", cache_grid="GLOBAL_GEODETIC"))
    answer = call(app, "/tiles/map/EPSG4326/3/0/3.png")  # lon -180..-135, lat 45..90
    assert answer.status == 200
    # 45 degrees over 256 px is about 19.6 km a pixel: mercator level 3, not level 0
    levels = {path.split("/")[2] for path in source.requests}
    assert levels == {"3"}
    img = answer.image.convert("RGBA")
    merc = predefined_grid("GLOBAL_WEBMERCATOR")
    tile_m = merc.tile_size[0] * merc.resolution(3)
    checked = 0
    for py in range(40, 256, 24):
        for px in range(8, 256, 24):
            lon, lat = -180 + (px + 0.5) * 45 / 256, 90 - (py + 0.5) * 45 / 256
            ((x, y),) = get_srs("EPSG:4326").transform_to(get_srs("EPSG:3857"), [(lon, lat)])
            fx, fy = (x - merc.bbox[0]) / tile_m, (merc.bbox[3] - y) / tile_m
            if min(fx % 1, 1 - fx % 1, fy % 1, 1 - fy % 1) < 0.05:
                continue  # near a source tile edge
            assert near(img.getpixel((px, py))[:3], tile_color(math.floor(fx), math.floor(fy), 3)), (px, py)
            checked += 1
    assert checked > 40


def test_sld_file_and_sld_body_requests(make_app, source, tmp_path) -> None:
    (tmp_path / "style.sld").write_text("<sld>red</sld>")
    sld_req = {"url": "{source}/wms", "layers": "base", "sld": "file://style.sld"}
    app = make_app(wms_config({"req": sld_req}))
    assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 200
    # the file's content goes along as SLD_BODY, and such requests are POSTed
    assert source.log[-1]["method"] == "POST"
    assert source.log[-1]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    params = source.params()
    assert params["SLD_BODY"] == "<sld>red</sld>" and "SLD" not in params
    assert source.log[-1]["path"].startswith("/wms?")

    # http.method: GET keeps them in the URL
    source.reset()
    app = make_app(wms_config({"req": sld_req, "http": {"method": "GET"}}))
    assert call(app, tile_url("EPSG3857", 1, 0, 1)).status == 200
    assert source.log[-1]["method"] == "GET" and source.params()["SLD_BODY"] == "<sld>red</sld>"


def test_missing_sld_file_is_named(make_app) -> None:
    from tileproxy.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"sources\.map_source\.req\.sld: cannot read the SLD file"):
        make_app(wms_config({"req": {"url": "{source}/wms", "layers": "base", "sld": "file://missing.sld"}}))
