"""The file cache: MapProxy's directory layouts and locations, existing caches,
meta tiles, formats and image options, disable_storage, single-colour links."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image
from support.configs import CACHE_DATA, layer, wms_cache_config
from support.source_server import COLORS
from support.wsgi import call

from tileproxy.grid import predefined_grid
from tileproxy.stores.layouts import level_dir, tile_path


def config(grid: str = "GLOBAL_WEBMERCATOR", meta_size: tuple[int, int] = (1, 1), meta_buffer: int = 0,
           cache_globals: dict | None = None, **cache_options: object) -> dict:
    """Layer ``map`` over ``map_cache`` (``cache_options``: more keys of it) over the
    WMS ``map_wms``; ``cache_globals`` are more keys of globals.cache."""
    return wms_cache_config(layer_name="map", title="Map", cache_name="map_cache", source_name="map_wms", grid=grid,
                            meta_size=meta_size, meta_buffer=meta_buffer, cache_options=cache_options,
                            globals={"cache": {**CACHE_DATA["cache"], **(cache_globals or {})}})


def files_under(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def png_bytes(color=(10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), color).save(buf, "PNG")
    return buf.getvalue()


LAYOUT_PATHS = {  # tile x=5, y=2, z=3 as stored (grid origin, no flipping)
    "tc": "03/000/000/005/000/000/002.png",
    "mp": "03/0000/0005/0000/0002.png",
    "tms": "3/5/2.png",
    "reverse_tms": "2/5/3.png",
    "quadkey": "121.png",
    "arcgis": "L03/R00000002/C00000005.png",
}


@pytest.mark.parametrize("layout", sorted(LAYOUT_PATHS))
def test_layout_paths_of_created_tiles(make_app, source, tmp_path, layout) -> None:
    app = make_app(config(cache={"directory_layout": layout}))
    answer = call(app, "/tiles/map/EPSG3857/3/5/2.png?origin=nw")
    assert answer.status == 200
    root = tmp_path / "cache_data" / "map_cache_EPSG3857"
    assert files_under(root) == [LAYOUT_PATHS[layout]]
    assert (root / LAYOUT_PATHS[layout]).read_bytes() == answer.body


def test_layout_formulas_for_large_coordinates() -> None:
    coord = (1234567, 7654321, 21)
    assert tile_path("tc", coord, "jpeg") == "21/001/234/567/007/654/321.jpeg"
    assert tile_path("mp", coord, "png") == "21/0123/4567/0765/4321.png"
    assert tile_path("tms", coord, "png") == "21/1234567/7654321.png"
    assert tile_path("reverse_tms", coord, "png") == "7654321/1234567/21.png"
    assert tile_path("arcgis", coord, "png") == "L21/R0074cbb1/C0012d687.png"
    assert tile_path("quadkey", (3, 5, 3), "png") == "213.png"
    assert tile_path("tc", (0, 0, 0), "png") == "00/000/000/000/000/000/000.png"


@pytest.mark.parametrize("layout", sorted(LAYOUT_PATHS))
def test_level_dir_holds_every_tile_of_its_level(layout) -> None:
    """What seeding cleanup removes and walks for a level: the first directory of its
    tiles' paths, or None where levels share directories."""
    for coord in ((0, 0, 3), (5, 2, 3), (1234567, 7654321, 21)):
        first, _, _ = tile_path(layout, coord, "png").partition("/")
        expected = first if layout in ("tc", "mp", "tms", "arcgis") else None
        assert level_dir(layout, coord[2]) == expected


@pytest.mark.parametrize("layout", sorted(LAYOUT_PATHS))
def test_existing_mapproxy_cache_is_served_unchanged(make_app, source, tmp_path, layout) -> None:
    # GLOBAL_MERCATOR counts rows from the south, and so does its cache on disk
    root = tmp_path / "cache_data" / "map_cache_EPSG900913"
    tiles = {}
    for i, coord in enumerate([(5, 2, 3), (0, 0, 1), (1, 1, 1)]):
        path = root / tile_path(layout, coord, "png")
        path.parent.mkdir(parents=True, exist_ok=True)
        tiles[coord] = png_bytes((i * 80, 100, 50))
        path.write_bytes(tiles[coord])
    before = {p: os.stat(root / p).st_mtime_ns for p in files_under(root)}
    app = make_app(config(grid="GLOBAL_MERCATOR", cache={"directory_layout": layout}))
    for (x, y, z), data in tiles.items():
        # /tiles with sw rows addresses the stored coordinates directly
        answer = call(app, f"/tiles/map/EPSG900913/{z}/{x}/{y}.png")
        assert answer.status == 200 and answer.body == data
        # TMS: the global-mercator profile starts one level down
        assert call(app, f"/tms/1.0.0/map/EPSG900913/{z - 1}/{x}/{y}.png").body == data
    assert source.count("wms") == 0
    assert {p: os.stat(root / p).st_mtime_ns for p in files_under(root)} == before


def test_cache_dir_base_dir_use_grid_names_and_directory(make_app, source, tmp_path) -> None:
    conf = config(cache_globals={"base_dir": "./base", "meta_size": [1, 1], "meta_buffer": 0})
    conf["caches"] = {
        "by_cache_dir": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["map_wms"], "cache_dir": "./elsewhere"},
        "by_grid_name": {"grids": ["GLOBAL_WEBMERCATOR", "GLOBAL_GEODETIC"], "sources": ["map_wms"],
                         "cache": {"use_grid_names": True}},
        "by_directory": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["map_wms"],
                         "cache": {"directory": "./exact/place", "directory_layout": "tms"}},
        **conf["caches"],
    }
    conf["layers"] += [layer(n, n, n) for n in ("by_cache_dir", "by_grid_name", "by_directory")]
    app = make_app(conf)
    for name in ("map", "by_cache_dir", "by_grid_name", "by_directory"):
        assert call(app, f"/tiles/{name}/EPSG3857/1/0/0.png?origin=nw").status == 200
    assert call(app, "/tiles/by_grid_name/EPSG4326/1/0/0.png").status == 200
    assert files_under(tmp_path / "base") == [
        "by_grid_name/GLOBAL_GEODETIC/01/000/000/000/000/000/000.png",
        "by_grid_name/GLOBAL_WEBMERCATOR/01/000/000/000/000/000/000.png",
        "map_cache_EPSG3857/01/000/000/000/000/000/000.png",
    ]
    assert files_under(tmp_path / "elsewhere") == ["by_cache_dir_EPSG3857/01/000/000/000/000/000/000.png"]
    assert files_under(tmp_path / "exact" / "place") == ["1/0/0.png"]


def test_meta_tile_is_one_request_with_buffer(make_app, source, tmp_path) -> None:
    app = make_app(config(meta_size=(2, 2), meta_buffer=10))
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    for x, y in ((2, 2), (3, 2), (2, 3), (3, 3)):
        assert call(app, f"/tiles/map/EPSG3857/3/{x}/{y}.png?origin=nw").status == 200
    assert source.count("wms") == 1
    params = source.params()
    assert (params["WIDTH"], params["HEIGHT"]) == ("532", "532")
    res = grid.resolution(3)
    tiles = grid.tiles_bbox([(2, 2, 3), (3, 3, 3)])
    buffered = (tiles[0] - 10 * res, tiles[1] - 10 * res, tiles[2] + 10 * res, tiles[3] + 10 * res)
    assert [float(v) for v in params["BBOX"].split(",")] == pytest.approx(buffered)
    assert len(files_under(tmp_path / "cache_data")) == 4


@pytest.mark.parametrize(("minimize", "requests"), [(True, 1), (False, 2)])
def test_minimize_meta_requests(make_app, source, minimize, requests) -> None:
    app = make_app(config(meta_size=(2, 2), minimize_meta_requests=minimize))
    manager = app.config.caches["map_cache"].managers["GLOBAL_WEBMERCATOR"]
    tiles = manager.load_tiles([(1, 2, 3), (2, 2, 3)])  # neighbours in two meta tiles
    assert all(t.data for t in tiles)
    assert source.count("wms") == requests
    if minimize:
        assert (source.params()["WIDTH"], source.params()["HEIGHT"]) == ("512", "256")


def test_jpeg_cache_from_png_source(make_app, source, tmp_path) -> None:
    app = make_app(config(format="image/jpeg", request_format="image/png"))
    answer = call(app, "/tiles/map/EPSG3857/2/1/1.jpeg?origin=nw")
    assert answer.status == 200 and answer.content_type == "image/jpeg"
    assert answer.body[:3] == b"\xff\xd8\xff"
    assert source.params()["FORMAT"] == "image/png"
    assert files_under(tmp_path / "cache_data") == ["map_cache_EPSG3857/02/000/000/001/000/000/001.jpeg"]
    assert call(app, "/tiles/map/EPSG3857/2/1/1.png?origin=nw").status == 404  # wrong extension


def test_image_options_mode_colors_transparent(make_app, source) -> None:
    # tiles cut from meta tiles are encoded with the cache's image options
    # (a single-tile source answer in the cache format is stored as it came)
    app = make_app(config(meta_size=(2, 2), image={"mode": "P", "colors": 4}))
    img = call(app, "/tiles/map/EPSG3857/3/2/2.png?origin=nw").image
    assert img.mode == "P" and len(img.getcolors()) <= 4
    app = make_app(config(meta_size=(2, 2), image={"mode": "RGBA", "transparent": True}))
    img = call(app, "/tiles/map/EPSG3857/3/4/4.png?origin=nw").image
    assert img.mode == "RGBA"
    app = make_app(config(meta_size=(2, 2), image={"mode": "RGB", "colors": 0}))
    img = call(app, "/tiles/map/EPSG3857/3/6/6.png?origin=nw").image
    assert img.mode == "RGB"


def test_jpeg_quality_shows_in_file_size(make_app, source) -> None:
    sizes = {}
    for quality in (10, 95):
        app = make_app(config(format="image/jpeg", request_format="image/png",
                              image={"encoding_options": {"jpeg_quality": quality}},
                              cache_globals={"base_dir": f"./cache_{quality}", "lock_dir": f"./locks{quality}"}))
        # a tile with a cell corner in it (the checkerboard is 1000 km)
        answer = call(app, "/tiles/map/EPSG3857/4/7/7.jpeg?origin=nw")
        assert answer.status == 200
        sizes[quality] = len(answer.body)
    assert sizes[10] * 1.5 < sizes[95]


def test_disable_storage_writes_nothing_and_asks_each_time(make_app, source, tmp_path) -> None:
    app = make_app(config(disable_storage=True))
    for _ in range(3):
        answer = call(app, "/tiles/map/EPSG3857/2/1/1.png?origin=nw")
        assert answer.status == 200
    assert source.count("wms") == 3
    assert not (tmp_path / "cache_data").exists() or files_under(tmp_path / "cache_data") == []


def test_link_single_color_images(make_app, source, tmp_path) -> None:
    app = make_app(config(meta_size=(2, 1), link_single_color_images=True))
    # z=7 tiles are 313 km wide: tiles 64, 65 in row 20 lie inside one 1000 km cell
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    for x in (64, 65):
        answer = call(app, f"/tiles/map/EPSG3857/7/{x}/20.png?origin=nw")
        assert answer.status == 200
        assert len(answer.image.convert("RGB").getcolors()) == 1
    root = tmp_path / "cache_data" / "map_cache_EPSG3857"
    bbox = grid.tile_bbox((64, 20, 7))
    from support.source_server import expected_color

    color = expected_color((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2)
    assert color in COLORS
    target = root / "single_color_tiles" / ("".join(f"{c:02x}" for c in color) + ".png")
    assert target.is_file()
    for x in (64, 65):
        tile = root / tile_path("tc", (x, 20, 7), "png")
        assert tile.is_symlink()
        assert not os.path.isabs(os.readlink(tile))
        assert tile.resolve() == target.resolve()
    # served from the link
    assert call(app, "/tiles/map/EPSG3857/7/64/20.png?origin=nw").body == target.read_bytes()
    assert source.count("wms") == 1
