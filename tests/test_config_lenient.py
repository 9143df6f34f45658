"""Third-party mapproxy.yaml files that MapProxy loads load here too: doubtful values
warn with the file and key path, and the app serves what MapProxy serves."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import yaml
from conftest import call
from PIL import Image

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
