"""Coverages from OGR data sources (shapefiles, GeoPackage features) with ``where``
filters, read with the optional pyogrio as MapProxy reads them through OGR."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point, box
from support.configs import cache, layer, wms_source, write_config
from support.wsgi import call

from tileproxy.config.build import load_proxy_config
from tileproxy.config.errors import ConfigError
from tileproxy.coverage import CoverageError, load_coverage
from tileproxy.seed.config import load_seed_config
from tileproxy.srs import get_srs

pyogrio = pytest.importorskip("pyogrio")
np = pytest.importorskip("numpy")

# three states in lon/lat: the where filters below pick some of them
STATES = {"north": box(8, 53, 10, 55), "middle": box(8, 50, 10, 52), "south": box(10, 47, 13, 49)}


def write_features(path: Path, driver: str, geoms: dict, layer: str | None = None) -> Path:
    names = list(geoms)
    wkbs = np.array([shapely.to_wkb(geoms[n]) for n in names], dtype=object)
    fields = [np.array(names, dtype=object), np.arange(1, len(names) + 1, dtype="int32")]
    kinds = {g.geom_type for g in geoms.values()}
    pyogrio.raw.write(str(path), wkbs, fields, ["name", "rank"], driver=driver, crs="EPSG:4326", layer=layer,
                      geometry_type=kinds.pop() if len(kinds) == 1 else "Unknown")
    return path


def coverage(tmp_path: Path, conf: dict, warnings: list | None = None):  # noqa: ANN201
    return load_coverage(conf, str(tmp_path), "coverages.c", warn=lambda p, m: warnings.append(f"{p}: {m}")
                         if warnings is not None else None)


def test_a_shapefile_with_a_where_filter(tmp_path: Path) -> None:
    write_features(tmp_path / "states.shp", "ESRI Shapefile", STATES)
    cov = coverage(tmp_path, {"datasource": "states.shp", "where": "name = 'south'", "srs": "EPSG:4326"})
    assert cov.srs.code == "EPSG:4326" and cov.geom.equals(STATES["south"])
    every = coverage(tmp_path, {"datasource": "states.shp", "srs": "EPSG:4326"})
    assert every.geom.equals(shapely.union_all(list(STATES.values())))


def test_geopackage_features_the_legacy_keys_and_a_select(tmp_path: Path) -> None:
    write_features(tmp_path / "states.gpkg", "GPKG", STATES, layer="states")
    legacy = coverage(tmp_path, {"ogr_datasource": "states.gpkg", "ogr_where": "rank >= 2", "ogr_srs": "EPSG:4326"})
    assert legacy.geom.equals(STATES["middle"].union(STATES["south"]))
    select = coverage(tmp_path, {"datasource": "states.gpkg", "srs": "EPSG:4326",
                                 "where": "SELECT * FROM states WHERE name IN ('north', 'south')"})
    assert select.geom.equals(STATES["north"].union(STATES["south"]))


def test_a_where_filter_on_geojson_goes_through_ogr(tmp_path: Path) -> None:
    write_features(tmp_path / "states.geojson", "GeoJSON", STATES)
    cov = coverage(tmp_path, {"datasource": "states.geojson", "where": "name = 'north'", "srs": "EPSG:4326"})
    assert cov.geom.equals(STATES["north"])


def test_other_geometries_are_left_out_with_a_warning(tmp_path: Path) -> None:
    write_features(tmp_path / "mixed.gpkg", "GPKG", {**STATES, "town": Point(9, 54), "village": Point(9, 51)})
    said: list[str] = []
    cov = coverage(tmp_path, {"datasource": "mixed.gpkg", "where": "name <> 'south'", "srs": "EPSG:4326"}, said)
    assert cov.geom.equals(STATES["north"].union(STATES["middle"]))
    assert said == ["coverages.c.datasource: 2 Point features left out: coverages are made of polygons"]


@pytest.mark.parametrize(("conf", "message"), [
    ({"datasource": "states.gpkg", "where": "name = 'nowhere'", "srs": "EPSG:4326"},
     "coverages.c.datasource: no polygons in"),
    ({"datasource": "states.gpkg", "where": "no_such_column = 1", "srs": "EPSG:4326"},
     "coverages.c.datasource: cannot read"),
])
def test_filters_that_find_nothing_name_the_key(tmp_path: Path, conf: dict, message: str) -> None:
    write_features(tmp_path / "states.gpkg", "GPKG", STATES)
    with pytest.raises(CoverageError) as info:
        coverage(tmp_path, conf)
    assert f"{info.value.path}: {info.value}".startswith(message)


def test_without_pyogrio_the_error_names_the_key_and_the_extra(tmp_path: Path, monkeypatch) -> None:
    write_features(tmp_path / "states.shp", "ESRI Shapefile", STATES)
    monkeypatch.setitem(sys.modules, "pyogrio", None)  # as if the ogr extra were not installed
    with pytest.raises(CoverageError) as info:
        coverage(tmp_path, {"datasource": "states.shp", "where": "name = 'south'", "srs": "EPSG:4326"})
    assert info.value.path == "coverages.c.datasource"
    assert str(info.value) == "reading OGR data sources needs pyogrio: pip install 'tileproxy[ogr]' (pyogrio)"
    # text files need no OGR
    (tmp_path / "area.wkt").write_text("POLYGON((8 50, 10 50, 10 52, 8 52, 8 50))\n")
    assert coverage(tmp_path, {"datasource": "area.wkt", "srs": "EPSG:4326"}).geom.equals(STATES["middle"])


MAPPROXY_YAML = {
    "services": {"wms": {"srs": ["EPSG:4326"]}},
    "layers": [layer("south", "The south only", "wms")],
    "sources": {
        "wms": wms_source(
            coverage={"datasource": "states.gpkg", "where": "name = 'south'", "srs": "EPSG:4326"},
        ),
    },
}


def test_a_source_coverage_from_geopackage_features(make_app, source, tmp_path: Path) -> None:
    write_features(tmp_path / "states.gpkg", "GPKG", STATES)
    app = make_app(MAPPROXY_YAML)
    getmap = ("/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=south&STYLES=&SRS=EPSG:4326"
              "&WIDTH=50&HEIGHT=50&FORMAT=image/png&TRANSPARENT=true&BBOX=")
    assert call(app, getmap + "10.5,47.5,12.5,48.5").status == 200
    assert source.count("wms") == 1
    assert call(app, getmap + "8.5,53.5,9.5,54.5").status == 200  # the north: outside the coverage
    assert source.count("wms") == 1  # no request for it


def test_seed_coverages_from_a_shapefile(tmp_path: Path, caplog) -> None:
    write_features(tmp_path / "states.shp", "ESRI Shapefile", STATES)
    proxy_path = write_config(tmp_path / "mapproxy.yaml", {
        "caches": {"c": cache("wms", meta_size=None)},
        "sources": {"wms": wms_source("http://127.0.0.1:1/wms")},
    })
    seed = write_config(tmp_path / "seed.yaml", {
        "seeds": {"s": {"caches": ["c"], "levels": [6], "coverages": ["south"]}},
        "coverages": {"south": {"datasource": "states.shp", "where": "name = 'south'", "srs": "EPSG:4326"}},
    })
    with caplog.at_level(logging.WARNING):
        task = load_seed_config(seed, load_proxy_config(proxy_path), 0.0).seeds[0]
    lon_lat = task.area.transform_to(get_srs("EPSG:4326"))
    assert lon_lat.geom.symmetric_difference(STATES["south"]).area < 1e-6


def test_a_datasource_that_is_no_file_and_no_connection(tmp_path: Path) -> None:
    path = tmp_path / "mapproxy.yaml"
    write_config(path, MAPPROXY_YAML, "http://127.0.0.1:1")
    with pytest.raises(ConfigError, match=r"sources\.wms\.coverage\.datasource: file not found"):
        load_proxy_config(path)
