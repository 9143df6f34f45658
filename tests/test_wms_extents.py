"""Layer extents and resolution ranges in WMS capabilities: they follow the
coverages of sources and caches (through caches, merged over groups) the way
MapProxy advertises them, so clients zoom to the same places."""

from __future__ import annotations

import math

import pytest
from lxml import etree
from support.configs import cache, layer, wms_source
from support.wsgi import call

NS = {"wms": "http://www.opengis.net/wms"}

CONFIG = {
    "services": {
        "wms": {
            "srs": ["EPSG:4326", "EPSG:3857", "EPSG:25832", "EPSG:31467"],
            "bbox_srs": [
                "EPSG:4326",
                "EPSG:3857",
                {"srs": "EPSG:31467", "bbox": [3200000, 5200000, 3700000, 6100000]},
            ],
            "md": {"title": "Extents"},
        },
    },
    "layers": [
        layer("germany", "Source with a coverage", "de_wms"),
        layer("cached", "Cache of a covered source", "de_cache"),
        {"name": "group", "title": "Two areas",
         "layers": [layer("west", "West", "west_wms"), layer("east", "East", "east_wms")]},
        layer("world", "No coverage anywhere", "plain_wms"),
        {"name": "tiles_only", "title": "Published as tiles only", "tile_sources": ["de_cache"]},
    ],
    "caches": {"de_cache": cache("de_wms", meta_size=None)},
    "sources": {
        "de_wms": wms_source(min_res=5000, max_res=10, coverage={"bbox": [5, 47, 15, 55], "srs": "EPSG:4326"}),
        "west_wms": wms_source(coverage={"bbox": [300000, 5300000, 500000, 5500000], "srs": "EPSG:25832"}),
        "east_wms": wms_source(coverage={"bbox": [12.5, 50, 14.5, 51.5], "srs": "EPSG:4326"}),
        "plain_wms": wms_source(),
    },
    "globals": {"cache": {"base_dir": "./cache_data"}},
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def capabilities(app, version: str) -> etree._Element:
    key = "WMTVER" if version == "1.0.0" else "VERSION"
    answer = call(app, f"/service?SERVICE=WMS&REQUEST=GetCapabilities&{key}={version}")
    assert answer.status == 200
    return etree.fromstring(answer.body, etree.XMLParser(load_dtd=False, no_network=True))


def layers_111(doc: etree._Element) -> dict[str | None, etree._Element]:
    return {lyr.findtext("Name"): lyr for lyr in doc.iter("Layer")}


def boxes(layer: etree._Element, attr: str = "SRS") -> dict[str, list[float]]:
    return {b.get(attr): [float(b.get(k)) for k in ("minx", "miny", "maxx", "maxy")]
            for b in layer.findall("{*}BoundingBox")}


def test_source_coverage_is_the_layer_extent(app) -> None:
    germany = layers_111(capabilities(app, "1.1.1"))["germany"]
    llbox = germany.find("LatLonBoundingBox")
    # whole numbers from the configuration are written as they were configured
    assert [llbox.get(k) for k in ("minx", "miny", "maxx", "maxy")] == ["5", "47", "15", "55"]
    found = boxes(germany)
    assert found["EPSG:4326"] == [5, 47, 15, 55]
    assert found["EPSG:3857"] == pytest.approx([556597.4539, 5942074.0724, 1669792.3618, 7361866.1130])
    # an explicit bbox_srs bbox is cut to the layer's extent (in lon/lat) before it is transformed
    assert found["EPSG:31467"] == pytest.approx([3195869.7697, 5206899.4627, 3737657.4043, 6104110.4320])
    assert "EPSG:25832" not in found  # not a bbox_srs


def test_cache_extent_comes_from_its_sources(app) -> None:
    cached = layers_111(capabilities(app, "1.1.1"))["cached"]
    assert boxes(cached)["EPSG:4326"] == [5, 47, 15, 55]


def test_group_extent_merges_children_and_lists_native_srs(app) -> None:
    layers = layers_111(capabilities(app, "1.1.1"))
    west = boxes(layers["west"])
    # the coverage's own SRS is offered by the service: its bbox as configured
    assert west["EPSG:25832"] == [300000, 5300000, 500000, 5500000]
    group = layers["group"].find("LatLonBoundingBox")
    west_ll = layers["west"].find("LatLonBoundingBox")
    assert float(group.get("minx")) == pytest.approx(float(west_ll.get("minx")))
    assert float(group.get("maxx")) == 14.5 and float(group.get("maxy")) == 51.5
    assert float(group.get("miny")) == pytest.approx(float(west_ll.get("miny")))


def test_world_layer_and_root(app) -> None:
    doc = capabilities(app, "1.1.1")
    world = layers_111(doc)["world"]
    llbox = [float(world.find("LatLonBoundingBox").get(k)) for k in ("minx", "miny", "maxx", "maxy")]
    assert llbox == [-180, -89.999999, 180, 89.999999]  # clients choke on the poles
    found = boxes(world)
    assert found["EPSG:31467"] == [3200000, 5200000, 3700000, 6100000]  # no coverage: the configured bbox
    assert found["EPSG:3857"] == pytest.approx([-20037508.342789244, -20037508.342789244,
                                                20037508.342789244, 20037508.342789244])
    assert "tiles_only" not in layers_111(doc)  # tile_sources only: no WMS layer


def test_130_axis_order_and_scale_denominators(app) -> None:
    doc = capabilities(app, "1.3.0")
    layers = {lyr.findtext("wms:Name", namespaces=NS): lyr for lyr in doc.iter("{http://www.opengis.net/wms}Layer")}
    found = boxes(layers["germany"], "CRS")
    assert found["EPSG:4326"] == [47, 5, 55, 15]  # latitude first
    for name in ("germany", "cached"):  # the source's resolution range, also through the cache
        assert float(layers[name].findtext("wms:MinScaleDenominator", namespaces=NS)) == pytest.approx(10 / 0.00028)
        assert float(layers[name].findtext("wms:MaxScaleDenominator", namespaces=NS)) == pytest.approx(5000 / 0.00028)
    assert layers["world"].find("wms:MinScaleDenominator", NS) is None


def test_111_scale_hint_from_the_source(app) -> None:
    hint = layers_111(capabilities(app, "1.1.1"))["cached"].find("ScaleHint")
    assert float(hint.get("min")) == pytest.approx(10 * math.sqrt(2))
    assert float(hint.get("max")) == pytest.approx(5000 * math.sqrt(2))


def test_110_lists_all_srs_in_one_element(app) -> None:
    root = capabilities(app, "1.1.0").find("Capability/Layer")
    assert [e.text for e in root.findall("SRS")] == ["EPSG:4326 EPSG:3857 EPSG:25832 EPSG:31467"]


def test_getmap_outside_the_source_resolutions_draws_nothing(app, source) -> None:
    # 0.5 degrees per pixel are ~55 km: coarser than the source's min_res of 5 km
    answer = call(app, "/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=germany&STYLES=&SRS=EPSG:4326"
                       "&BBOX=0,40,20,60&WIDTH=40&HEIGHT=40&FORMAT=image/png&TRANSPARENT=true")
    assert answer.status == 200 and answer.content_type == "image/png"
    assert answer.image.convert("RGBA").getextrema()[3] == (0, 0)
    assert source.count("wms") == 0
