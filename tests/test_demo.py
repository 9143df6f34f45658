"""The /demo/ pages, run through the real WSGI app with debug sources: the layer
list, the viewer assets, the grid JSON the viewer draws from, and that every
tile URL the page embeds answers with the tile the viewer puts at that place."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode, urljoin

import pytest
from PIL import Image
from support.demo import (
    EVIL,
    NODE,
    ROOT,
    get,
    make_app,
    parse,
    run_viewer,
    tile_url,
    viewer_config,
)

from tileproxy.services.tms import TileServiceGrid
from tileproxy.wsgi import TileProxyApp, make_wsgi_app


def config(services: tuple[str, ...] = ("demo", "tms", "wmts"), wmts: dict | None = None) -> dict:
    """Debug tiles in three global grids and three local ones, and a layer with an
    evil title; ``wmts`` holds options of the WMTS service."""
    one_by_one = {"sources": ["dbg"], "meta_size": [1, 1], "meta_buffer": 0}
    return {
        "services": {name: wmts if name == "wmts" else None for name in services},
        "layers": [
            {"name": "debug", "title": "Debug tiles", "sources": ["multi"]},
            {"name": "local", "title": "Local grid", "sources": ["local_cache"]},
            {"name": "evil", "title": EVIL, "sources": ["evil_cache"]},
        ],
        "caches": {
            "multi": {"grids": ["GLOBAL_WEBMERCATOR", "GLOBAL_GEODETIC", "GLOBAL_MERCATOR"], **one_by_one},
            "local_cache": {"grids": ["utm_nw", "utm_sqrt2", "utm_sw"], **one_by_one},
            "evil_cache": {"grids": ["GLOBAL_WEBMERCATOR"], **one_by_one},
        },
        "grids": {
            "utm_nw": {"srs": "EPSG:25832", "bbox": [280000, 5200000, 920000, 6100000], "origin": "nw",
                       "res": [4000, 2000, 1000, 500]},
            # another SRS: grids of one SRS in one cache share a directory (as in MapProxy)
            "utm_sqrt2": {"srs": "EPSG:31467", "bbox": [3280000, 5200000, 3920000, 6100000],
                          "tile_size": [256, 128], "res_factor": "sqrt2", "num_levels": 7},
            # rows grow up from the bbox bottom; the top row reaches past the bbox
            "utm_sw": {"srs": "EPSG:25833", "bbox": [280000, 5200000, 920000, 6000000], "origin": "sw",
                       "res": [4000, 2000, 1000, 500]},
        },
        "sources": {"dbg": {"type": "debug"}},
    }


@pytest.fixture
def app(tmp_path: Path) -> TileProxyApp:
    return make_app(tmp_path, config())


def map_pages(app: TileProxyApp, headers: dict[str, str] | None = None,
              index: str = "http://localhost/demo/") -> list[str]:
    """URLs of every map view linked from the index page, resolved against ``index``
    (the page's public URL: the links are relative, as in MapProxy's demo)."""
    status, _, body = get(app, "/demo/", headers)
    assert status == 200
    # each view is linked from its SRS and its format cell
    return list(dict.fromkeys(urljoin(index, u) for u in parse(body).urls if "_layer=" in u))


def resolved_urls(app: TileProxyApp, page: str, headers: dict[str, str] | None = None) -> list[str]:
    """The href/src URLs of ``page`` (an absolute URL), resolved against it."""
    return [urljoin(page, u) for u in parse(get(app, page, headers)[2]).urls]


def layer_for(app: TileProxyApp, conf: dict):
    return next(tl for tl in app.tile_layers if tl.name == conf["layer"] and tl.grid_name == conf["grid"])


# -- the layer list ------------------------------------------------------------


def test_index_lists_every_layer_and_grid_with_its_services(app: TileProxyApp) -> None:
    pages = map_pages(app)
    assert len(app.tile_layers) == 7
    shown = {(service, conf["layer"], conf["grid"]) for service in ("tms", "wmts")
             for conf in (viewer_config(app, u) for u in pages if f"{service}_layer=" in u)}
    for tl in app.tile_layers:
        assert ("tms", tl.name, tl.grid_name) in shown, (tl.name, tl.grid_name)
        # WMTS only where the grid can be addressed from the top left
        assert (("wmts", tl.name, tl.grid_name) in shown) == tl.grid.supports_access_with_origin("nw")
    # geodetic and the sqrt2 and sw local grids cannot, so they are TMS only
    assert sum("wmts_layer=" in u for u in pages) == 4
    assert sum("tms_layer=" in u for u in pages) == 7
    # MapProxy's link form: layer, tile format and SRS; the grid only where the SRS leaves a choice
    assert "http://localhost/demo/?tms_layer=debug&format=png&srs=EPSG%3A3857" in pages
    assert "http://localhost/demo/?tms_layer=debug&format=png&srs=EPSG%3A4326" in pages
    assert "http://localhost/demo/?tms_layer=debug&format=png&srs=EPSG%3A900913&grid=GLOBAL_MERCATOR" in pages


def test_index_follows_mapproxys_page(app: TileProxyApp) -> None:
    """Sections with the capabilities links of MapProxy's demo, and tables sorted by layer name
    whose first cell spans the rows of the layer's grids."""
    body = get(app, "/demo/")[2].decode()
    for href in ("../tms/1.0.0/", "../demo/?tms_capabilities", "../wmts/1.0.0/WMTSCapabilities.xml",
                 "../demo/?wmts_capabilities", "../service?REQUEST=GetCapabilities&SERVICE=WMTS",
                 "../demo/?wmts_capabilities_kvp", "../demo/?tms_capabilities&layer=local&srs=EPSG25832"):
        assert f'href="{href}"' in body, href
    tables = re.findall(r'<table class="code">.*?</table>', body, re.DOTALL)
    assert len(tables) == 2  # WMTS, TMS (no WMS here)
    for table in tables:  # every grid, also in WMTS (grids it cannot serve say so)
        assert re.findall(r'<td rowspan="(\d+)">(\w+)</td>', table) == [("3", "debug"), ("1", "evil"), ("3", "local")]
    assert tables[0].count("grid not compatible with WMTS") == 3


def test_demo_without_slash_redirects(app: TileProxyApp) -> None:
    status, headers, _ = get(app, "/demo")
    assert status == 301
    assert headers["location"] == "http://localhost/demo/"


# -- assets --------------------------------------------------------------------


@pytest.mark.parametrize("name, ctype, marker", [
    ("viewer.js", "text/javascript", b"visibleTiles"),
    ("demo.css", "text/css", b".tp-map"),
])
def test_assets_are_served_with_their_content_type(app: TileProxyApp, name: str, ctype: str, marker: bytes) -> None:
    status, headers, body = get(app, f"/demo/static/{name}")
    assert status == 200
    assert headers["content-type"].split(";")[0] == ctype
    assert marker in body


@pytest.mark.parametrize("path", ["/demo/static/nope.js", "/demo/static/", "/demo/static/demo.py",
                                  "/demo/static/../demo.py", "/demo/static/x/viewer.js", "/demo/other"])
def test_unknown_assets_and_paths_are_404(app: TileProxyApp, path: str) -> None:
    assert get(app, path)[0] == 404


def test_pages_reference_assets_that_exist(app: TileProxyApp) -> None:
    page = map_pages(app)[0]
    assets = [u for u in resolved_urls(app, page) if "/demo/static/" in u]
    assert len(assets) == 2
    for url in assets:
        assert get(app, url)[0] == 200


def test_no_third_party_or_remote_scripts(app: TileProxyApp) -> None:
    for page in map_pages(app):
        for url in resolved_urls(app, page):
            assert url.startswith("http://localhost/"), url


# -- the grid as the viewer sees it ----------------------------------------------


def test_wmts_views_describe_the_grid_as_the_capabilities_do(app: TileProxyApp) -> None:
    caps = ET.fromstring(get(app, "/wmts/1.0.0/WMTSCapabilities.xml")[2])
    ns = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
    views = [u for u in map_pages(app) if "wmts_layer=" in u]
    assert views
    for url in views:
        conf = viewer_config(app, url)
        grid = layer_for(app, conf).grid
        assert conf["yAxis"] == "down"
        assert [m["res"] for m in conf["matrices"]] == grid.resolutions
        assert [(m["width"], m["height"]) for m in conf["matrices"]] == grid.grid_sizes
        assert conf["tileSize"] == list(grid.tile_size)
        tms = next(s for s in caps.iterfind("w:Contents/w:TileMatrixSet", ns)
                   if s.findtext("ows:Identifier", namespaces=ns) == conf["grid"])
        for m, tm in zip(conf["matrices"], tms.iterfind("w:TileMatrix", ns), strict=True):
            assert m["id"] == tm.findtext("ows:Identifier", namespaces=ns)
            corner = [float(v) for v in tm.findtext("w:TopLeftCorner", namespaces=ns).split()]
            if grid.srs.is_axis_order_ne:
                corner.reverse()
            assert m["left"] == pytest.approx(corner[0]) and m["top"] == pytest.approx(corner[1])
            assert m["width"] == int(tm.findtext("w:MatrixWidth", namespaces=ns))
            assert m["height"] == int(tm.findtext("w:MatrixHeight", namespaces=ns))


def test_tms_views_use_the_published_tile_sets(app: TileProxyApp) -> None:
    views = [u for u in map_pages(app) if "tms_layer=" in u]
    for url in views:
        conf = viewer_config(app, url)
        grid = layer_for(app, conf).grid
        assert conf["yAxis"] == "up"
        tile_map_url = conf["url"].split("/{z}")[0]
        tile_map = ET.fromstring(get(app, tile_map_url)[2])
        sets = tile_map.findall("TileSets/TileSet")
        assert [m["id"] for m in conf["matrices"]] == [s.get("order") for s in sets]
        assert [m["res"] for m in conf["matrices"]] == [float(s.get("units-per-pixel")) for s in sets]
        levels = TileServiceGrid(grid).levels()
        assert [(m["width"], m["height"]) for m in conf["matrices"]] == [grid.grid_sizes[i] for _, i in levels]
    sqrt2 = viewer_config(app, next(u for u in views if "srs=EPSG%3A31467" in u))
    assert [m["level"] for m in sqrt2["matrices"]] == [0, 2, 4, 6]
    geodetic = viewer_config(app, next(u for u in views if "srs=EPSG%3A4326" in u))
    assert geodetic["matrices"][0]["level"] == 1  # TMS global-geodetic starts with 2x1 tiles
    assert (geodetic["matrices"][0]["width"], geodetic["matrices"][0]["height"]) == (2, 1)


# -- every embedded tile URL gives the tile that the viewer draws there -----------


def sample_tiles(conf: dict) -> list[tuple[dict, int, int]]:
    """A few (matrix, col, row) per view, rows counted from the top; off-centre
    so that a flipped row or a shifted column gives a different tile."""
    out = []
    for index in {0, min(2, len(conf["matrices"]) - 1), len(conf["matrices"]) - 1}:
        m = conf["matrices"][index]
        out.append((m, m["width"] // 2, m["height"] // 3))
        out.append((m, m["width"] - 1, m["height"] - 1))
    return out


def test_every_tile_url_pattern_serves_the_tile_at_its_place(app: TileProxyApp) -> None:
    checked = 0
    for page in map_pages(app):
        conf = viewer_config(app, page)
        layer = layer_for(app, conf)
        grid = layer.grid
        tw, th = conf["tileSize"]
        for m, col, row in sample_tiles(conf):
            status, headers, data = get(app, tile_url(conf, m, col, row))
            assert status == 200, (page, m["id"], col, row, data[:200])
            assert headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(data)).size == (tw, th)
            # the centre of the tile as the viewer places it, in map units ...
            x = m["left"] + (col + 0.5) * tw * m["res"]
            y = m["top"] - (row + 0.5) * th * m["res"]
            # ... is inside this tile of the grid, fetched by its internal coordinates
            x0, y0, x1, y1 = grid.tile_range((x, y, x, y), m["level"])
            assert (x0, y0) == (x1, y1)
            expected = layer.manager.fetch_tile((x0, y0, m["level"])).tile.data
            assert data == expected, (page, m["id"], col, row)
            checked += 1
    assert checked >= 10 * 3


# -- escaping, errors, proxies ---------------------------------------------------------


def test_layer_titles_are_escaped(app: TileProxyApp) -> None:
    index = get(app, "/demo/")[2].decode()
    assert EVIL not in index and "<script>alert" not in index
    assert "&lt;/script&gt;&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b onclick=&quot;y&quot;&gt;" in index
    page = next(u for u in map_pages(app) if "wmts_layer=evil" in u)
    body = get(app, page)[2].decode()
    assert "<script>alert" not in body and "</script><script>" not in body
    assert body.count("<script") == 2  # the JSON and viewer.js, nothing injected
    assert viewer_config(app, page)["title"] == EVIL
    # the capabilities viewer shows the XML as text
    caps = get(app, "/demo/?wmts_capabilities&type=rest")[2].decode()
    assert "<script>alert" not in caps and "&lt;Capabilities" in caps


@pytest.mark.parametrize("query", ["wmts_layer=nope", "tms_layer=nope", "wmts_layer=debug&grid=nope",
                                   "wmts_layer=debug&grid=GLOBAL_GEODETIC", "tms_layer=%3Cb%3E",
                                   "tms_capabilities&layer=nope"])
def test_unknown_layer_is_404(app: TileProxyApp, query: str) -> None:
    status, headers, body = get(app, "/demo/?" + query)
    assert status == 404
    assert headers["content-type"].startswith("text/html")
    assert b"<b>" not in body  # the name, shown escaped
    assert b"<code>nope</code>" in body or b"<code>debug</code>" in body or b"<code>&lt;b&gt;</code>" in body


def test_layer_by_srs(app: TileProxyApp) -> None:
    conf = viewer_config(app, "/demo/?tms_layer=debug&srs=EPSG:4326")
    assert conf["grid"] == "GLOBAL_GEODETIC"
    # web mercator under another name, as in MapProxy's demo links
    assert viewer_config(app, "/demo/?tms_layer=debug&srs=EPSG:900913")["grid"] == "GLOBAL_WEBMERCATOR"
    assert get(app, "/demo/?tms_layer=debug&srs=EPSG:nonsense")[0] == 404
    assert viewer_config(app, "/demo/?wmts_layer=debug")["grid"] == "GLOBAL_WEBMERCATOR"


def test_capabilities_viewer(app: TileProxyApp) -> None:
    for query, marker in [("wmts_capabilities", "&lt;TileMatrixSet&gt;"),
                          ("wmts_capabilities&type=kvp", "GetTile"),
                          ("tms_capabilities", "&lt;TileMap title="),
                          ("tms_capabilities&layer=local&grid=utm_sqrt2", "units-per-pixel")]:
        status, headers, body = get(app, "/demo/?" + query)
        assert status == 200, query
        assert headers["content-type"].startswith("text/html")
        assert marker in body.decode(), query


PROXY = {"X-Forwarded-Host": "maps.example.org", "X-Forwarded-Proto": "https", "X-Script-Name": "/tiles"}


@pytest.mark.parametrize("query, download", [
    ("wmts_capabilities", "/wmts/1.0.0/WMTSCapabilities.xml"),
    ("wmts_capabilities_kvp", "/service?REQUEST=GetCapabilities&SERVICE=WMTS"),
    ("tms_capabilities", "/tms/1.0.0/"),
    ("tms_capabilities&layer=local&srs=EPSG25832", "/tms/1.0.0/local/EPSG25832"),
])
def test_capabilities_views_show_the_document_of_the_download_link(app: TileProxyApp, query: str,
                                                                   download: str) -> None:
    """The view shows what the link answers, as text; by default with the server's own
    address, with ``type=external`` with the public URL the proxy headers name."""
    status, _, raw = get(app, download, PROXY)
    assert status == 200
    status, _, body = get(app, f"/demo/?{query}&type=external", PROXY)
    assert status == 200
    text = body.decode()
    assert f'<a href="https://maps.example.org/tiles{download.replace("&", "&amp;")}">' in text
    assert html.escape(raw.decode(), quote=True) in text
    internal = get(app, f"/demo/?{query}", PROXY)[2].decode()
    assert "maps.example.org" not in internal
    assert f'<a href="http://localhost{download.replace("&", "&amp;")}">' in internal
    assert html.escape(get(app, download)[2].decode(), quote=True) in internal


@pytest.mark.parametrize("layer", ["osm\"><script>alert('x')</script>", "../../etc", "local/x"])
def test_tile_map_view_of_an_unknown_layer_is_404(app: TileProxyApp, layer: str) -> None:
    status, _, body = get(app, "/demo/?" + urlencode({"tms_capabilities": "", "layer": layer, "srs": "EPSG25832"}))
    assert status == 404
    assert b"<script>alert" not in body
    assert f"<code>{html.escape(layer, quote=True)}</code>".encode() in body


def test_urls_honour_the_public_base_url(app: TileProxyApp) -> None:
    headers = {"X-Script-Name": "/maps", "X-Forwarded-Host": "example.org", "X-Forwarded-Proto": "https"}
    base = "https://example.org/maps/"
    pages = map_pages(app, headers, index=base + "demo/")
    assert pages and all(u.startswith(base + "demo/?") for u in pages)
    for page in pages:
        # the proxy strips its prefix before passing requests on
        status, resp_headers, body = get(app, page.replace(base, "/"), headers)
        assert status == 200
        assert "X-Script-Name" in resp_headers["vary"]
        parsed = parse(body)
        # links are relative to the page (so any proxy prefix works); none names the internal host
        assert parsed.urls and not any("localhost" in u for u in parsed.urls), parsed.urls
        conf = json.loads(parsed.scripts["viewer-config"])
        assert conf["url"].startswith(base)
        m = conf["matrices"][0]
        assert get(app, tile_url(conf, m, 0, 0).replace(base, "/"), headers)[0] == 200


def test_tms_only_and_no_tile_service(tmp_path: Path) -> None:
    tms_only = make_app(tmp_path, config(("demo", "tms")))
    pages = map_pages(tms_only)
    assert pages and all("tms_layer=" in u for u in pages)
    assert get(tms_only, "/demo/?wmts_layer=debug")[0] == 404
    assert get(tms_only, "/demo/?wmts_capabilities")[0] == 404
    neither = make_app(tmp_path, config(("demo",)))
    body = get(neither, "/demo/")[2].decode()
    assert body.count("not enabled") == 4 and "_layer=" not in body
    assert get(neither, "/demo/?tms_layer=debug")[0] == 404


def test_wmts_kvp_only_views_use_gettile(tmp_path: Path) -> None:
    app = make_app(tmp_path, config(wmts={"restful": False}))
    views = [u for u in map_pages(app) if "wmts_layer=" in u]
    assert len(views) == 4
    for page in views:
        conf = viewer_config(app, page)
        assert conf["url"].startswith("http://localhost/service?SERVICE=WMTS&REQUEST=GetTile&")
        layer = layer_for(app, conf)
        m = conf["matrices"][2]
        status, headers, data = get(app, tile_url(conf, m, 1, 2))
        assert status == 200 and headers["content-type"] == "image/png", data[:200]
        assert data == get(app, f"/tiles/{layer.name}/{app.tms.public_grid_id(layer)}/2/1/2.png?origin=nw")[2]


def test_quickstart_example_shows_its_layers(tmp_path: Path) -> None:
    # a copy, so that its cache_data is written under tmp_path; the shipped tile set stays where it is
    shutil.copy(ROOT / "examples" / "quickstart.yaml", tmp_path / "mapproxy.yaml")
    (tmp_path / "basemap").symlink_to(ROOT / "examples" / "basemap")
    app = make_wsgi_app(tmp_path / "mapproxy.yaml")
    pages = map_pages(app)
    views = {(re.search(r"(\w+)_layer=(\w+)", u).groups()) for u in pages}
    assert views == {("wmts", "basemap"), ("tms", "basemap"), ("wmts", "debug"), ("tms", "debug"),
                     ("tms", "debug_geodetic")} | {("wms", name) for name in
                                                    ("world", "basemap", "borders", "debug", "debug_geodetic")}
    for page in pages:
        conf = viewer_config(app, page)
        for m in conf["matrices"][1], conf["matrices"][-1]:
            status, headers, data = get(app, tile_url(conf, m, m["width"] // 2, m["height"] // 2))
            assert status == 200 and headers["content-type"] == "image/png", (page, m["id"], data[:200])
            assert Image.open(io.BytesIO(data)).size == tuple(conf["tileSize"])
    # the shipped tile set has every tile of its five levels
    assert sum(1 for _ in (ROOT / "examples" / "basemap").rglob("*.png")) == 1 + 4 + 16 + 64 + 256


# -- the viewer's tile maths, run by node -------------------------------------------

@pytest.mark.skipif(NODE is None, reason="node is not installed: the viewer's tile maths is not run")
@pytest.mark.parametrize("service, grid_name, size, level, center", [
    ("wmts", "GLOBAL_WEBMERCATOR", [700, 500], 3, [1234567.0, 2345678.0]),
    ("tms", "GLOBAL_MERCATOR", [640, 480], 2, [-3000000.0, 4500000.0]),
    ("tms", "GLOBAL_GEODETIC", [900, 300], 3, [10.3, 50.7]),
    ("wmts", "utm_nw", [500, 400], 2, [600100.0, 5650100.0]),
    ("tms", "utm_sqrt2", [300, 200], 2, [3500100.0, 5500100.0]),
    ("tms", "utm_sw", [400, 300], 3, [400100.0, 5900100.0]),
])
def test_viewer_requests_the_tiles_of_the_viewport(app: TileProxyApp, service: str, grid_name: str,
                                                   size: list[int], level: int, center: list[float]) -> None:
    layer_name = "local" if grid_name.startswith("utm") else "debug"
    conf = viewer_config(app, f"/demo/?{service}_layer={layer_name}&grid={grid_name}")
    grid = layer_for(app, conf).grid
    m = conf["matrices"][level]
    got = run_viewer(
        f"v.visibleTiles({json.dumps(m)}, {json.dumps(conf['tileSize'])}, {json.dumps(center)}, {json.dumps(size)})"
        f".map(t => [v.tileUrl({json.dumps(conf)}, {json.dumps(m)}, t.col, t.row), t.x, t.y])"
    )
    assert isinstance(got, list) and got
    # the same tiles from the grid maths: everything intersecting the viewport bbox
    res = m["res"]
    bbox = (center[0] - size[0] / 2 * res, center[1] - size[1] / 2 * res,
            center[0] + size[0] / 2 * res, center[1] + size[1] / 2 * res)
    x0, y0, x1, y1 = grid.tile_range(bbox, m["level"])
    tw, th = conf["tileSize"]
    expected = {}
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            tb = grid.tile_bbox((x, y, m["level"]))
            # the public y of the URL: TMS counts from the south, WMTS from the north
            if service == "tms":
                public_y = y if grid.origin == "sw" else grid.flip_y(y, m["level"])
            else:
                public_y = y if grid.origin == "nw" else grid.flip_y(y, m["level"])
            url = tile_url(conf, m, x, 0).rsplit("/", 2)[0] + f"/{x}/{public_y}.{layer_for(app, conf).format.ext}"
            expected[url] = ((tb[0] - bbox[0]) / res, (bbox[3] - tb[3]) / res)
    assert {u for u, _, _ in got} == set(expected)
    for url, px, py in got:
        ex, ey = expected[url]
        assert abs(px - ex) <= 0.5 and abs(py - ey) <= 0.5, (url, px, py, ex, ey)
    # the tiles adjoin: pixel positions step by exactly one tile
    xs = sorted({px for _, px, _ in got})
    ys = sorted({py for _, _, py in got})
    assert all(b - a == tw for a, b in zip(xs, xs[1:])) and all(b - a == th for a, b in zip(ys, ys[1:]))


@pytest.mark.skipif(NODE is None, reason="node is not installed: the viewer's tile maths is not run")
def test_viewer_initial_level_fits_the_grid(app: TileProxyApp) -> None:
    conf = viewer_config(app, "/demo/?wmts_layer=debug&grid=GLOBAL_WEBMERCATOR")
    matrices, bbox = json.dumps(conf["matrices"]), json.dumps(conf["bbox"])
    # 40075 km over 800 px needs ~50 km/px: level 1 (78 km/px, 512 px); level 2 would be 1024 px
    assert run_viewer(f"v.fitLevel({matrices}, {bbox}, [1200, 800])") == 1
    assert run_viewer(f"v.fitLevel({matrices}, {bbox}, [2100, 1100])") == 2
    assert run_viewer(f"v.fitLevel({matrices}, {bbox}, [100, 100])") == 0
    # the cursor position: pixel -> map coordinates, y growing downwards on screen
    assert run_viewer("v.toMap(10, [1000, 2000], [200, 100], [0, 0])") == [0, 2500]
    assert run_viewer("v.toMap(10, [1000, 2000], [200, 100], [200, 100])") == [2000, 1500]
    lon, lat = run_viewer("v.mercatorToLonLat([1113194.9079327357, 6446275.841017158])")
    assert lon == pytest.approx(10.0) and lat == pytest.approx(50.0)


def test_wmts_view_follows_a_custom_restful_template(tmp_path: Path) -> None:
    template = "/myrest/{TileMatrixSet}/{Layer}/{TileMatrix}/{TileRow}/{TileCol}.{Format}"
    app = make_app(tmp_path, config(wmts={"restful_template": template}))
    conf = viewer_config(app, "/demo/?wmts_layer=local&grid=utm_nw")
    assert conf["url"] == "http://localhost/wmts/myrest/utm_nw/local/{z}/{y}/{x}.png"
    m = conf["matrices"][3]
    status, headers, data = get(app, tile_url(conf, m, 1, 2))
    assert status == 200 and headers["content-type"] == "image/png"
    assert data == get(app, "/tiles/local/EPSG25832/3/1/2.png?origin=nw")[2]


def test_basemap_script_draws_land_and_sea(tmp_path: Path) -> None:
    """examples/make_basemap.py, which drew the quickstart's tile set, still runs and draws a world."""
    script = ROOT / "examples" / "make_basemap.py"
    subprocess.run(["python3", str(script), "--levels", "2", "--out", str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    tiles = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert tiles == ["0/0/0.png", "1/0/0.png", "1/0/1.png", "1/1/0.png", "1/1/1.png"]
    world = Image.open(tmp_path / "0" / "0" / "0.png").convert("RGB")
    assert world.size == (256, 256)
    land, sea = (242, 239, 233), (170, 211, 223)

    def at(lon: float, lat: float) -> tuple[int, int, int]:
        """land or sea, whichever colour the pixel is nearer (palette images shift colours a little)"""
        pixel = world.getpixel(grid_pixel(lon, lat))
        return min((land, sea), key=lambda c: sum((a - b) ** 2 for a, b in zip(c, pixel, strict=True)))

    assert at(20, 20) == land  # the Sahara
    assert at(-140, 0) == sea  # the Pacific
    assert at(-55, -10) == land  # the Amazon
    assert at(80, -30) == sea  # the Indian Ocean
    assert at(135, -25) == land  # Australia


def grid_pixel(lon: float, lat: float) -> tuple[int, int]:
    """Pixel of a lon/lat in the web mercator level 0 tile."""
    import math
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return int((lon + 180) / 360 * 256), int((1 - y / math.pi) / 2 * 256)
