"""Third-party mapproxy.yaml files that MapProxy loads load here too: doubtful values
warn with the file and key path, and the app serves what MapProxy serves."""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image
from support.wsgi import call

from tileproxy.config import loader
from tileproxy.config.build import load_proxy_config
from tileproxy.config.errors import ConfigError
from tileproxy.seed.config import load_seed_config

BASE = """\
services:
  tms:
  wms:
    srs: ['EPSG:3857', 'EPSG:4326']
layers:
  - name: osm
    title: OSM
    sources: [osm_cache]
caches:
  osm_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [osm_wms]
    meta_size: [1, 1]
    meta_buffer: 0
sources:
  osm_wms:
    type: wms
    req:
      url: {source}/wms
      layers: base
"""


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tileproxy.config" and r.levelno == logging.WARNING]


def tms_tile_is_served(app) -> None:  # noqa: ANN001
    answer = call(app, "/tms/1.0.0/osm/EPSG3857/1/0/0.png")
    assert answer.status == 200 and answer.content_type == "image/png"
    assert Image.open(io.BytesIO(answer.body)).size == (256, 256)


# -- 1. tabs -------------------------------------------------------------------


def test_a_tab_before_a_trailing_comment_loads(make_app, source, caplog) -> None:
    text = BASE.replace("      layers: base\n", "      layers: base\t# the base map\n")
    text = text.replace("    meta_buffer: 0\n", "    meta_buffer:\t0\n")
    with caplog.at_level(logging.WARNING):
        app = make_app(text)
    assert warnings_of(caplog) == []  # tabs between tokens are plain YAML, nothing doubtful
    tms_tile_is_served(app)
    assert source.params()["LAYERS"] == "base"


@pytest.mark.parametrize("loader_class", ["libyaml", "pure"])
def test_tabs_read_as_libyaml_reads_them(monkeypatch, loader_class: str) -> None:
    """MapProxy reads with libyaml where PyYAML has it; without it, the same answers."""
    if loader_class == "pure":
        monkeypatch.setattr(loader, "_LOADER", yaml.SafeLoader)
    elif getattr(yaml, "CSafeLoader", None) is None:
        pytest.skip("PyYAML without libyaml")
    assert loader.parse_yaml("a: 1\t# note\nb:\t[1,\t2]\t\n") == {"a": 1, "b": [1, 2]}
    assert loader.parse_yaml("a:\n  - x\t# note\n  - 'y'\t\n") == {"a": ["x", "y"]}
    assert loader.parse_yaml(b"\xef\xbb\xbfa: 1\t# a BOM first\n") == {"a": 1}
    with pytest.raises(yaml.YAMLError):
        loader.parse_yaml("a:\n\t- 1\n")  # a tab that indents: refused by libyaml too


def test_a_tab_that_indents_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "mapproxy.yaml"
    path.write_text("services:\n  tms:\nlayers:\n\t- name: x\n")
    with pytest.raises(ConfigError) as info:
        load_proxy_config(path)
    assert str(info.value) == f"{path}: line 4, column 1: a tab indents this line; YAML indents with spaces"


# -- 2. entries no layer uses --------------------------------------------------

UNUSED_CACHE = """\
  unused_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [not_defined]
"""


def test_an_unused_cache_with_an_undefined_source_is_left_out(make_app, tmp_path, source, caplog) -> None:
    text = BASE.replace("sources:\n  osm_wms:", UNUSED_CACHE + "sources:\n  osm_wms:")
    with caplog.at_level(logging.WARNING):
        app = make_app(text)
    assert warnings_of(caplog) == [
        f"{tmp_path / 'mapproxy.yaml'}: caches.unused_cache: used by no layer and left out: "
        "caches.unused_cache.sources[0]: unknown source or cache 'not_defined'"
    ]
    tms_tile_is_served(app)
    assert "unused_cache" not in app.config.caches


def test_unused_entries_of_any_section_warn_in_their_own_file(tmp_path: Path, caplog) -> None:
    (tmp_path / "extra.yaml").write_text(
        "grids:\n  utm:\n    srs: EPSG:25832\n"  # no bbox: cannot be built
        "sources:\n  ftp_tiles:\n    type: tile\n    url: 'ftp://x/%(z)s'\n"
    )
    main = tmp_path / "mapproxy.yaml"
    main.write_text("base: extra.yaml\n" + BASE.replace("{source}", "http://127.0.0.1:1"))
    with caplog.at_level(logging.WARNING):
        conf = load_proxy_config(main)
    extra = tmp_path / "extra.yaml"
    assert warnings_of(caplog) == [
        f"{extra}: grids.utm: used by no layer and left out: grids.utm: a bbox is required for a grid in EPSG:25832",
        f"{extra}: sources.ftp_tiles: used by no layer and left out: sources.ftp_tiles.url: "
        "expected a URL starting with http:// or https:// or file://, got 'ftp://x/%(z)s'",
    ]
    assert list(conf.sources) == ["osm_wms"] and "utm" not in conf.grids


def test_a_used_cache_with_an_undefined_source_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mapproxy.yaml"
    path.write_text(BASE.replace("{source}", "http://127.0.0.1:1").replace("sources: [osm_cache]", "sources: [osm_cache, unused_cache]")
                    .replace("sources:\n  osm_wms:", UNUSED_CACHE + "sources:\n  osm_wms:"))
    with pytest.raises(ConfigError, match=r"caches\.unused_cache\.sources\[0\]: unknown source or cache 'not_defined'"):
        load_proxy_config(path)


def test_seeding_a_left_out_cache_names_why(tmp_path: Path) -> None:
    path = tmp_path / "mapproxy.yaml"
    path.write_text(BASE.replace("{source}", "http://127.0.0.1:1")
                    .replace("sources:\n  osm_wms:", UNUSED_CACHE + "sources:\n  osm_wms:"))
    proxy = load_proxy_config(path)
    seed = tmp_path / "seed.yaml"
    seed.write_text("seeds:\n  s:\n    caches: [unused_cache]\n")
    with pytest.raises(ConfigError) as info:
        load_seed_config(seed, proxy, 0.0)
    assert str(info.value) == (
        f"{seed}: seeds.s.caches[0]: cache 'unused_cache' cannot be seeded: "
        f"{path}: caches.unused_cache.sources[0]: unknown source or cache 'not_defined'"
    )



# -- 3. layer names YAML reads as numbers ---------------------------------------


def test_req_layers_given_as_a_number_is_that_layer(make_app, source, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(BASE.replace("      layers: base\n", "      layers: 4\n"))
    assert warnings_of(caplog) == []
    tms_tile_is_served(app)
    assert source.params()["LAYERS"] == "4"


def test_numbered_layers_in_a_list_and_in_tagged_references(make_app, source) -> None:
    app = make_app(BASE.replace("      layers: base\n", "      layers: [4, 7]\n")
                   .replace("    sources: [osm_wms]\n", "    sources: ['osm_wms:7']\n"))
    tms_tile_is_served(app)
    assert source.params()["LAYERS"] == "7"


def test_a_decimal_layer_number_warns(make_app, tmp_path, source, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(BASE.replace("      layers: base\n", "      layers: 1.10\n"))
    assert warnings_of(caplog) == [
        f"{tmp_path / 'mapproxy.yaml'}: sources.osm_wms.req.layers: the number 1.1 is sent as the "
        "layer name '1.1'; quote the name if it is written otherwise"
    ]
    tms_tile_is_served(app)
    assert source.params()["LAYERS"] == "1.1"  # what MapProxy sends too


# -- 4. grids based on a predefined grid ------------------------------------------

GEODETIC_RES = """\
grids:
  geo:
    base: GLOBAL_GEODETIC
    res: [0.5, 0.25, 0.125]
"""


def test_res_on_a_grid_based_on_global_geodetic(make_app, source, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(BASE.replace("grids: [GLOBAL_WEBMERCATOR]", "grids: [geo]") + GEODETIC_RES)
    assert warnings_of(caplog) == []
    grid = app.config.grids["geo"]
    assert grid.resolutions == [0.5, 0.25, 0.125] and grid.bbox == (-180, -90, 180, 90)
    # TMS leaves out level 0 of a global geodetic grid (as MapProxy): its level 0 is
    # the grid's level 1, tiles of 256 pixels at 0.25 degrees from the lower left
    for tms_level, res in ((0, 0.25), (1, 0.125)):
        assert call(app, f"/tms/1.0.0/osm/EPSG4326/{tms_level}/0/0.png").status == 200
        bbox = [float(v) for v in source.params()["BBOX"].split(",")]
        assert bbox == pytest.approx([-180, -90, -180 + 256 * res, -90 + 256 * res])
    assert call(app, "/tms/1.0.0/osm/EPSG4326/2/0/0.png").status != 200  # three grid levels only


def test_global_geodetic_level_zero_follows_bbox_and_tile_size(tmp_path: Path) -> None:
    """As in MapProxy, GLOBAL_GEODETIC fixes no resolution: a grid based on it with its
    own bbox or tile size starts from that."""
    path = tmp_path / "mapproxy.yaml"
    path.write_text("grids:\n  small: {base: GLOBAL_GEODETIC, bbox: [5, 45, 15, 55]}\n"
                    "  big_tiles: {base: GLOBAL_GEODETIC, tile_size: [512, 512]}\n")
    grids = load_proxy_config(path).grids
    assert grids["small"].resolutions[0] == pytest.approx(10 / 256)
    assert grids["big_tiles"].resolutions[0] == pytest.approx(360 / 512)


def test_min_res_beside_res_warns_and_res_wins(tmp_path: Path, caplog) -> None:
    path = tmp_path / "mapproxy.yaml"
    path.write_text("grids:\n  g:\n    srs: 'EPSG:4326'\n    res: [1, 0.5]\n    min_res: 2\n")
    with caplog.at_level(logging.WARNING):
        grids = load_proxy_config(path).grids
    assert grids["g"].resolutions == [1, 0.5]
    assert warnings_of(caplog) == [f"{path}: grids.g.min_res: ignored: res lists the resolutions"]


# -- 5. format names without a preset --------------------------------------------

GETMAP = ("/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=osm&STYLES=&SRS=EPSG:3857"
          "&BBOX=0,0,1000000,1000000&WIDTH=100&HEIGHT=100&FORMAT=")


def test_a_cache_format_no_encoder_knows_is_encoded_as_png(make_app, tmp_path, source, caplog) -> None:
    """MapProxy loads ``format: image/foo``, asks its sources for image/foo and fails
    where it must encode; here such images are PNG, and a warning says so."""
    with caplog.at_level(logging.WARNING):
        app = make_app(BASE.replace("    sources: [osm_wms]\n", "    sources: [osm_wms]\n    format: image/foo\n"))
    assert warnings_of(caplog) == [
        f"{tmp_path / 'mapproxy.yaml'}: caches.osm_cache.format: no encoder for 'image/foo'; "
        "served as image/foo, encoded as image/png"
    ]
    tile = call(app, "/tms/1.0.0/osm/EPSG3857/1/0/0.foo")
    assert tile.status == 200 and tile.image.format == "PNG"
    assert source.params()["FORMAT"] == "image/foo"
    answer = call(app, GETMAP + "image/png")
    assert answer.status == 200 and answer.image.format == "PNG"


@pytest.mark.parametrize("edit", [
    ("    sources: [osm_wms]\n", "    sources: [osm_wms]\n    request_format: image/foo\n"),
    ("      layers: base\n", "      layers: base\n      format: image/foo\n"),
    ("      layers: base\n", "      layers: base\n    supported_formats: [image/foo]\n"),
], ids=["request_format", "req.format", "supported_formats"])
def test_unknown_formats_asked_from_sources_pass_as_written(make_app, source, caplog, edit) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(BASE.replace(*edit))
    assert warnings_of(caplog) == []  # nothing is encoded in it
    tms_tile_is_served(app)
    assert source.params()["FORMAT"] == "image/foo"


def test_wms_image_formats_with_names_without_preset(make_app, tmp_path, source, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(BASE.replace("    srs:", "    image_formats: [image/png, image/foo, webp]\n    srs:"))
    assert warnings_of(caplog) == [
        f"{tmp_path / 'mapproxy.yaml'}: services.wms.image_formats[1].format: no encoder for 'image/foo'; "
        "served as image/foo, encoded as image/png"
    ]
    webp = call(app, GETMAP + "image/webp")
    assert webp.status == 200 and webp.content_type == "image/webp" and webp.image.format == "WEBP"
    foo = call(app, GETMAP + "image/foo")
    assert foo.status == 200 and foo.image.format == "PNG"  # MapProxy: a 500


# -- 6. GeoPackages MapProxy wrote ----------------------------------------------------

MERC_BBOX = (-20037508.342789244, -20037508.342789244, 20037508.342789244, 20037508.342789244)


def mapproxy_geopackage(path: Path, srs_id: int, bbox: tuple[float, ...], tiles: dict) -> None:
    """A tile table as MapProxy writes one for a grid in EPSG:<srs_id> (its own
    gpkg_spatial_ref_sys row for 900913, rows for levels 0-19, y counted from the south)."""
    import sqlite3

    from tileproxy.grid import predefined_grid
    from tileproxy.stores.geopackage import _SCHEMA

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1196437808")
    for stmt in _SCHEMA.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, NULL)", [
        ("WGS 84 / Pseudo-Mercator", 3857, "epsg", 3857, "PROJCS[...]"),
        ("WGS 84", 4326, "epsg", 4326, "GEOGCS[...]"), (" ", -1, "NONE", -1, "undefined"),
        (" ", 0, "NONE", 0, "undefined"), ("Not provided", 900913, "epsg", 900913, "Added via Mapproxy."),
    ])
    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, min_x, min_y, max_x, "
                  "max_y, srs_id) VALUES ('tiles', 'tiles', 'tiles', 'Created with Mapproxy.', ?, ?, ?, ?, ?)",
                  (*bbox, srs_id))
    conn.execute("INSERT INTO gpkg_tile_matrix_set VALUES ('tiles', ?, ?, ?, ?, ?)", (srs_id, *bbox))
    grid = predefined_grid("GLOBAL_MERCATOR")
    for z in range(20):
        (w, h), res = grid.grid_sizes[z], grid.resolutions[z]
        conn.execute("INSERT INTO gpkg_tile_matrix VALUES ('tiles', ?, ?, ?, 256, 256, ?, ?)", (z, w, h, res, res))
    conn.execute("CREATE TABLE tiles (id INTEGER PRIMARY KEY AUTOINCREMENT, zoom_level INTEGER NOT NULL, "
                 "tile_column INTEGER NOT NULL, tile_row INTEGER NOT NULL, tile_data BLOB NOT NULL, "
                 "UNIQUE (zoom_level, tile_column, tile_row))")
    for (x, y, z), color in tiles.items():
        data = io.BytesIO()
        Image.new("RGB", (256, 256), color).save(data, "PNG")
        conn.execute("INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?, ?, ?, ?)",
                     (z, x, y, data.getvalue()))
    conn.commit()
    conn.close()


GPKG_CONFIG = """\
services:
  wms:
    srs: ['EPSG:3857']
layers:
  - name: gpkg
    title: GeoPackage
    sources: [gpkg_cache]
caches:
  gpkg_cache:
    grids: [merc]
    sources: []
    cache:
      type: geopackage
      filename: ./mapproxy.gpkg
      table_name: tiles
grids:
  merc:
    srs: 'EPSG:3857'
    origin: sw
"""


@pytest.mark.parametrize("grid_srs", ["EPSG:3857", "EPSG:900913"])
def test_a_geopackage_mapproxy_wrote_with_srs_id_900913(make_app, tmp_path, caplog, grid_srs) -> None:
    red, blue = (220, 20, 20), (20, 20, 220)
    mapproxy_geopackage(tmp_path / "mapproxy.gpkg", 900913, MERC_BBOX, {(0, 0, 1): red, (1, 1, 1): blue})
    with caplog.at_level(logging.WARNING):
        app = make_app(GPKG_CONFIG.replace("srs: 'EPSG:3857'\n    origin", f"srs: '{grid_srs}'\n    origin"))
    assert warnings_of(caplog) == []  # 900913 and 3857 are the same projection
    m = MERC_BBOX[2]
    for bbox, color in (((-m, -m, 0, 0), red), ((0, 0, m, m), blue)):
        answer = call(app, "/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=gpkg&STYLES=&SRS=EPSG:3857"
                      f"&BBOX={','.join(map(str, bbox))}&WIDTH=256&HEIGHT=256&FORMAT=image/png")
        assert answer.status == 200 and answer.image.convert("RGB").getpixel((128, 128)) == color


def test_a_geopackage_of_another_projection_is_still_refused(make_app, tmp_path) -> None:
    mapproxy_geopackage(tmp_path / "mapproxy.gpkg", 4326, (-180, -90, 180, 90), {})
    with pytest.raises(ConfigError, match=r"caches\.gpkg_cache\.cache: .*gpkg_contents has srs_id 4326, the grid is EPSG:3857"):
        make_app(GPKG_CONFIG)


def test_a_geopackage_with_a_coverage_bbox_warns_and_serves(make_app, tmp_path, caplog) -> None:
    """MapProxy writes the bbox of a cache's coverage into gpkg_tile_matrix_set and
    reads tiles by its grid all the same."""
    green = (20, 200, 20)
    mapproxy_geopackage(tmp_path / "mapproxy.gpkg", 900913, (0, 0, 5e6, 5e6), {(1, 1, 1): green})
    with caplog.at_level(logging.WARNING):
        app = make_app(GPKG_CONFIG)
    assert warnings_of(caplog) == [
        f"{tmp_path / 'mapproxy.yaml'}: caches.gpkg_cache.cache: {tmp_path / 'mapproxy.gpkg'} (table tiles): "
        f"gpkg_tile_matrix_set bbox [0.0, 0.0, 5000000.0, 5000000.0] differs from the grid bbox {list(MERC_BBOX)}; "
        "tiles are read and written by the grid (as MapProxy does), GDAL and QGIS place them by the file's bbox"
    ]
    m = MERC_BBOX[2]
    answer = call(app, "/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=gpkg&STYLES=&SRS=EPSG:3857"
                  f"&BBOX=0,0,{m},{m}&WIDTH=256&HEIGHT=256&FORMAT=image/png")
    assert answer.status == 200 and answer.image.convert("RGB").getpixel((128, 128)) == green


# -- 7. sources without req.layers, named through tagged references ------------------

NO_LAYERS = BASE.replace("      layers: base\n", "")


def test_a_wms_source_without_layers_gets_them_from_tagged_references(make_app, source, caplog) -> None:
    text = (NO_LAYERS.replace("    sources: [osm_cache]\n", "    sources: [osm_cache]\n"
                              "  - name: direct\n    title: Direct\n    sources: ['osm_wms:roads']\n")
            .replace("    sources: [osm_wms]\n", "    sources: ['osm_wms:base,water']\n"))
    with caplog.at_level(logging.WARNING):
        app = make_app(text)
    assert warnings_of(caplog) == []  # every use names its layers
    tms_tile_is_served(app)
    assert source.params()["LAYERS"] == "base,water"
    answer = call(app, GETMAP.replace("LAYERS=osm", "LAYERS=direct") + "image/png")
    assert answer.status == 200 and answer.image.size == (100, 100)
    assert source.params()["LAYERS"] == "roads"


def test_an_untagged_use_of_a_source_without_layers_warns(make_app, tmp_path, source, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(NO_LAYERS)
    assert warnings_of(caplog) == [
        f"{tmp_path / 'mapproxy.yaml'}: caches.osm_cache.sources[0]: source 'osm_wms' has no req.layers, so its "
        "requests name no LAYERS; name them here as 'osm_wms:layer1,layer2'"
    ]
    tms_tile_is_served(app)
    assert "LAYERS" not in source.params()  # as MapProxy sends it


MAPSERV = shutil.which("mapserv") or shutil.which("mapserv", path="/usr/lib/cgi-bin")
MAPFILES = Path(__file__).parent / "data" / "mapserver"


@pytest.mark.skipif(MAPSERV is None, reason="mapserv is not installed (apt-get install cgi-mapserver)")
def test_a_mapserver_source_without_layers_gets_them_from_tagged_references(make_app, caplog) -> None:
    from support.http_stub import pixel_at

    from tileproxy.grid import predefined_grid

    text = f"""\
services:
  tms:
globals:
  image:
    paletted: false
layers:
  - name: blue
    title: Blue
    sources: [blue_cache]
  - name: both
    title: Both
    sources: [both_cache]
caches:
  blue_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: ['squares:blue']
    meta_size: [1, 1]
    meta_buffer: 0
  both_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: ['squares:red,blue']
    meta_size: [1, 1]
    meta_buffer: 0
sources:
  squares:
    type: mapserver
    req:
      map: {MAPFILES}/squares.map
      transparent: true
"""
    with caplog.at_level(logging.WARNING):
        app = make_app(text)
    assert warnings_of(caplog) == []
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    # the red square lies north-east of the origin in tile (2, 1, 2), the blue one south-west in (1, 2, 2)
    red_there = call(app, "/tiles/blue/EPSG3857/2/2/1.png?origin=nw").image.convert("RGBA")
    assert pixel_at(red_there, grid, (2, 1, 2), 2.5e6, 2.5e6)[3] == 0
    blue = call(app, "/tiles/blue/EPSG3857/2/1/2.png?origin=nw").image.convert("RGBA")
    assert pixel_at(blue, grid, (1, 2, 2), -2.5e6, -2.5e6) == (0, 0, 255, 255)
    red = call(app, "/tiles/both/EPSG3857/2/2/1.png?origin=nw").image.convert("RGBA")
    assert pixel_at(red, grid, (2, 1, 2), 2.5e6, 2.5e6) == (255, 0, 0, 255)


# -- base files, merged as MapProxy merges them --------------------------------------


def test_base_files_merge_as_in_mapproxy(tmp_path: Path) -> None:
    """Lists add up, layers merge by name, the main file wins over its base files and
    an earlier base file over a later one (MapProxy 7.0 reads this file the same)."""
    (tmp_path / "a.yaml").write_text(
        "globals:\n  cache: {base_dir: ./from_a, meta_size: [1, 1]}\n"
        "services:\n  wms:\n    srs: ['EPSG:4326']\n    md: {title: From a}\n"
        "layers:\n  - {name: x, title: X from a, sources: [c]}\n  - {name: y, title: Y, sources: [c]}\n")
    (tmp_path / "b.yaml").write_text(
        "globals:\n  cache: {base_dir: ./from_b, lock_dir: ./locks_b}\n"
        "services:\n  wms:\n    srs: ['EPSG:3857']\n")
    main = tmp_path / "mapproxy.yaml"
    main.write_text("base: [a.yaml, b.yaml]\nservices:\n  wms:\n    srs: ['EPSG:25832']\n  tms:\n"
                    "layers:\n  - {name: x, title: X from main}\n  - {name: z, title: Z, sources: [c]}\n"
                    "caches:\n  c: {grids: [GLOBAL_WEBMERCATOR], sources: []}\n")
    conf = load_proxy_config(main)
    assert conf.globals.base_dir == str(tmp_path / "from_a")
    assert conf.globals.lock_dir == str(tmp_path / "locks_b")
    assert [(layer.name, layer.title, layer.sources) for layer in conf.layers] == [
        ("x", "X from main", ["c"]), ("y", "Y", ["c"]), ("z", "Z", ["c"])]
    assert conf.services.wms.srs == ["EPSG:3857", "EPSG:4326", "EPSG:25832"]
    assert conf.services.wms.md.title == "From a"


def test_lists_of_a_file_add_to_its_base_files_lists(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("services:\n  wms:\n    image_formats: [image/png, image/jpeg]\n"
                                        "caches:\n  c: {grids: [GLOBAL_WEBMERCATOR], sources: []}\n")
    main = tmp_path / "mapproxy.yaml"
    main.write_text("base: base.yaml\nservices:\n  wms:\n    image_formats: [image/gif]\n"
                    "caches:\n  c: {grids: [GLOBAL_GEODETIC]}\n")  # grids are replaced as a whole
    conf = load_proxy_config(main)
    assert list(conf.services.wms.image_formats) == ["image/png", "image/jpeg", "image/gif"]
    assert conf.caches["c"].grids == ["GLOBAL_GEODETIC"]


def test_numbers_mapproxy_takes_as_any_number(make_app, source) -> None:
    """MapProxy's spec reads these as numbers: 80.0 works as 80."""
    app = make_app(BASE.replace("    meta_buffer: 0\n", "    meta_buffer: 0.0\n    max_tile_limit: 400.0\n"
                                "    image:\n      colors: 64.0\n    use_direct_from_level: 5.0\n"))
    cache = app.config.caches["osm_cache"]
    manager = cache.managers["GLOBAL_WEBMERCATOR"]
    assert manager.meta_grid.meta_buffer == 0 and manager.image_opts.colors == 64
    assert cache.direct_from_res == pytest.approx(manager.grid.resolutions[5] * (1 + 1e-6))
    tms_tile_is_served(app)


def test_sqlite_dirname_is_ignored_as_in_mapproxy(make_app, tmp_path, source, caplog) -> None:
    """MapProxy's docs once said ``dirname``; MapProxy reads ``directory`` only, so
    the tiles go to the default directory, which a warning names."""
    text = BASE.replace("    meta_buffer: 0\n", "    meta_buffer: 0\n    cache:\n      type: sqlite\n"
                        "      dirname: ./elsewhere\n") + "globals:\n  cache:\n    base_dir: ./cache_data\n"
    with caplog.at_level(logging.WARNING):
        app = make_app(text)
    default = tmp_path / "cache_data" / "osm_cache" / "GLOBAL_WEBMERCATOR"
    assert warnings_of(caplog) == [
        f"{tmp_path / 'mapproxy.yaml'}: caches.osm_cache.cache.dirname: ignored, as MapProxy ignores it: "
        f"the key is 'directory'; tiles go to {default}"
    ]
    tms_tile_is_served(app)
    assert (default / "2.mbtiles").exists() and not (tmp_path / "elsewhere").exists()  # TMS 1 is grid level 2


def test_tagged_references_to_a_mapnik_source(make_app) -> None:
    """MapProxy takes 'name:layer' for Mapnik sources too: only those layers draw."""
    import importlib.util

    if importlib.util.find_spec("mapnik") is None:
        pytest.skip("the Mapnik Python bindings are not installed (pip install mapnik)")
    from support.http_stub import pixel_at

    from tileproxy.grid import predefined_grid

    mapfile = Path(__file__).parent / "data" / "mapnik" / "squares.xml"
    app = make_app(f"""\
services:
  tms:
layers:
  - name: blue
    title: Blue
    sources: [blue_cache]
caches:
  blue_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: ['squares:blue']
    meta_size: [1, 1]
    meta_buffer: 0
    image: {{mode: RGBA}}
sources:
  squares:
    type: mapnik
    mapfile: {mapfile}
    transparent: true
""")
    grid = predefined_grid("GLOBAL_WEBMERCATOR")
    red_there = call(app, "/tiles/blue/EPSG3857/2/2/1.png?origin=nw").image.convert("RGBA")
    assert pixel_at(red_there, grid, (2, 1, 2), 2.5e6, 2.5e6)[3] == 0  # the red layer does not draw
    blue = call(app, "/tiles/blue/EPSG3857/2/1/2.png?origin=nw").image.convert("RGBA")
    assert pixel_at(blue, grid, (1, 2, 2), -2.5e6, -2.5e6) == (0, 0, 255, 255)


@pytest.mark.skipif(MAPSERV is None, reason="mapserv is not installed (apt-get install cgi-mapserver)")
def test_on_error_of_a_mapserver_source(make_app) -> None:
    """MapServer sources are WMS sources to MapProxy, on_error included."""
    app = make_app(f"""\
services:
  tms:
layers:
  - name: broken
    title: Broken
    sources: [broken_cache]
caches:
  broken_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [broken]
    meta_size: [1, 1]
    meta_buffer: 0
sources:
  broken:
    type: mapserver
    req:
      map: {MAPFILES}/broken.map
      layers: x
    on_error:
      other:
        response: '#ff0000'
        cache: false
""")
    answer = call(app, "/tiles/broken/EPSG3857/1/0/0.png")
    assert answer.status == 200 and answer.image.convert("RGB").getpixel((10, 10)) == (255, 0, 0)
