"""Coverages from MapProxy's coverage options."""

from __future__ import annotations

import json

import pytest

from tileproxy.coverage import CoverageError, load_coverage
from tileproxy.srs import get_srs

MERC = get_srs("EPSG:3857")


def test_bbox_in_another_srs():
    cov = load_coverage({"bbox": [5, 45, 15, 55], "srs": "EPSG:4326"})
    assert cov.contains((6, 46, 7, 47))
    assert not cov.contains((4, 46, 7, 47))
    assert cov.intersects((1_000_000, 6_000_000, 1_200_000, 6_200_000), MERC)  # around 10E 48N
    assert not cov.intersects((0, 0, 100_000, 100_000), MERC)
    assert not cov.intersects((15, 45, 16, 55))  # touching edges do not count


def test_bbox_as_string_and_legacy_keys():
    assert load_coverage({"bbox": "0,0,10,10", "bbox_srs": "EPSG:4326"}).contains((1, 1, 2, 2))
    assert load_coverage({"datasource": "0,0,10,10", "srs": "EPSG:4326"}).contains((1, 1, 2, 2))
    assert load_coverage({"datasource": [0, 0, 10, 10], "srs": "EPSG:4326"}).contains((1, 1, 2, 2))


def test_wkt_and_geojson_files(tmp_path):
    (tmp_path / "area.wkt").write_text("POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))\nPOLYGON((20 0, 30 0, 30 10, 20 10, 20 0))\n")
    cov = load_coverage({"datasource": "area.wkt", "srs": "EPSG:4326"}, str(tmp_path))
    assert cov.intersects((25, 5, 26, 6)) and not cov.intersects((12, 5, 18, 6))
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 0]]]}}]}
    (tmp_path / "area.geojson").write_text(json.dumps(doc))
    cov = load_coverage({"datasource": "area.geojson"}, str(tmp_path))  # GeoJSON defaults to lon/lat
    assert cov.srs == get_srs("EPSG:4326")
    assert cov.intersects((8, 1, 9, 2)) and not cov.intersects((1, 8, 2, 9))
    legacy = load_coverage({"polygons": "area.wkt", "polygons_srs": "EPSG:4326"}, str(tmp_path))
    assert legacy.intersects((25, 5, 26, 6))


def test_inline_geometry_and_set_operations():
    a = {"bbox": [0, 0, 10, 10], "srs": "EPSG:4326"}
    hole = {"geometry": "POLYGON((2 2, 8 2, 8 8, 2 8, 2 2))", "srs": "EPSG:4326"}
    diff = load_coverage({"difference": [a, hole]})
    assert not diff.intersects((3, 3, 4, 4)) and diff.intersects((0.5, 0.5, 1, 1))
    inter = load_coverage({"intersection": [a, {"bbox": [5, 5, 20, 20], "srs": "EPSG:4326"}]})
    assert inter.bbox == (5, 5, 10, 10)
    union = load_coverage({"union": [a, {"union": [{"bbox": [20, 0, 30, 10], "srs": "EPSG:4326"}]}]})
    assert union.intersects((25, 5, 26, 6)) and not union.intersects((12, 5, 18, 6))
    # members in different SRSs meet in the first member's SRS
    mixed = load_coverage({"union": [a, {"bbox": [2_000_000, 0, 3_000_000, 1_000_000], "srs": "EPSG:3857"}]})
    assert mixed.intersects((20, 1, 21, 2))


def test_expire_tiles(tmp_path):
    (tmp_path / "expired.txt").write_text("1/0/0\n1/1/1\n")
    cov = load_coverage({"expire_tiles": "expired.txt"}, str(tmp_path))
    assert cov.intersects((-10_000_000, 10_000_000, -9_000_000, 11_000_000), MERC)  # north-west quarter
    assert not cov.intersects((-10_000_000, -11_000_000, -9_000_000, -10_000_000), MERC)  # south-west


@pytest.mark.parametrize("conf, path, message", [
    ({"bbox": [0, 0, 10], "srs": "EPSG:4326"}, "coverage.bbox", "four numbers"),
    ({"bbox": [0, 0, 10, 10]}, "coverage", "srs"),
    ({"bbox": [0, 0, 10, 10], "srs": "EPSG:999999"}, "coverage.srs", "unknown SRS"),
    ({"datasource": "nope.wkt", "srs": "EPSG:4326"}, "coverage.datasource", "not found"),
    ({"union": []}, "coverage.union", "list"),
    ({"geometry": "POINT(1 1)", "srs": "EPSG:4326"}, "coverage.geometry", "no polygons"),
    ({"srs": "EPSG:4326"}, "coverage", "needs one of"),
])
def test_errors_name_the_key(conf, path, message, tmp_path):
    with pytest.raises(CoverageError) as info:
        load_coverage(conf, str(tmp_path))
    assert info.value.path == path and message in str(info.value)


def test_rectangular_coverages_answer_as_the_geometry_does():
    """A bbox coverage (and a lon/lat box seen in Mercator, still a rectangle there)
    answers from its bounds; the answers equal shapely's for boxes that cross, touch,
    hold or miss it. A triangle of the same bounds still asks the geometry."""
    import random

    from shapely.geometry import box

    merc = get_srs("EPSG:3857")
    lonlat = load_coverage({"bbox": [5, 47, 15, 55], "srs": "EPSG:4326"})
    for cov in (load_coverage({"bbox": [0, 0, 100, 50], "srs": "EPSG:3857"}), lonlat.transform_to(merc)):
        assert cov._rectangle
        minx, miny, maxx, maxy = cov.bbox
        w, h = maxx - minx, maxy - miny
        rnd = random.Random(7)
        edges_x = [minx - w, minx, minx + w / 3, maxx, maxx + w]
        edges_y = [miny - h, miny, miny + h / 3, maxy, maxy + h]
        boxes = [(x0, y0, x1, y1) for x0 in edges_x for x1 in edges_x if x1 > x0
                 for y0 in edges_y for y1 in edges_y if y1 > y0]
        boxes += [tuple(sorted(rnd.uniform(minx - w, maxx + w) for _ in "ab")) for _ in range(50)]
        boxes = [b if len(b) == 4 else (b[0], miny + h / 2, b[1], miny + h / 2 + 1) for b in boxes]
        for b in boxes:
            g = box(*b)
            assert cov.intersects(b) == (cov.geom.intersects(g) and not cov.geom.touches(g)), b
            assert cov.contains(b) == cov.geom.covers(g), b
    triangle = load_coverage({"geometry": "POLYGON((0 0, 100 0, 0 50, 0 0))", "srs": "EPSG:3857"})
    assert not triangle._rectangle
    assert not triangle.intersects((90, 40, 100, 50))  # inside the bounds, outside the triangle
    assert triangle.intersects((0, 0, 10, 10)) and triangle.contains((0, 0, 10, 10))
