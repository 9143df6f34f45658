"""Grids: MapProxy's grid options, predefined grids, SRS axis order."""

from __future__ import annotations

import math

import pytest
from support.configs import layer, write_config

from tileproxy.config.build import load_proxy_config
from tileproxy.config.errors import ConfigError
from tileproxy.grid import MetaGrid, predefined_grid
from tileproxy.srs import MERCATOR_EXTENT, get_srs

MERC_RES0 = 156543.03392804097


def grids_from(tmp_path, grids: dict) -> dict:
    return load_proxy_config(write_config(tmp_path / "mapproxy.yaml", {"grids": grids})).grids


@pytest.mark.parametrize("name", ["GLOBAL_MERCATOR", "GLOBAL_WEBMERCATOR"])
def test_global_mercator_grids(name) -> None:
    grid = predefined_grid(name)
    assert grid.levels == 20
    assert grid.bbox == (-MERCATOR_EXTENT, -MERCATOR_EXTENT, MERCATOR_EXTENT, MERCATOR_EXTENT)
    for z in range(20):
        assert math.isclose(grid.resolution(z), MERC_RES0 / 2**z, rel_tol=1e-12)
        assert grid.grid_sizes[z] == (2**z, 2**z)
    assert grid.origin == ("nw" if name == "GLOBAL_WEBMERCATOR" else "sw")
    assert grid.srs.code == ("EPSG:3857" if name == "GLOBAL_WEBMERCATOR" else "EPSG:900913")


def test_global_geodetic_grid() -> None:
    grid = predefined_grid("GLOBAL_GEODETIC")
    assert grid.levels == 20 and grid.origin == "sw"
    assert grid.bbox == (-180.0, -90.0, 180.0, 90.0)
    assert grid.resolution(0) == 1.40625
    assert grid.grid_sizes[0] == (1, 1)
    for z in range(1, 20):
        assert grid.resolution(z) == 1.40625 / 2**z
        assert grid.grid_sizes[z] == (2**z, 2 ** (z - 1))
    # level 0 is one tile whose lower half lies south of -90
    assert grid.tile_bbox((0, 0, 0)) == (-180.0, -90.0, 180.0, 270.0)


def test_tile_bbox_by_origin() -> None:
    merc, web = predefined_grid("GLOBAL_MERCATOR"), predefined_grid("GLOBAL_WEBMERCATOR")
    nw_tile = (-MERCATOR_EXTENT, MERCATOR_EXTENT / 2, -MERCATOR_EXTENT / 2, MERCATOR_EXTENT)
    # the north-west z=2 tile: y=3 counted from the south, y=0 from the north
    assert merc.tile_bbox((0, 3, 2)) == pytest.approx(nw_tile)
    assert web.tile_bbox((0, 0, 2)) == pytest.approx(nw_tile)
    assert web.flip_y(0, 2) == 3


def test_user_grid_options(tmp_path) -> None:
    grids = grids_from(tmp_path, {
        "res_list": {
            "srs": "EPSG:25832",
            "bbox": [200000, 5000000, 1000000, 6000000],
            "res": [1000, 250, 500],
            "origin": "ul",
            "tile_size": [512, 256],
        },
        "factor": {"srs": "EPSG:3857", "res_factor": 3, "num_levels": 4, "origin": "ll"},
        "sqrt2": {"srs": "EPSG:3857", "res_factor": "sqrt2"},
        "minmax": {"srs": "EPSG:3857", "min_res": 10000, "max_res": 10},
        "minmax_exact": {"srs": "EPSG:3857", "min_res": 1000, "max_res": 250},
        "minmax_levels": {"srs": "EPSG:3857", "min_res": 10000, "max_res": 10, "num_levels": 4},
        "bbox_in_wgs84": {
            "srs": "EPSG:3857",
            "bbox": [5, 45, 15, 55],
            "bbox_srs": "EPSG:4326",
            "origin": "nw",
        },
        "derived": {
            "base": "factor",
            "num_levels": 2,
            "stretch_factor": 1.3,
            "max_shrink_factor": 2.5,
            "threshold_res": [100000],
        },
    })
    g = grids["res_list"]
    assert g.resolutions == [1000.0, 500.0, 250.0]
    assert g.origin == "nw" and g.tile_size == (512, 256)
    assert g.srs.code == "EPSG:25832"
    # 800 km / (1000 m * 512 px) -> 2 columns, 1000 km / (1000 m * 256) -> 4 rows
    assert g.grid_sizes[0] == (2, 4)

    g = grids["factor"]
    assert g.origin == "sw" and g.levels == 4
    assert g.resolutions == pytest.approx([MERC_RES0 / 3**i for i in range(4)])

    g = grids["sqrt2"]
    assert g.levels == 40
    assert g.resolution(2) == pytest.approx(MERC_RES0 / 2)
    assert g.resolution(1) == pytest.approx(MERC_RES0 / math.sqrt(2))

    g = grids["minmax"]
    assert g.resolution(0) == 10000 and g.resolutions[-1] >= 10
    assert g.resolutions == pytest.approx([10000 / 2**i for i in range(len(g.resolutions))])
    assert g.resolutions[-1] / 2 < 10

    g = grids["minmax_exact"]  # MapProxy stops before a level of exactly max_res
    assert g.resolutions == [1000, 500]

    g = grids["minmax_levels"]  # log spacing between min_res and max_res
    assert g.resolutions == pytest.approx([10000, 1000, 100, 10])

    g = grids["bbox_in_wgs84"]
    ((x0, y0), (x1, y1)) = get_srs("EPSG:4326").transform_to(get_srs("EPSG:3857"), [(5, 45), (15, 55)])
    assert g.bbox == pytest.approx((x0, y0, x1, y1))
    assert g.origin == "nw"

    g = grids["derived"]
    assert g.levels == 2 and g.origin == "sw" and g.srs.code == "EPSG:3857"
    assert g.stretch_factor == 1.3 and g.max_shrink_factor == 2.5
    assert g.threshold_res == [100000]


def test_grid_based_on_predefined_grid(tmp_path) -> None:
    g = grids_from(tmp_path, {"webmerc_small": {"base": "GLOBAL_WEBMERCATOR", "num_levels": 3}})["webmerc_small"]
    assert g.levels == 3 and g.origin == "nw" and g.resolution(0) == pytest.approx(MERC_RES0)


def test_grid_option_errors(tmp_path) -> None:
    path = tmp_path / "mapproxy.yaml"
    for grids, expected in [
        ({"g": {"srs": "EPSG:3857", "origin": "middle"}}, "grids.g: unknown origin 'middle'"),
        ({"g": {"srs": "EPSG:3857", "res_factor": 1}}, "grids.g: res_factor must be greater than 1"),
        ({"g": {"srs": "EPSG:3857", "bbox": [1, 1, 0, 0]}}, "grids.g: bbox [1.0, 1.0, 0.0, 0.0] is empty"),
        ({"g": {"srs": "EPSG:3857", "bbox": [1, 2, 3]}}, "grids.g.bbox: expected four numbers"),
        ({"g": {"base": "b"}, "b": {"base": "g"}}, "grids inherit from each other in a loop"),
    ]:
        # a layer's cache uses the grid: errors in grids nobody uses only warn
        write_config(path, {"layers": [layer("l", "L", "c")], "caches": {"c": {"grids": ["g"], "sources": []}},
                            "grids": grids})
        with pytest.raises(ConfigError) as info:
            load_proxy_config(path)
        assert expected in str(info.value), grids


def test_closest_level_as_mapproxy_documents_it() -> None:
    # the example in MapProxy's TileGrid.closest_level docstring
    grid = predefined_grid("GLOBAL_MERCATOR")
    grid.stretch_factor = 1.1
    l1 = grid.resolution(1)
    requests = (320000.0, 160000.0, l1 + 50, l1, l1 - 50, l1 * 0.91, l1 * 0.89, 8000.0)
    assert [grid.closest_level(r) for r in requests] == [0, 0, 1, 1, 1, 1, 2, 5]


def test_closest_level_stretch_and_threshold() -> None:
    from tileproxy.grid import build_grid

    plain = build_grid(srs="EPSG:3857", res=[1000, 500, 250])
    assert plain.closest_level(1000) == 0
    assert plain.closest_level(800) == 1  # 800 * 1.15 < 1000
    assert plain.closest_level(870) == 0  # within the stretch factor of level 0
    assert plain.closest_level(10) == 2
    stretched = build_grid(srs="EPSG:3857", res=[1000, 500, 250], stretch_factor=1.3)
    assert stretched.closest_level(800) == 0
    threshold = build_grid(srs="EPSG:3857", res=[1000, 500, 250], threshold_res=[700])
    assert threshold.closest_level(800) == 0  # coarser than the threshold: level 0
    assert threshold.closest_level(650) == 1
    # two thresholds, one between each pair of levels
    two = build_grid(srs="EPSG:3857", res=[1000, 500, 250], threshold_res=[300, 900])
    assert two.closest_level(950) == 0 and two.closest_level(880) == 1
    assert two.closest_level(310) == 1 and two.closest_level(290) == 2
    # a threshold coarser than level 0 is ignored
    assert build_grid(srs="EPSG:3857", res=[1000, 500], threshold_res=[5000]).closest_level(800) == 1


@pytest.mark.parametrize(
    ("code", "ne", "latlong"),
    [("EPSG:4326", True, True), ("EPSG:31468", True, False), ("EPSG:25832", False, False),
     ("EPSG:3857", False, False), ("EPSG:900913", False, False), ("EPSG:4258", True, True),
     ("CRS:84", False, True), ("EPSG:2056", False, False), ("EPSG:3035", True, False)],
)
def test_srs_axis_order(code, ne, latlong) -> None:
    srs = get_srs(code)
    assert srs.is_axis_order_ne is ne
    assert srs.is_latlong is latlong


def test_srs_equality_and_transform() -> None:
    assert get_srs("EPSG:900913") == get_srs("EPSG:3857") == get_srs("epsg:3857")
    assert get_srs("EPSG:4326") != get_srs("EPSG:3857")
    # coordinates are always handled x=east, y=north, whatever the official order
    ((x, y),) = get_srs("EPSG:4326").transform_to(get_srs("EPSG:31468"), [(12.0, 48.0)])
    assert 4_400_000 < x < 4_600_000 and 5_300_000 < y < 5_400_000


def test_meta_grid_buffer_and_clipping() -> None:
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    meta = MetaGrid(grid, (2, 2), 10).meta_tile((5, 6, 3))
    assert sorted(meta.coords) == [(4, 6, 3), (4, 7, 3), (5, 6, 3), (5, 7, 3)]
    res = grid.resolution(3)
    tiles = grid.tiles_bbox(meta.coords)
    # the buffer extends west, east and north, but not south of the grid
    assert meta.bbox == pytest.approx((tiles[0] - 10 * res, tiles[1], tiles[2] + 10 * res, tiles[3] + 10 * res))
    assert meta.size == (532, 522)
    assert dict(meta.tiles)[(4, 6, 3)] == (10, 10, 266, 266)


def test_grid_bbox_from_bbox_srs_is_mapproxys_to_the_digit() -> None:
    """A grid given with bbox_srs samples the bbox edges as MapProxy does (five points
    per edge), so its tiles are the tiles of an existing MapProxy cache."""
    from tileproxy.grid import build_grid

    grid = build_grid(srs="EPSG:25832", bbox=[5, 50, 10, 55], bbox_srs="EPSG:4326", num_levels=12)
    # MapProxy 7's numbers for this grid (a denser sampling gives a lower miny: 5538632.57)
    assert grid.bbox == pytest.approx((213372.04896120238, 5538660.646209965, 571666.4475041275, 6102110.745470324),
                                      rel=1e-12)
    assert grid.tile_bbox((2, 2, 4)) == pytest.approx(
        (283803.31136874715, 5609091.90861751, 319018.94257251953, 5644307.539821283), rel=1e-12)
