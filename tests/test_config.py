"""mapproxy.yaml loading: sections, base includes, env vars, errors and warnings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.configs import OSM, put, tile_source, wms_cache_config, write_config

from tileproxy.config.build import load_proxy_config
from tileproxy.config.errors import ConfigError


def minimal() -> dict:
    """One layer -> cache -> WMS source chain, served over TMS and WMTS."""
    return wms_cache_config(**OSM, services={"tms": None, "wmts": None}, meta_size=None,
                            url="http://127.0.0.1:1/wms")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_proxy_config(path)
    return str(info.value)


def test_all_sections_are_read(tmp_path) -> None:
    # YAML anchors and aliases are what this reads too: the whole file is text
    conf = load_proxy_config(write(tmp_path / "mapproxy.yaml", """
parts:
  meta: &meta [2, 3]
services: {tms: , wmts: }
layers: [{name: osm, title: OSM, sources: [osm_cache]}]
caches:
  osm_cache: {grids: [GLOBAL_WEBMERCATOR], sources: [osm_wms], meta_size: *meta}
sources:
  osm_wms: {type: wms, req: {url: "http://127.0.0.1:1/wms", layers: base}}
globals:
  cache:
    base_dir: ./tiles
    lock_dir: ./locks
  tiles:
    expires_hours: 2
  http:
    access_control_allow_origin: https://example.org
grids:
  local:
    srs: EPSG:25832
    bbox: [280000, 5200000, 920000, 6100000]
"""))
    assert conf.caches["osm_cache"].managers["GLOBAL_WEBMERCATOR"].meta_grid.meta_size == (2, 3)
    assert conf.globals.base_dir == str(tmp_path / "tiles")
    assert conf.globals.lock_dir == str(tmp_path / "locks")
    assert conf.globals.expires_hours == 2
    assert conf.globals.access_control_allow_origin == "https://example.org"
    assert set(conf.grids) >= {"local", "GLOBAL_WEBMERCATOR"}
    assert conf.grids["local"].srs.code == "EPSG:25832"
    assert list(conf.sources) == ["osm_wms"]
    assert list(conf.caches) == ["osm_cache"]
    assert [layer.name for layer in conf.layers] == ["osm"]
    assert conf.services.tms is not None and conf.services.wmts is not None
    assert conf.warnings == []


def test_base_files_nested_and_relative(tmp_path) -> None:
    write(tmp_path / "conf" / "parts" / "sources.yaml", """
        sources:
          osm_wms:
            type: wms
            req: {url: "http://127.0.0.1:1/wms", layers: base}
    """)
    # nested: grids.yaml itself includes parts/sources.yaml, relative to itself
    write(tmp_path / "conf" / "grids.yaml", """
        base: parts/sources.yaml
        grids:
          mygrid: {base: GLOBAL_WEBMERCATOR, num_levels: 5}
        globals:
          cache: {base_dir: ./from_base, meta_size: [2, 2]}
    """)
    write(tmp_path / "conf" / "caches.yaml", """
        caches:
          osm_cache: {grids: [mygrid], sources: [osm_wms]}
    """)
    main = write(tmp_path / "conf" / "mapproxy.yaml", """
        base: [grids.yaml, caches.yaml]
        globals:
          cache: {base_dir: ./main}
        services: {tms: }
        layers:
          - {name: osm, title: OSM, sources: [osm_cache]}
    """)
    conf = load_proxy_config(main)
    assert conf.grids["mygrid"].levels == 5
    assert conf.caches["osm_cache"].grids == ["mygrid"]
    # the including file wins, dicts merge key by key
    assert conf.globals.base_dir == str(tmp_path / "conf" / "main")
    assert conf.caches["osm_cache"].managers["mygrid"].meta_grid.meta_size == (2, 2)
    assert {p.name for p in conf.files} == {"mapproxy.yaml", "grids.yaml", "caches.yaml", "sources.yaml"}


def test_errors_and_warnings_in_base_files_name_that_file(tmp_path, caplog) -> None:
    caches = write(tmp_path / "parts" / "caches.yaml", """
        caches:
          osm_cache: {grids: [nogrid], sources: [osm_wms]}
    """)
    config = {"base": "parts/caches.yaml", **minimal()}
    del config["caches"]
    main = write_config(tmp_path / "mapproxy.yaml", config)
    assert error_of(main) == f"{caches}: caches.osm_cache.grids[0]: unknown grid 'nogrid'"
    write_config(caches, {"caches": {"osm_cache": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["osm_wms"], "colour": "red"}}})
    with caplog.at_level("WARNING", logger="tileproxy.config"):
        load_proxy_config(main)
    assert f"{caches}: caches.osm_cache.colour: unknown key, ignored" in caplog.text
    # an error in the including file still names that file
    write_config(main, put(config, "sources.osm_wms.wms_opts", {"version": 9}))
    assert error_of(main).startswith(f"{main}: sources.osm_wms.wms_opts.version")


def test_base_file_missing_names_it(tmp_path) -> None:
    main = write_config(tmp_path / "mapproxy.yaml", {"base": "nothere.yaml", **minimal()})
    message = error_of(main)
    assert "nothere.yaml" in message and "cannot read" in message


def test_env_vars_expanded_and_unset_kept(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TP_WMS_HOST", "127.0.0.1:9")
    monkeypatch.setenv("TP_LAYER", "roads")
    monkeypatch.delenv("TP_UNSET_VAR", raising=False)
    config = put(minimal(), "sources.osm_wms.req", {"url": "http://${TP_WMS_HOST}/wms?x=$TP_UNSET_VAR",
                                                     "layers": "$TP_LAYER"})
    conf = load_proxy_config(write_config(tmp_path / "mapproxy.yaml", config))
    source = conf.sources["osm_wms"]
    assert source.url == "http://127.0.0.1:9/wms?x=$TP_UNSET_VAR"
    assert source.params["layers"] == "roads"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("caches.osm_cache.grids", ["foo"]), "caches.osm_cache.grids[0]: unknown grid 'foo'"),
        (("caches.osm_cache.sources", ["nosuch"]), "caches.osm_cache.sources[0]: unknown source or cache 'nosuch'"),
        (("layers.0.sources", ["nocache"]), "layers[0].sources[0]: unknown source or cache 'nocache'"),
        (("caches.osm_cache.grids", "GLOBAL_WEBMERCATOR"), "caches.osm_cache.grids: expected a list of a string"),
        (("sources.osm_wms.type", "wmz"), "sources.osm_wms.type: unknown type 'wmz'"),
        (("sources.osm_wms.transparent", [1]), "sources.osm_wms.transparent: expected true or false"),
        (("services.tms", {"use_grid_names": "maybe"}), "services.tms.use_grid_names: expected true or false"),
        (("layers.0.min_res", "lots"), "layers[0].min_res: expected a number"),
    ],
)
def test_errors_name_file_and_key_path(tmp_path, change, expected) -> None:
    path = write_config(tmp_path / "mapproxy.yaml", put(minimal(), *change))
    message = error_of(path)
    assert message.startswith(str(path) + ": ")
    assert expected in message


def test_grid_errors_name_the_grid(tmp_path) -> None:
    # grids a cache uses; unused ones only warn (test_config_lenient.py)
    uses = put(minimal(), "caches.osm_cache.grids", ["utm"])
    path = write_config(tmp_path / "mapproxy.yaml", {**uses, "grids": {"utm": {"srs": "EPSG:25832"}}})
    assert "grids.utm: a bbox is required" in error_of(path)
    write_config(path, {**uses, "grids": {"utm": {"srs": "EPSG:999999", "bbox": [0, 0, 1, 1]}}})
    assert "grids.utm: unknown SRS 'EPSG:999999'" in error_of(path)
    write_config(path, {**uses, "grids": {"utm": {"base": "nogrid"}}})
    assert "grids.utm.base: unknown base grid 'nogrid'" in error_of(path)


def test_unknown_keys_warn_with_path(tmp_path, caplog) -> None:
    config = put(minimal(), "caches.osm_cache.colour", "red")
    put(config, "sources.osm_wms.wms_opts", {"version": "1.1.1", "bogus": 1})
    path = write_config(tmp_path / "mapproxy.yaml", {**config, "globals": {"nonsense": 1}})
    with caplog.at_level("WARNING", logger="tileproxy.config"):
        conf = load_proxy_config(path)
    assert set(conf.warnings) == {
        "caches.osm_cache.colour: unknown key, ignored",
        "sources.osm_wms.wms_opts.bogus: unknown key, ignored",
        "globals.nonsense: unknown key, ignored",
    }
    assert any(str(path) in r.getMessage() and "caches.osm_cache.colour" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("layers: [\n", "invalid YAML"),
        ("services:\n\ttms:\n", "line 2, column 1: a tab indents this line; YAML indents with spaces"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_broken_files(tmp_path, text, expected) -> None:
    path = tmp_path / "mapproxy.yaml"
    path.write_text(text)
    message = error_of(path)
    assert message.startswith(str(path)) and expected in message


def test_check_command_reports_without_traceback(tmp_path) -> None:
    path = write_config(tmp_path / "mapproxy.yaml", put(minimal(), "caches.osm_cache.grids", ["foo"]))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-m", "tileproxy.cli.main", "check", str(path)],
                          capture_output=True, text=True, env=env, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "caches.osm_cache.grids[0]: unknown grid 'foo'" in out
    assert "Traceback" not in out


GRID_ERRORS = [
    ({"tile_size": [256]}, "grids.g: tile_size must be two positive whole numbers"),
    ({"tile_size": [0, 0]}, "grids.g: tile_size must be two positive whole numbers"),
    ({"res": [0]}, "grids.g: res must be positive resolutions"),
    ({"res": [1000, 1000]}, "grids.g: res lists a resolution twice"),
    ({"num_levels": 0}, "grids.g: num_levels must be from 1 to 100"),
    ({"num_levels": 100000}, "grids.g: num_levels must be from 1 to 100"),
    ({"min_res": -5}, "grids.g: min_res must be a positive number"),
    ({"max_res": -1}, "grids.g: max_res must be a positive number"),
    ({"min_res": 1e-300}, "grids.g: resolution"),
    ({"res_factor": "abc"}, "grids.g: res_factor must be a number or sqrt2"),
    ({"stretch_factor": 0}, "grids.g: stretch_factor must be positive"),
    ({"threshold_res": [0]}, "grids.g: threshold_res must be positive"),
]
CACHE_ERRORS = [
    ({"format": "image/"}, "caches.osm_cache.format: unknown image format"),
    ({"image": {"mode": "X"}}, "caches.osm_cache.image.mode: unknown image mode 'X'"),
    ({"image": {"colors": -1}}, "caches.osm_cache.image.colors: expected 0 to 256 colours"),
    ({"image": {"encoding_options": {"jpeg_quality": 500}}}, "caches.osm_cache.image.encoding_options.jpeg_quality"),
    ({"image": {"resampling_method": "bicubik"}},
     "caches.osm_cache.image.resampling_method: unknown resampling method 'bicubik' (known: nearest, bilinear, bicubic)"),
]
SOURCE_ERRORS = [
    ({"concurrent_requests": -1}, "sources.osm_wms.concurrent_requests: expected 0 (no limit) or more"),
    ({"http": {"client_timeout": 0}}, "sources.osm_wms.http.client_timeout: expected a positive number"),
    ({"image": {"resampling_method": "cubic"}}, "sources.osm_wms.image.resampling_method: unknown resampling method 'cubic'"),
]


@pytest.mark.parametrize(("option", "expected"), GRID_ERRORS + CACHE_ERRORS + SOURCE_ERRORS)
def test_values_that_cannot_work_are_config_errors(tmp_path, option, expected) -> None:
    """Options that would crash, hang or fail every request later are refused at load."""
    config = minimal()
    if expected.startswith("grids."):
        config["caches"]["osm_cache"]["grids"] = ["g"]
        config["grids"] = {"g": option}
    elif expected.startswith("caches."):
        config["caches"]["osm_cache"].update(option)
    else:
        config["sources"]["osm_wms"].update(option)
    assert expected in error_of(write_config(tmp_path / "mapproxy.yaml", config))


@pytest.mark.parametrize(("image", "expected"), [
    ({"resampling_method": "Bicubic"}, "globals.image.resampling_method: unknown resampling method 'Bicubic'"),
    ({"formats": {"image/png": {"resampling_method": "linear"}}},
     "globals.image.formats.image/png.resampling_method: unknown resampling method 'linear'"),
])
def test_bad_global_resampling_method_is_a_config_error(tmp_path, image, expected) -> None:
    """Was: any unknown name silently became bicubic."""
    config = {**minimal(), "globals": {"image": image}}
    assert expected in error_of(write_config(tmp_path / "mapproxy.yaml", config))


def test_resampling_method_is_taken_from_the_cache_else_globals(tmp_path) -> None:
    config = {**minimal(), "globals": {"image": {"resampling_method": "nearest"}}}
    assert load_proxy_config(write_config(tmp_path / "a.yaml", config)).caches["osm_cache"].managers[
        "GLOBAL_WEBMERCATOR"].image_opts.resampling == "nearest"
    put(config, "caches.osm_cache.image", {"resampling_method": "bilinear"})
    assert load_proxy_config(write_config(tmp_path / "b.yaml", config)).caches["osm_cache"].managers[
        "GLOBAL_WEBMERCATOR"].image_opts.resampling == "bilinear"


def test_source_urls_need_a_scheme(tmp_path) -> None:
    path = write_config(tmp_path / "mapproxy.yaml", put(minimal(), "sources.osm_wms.req.url", "127.0.0.1/wms"))
    assert "sources.osm_wms.req.url: expected a URL starting with http:// or https://" in error_of(path)
    config = put(minimal(), "caches.osm_cache.sources", ["osm_wms", "tiles"])
    write_config(path, put(config, "sources.tiles", tile_source("ftp://x/%(z)s")))
    assert "sources.tiles.url: expected a URL starting with http:// or https:// or file://" in error_of(path)
    write_config(path, put(minimal(), "sources.osm_wms.req.url", "htp://user:secret@127.0.0.1/wms"))
    message = error_of(path)
    assert "sources.osm_wms.req.url" in message and "secret" not in message and "user" not in message
