"""``tileproxy invalidate``: the matching tiles of one cache go (area, levels, before),
or are marked stale so that refresh_before fetches them again; on every backend."""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml
from support.configs import cache, layer, wms_source, write_config
from support.wsgi import call, environ

from tileproxy.cli.main import main
from tileproxy.config.build import load_proxy_config
from tileproxy.stores.base import Tile
from tileproxy.wsgi import make_wsgi_app

BACKENDS = {
    "file": {"type": "file"},
    "mbtiles": {"type": "mbtiles", "filename": "{name}.mbtiles"},
    "sqlite": {"type": "sqlite", "directory": "{name}_levels"},
    "geopackage": {"type": "geopackage", "filename": "{name}.gpkg"},
    "compact": {"type": "compact", "version": 2, "directory": "{name}_compact"},
}
LEVELS = range(4)
ALL = {(x, y, z) for z in LEVELS for x in range(2**z) for y in range(2**z)}
GRID = "GLOBAL_WEBMERCATOR"
HALF = 20037508.342789244
NORTH_WEST = f"{-HALF},0,0,{HALF}"


def _backend(kind: str | dict, name: str) -> dict:
    """The cache block of a local backend for cache ``name``; a remote one's block (a
    dict) with the cache name added to its key prefix."""
    if isinstance(kind, dict):
        return {k: f"{v}_{name}" if k in ("prefix", "directory") else v for k, v in kind.items()}
    return {k: v.format(name=name) if isinstance(v, str) else v for k, v in BACKENDS[kind].items()}


def _config(tmp_path: Path, source_url: str, kind: str | dict, **cache_options: object) -> Path:
    caches = {name: cache("src", cache=_backend(kind, name), **cache_options) for name in ("a", "b")}
    return write_config(tmp_path / "mapproxy.yaml", {
        "services": {"tms": {"use_grid_names": True}},
        "layers": [layer("la", "A", "a"), layer("lb", "B", "b")],
        "caches": caches,
        "sources": {"src": wms_source(f"{source_url}/wms")},
        "globals": {"cache": {"base_dir": str(tmp_path / "cache")}, "http": {"client_timeout": 5}},
    })


def _store(config: Path, name: str):  # noqa: ANN202
    return load_proxy_config(config).caches[name].managers[GRID].store


def _fill(config: Path, name: str, coords: set) -> None:
    blob = _png()
    _store(config, name).store_many([Tile(c, blob) for c in sorted(coords)])


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (256, 256), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def _cached(config: Path, name: str) -> set:
    store = _store(config, name)
    return {c for z in LEVELS for c in store.iter_coords(z)}


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["invalidate", "-f", str(config), *args])
    return status, out.getvalue(), err.getvalue()


def _north_west(levels: set) -> set:
    """Tiles of ``levels`` inside the north-west quarter (the grid's origin is north-west)."""
    return {(x, y, z) for x, y, z in ALL if z in levels and x < 2**z // 2 and y < 2**z // 2}


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_only_tiles_in_area_and_levels_of_one_cache_go(tmp_path: Path, source, kind: str) -> None:
    _only_tiles_in_area_and_levels_go(tmp_path, source, kind)


def test_only_tiles_in_area_and_levels_go_on_remote_caches(tmp_path: Path, source, remote_space) -> None:
    _only_tiles_in_area_and_levels_go(tmp_path, source, remote_space.conf)


def _only_tiles_in_area_and_levels_go(tmp_path: Path, source, kind: str | dict) -> None:  # noqa: ANN001
    config = _config(tmp_path, source.url, kind)
    _fill(config, "a", ALL)
    _fill(config, "b", ALL)
    status, out, err = _run(config, "--cache", "a", f"--bbox={NORTH_WEST}", "--srs", "EPSG:3857", "--levels", "2..3")
    assert status == 0, err
    gone = _north_west({2, 3})
    assert len(gone) == 4 + 16
    assert f"a ({GRID}): {len(gone)} tiles removed" in out
    assert _cached(config, "a") == ALL - gone
    assert _cached(config, "b") == ALL  # the other cache is untouched
    assert source.count("wms") == 0


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_before_takes_only_older_tiles(tmp_path: Path, source, kind: str) -> None:
    _before_takes_only_older_tiles(tmp_path, source, kind)


@pytest.mark.parametrize("remote_space", ["s3", "azureblob"], indirect=True)  # redis: no time to set back
def test_before_takes_only_older_tiles_on_object_stores(tmp_path: Path, source, remote_space) -> None:
    _before_takes_only_older_tiles(tmp_path, source, remote_space.conf)


def _before_takes_only_older_tiles(tmp_path: Path, source, kind: str | dict) -> None:  # noqa: ANN001
    config = _config(tmp_path, source.url, kind)
    _fill(config, "a", ALL)
    old = {(0, 0, 0), (1, 1, 1), (5, 2, 3)}
    _store(config, "a").backdate_many(old, time.time() - 3 * 86400)
    status, out, err = _run(config, "--layer", "la", "--before", "1d")
    assert status == 0, err
    assert "3 tiles removed" in out
    assert _cached(config, "a") == ALL - old


def test_before_on_a_cache_without_tile_times_is_refused(tmp_path: Path, source) -> None:
    config = _config(tmp_path, source.url, "compact")
    _fill(config, "a", ALL)
    status, _, err = _run(config, "--cache", "a", "--before", "2026-01-01T00:00")
    assert status == 2 and "keeps no tile times" in err
    assert _cached(config, "a") == ALL


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_stale_tiles_are_fetched_again_on_the_next_request(tmp_path: Path, source, kind: str) -> None:
    _stale_tiles_are_fetched_again(tmp_path, source, kind)


def test_stale_tiles_are_fetched_again_on_remote_caches(tmp_path: Path, source, remote_space) -> None:
    """Object stores mark the tile stale; redis, which cannot set a time back, removes it."""
    _stale_tiles_are_fetched_again(tmp_path, source, remote_space.conf, marks=remote_space.kind != "redis")


def _stale_tiles_are_fetched_again(tmp_path: Path, source, kind: str | dict, marks: bool = True) -> None:  # noqa: ANN001
    config = _config(tmp_path, source.url, kind, refresh_before={"days": 7})
    app = make_wsgi_app(str(config))
    url = f"/tms/1.0.0/la/{GRID}/2/1/3.png"  # TMS level 2 is level 3 of this grid; y from the south
    assert call(app, url).status == 200
    assert call(app, url).status == 200
    assert source.count("wms") == 1  # the second answer came from the cache
    status, out, err = _run(config, "--cache", "a", "--levels", "3", "--mode", "stale")
    assert status == 0, err
    if marks:
        assert "1 tiles marked stale" in out
        assert (1, 4, 3) in _cached(config, "a")  # still there, but stale
    else:
        assert "1 tiles removed (the cache cannot set tile times back: tiles removed instead)" in out
        assert (1, 4, 3) not in _cached(config, "a")
    assert call(app, url).status == 200
    assert source.count("wms") == 2
    assert call(app, url).status == 200
    assert source.count("wms") == 2  # fresh again


@pytest.mark.parametrize("kind", ["compact", "geopackage"])
def test_stale_on_a_cache_without_tile_times_removes(tmp_path: Path, source, kind: str) -> None:
    config = _config(tmp_path, source.url, kind)
    _fill(config, "a", ALL)
    status, out, err = _run(config, "--cache", "a", "--levels", "3", "--mode", "stale")
    assert status == 0, err
    assert "64 tiles removed (the cache keeps no tile times: tiles removed instead)" in out
    assert _cached(config, "a") == {c for c in ALL if c[2] != 3}


def test_stale_without_refresh_before_removes(tmp_path: Path, source) -> None:
    config = _config(tmp_path, source.url, "file")
    _fill(config, "a", ALL)
    status, out, _ = _run(config, "--cache", "a", "--levels", "1", "--mode", "stale")
    assert status == 0 and "4 tiles removed (the cache has no refresh_before" in out
    assert _cached(config, "a") == {c for c in ALL if c[2] != 1}


def test_coverage_file_limits_the_area(tmp_path: Path, source) -> None:
    config = _config(tmp_path, source.url, "file")
    _fill(config, "a", ALL)
    area = tmp_path / "nw.wkt"
    area.write_text(f"POLYGON(({-HALF} 1, -1 1, -1 {HALF}, {-HALF} {HALF}, {-HALF} 1))")
    status, _, err = _run(config, "--cache", "a", "--coverage-file", str(area), "--srs", "EPSG:3857",
                          "--levels", "1,3")
    assert status == 0, err
    assert _cached(config, "a") == ALL - _north_west({1, 3})


@pytest.mark.parametrize(("args", "message"), [
    (["--cache", "nope"], "unknown cache 'nope'"),
    (["--layer", "nope"], "unknown layer 'nope'"),
    (["--cache", "a", "--grid", "GLOBAL_GEODETIC"], "has grid 'GLOBAL_GEODETIC'"),
    (["--cache", "a", "--bbox", "0,0,1,1"], "needs its srs"),
    (["--cache", "a", "--levels", "x..2"], "levels: expected"),
    (["--cache", "a", "--before", "yesterday"], "before: expected"),
])
def test_bad_requests_change_nothing(tmp_path: Path, source, args: list[str], message: str) -> None:
    config = _config(tmp_path, source.url, "file")
    _fill(config, "a", ALL)
    status, _, err = _run(config, *args)
    assert status == 2 and message in err
    assert _cached(config, "a") == ALL


# -- POST /admin/invalidate -------------------------------------------------------

TOKEN = "s3cret-admin"


def _post(app, body: object, token: str | None = TOKEN, path: str = "/admin/invalidate",
          method: str = "POST") -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    env = environ(path, method, {"Authorization": f"Bearer {token}"} if token else None)
    env["wsgi.input"] = io.BytesIO(raw)
    env["CONTENT_LENGTH"] = str(len(raw))
    got: list = []
    out = b"".join(app(env, lambda status, headers, exc_info=None: got.append(status)))
    return int(got[0].split()[0]), json.loads(out) if out.startswith(b"{") else {}


def _admin_app(tmp_path: Path, source_url: str, kind: str = "file", **cache_options: object):  # noqa: ANN202
    config = _config(tmp_path, source_url, kind, **cache_options)
    doc = yaml.safe_load(config.read_text())
    doc["globals"]["admin"] = {"token": TOKEN}
    write_config(config, doc)
    return config, make_wsgi_app(str(config))


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_admin_invalidate_removes_only_matching_tiles(tmp_path: Path, source, kind: str) -> None:
    config, app = _admin_app(tmp_path, source.url, kind)
    _fill(config, "a", ALL)
    _fill(config, "b", ALL)
    status, doc = _post(app, {"layer": "la", "bbox": [-HALF, 0, 0, HALF], "srs": "EPSG:3857", "levels": "2..3"})
    assert status == 200, doc
    assert doc == {"results": [{"cache": "a", "grid": GRID, "mode": "remove", "tiles": 20}]}
    assert _cached(config, "a") == ALL - _north_west({2, 3})
    assert _cached(config, "b") == ALL


def test_admin_stale_makes_the_next_request_fetch_again(tmp_path: Path, source) -> None:
    config, app = _admin_app(tmp_path, source.url, "file", refresh_before={"days": 7})
    url = f"/tms/1.0.0/la/{GRID}/2/1/3.png"
    assert call(app, url).status == 200 and call(app, url).status == 200
    assert source.count("wms") == 1
    # the south-west quarter, where tile (1, 4, 3) lies
    geometry = {"type": "Polygon", "coordinates": [[[-180, -85], [0, -85], [0, 0], [-180, 0], [-180, -85]]]}
    status, doc = _post(app, {"cache": "a", "coverage": geometry, "mode": "stale"})
    assert status == 200 and doc["results"][0]["mode"] == "stale" and doc["results"][0]["tiles"] == 1
    assert call(app, url).status == 200
    assert source.count("wms") == 2


def test_admin_api_is_off_without_a_token(tmp_path: Path, source) -> None:
    config = _config(tmp_path, source.url, "file")
    _fill(config, "a", ALL)
    app = make_wsgi_app(str(config))
    assert _post(app, {"cache": "a"})[0] == 404
    assert _cached(config, "a") == ALL


@pytest.mark.parametrize(("token", "body", "method", "status", "message"), [
    (None, {"cache": "a"}, "POST", 401, "token required"),
    ("wrong", {"cache": "a"}, "POST", 403, "wrong token"),
    (TOKEN, {"cache": "a"}, "GET", 405, "use POST"),
    (TOKEN, b"{not json", "POST", 400, "not JSON"),
    (TOKEN, {"cache": "a", "colour": 1}, "POST", 400, "unknown fields colour"),
    (TOKEN, {"cache": "nope"}, "POST", 400, "unknown cache 'nope'"),
    (TOKEN, {"cache": "a", "bbox": [1, 2, 3]}, "POST", 400, "bbox: expected four numbers"),
    (TOKEN, {"cache": "a", "levels": True}, "POST", 400, "levels: unexpected bool"),
    (TOKEN, {"cache": "a", "mode": "burn"}, "POST", 400, "mode: expected one of"),
    (TOKEN, {"cache": "a", "coverage": "POLYGON((0 0"}, "POST", 400, "coverage"),
])
def test_admin_refuses_bad_requests_with_json_errors(tmp_path: Path, source, token: str | None, body: object,
                                                     method: str, status: int, message: str) -> None:
    config, app = _admin_app(tmp_path, source.url)
    _fill(config, "a", ALL)
    got, doc = _post(app, body, token, method=method)
    assert got == status and message in doc["error"]
    assert _cached(config, "a") == ALL


def test_admin_section_without_token_is_a_config_error(tmp_path: Path, source) -> None:
    from tileproxy.config.errors import ConfigError

    config = _config(tmp_path, source.url, "file")
    doc = yaml.safe_load(config.read_text())
    doc["globals"]["admin"] = {"token": ""}
    write_config(config, doc)
    with pytest.raises(ConfigError, match="globals.admin.token"):
        load_proxy_config(config)
