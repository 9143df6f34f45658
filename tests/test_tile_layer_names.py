"""How TMS, /tiles and KML name and find tile layers, and which layers they
publish: the rules MapProxy's URLs depend on."""

from __future__ import annotations

import pytest
from lxml import etree
from support.configs import cache, layer, wms_source
from support.wsgi import call

CONFIG = {
    "services": {"tms": None, "kml": None},
    "layers": [
        layer("both", "Both", "both_cache"),
        layer("web", "Web only", "web_cache"),
        layer("twice", "Two grids in one SRS", "utm_cache"),
        {"name": "none", "title": "No tiles", "tile_sources": [], "sources": ["web_cache"]},
        layer("with_info", "Cache and a feature info source", "web_cache", "info"),
        layer("with_wms", "Cache and a WMS", "web_cache", "wms"),
        {
            "name": "group",
            "title": "Group",
            "sources": ["web_cache"],
            "layers": [{"name": "child", "title": "Child", "sources": ["web_cache"]}],
        },
    ],
    "caches": {
        "both_cache": {"grids": ["GLOBAL_GEODETIC", "GLOBAL_MERCATOR"], "sources": ["wms"]},
        "web_cache": cache("wms", meta_size=None),
        "utm_cache": {"grids": ["utm_coarse", "utm_fine"], "sources": ["wms"], "format": "image/jpeg"},
    },
    "grids": {
        "utm_coarse": {"srs": "EPSG:25832", "bbox": [280000, 5200000, 920000, 6100000], "res": [4000, 2000]},
        "utm_fine": {"srs": "EPSG:25832", "bbox": [280000, 5200000, 920000, 6100000], "res": [1000, 500, 250]},
    },
    "sources": {"wms": wms_source(), "info": wms_source(wms_opts={"map": False, "featureinfo": True})},
    "globals": {"cache": {"base_dir": "./cache_data", "meta_size": [1, 1], "meta_buffer": 0}},
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def xml(answer) -> etree._Element:
    assert answer.status == 200, answer.body
    return etree.fromstring(answer.body)


def srs_asked(source) -> str:
    return source.params()["SRS"]


def test_capabilities_list_what_mapproxy_publishes(app) -> None:
    caps = xml(call(app, "/tms/1.0.0/"))
    paths = [m.get("href").split("/1.0.0/")[1] for m in caps.iter("TileMap")]
    # children before their group; one entry for the two EPSG:25832 grids; no
    # tiles for tile_sources: [] or a second map source, a feature-info-only
    # source beside the cache is passed over
    assert paths == ["both/EPSG4326", "both/EPSG900913", "web/EPSG3857", "twice/EPSG25832",
                     "with_info/EPSG3857", "child/EPSG3857", "group/EPSG3857"]


def test_a_bare_layer_name_prefers_mercator_in_tms_and_geodetic_in_kml(app, source) -> None:
    assert call(app, "/tms/1.0.0/both/0/0/0.png").status == 200
    assert srs_asked(source) == "EPSG:900913"
    assert call(app, "/tiles/both/0/0/0.png").status == 200
    assert srs_asked(source) == "EPSG:900913"
    doc = call(app, "/kml/both")
    assert doc.status == 200 and b"/kml/both/EPSG4326/1/0/0.kml" in doc.body
    # a layer in neither SRS needs its grid part
    answer = call(app, "/tms/1.0.0/web/0/0/0.png")
    assert answer.status == 404 and b"unknown layer: web" in answer.body
    assert call(app, "/tms/1.0.0/web/EPSG3857/0/0/0.png").status == 200


@pytest.mark.parametrize("path", ["/tms/1.0.0/both/EPSG4326/0/1/0.png", "/tms/1.0.0/both_EPSG4326/0/1/0.png"])
def test_layer_and_grid_joined_or_apart(app, source, path) -> None:
    assert call(app, path).status == 200
    assert srs_asked(source) == "EPSG:4326"


def test_the_later_grid_of_one_srs_answers(app, source) -> None:
    tile_map = xml(call(app, "/tms/1.0.0/twice/EPSG25832"))
    res = [float(t.get("units-per-pixel")) for t in tile_map.iter("TileSet")]
    assert res == [1000, 500, 250]
    assert call(app, "/tms/1.0.0/twice/EPSG25832/2/0/0.jpeg").status == 200
    bbox = [float(v) for v in source.params()["BBOX"].split(",")]
    assert bbox == pytest.approx([280000, 5200000, 280000 + 64000, 5200000 + 64000])


def test_tile_map_documents_for_layers_without_grid_part(app) -> None:
    doc = xml(call(app, "/tms/1.0.0/both"))
    assert doc.findtext("SRS") == "OSGEO:41001"
    assert doc.find("TileSets/TileSet").get("href") == "http://localhost/tms/1.0.0/both/0"
    assert call(app, "/tms/1.0.0/nope").status == 404


HAND_MADE = {
    "services": {"tms": None},
    "layers": [
        layer("near", "Near the world", "near_cache"),
        layer("exact", "Exactly the world", "exact_cache"),
    ],
    "caches": {
        "near_cache": cache("wms", grid="near", meta_size=None),
        "exact_cache": cache("wms", grid="exact", meta_size=None),
    },
    "grids": {
        "near": {
            "srs": "EPSG:3857",
            "bbox": [-20037508.34, -20037508.34, 20037508.34, 20037508.34],
            "res": [156543.03392804097, 78271.51696402048, 39135.75848201024],
        },
        "exact": {
            "srs": "EPSG:3857",
            "bbox": [-20037508.342789244, -20037508.342789244, 20037508.342789244, 20037508.342789244],
            "res": [156543.03392804097, 78271.51696402048, 39135.75848201024],
        },
    },
    "sources": {"wms": wms_source()},
    "globals": {"cache": {"base_dir": "./cache_data", "meta_size": [1, 1], "meta_buffer": 0}},
}


def test_only_the_exact_world_bbox_makes_a_global_profile(make_app, source) -> None:
    """A hand-made mercator grid whose bbox is close to the world's is a local grid:
    TMS level 0 is its first level, as the client URLs written for MapProxy expect."""
    app = make_app(HAND_MADE)
    caps = xml(call(app, "/tms/1.0.0/"))
    profiles = {m.get("href").split("/1.0.0/")[1]: (m.get("profile"), m.get("srs")) for m in caps.iter("TileMap")}
    assert profiles == {"near/EPSG3857": ("local", "EPSG:3857"), "exact/EPSG3857": ("global-mercator", "OSGEO:41001")}
    near = xml(call(app, "/tms/1.0.0/near/EPSG3857"))
    assert [t.get("units-per-pixel") for t in near.iter("TileSet")] == [
        "156543.03392804097", "78271.51696402048", "39135.75848201024"]
    assert call(app, "/tms/1.0.0/near/EPSG3857/0/0/0.png").status == 200
    assert source.params()["WIDTH"] == "256"
    bbox = [float(v) for v in source.params()["BBOX"].split(",")]
    assert bbox == pytest.approx([-20037508.34, -20037508.34, 20037508.34, 20037508.34], abs=1)
    exact = xml(call(app, "/tms/1.0.0/exact/EPSG3857"))
    assert len(list(exact.iter("TileSet"))) == 2  # level 0 (one tile) is not published
    assert call(app, "/tms/1.0.0/exact/EPSG3857/0/0/0.png").status == 200
    bbox = [float(v) for v in source.params()["BBOX"].split(",")]
    assert bbox == pytest.approx([-20037508.342789244, -20037508.342789244, 0, 0], abs=1)
