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
import requests
from conftest import call
from PIL import Image
from source_server import expected_color, tile_color

from tileproxy.grid import predefined_grid
from tileproxy.srs import get_srs


def wms_config(source_yaml: str = "", cache_yaml: str = "", grid: str = "GLOBAL_WEBMERCATOR",
               globals_yaml: str = "", url: str = "{source}/wms") -> str:
    return f"""
services:
  tms:
layers:
  - name: map
    title: Map
    sources: [map_cache]
caches:
  map_cache:
    grids: [{grid}]
    sources: [map_source]
    meta_size: [1, 1]
    meta_buffer: 0
{cache_yaml}
sources:
  map_source:
    type: wms
    req:
      url: {url}
      layers: base
{source_yaml}
globals:
  cache:
    base_dir: ./cache_data
{globals_yaml}
"""


def tile_url(grid_id: str, z: int, x: int, y: int, ext: str = "png", origin: str = "nw") -> str:
    """A /tiles URL, rows counted from the north by default (the service's default is sw)."""
    return f"/tiles/map/{grid_id}/{z}/{x}/{y}.{ext}?origin={origin}"


# -- WMS ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1.0", "1.1.1"])
def test_wms_1_1_getmap_parameters(make_app, source, version) -> None:
    app = make_app(wms_config(f"    wms_opts: {{version: '{version}'}}"))
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
    app = make_app(wms_config("    wms_opts: {version: '1.0.0'}"))
    assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 200
    params = source.params()
    assert params["WMTVER"] == "1.0.0" and params["REQUEST"] == "map"
    assert params["SRS"] == "EPSG:3857" and params["FORMAT"] == "PNG"
    assert "VERSION" not in params and "SERVICE" not in params


@pytest.mark.parametrize(
    ("grid", "coord", "crs", "swapped"),
    [("GLOBAL_GEODETIC", (0, 0, 1), "EPSG:4326", True), ("GLOBAL_WEBMERCATOR", (0, 0, 1), "EPSG:3857", False)],
)
def test_wms_1_3_0_crs_and_axis_order(make_app, source, grid, coord, crs, swapped) -> None:
    app = make_app(wms_config("    wms_opts: {version: '1.3.0'}", grid=grid))
    x, y, z = coord
    answer = call(app, tile_url(get_srs(crs).epsg_token, z, x, y, origin=predefined_grid(grid).origin))
    assert answer.status == 200, answer.body
    params = source.params()
    assert params["VERSION"] == "1.3.0" and params["CRS"] == crs and "SRS" not in params
    bbox = predefined_grid(grid).tile_bbox(coord)
    if swapped:
        bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
    assert [float(v) for v in params["BBOX"].split(",")] == pytest.approx(bbox)
    if swapped:
        assert params["BBOX"] == "-90,-180,90,0"


def test_wms_1_3_0_axis_order_of_a_projected_north_east_crs(make_app, source) -> None:
    grid_yaml = """
grids:
  gk4:
    srs: EPSG:31468
    bbox: [4400000, 5300000, 4600000, 5500000]
    origin: nw
    num_levels: 3
"""
    app = make_app(wms_config("    wms_opts: {version: '1.3.0'}", grid="gk4") + grid_yaml)
    assert call(app, "/tiles/map/gk4/0/0/0.png?origin=nw").status == 200
    params = source.params()
    assert params["CRS"] == "EPSG:31468"
    # northing first: 5300000 < y < 5500000 comes before easting
    miny, minx, maxy, maxx = (float(v) for v in params["BBOX"].split(","))
    assert (minx, maxx) == (4400000, 4600000) and miny == pytest.approx(5500000 - 200000 * 256 / 256 * 1)


def test_req_extra_params_and_transparent(make_app, source) -> None:
    source_yaml = "      styles: fancy\n      map: /srv/world.map\n      dpi: 96\n      transparent: true"
    app = make_app(wms_config().replace("      layers: base\n", "      layers: [base, roads]\n" + source_yaml + "\n"))
    answer = call(app, tile_url("EPSG3857", 1, 1, 1))
    assert answer.status == 200
    params = source.params()
    assert params["STYLES"] == "fancy" and params["MAP"] == "/srv/world.map" and params["DPI"] == "96"
    assert params["LAYERS"] == "base,roads"
    assert params["TRANSPARENT"] == "TRUE"


def sample_points(bbox, size, step=16, margin_px=6.0, srs="EPSG:3857"):
    """Pixels of an image covering ``bbox`` whose colour the checkerboard fixes
    (away from cell edges), with their expected colours."""
    from source_server import CELL

    w, h = size
    rx, ry = (bbox[2] - bbox[0]) / w, (bbox[3] - bbox[1]) / h
    out = []
    for py in range(step // 2, h, step):
        for px in range(step // 2, w, step):
            x, y = bbox[0] + (px + 0.5) * rx, bbox[3] - (py + 0.5) * ry
            mx, my = (x, y) if srs == "EPSG:3857" else get_srs(srs).transform_to(get_srs("EPSG:3857"), [(x, y)])[0]
            near_x = min(mx % CELL, CELL - mx % CELL) / rx
            near_y = min(my % CELL, CELL - my % CELL) / ry
            if min(near_x, near_y) > margin_px:
                out.append(((px, py), expected_color(mx, my)))
    return out


def near(got: tuple, want: tuple, tolerance: int = 16) -> bool:
    """Colours equal but for resampling and the 256-colour palette of the default PNG."""
    return all(abs(a - b) <= tolerance for a, b in zip(got, want))


def test_supported_srs_reprojects_pixels_into_place(make_app, source) -> None:
    app = make_app(wms_config("    supported_srs: ['EPSG:4326']"))
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
    app = make_app(wms_config("    supported_formats: ['image/jpeg']"))
    answer = call(app, tile_url("EPSG3857", 1, 0, 0))
    assert answer.status == 200
    assert source.params()["FORMAT"] == "image/jpeg"
    assert answer.content_type == "image/png" and answer.body[:4] == b"\x89PNG"
    stored = list((tmp_path / "cache_data").rglob("*.png"))
    assert len(stored) == 1 and stored[0].read_bytes()[:4] == b"\x89PNG"


# -- HTTP options ---------------------------------------------------------------


def test_client_timeout_answers_504_quickly_and_caches_nothing(make_app, source, tmp_path) -> None:
    app = make_app(wms_config(globals_yaml="  http:\n    client_timeout: 0.5"))
    source.reset("hang")
    start = time.monotonic()
    answer = call(app, tile_url("EPSG3857", 1, 0, 0))
    elapsed = time.monotonic() - start
    assert answer.status == 504
    assert "timeout" in answer.text
    assert elapsed < 3
    assert not list((tmp_path / "cache_data").rglob("*.png"))


def test_per_source_client_timeout(make_app, source) -> None:
    app = make_app(wms_config("    http:\n      client_timeout: 0.3"))
    source.reset("hang")
    start = time.monotonic()
    assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 504
    assert time.monotonic() - start < 3


def test_headers_are_sent(make_app, source) -> None:
    app = make_app(wms_config("    http:\n      headers:\n        X-Api-Key: secret123\n        Referer: https://maps.example"))
    assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 200
    headers = source.log[-1]["headers"]
    assert headers["X-Api-Key"] == "secret123"
    assert headers["Referer"] == "https://maps.example"
    assert headers["User-Agent"].startswith("tileproxy/")


def test_basic_auth_from_url_and_credentials_stay_secret(make_app, source, caplog) -> None:
    url = "http://mapuser:p%40ss-w0rd@" + source.url.removeprefix("http://") + "/wms"
    app = make_app(wms_config("    http:\n      hide_error_details: false", url=url))
    with caplog.at_level(logging.DEBUG):
        assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 200
        auth = source.log[-1]["headers"]["Authorization"]
        assert auth == "Basic " + base64.b64encode(b"mapuser:p@ss-w0rd").decode()
        source.reset("error")
        answer = call(app, tile_url("EPSG3857", 1, 1, 0))
    assert answer.status == 502
    assert "HTTP 500" in answer.text
    assert source.log[-1]["path"].startswith("/wms?")  # the credentials are not in the URL either
    for secret in ("p@ss-w0rd", "p%40ss-w0rd", "mapuser"):
        assert secret not in answer.text
        assert secret not in caplog.text


def test_ssl_options_are_accepted(make_app, tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used in this test\n")
    app = make_app(wms_config("    http:\n      ssl_ca_certs: ./ca.pem", url="https://127.0.0.1:1/wms")
                   .replace("  map_source:", "  insecure:\n    type: wms\n    req: {url: 'https://127.0.0.1:1/wms', layers: a}\n"
                            "    http: {ssl_no_cert_checks: true}\n  map_source:"))
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
    threads = [threading.Thread(target=lambda p=p: statuses.append(requests.get(base + p, timeout=20).status_code))
               for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.mark.parametrize(("limit", "expect_max"), [(1, 1), (2, 2), (0, 4)])
def test_concurrent_requests_caps_parallel_source_requests(make_app, source, serve, limit, expect_max) -> None:
    extra = f"    concurrent_requests: {limit}" if limit else ""
    app = make_app(wms_config(extra, globals_yaml="  http:\n    client_timeout: 10"))
    base = serve(app)
    source.delay = 0.3
    paths = [tile_url("EPSG3857", 2, x, 0) for x in range(4)]
    assert fetch_parallel(base, paths) == [200] * 4
    assert source.count("wms") == 4
    assert source.max_in_flight == expect_max


# -- tile sources ----------------------------------------------------------------


def tile_config(url: str, source_grid: str = "GLOBAL_WEBMERCATOR", cache_grid: str = "GLOBAL_WEBMERCATOR",
                extra: str = "", cache_extra: str = "") -> str:
    return f"""
services:
  tms:
layers:
  - name: map
    title: Map
    sources: [map_cache]
caches:
  map_cache:
    grids: [{cache_grid}]
    sources: [tiles]
{cache_extra}
sources:
  tiles:
    type: tile
    grid: {source_grid}
    url: {url}
{extra}
globals:
  cache:
    base_dir: ./cache_data
"""


def test_tile_url_template_keys(make_app, source) -> None:
    url = ("'{source}/tiles/%(z)s/%(x)s/%(y)s.png?q=%(quadkey)s&tms=%(tms_path)s&tc=%(tc_path)s"
           "&bbox=%(bbox)s&fmt=%(format)s&pct=100%%'")
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
    app = make_app(tile_config("'{source}/tiles/%(z)s/%(x)s/%(y)s.png'"))
    answer = call(app, "/tiles/map/EPSG3857/4/9/3.png?origin=nw")
    assert answer.status == 200
    sent = requests.get(f"{source.url}/tiles/4/9/3.png", timeout=5).content
    assert answer.body == sent
    stored = tmp_path / "cache_data/map_cache_EPSG3857/04/000/000/009/000/000/003.png"
    assert stored.read_bytes() == sent
    # served again from the cache: still the same bytes, no new source request
    assert call(app, "/tiles/map/EPSG3857/4/9/3.png?origin=nw").body == sent
    assert source.count("tile") == 2  # ours plus the direct request above


def test_tile_source_with_other_origin(make_app, source) -> None:
    # source tiles counted from the south, cache tiles from the north
    app = make_app(tile_config("'{source}/tiles/%(z)s/%(x)s/%(y)s.png'", source_grid="GLOBAL_MERCATOR"))
    answer = call(app, "/tiles/map/EPSG3857/3/2/1.png?origin=nw")
    assert answer.status == 200
    assert source.log[-1]["path"] == "/tiles/3/2/6.png"
    assert answer.image.convert("RGB").getpixel((100, 100)) == tile_color(2, 6, 3)


def test_tile_source_tms_profile_grid_into_geodetic_cache_stitches(make_app, source) -> None:
    # a cache in another SRS than the tile source: tiles are stitched and reprojected
    app = make_app(tile_config("'{source}/tiles/%(z)s/%(x)s/%(y)s.png'", cache_grid="GLOBAL_GEODETIC"))
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
    app = make_app(tile_config(f"'file://{tiles}/%(z)s/%(x)s/%(y)s.png'"))
    assert call(app, "/tiles/map/EPSG3857/1/0/0.png?origin=nw").body == data[(0, 0)]
    assert call(app, "/tiles/map/EPSG3857/1/1/0.png?origin=nw").body == data[(1, 0)]
    missing = call(app, "/tiles/map/EPSG3857/1/1/1.png?origin=nw")
    assert 400 <= missing.status < 600 and missing.status != 500
    assert source.count("tile") == 0


def test_tile_source_errors_are_config_errors(tmp_path) -> None:
    from tileproxy.config.build import load_proxy_config
    from tileproxy.config.errors import ConfigError

    path = Path(tmp_path / "mapproxy.yaml")
    path.write_text(tile_config("'http://x/%(zoom)s.png'"))
    with pytest.raises(ConfigError, match=r"sources\.tiles\.url: unknown template key %\(zoom\)s"):
        load_proxy_config(path)


def test_geographic_cache_over_a_mercator_only_source(make_app, source) -> None:
    app = make_app(wms_config("    supported_srs: ['EPSG:900913']", grid="GLOBAL_GEODETIC"))
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
    text = wms_config().replace("      layers: base\n", "      layers: base,roads,rivers\n")
    app = make_app(text.replace("sources: [map_source]", "sources: ['map_source:roads,rivers']"))
    assert call(app, tile_url("EPSG3857", 1, 0, 0)).status == 200
    assert source.params()["LAYERS"] == "roads,rivers"
    from tileproxy.config.build import load_proxy_config
    from tileproxy.config.errors import ConfigError

    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("sources: [map_source]", "sources: ['map_source:lakes']").replace("{source}", source.url))
    with pytest.raises(ConfigError, match=r"caches\.map_cache\.sources\[0\]: layers lakes are not in the source's req.layers"):
        load_proxy_config(path)


@pytest.fixture(scope="module")
def https_source(tmp_path_factory):
    """The source server over HTTPS with a self-signed certificate for 127.0.0.1."""
    import shutil
    import ssl
    import subprocess

    from source_server import SourceServer

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


@pytest.mark.parametrize(("http_yaml", "status"), [
    ("", 502),  # the self-signed certificate is not trusted
    ("    http:\n      ssl_no_cert_checks: true", 200),
    ("    http:\n      ssl_ca_certs: {cert}", 200),
])
def test_https_source_certificate_options(make_app, https_source, http_yaml, status) -> None:
    server, cert = https_source
    server.reset()
    app = make_app(wms_config(http_yaml.replace("{cert}", str(cert)), url=server.url + "/wms"))
    answer = call(app, tile_url("EPSG3857", 1, 0, 0))
    assert answer.status == status, answer.body
    if status == 502:
        assert "could not reach" in answer.text and server.count("wms") == 0
    else:
        assert server.count("wms") == 1
