"""Cache backends through the WSGI app built from a mapproxy.yaml: default file
locations, config errors with key paths, cache coverages, read-only caches."""

from __future__ import annotations

import os
import sqlite3

import pytest
from support.stores import store_config, tile_png
from support.wsgi import call

from tileproxy import make_wsgi_app
from tileproxy.config.build import load_proxy_config
from tileproxy.config.errors import ConfigError
from tileproxy.stores.base import Tile

EXPECTED_FILES = {
    "type: mbtiles": ["cache/c.mbtiles"],
    "type: sqlite": ["cache/c/GLOBAL_WEBMERCATOR/3.mbtiles"],
    "type: geopackage": ["cache/c.gpkg"],
    "type: geopackage\nlevels: true": ["cache/c/GLOBAL_WEBMERCATOR/3.gpkg"],
    "type: compact\nversion: 1": ["cache/c/GLOBAL_WEBMERCATOR/L03/R0000C0000.bundle",
                                  "cache/c/GLOBAL_WEBMERCATOR/L03/R0000C0000.bundlx"],
    "type: compact\nversion: 2": ["cache/c/GLOBAL_WEBMERCATOR/L03/R0000C0000.bundle"],
}


@pytest.mark.parametrize("backend", list(EXPECTED_FILES))
def test_serve_and_cache_at_default_location(backend, tmp_path, source):
    app = make_wsgi_app(store_config(tmp_path, backend, sources=("wms",), wms_url=source.url))
    first = call(app, "/tiles/c/GLOBAL_WEBMERCATOR/3/1/2.png?origin=nw")
    assert first.status == 200 and first.content_type == "image/png"
    files = sorted(os.path.relpath(os.path.join(d, n), tmp_path) for d, _, ns in os.walk(tmp_path / "cache") for n in ns
                   if not n.endswith((".lck", "-wal", "-shm")))
    assert files == EXPECTED_FILES[backend]
    # a second app (another worker) serves the same bytes from the cache, without a source
    ro_app = make_wsgi_app(store_config(tmp_path, backend, sources=()))
    again = call(ro_app, "/tiles/c/GLOBAL_WEBMERCATOR/3/1/2.png?origin=nw")
    assert again.status == 200 and again.body == first.body
    for header in ("ETag", "Last-Modified"):  # fresh and cached answers alike
        assert first.headers.get(header) == again.headers.get(header), header
    # every backend gives a validator, those without tile times one from the bytes
    etag = again.headers["ETag"]
    assert call(ro_app, "/tiles/c/GLOBAL_WEBMERCATOR/3/1/2.png?origin=nw",
               headers={"If-None-Match": etag}).status == 304
    # the other tiles of the 2x2 meta tile were stored too
    assert call(ro_app, "/tiles/c/GLOBAL_WEBMERCATOR/3/0/3.png?origin=nw").status == 200
    assert call(ro_app, "/tiles/c/GLOBAL_WEBMERCATOR/3/5/5.png?origin=nw").status == 404


def test_explicit_paths_relative_to_the_yaml(tmp_path, source):
    app = make_wsgi_app(store_config(tmp_path, "type: mbtiles\nfilename: ./tiles/x.mbtiles"))
    assert call(app, "/tiles/c/GLOBAL_WEBMERCATOR/1/0/0.png?origin=nw").status == 200
    assert (tmp_path / "tiles" / "x.mbtiles").exists()
    app = make_wsgi_app(store_config(tmp_path, "type: compact\nversion: 2\ndirectory: ./cc"))
    assert call(app, "/tiles/c/GLOBAL_WEBMERCATOR/1/0/0.png?origin=nw").status == 200
    assert (tmp_path / "cc" / "L01" / "R0000C0000.bundle").exists()
    app = make_wsgi_app(store_config(tmp_path, "type: geopackage\nfilename: g.gpkg\ntable_name: my_tiles",
                                     sources=("wms",), wms_url=source.url))
    assert call(app, "/tiles/c/GLOBAL_WEBMERCATOR/1/0/0.png?origin=nw").status == 200
    conn = sqlite3.connect(tmp_path / "cache" / "g.gpkg")  # a bare name is relative to the cache_dir
    assert conn.execute("SELECT count(*) FROM my_tiles").fetchone()[0] == 4


def test_tiles_are_stored_in_the_grid_origin(tmp_path):
    """GLOBAL_MERCATOR counts rows from the south, GLOBAL_WEBMERCATOR from the north; no backend flips."""
    app = make_wsgi_app(store_config(tmp_path, "type: mbtiles", grid="GLOBAL_MERCATOR"))
    assert call(app, "/tiles/c/GLOBAL_MERCATOR/2/0/3.png").status == 200
    rows = sqlite3.connect(tmp_path / "cache" / "c.mbtiles").execute(
        "SELECT zoom_level, tile_column, tile_row FROM tiles ORDER BY tile_column, tile_row").fetchall()
    assert (2, 0, 3) in rows


@pytest.mark.parametrize("backend, path, message", [
    ("type: compact", "caches.c.cache", "version"),
    ("type: compact\nversion: 3", "caches.c.cache.version", "1 or 2"),
    ("type: nosuch", "caches.c.cache.type", "nosuch"),
    ("type: geopackage\ntable_name: 'a b'", "caches.c.cache.table_name", "letters"),
    ("type: file\ndirectory_layout: xy", "caches.c.cache.directory_layout", "xy"),
    ("type: mbtiles\ncoverage:\n  bbox: [0, 0, 1, 1]", "caches.c.cache.coverage", "srs"),
    ("type: mbtiles\ncoverage:\n  datasource: missing.geojson", "caches.c.cache.coverage.datasource", "not found"),
])
def test_config_errors_name_the_key(backend, path, message, tmp_path):
    with pytest.raises(ConfigError) as info:
        load_proxy_config(store_config(tmp_path, backend))
    assert f"{path}:" in str(info.value) and message in str(info.value)
    assert "mapproxy.yaml" in str(info.value)


def test_geopackage_with_a_different_grid_is_refused(tmp_path):
    make = store_config(tmp_path, "type: geopackage", grid="GLOBAL_WEBMERCATOR")
    assert call(make_wsgi_app(make), "/tiles/c/GLOBAL_WEBMERCATOR/1/0/0.png?origin=nw").status == 200
    conn = sqlite3.connect(tmp_path / "cache" / "c.gpkg")
    conn.execute("UPDATE gpkg_tile_matrix SET pixel_x_size = pixel_x_size * 2 WHERE zoom_level = 1")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match=r"caches\.c\.cache: .*level 1 has resolution"):
        load_proxy_config(make)


def test_cache_coverage_limits_serving_and_storing(tmp_path):
    backend = "type: mbtiles\ncoverage:\n  bbox: [0, 0, 20, 20]\n  srs: 'EPSG:4326'"
    app = make_wsgi_app(store_config(tmp_path, backend))
    assert call(app, "/tiles/c/GLOBAL_WEBMERCATOR/2/2/1.png?origin=nw").status == 200
    assert call(app, "/tiles/c/GLOBAL_WEBMERCATOR/2/0/3.png?origin=nw").status == 404
    rows = sqlite3.connect(tmp_path / "cache" / "c.mbtiles").execute(
        "SELECT tile_column, tile_row FROM tiles WHERE zoom_level = 2").fetchall()
    assert rows == [(2, 1)]  # the meta tile's other tiles lie outside


def test_readonly_cache_takes_no_locks(tmp_path):
    from tileproxy.stores.sqlite_tiles import MBTilesStore

    os.makedirs(tmp_path / "cache")
    MBTilesStore(str(tmp_path / "cache" / "c.mbtiles")).store(Tile((0, 0, 1), data=tile_png((0, 0, 1))))
    app = make_wsgi_app(store_config(tmp_path, "type: mbtiles", sources=()))
    ok = call(app, "/tiles/c/GLOBAL_WEBMERCATOR/1/0/0.png?origin=nw")
    assert ok.status == 200 and ok.body == tile_png((0, 0, 1))
    assert call(app, "/tiles/c/GLOBAL_WEBMERCATOR/1/1/1.png?origin=nw").status == 404
    assert not (tmp_path / "cache" / "tile_locks").exists()
