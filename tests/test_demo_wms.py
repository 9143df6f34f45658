"""The demo's WMS views, through the real WSGI app with debug sources: every named
WMS layer is listed once per SRS, and every GetMap URL the viewer builds answers
with a PNG of the tile's size showing what belongs at that place."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from PIL import Image
from support.demo import EVIL, NODE, get, make_app, parse, run_viewer, tile_url, viewer_config

from tileproxy.wsgi import TileProxyApp

SRS = ["EPSG:3857", "EPSG:4326", "EPSG:25832", "CRS:84", "EPSG:900913"]



def config(srs: list[str] | None = SRS, **wms: object) -> dict:
    """Debug layers, named and not, nested in groups; a WMS in ``srs`` with the
    options ``wms`` (``srs=None``: no WMS)."""
    services: dict = {"demo": None, "tms": None}
    if srs is not None:
        services["wms"] = {"srs": srs, **wms}
    return {
        "services": services,
        "layers": [
            {"name": "group", "title": "A group", "layers": [
                {"name": "cached", "title": "Cached in web mercator", "sources": ["cache"]},
                {"name": "direct", "title": EVIL, "sources": ["dbg"]},
            ]},
            {"title": "A group without a name", "layers": [
                {"name": "nested", "title": "Nested direct layer", "sources": ["dbg"]},
            ]},
        ],
        "caches": {"cache": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["dbg"], "meta_size": [1, 1],
                             "meta_buffer": 0}},
        "sources": {"dbg": {"type": "debug"}},
    }


NAMED = ["group", "cached", "direct", "nested"]


@pytest.fixture
def app(tmp_path: Path) -> TileProxyApp:
    return make_app(tmp_path, config())


def wms_pages(app: TileProxyApp) -> list[str]:
    status, _, body = get(app, "/demo/")
    assert status == 200
    return [urljoin("http://localhost/demo/", u) for u in parse(body).urls if "wms_layer=" in u]


def query(url: str) -> dict[str, str]:
    return {k.upper(): v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img


def test_index_lists_every_named_wms_layer_once_per_srs(app: TileProxyApp) -> None:
    pages = wms_pages(app)
    found = sorted((query(u)["WMS_LAYER"], query(u)["SRS"]) for u in pages)
    # "direct" and "nested" draw a source directly: WMS layers that are no tile layers
    assert found == sorted((name, srs) for name in NAMED for srs in SRS)
    assert {tl.name for tl in app.tile_layers} == {"cached"}
    body = get(app, "/demo/")[2].decode()
    # named layers sorted by name, as in MapProxy's demo
    assert [query(u)["WMS_LAYER"] for u in pages[::len(SRS)]] == sorted(NAMED)
    assert 'href="../demo/?wms_capabilities"' in body
    assert 'href="../service?REQUEST=GetCapabilities&SERVICE=WMS"' in body
    assert 'href="../service?REQUEST=GetCapabilities&SERVICE=WMS&tiled=true"' in body


def test_every_getmap_url_answers_with_a_png_of_the_tile_size(app: TileProxyApp) -> None:
    checked = 0
    for page in wms_pages(app):
        conf = viewer_config(app, page)
        assert conf["service"] == "wms" and conf["yAxis"] == "down"
        assert conf["srs"] == query(page)["SRS"]
        tw, th = conf["tileSize"]
        matrices = conf["matrices"]
        for m in {id(m): m for m in (matrices[0], matrices[3], matrices[-1])}.values():
            for col, row in {(0, 0), (m["width"] // 2, m["height"] // 3), (m["width"] - 1, m["height"] - 1)}:
                url = tile_url(conf, m, col, row)
                assert url.startswith("http://localhost/service?")
                params = query(url)
                assert params["SRS"] == conf["srs"] and params["LAYERS"] == conf["layer"]
                status, headers, data = get(app, url)
                assert status == 200, (url, data[:300])
                assert headers["content-type"] == "image/png", (url, data[:300])
                img = png(data)
                assert img.size == (tw, th)
                assert "A" in img.getbands() or "transparency" in img.info  # drawn over the page's background
                checked += 1
    assert checked >= len(NAMED) * len(SRS) * 5


def test_getmap_tiles_of_a_cached_layer_are_its_tiles(app: TileProxyApp) -> None:
    """In web mercator the view grid is GLOBAL_WEBMERCATOR: each GetMap shows the cached tile of its place."""
    conf = viewer_config(app, "/demo/?wms_layer=cached&srs=EPSG:3857")
    for level, col, row in [(1, 0, 1), (3, 5, 2), (4, 9, 6)]:
        m = conf["matrices"][level]
        status, _, data = get(app, tile_url(conf, m, col, row))
        assert status == 200
        status, _, tile = get(app, f"/tiles/cached/EPSG3857/{level}/{col}/{row}.png?origin=nw")
        assert status == 200
        assert png(data).convert("RGBA").tobytes() == png(tile).convert("RGBA").tobytes(), (level, col, row)


def test_view_grids_of_each_srs(app: TileProxyApp) -> None:
    merc = viewer_config(app, "/demo/?wms_layer=direct&srs=EPSG:900913")
    assert merc["webMercator"] and merc["matrices"][0]["res"] == pytest.approx(156543.03392804097)
    geo = viewer_config(app, "/demo/?wms_layer=direct&srs=EPSG:4326")
    assert geo["units"] == "degrees" and geo["bbox"] == [-180, -90, 180, 90]
    assert (geo["matrices"][0]["width"], geo["matrices"][0]["height"]) == (2, 1)
    utm = viewer_config(app, "/demo/?wms_layer=direct&srs=EPSG:25832")
    x0, y0, x1, y1 = utm["bbox"]
    assert 0 < x0 < 500000 < x1 < 1000000 and 4e6 < y0 < y1 < 1e7  # zone 32's area of use
    assert utm["fit"] == utm["bbox"]


def test_layer_list_and_heading_in_the_map_page(app: TileProxyApp) -> None:
    body = get(app, "/demo/?wms_layer=nested&srs=EPSG:4326")[2].decode()
    assert "<h2>Layer Preview - nested</h2>" in body
    assert "Nested direct layer · EPSG:4326 · image/png · WMS" in body
    sidebar = [u for u in parse(body.encode()).urls if "_layer=" in u]
    assert any("tms_layer=cached" in u for u in sidebar)
    assert len([u for u in sidebar if "wms_layer=" in u]) >= len(NAMED) * len(SRS)
    assert "<script>alert" not in body and body.count("<script") == 2


@pytest.mark.parametrize("query_string", ["wms_layer=nope", "wms_layer=group&srs=EPSG:31467",
                                          "wms_layer=group&srs=nonsense", "wms_layer=%3Cb%3E"])
def test_unknown_wms_layer_or_srs_is_404(app: TileProxyApp, query_string: str) -> None:
    status, headers, body = get(app, "/demo/?" + query_string)
    assert status == 404
    assert headers["content-type"].startswith("text/html")
    assert b"<b>" not in body


def test_wms_capabilities_viewer(app: TileProxyApp) -> None:
    status, headers, body = get(app, "/demo/?wms_capabilities")
    assert status == 200 and headers["content-type"].startswith("text/html")
    text = body.decode()
    # what the download link answers: GetCapabilities without VERSION, the newest version
    assert "&lt;WMS_Capabilities" in text and "&lt;Name&gt;nested&lt;/Name&gt;" in text
    assert "<script>alert" not in text


def test_without_wms_there_are_no_wms_views(tmp_path: Path) -> None:
    app = make_app(tmp_path, config(srs=None))
    assert wms_pages(app) == []
    assert get(app, "/demo/?wms_layer=cached")[0] == 404
    # the OWS exception of the capabilities link itself
    assert get(app, "/demo/?wms_capabilities")[0] == 400
    index = get(app, "/demo/")[2].decode()
    assert "<h2>WMS</h2><p class=\"muted\">This service is not enabled" in index


def test_wms_130_only_sends_the_bbox_in_axis_order(tmp_path: Path) -> None:
    """Without 1.1.1 the viewer asks 1.3.0, whose EPSG:4326 BBOX is lat/lon."""
    app = make_app(tmp_path, config(["EPSG:4326", "EPSG:3857"], versions=["1.3.0"]))
    default = make_app(tmp_path / "default", config(["EPSG:4326"]))
    conf = viewer_config(app, "/demo/?wms_layer=direct&srs=EPSG:4326")
    assert conf["bboxYX"] and "CRS=EPSG%3A4326" in conf["url"] and "VERSION=1.3.0" in conf["url"]
    assert not viewer_config(app, "/demo/?wms_layer=direct&srs=EPSG:3857")["bboxYX"]
    conf_111 = viewer_config(default, "/demo/?wms_layer=direct&srs=EPSG:4326")
    m, m_111 = conf["matrices"][2], conf_111["matrices"][2]
    status, headers, data = get(app, tile_url(conf, m, 3, 1))
    assert status == 200 and headers["content-type"] == "image/png", data[:300]
    same = get(default, tile_url(conf_111, m_111, 3, 1))[2]
    assert png(data).convert("RGBA").tobytes() == png(same).convert("RGBA").tobytes()


@pytest.mark.skipif(NODE is None, reason="node is not installed: the viewer's URL building is not run")
@pytest.mark.parametrize("srs, yx", [("EPSG:3857", False), ("EPSG:25832", False), ("EPSG:4326", True)])
def test_viewer_builds_the_getmap_urls(app: TileProxyApp, srs: str, yx: bool) -> None:
    conf = viewer_config(app, f"/demo/?wms_layer=cached&srs={srs}")
    conf["bboxYX"] = yx  # both orders of the viewer, against the mirror in tile_url
    cells = [(m, col, row) for m in conf["matrices"][:6]
             for col, row in {(0, 0), (m["width"] - 1, m["height"] - 1), (m["width"] // 2, m["height"] // 2)}]
    calls = ",".join(f"v.tileUrl(conf, {json.dumps(m)}, {col}, {row})" for m, col, row in cells)
    got = run_viewer(f"(conf => [{calls}])({json.dumps(conf)})")
    for url, (m, col, row) in zip(got, cells, strict=True):
        expected = tile_url(conf, m, col, row)
        assert url.split("BBOX=")[0] == expected.split("BBOX=")[0]
        got_bbox = [float(v) for v in query(url)["BBOX"].split(",")]
        assert got_bbox == pytest.approx([float(v) for v in query(expected)["BBOX"].split(",")], rel=1e-12)
    if not yx:  # the app speaks 1.1.1, x/y order: the viewer's URLs work as they are
        for url in got[::4]:
            status, headers, _ = get(app, url)
            assert status == 200 and headers["content-type"] == "image/png"


def test_wms_views_honour_the_public_base_url(app: TileProxyApp) -> None:
    headers = {"X-Script-Name": "/maps", "X-Forwarded-Host": "example.org", "X-Forwarded-Proto": "https"}
    base = "https://example.org/maps/"
    pages = [urljoin(base + "demo/", u) for u in parse(get(app, "/demo/", headers)[2]).urls if "wms_layer=" in u]
    assert pages and all(u.startswith(base + "demo/?") for u in pages)
    status, _, body = get(app, pages[0].replace(base, "/"), headers)
    assert status == 200
    parsed = parse(body)
    # links are relative to the page; none names the internal host
    assert parsed.urls and not any("localhost" in u for u in parsed.urls), parsed.urls
    conf = json.loads(parsed.scripts["viewer-config"])
    assert conf["url"].startswith(base + "service?")
    status, resp_headers, _ = get(app, tile_url(conf, conf["matrices"][1], 0, 0).replace(base, "/"), headers)
    assert status == 200 and resp_headers["content-type"] == "image/png"
