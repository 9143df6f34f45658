"""The s3, azureblob and redis caches on real local servers (SeaweedFS, Azurite,
redis-server): the store protocol, MapProxy's key layouts (recorded from MapProxy 7
by bench/record_mapproxy_keys.py), their options, and serving through them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.configs import write_debug_config
from support.remote_stores import RemoteSpace
from support.stores import tile_png
from support.wsgi import call

from tileproxy.config.build import load_proxy_config
from tileproxy.config.errors import ConfigError
from tileproxy.stores.base import StoreError, Tile
from tileproxy.wsgi import make_wsgi_app

ROOT = Path(__file__).resolve().parent.parent
RECORDED = json.loads((ROOT / "tests" / "data" / "mapproxy_store_keys.json").read_text())
COORDS = [(0, 0, 0), (1, 2, 2), (3, 3, 2), (5, 9, 4), (130, 140, 8), (127, 0, 8)]
SERVER_FIXTURE = {"s3": "s3_server", "azureblob": "azurite_server", "redis": "redis_server"}


def test_round_trip_bulk_forms_and_listing(remote_space: RemoteSpace) -> None:
    store = remote_space.store()
    assert not store.load(Tile((1, 2, 2))) and not store.is_cached((1, 2, 2))
    tiles = [Tile(c, data=tile_png(c)) for c in COORDS]
    store.store_many(tiles)
    other = remote_space.store()  # as another process would open it
    found = other.load_many([Tile(c) for c in COORDS] + [Tile((7, 7, 3))])
    assert [t.coord for t in found] == COORDS
    assert [t.data for t in found] == [tile_png(c) for c in COORDS]
    assert other.cached_many([(1, 2, 2), (7, 7, 3)]) == [True, False]
    assert sorted(other.iter_coords(2)) == [(1, 2, 2), (3, 3, 2)]
    assert sorted(other.iter_coords(8)) == [(127, 0, 8), (130, 140, 8)]
    # one time per tile, the same whichever way it is asked: the ETag (made of it) must
    # not change between requests. The answer right after storing has the server's
    # time of its reply, which an S3 server may give a second after the object's own
    # (its Last-Modified is when the upload began): at most one 200 instead of a 304.
    times = other.timestamps_many(COORDS + [(7, 7, 3)])
    assert times[-1] is None
    for tile, loaded, ts in zip(tiles, found, times):
        assert abs(ts - time.time()) < 30
        assert loaded.timestamp == ts == other.timestamp(tile.coord)
        assert ts <= tile.timestamp <= ts + 1


def test_replace_remove_and_remove_level(remote_space: RemoteSpace) -> None:
    store = remote_space.store()
    store.store(Tile((3, 4, 5), data=tile_png((9, 9, 9))))
    store.store(Tile((3, 4, 5), data=tile_png((3, 4, 5))))
    tile = Tile((3, 4, 5))
    assert store.load(tile) and tile.data == tile_png((3, 4, 5))
    store.store_many([Tile(c, data=tile_png(c)) for c in COORDS])
    store.remove_many([(3, 4, 5), (1, 2, 2), (6, 6, 5)])  # removing what is not there is fine
    assert store.cached_many([(3, 4, 5), (1, 2, 2), (3, 3, 2)]) == [False, False, True]
    assert store.remove_level(8)
    assert list(store.iter_coords(8)) == []
    assert sorted(store.iter_coords(2)) == [(3, 3, 2)]
    assert store.is_cached((0, 0, 0))


def test_blob_that_is_not_an_image_is_a_miss(remote_space: RemoteSpace) -> None:
    store = remote_space.store()
    store.store(Tile((2, 2, 3), data=b"<html>proxy error</html>"))
    store.store(Tile((3, 2, 3), data=tile_png((3, 2, 3))[:-20]))
    assert store.load_many([Tile((2, 2, 3)), Tile((3, 2, 3))]) == []
    store.store(Tile((2, 2, 3), data=tile_png((2, 2, 3))))
    tile = Tile((2, 2, 3))
    assert store.load(tile) and tile.data == tile_png((2, 2, 3))


def test_read_only_store_reads_and_never_writes(remote_space: RemoteSpace) -> None:
    remote_space.store().store(Tile((1, 1, 2), data=tile_png((1, 1, 2))))
    before = remote_space.raw_keys()
    ro = remote_space.store(readonly=True)
    tile = Tile((1, 1, 2))
    assert ro.load(tile) and tile.data == tile_png((1, 1, 2))
    with pytest.raises(StoreError):
        ro.store_many([Tile((0, 0, 2), data=tile_png((0, 0, 2)))])
    with pytest.raises(StoreError):
        ro.remove_many([(1, 1, 2)])
    assert remote_space.raw_keys() == before


def test_stale_marks_on_object_stores_and_not_on_redis(remote_space: RemoteSpace) -> None:
    store = remote_space.store()
    store.store_many([Tile(c, data=tile_png(c)) for c in COORDS[:3]])
    marked = store.backdate_many([(1, 2, 2), (9, 9, 9)], 1000.0)  # a missing tile is skipped
    if remote_space.kind == "redis":  # keeps no write time that could be set back
        assert not marked
        return
    assert marked
    assert store.timestamps_many(COORDS[:3])[1] == 1000.0
    tile = Tile((1, 2, 2))
    assert store.load(tile) and tile.timestamp == 1000.0 and tile.data == tile_png((1, 2, 2))
    store.store(Tile((1, 2, 2), data=tile_png((1, 2, 2))))  # written again: fresh
    assert abs(store.timestamp((1, 2, 2)) - time.time()) < 30


# -- MapProxy's keys ---------------------------------------------------------------


def _filled(conf: dict, space: RemoteSpace) -> dict:
    names = {"bucket": getattr(space, "bucket", ""), "container": getattr(space, "container", ""),
             "endpoint": space.server.url if space.kind == "s3" else "",
             "connection": getattr(space.server, "connection_string", ""),
             "host": space.server.host, "port": space.server.port}
    return {k: names[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v for k, v in conf.items()}


@pytest.mark.parametrize("case", sorted(RECORDED["cases"]))
def test_keys_are_those_mapproxy_writes(case: str, request: pytest.FixtureRequest) -> None:
    """The keys tileproxy writes for the tiles MapProxy seeded are exactly MapProxy's
    (the area is lopsided: x and y swapped would give other keys), and tiles put at
    MapProxy's keys by another client are served."""
    recorded = RECORDED["cases"][case]
    kind = recorded["cache"]["type"]
    space = RemoteSpace(kind, request.getfixturevalue(SERVER_FIXTURE[kind]))
    space.conf = _filled(recorded["cache"], space)
    tiles = [tuple(t) for t in RECORDED["tiles"]]
    store = space.store(cache=RECORDED["cache_name"])
    store.store_many([Tile(c, data=tile_png(c)) for c in tiles])
    assert space.raw_keys() == recorded["keys"]
    assert sorted(c for z in range(4) for c in store.iter_coords(z)) == sorted(tiles)
    loaded = store.load_many([Tile(c) for c in tiles])
    assert [t.data for t in loaded] == [tile_png(c) for c in tiles]


def test_tiles_written_by_another_client_at_mapproxy_keys_are_served(s3_server) -> None:
    import boto3

    space = RemoteSpace("s3", s3_server, directory="/tiles/osm", directory_layout="tc")
    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url)
    keys = RECORDED["cases"]["s3_directory_tc"]["keys"]
    for coord in RECORDED["tiles"]:
        x, y, z = coord
        key = f"tiles/osm/{z:02d}/000/000/{x:03d}/000/000/{y:03d}.png"
        assert key in keys
        client.put_object(Bucket=space.bucket, Key=key, Body=tile_png(tuple(coord)))
    store = space.store(cache="c_cache")
    for coord in RECORDED["tiles"]:
        tile = Tile(tuple(coord))
        assert store.load(tile) and tile.data == tile_png(tuple(coord))


# -- options ---------------------------------------------------------------------


def _cache_store(tmp_path: Path, cache_block: dict, globals_cache: dict | None = None, **cache_options):  # noqa: ANN202
    config = {
        "caches": {"osm": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": [], "cache": cache_block, **cache_options}},
        "globals": {"cache": globals_cache or {}},
        "layers": [{"name": "osm", "title": "osm", "sources": ["osm"]}],
        "services": {"tms": {}},
    }
    import yaml

    path = tmp_path / "mapproxy.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_proxy_config(str(path)).caches["osm"].managers["GLOBAL_WEBMERCATOR"].store


def test_s3_options_and_globals(tmp_path: Path) -> None:
    store = _cache_store(tmp_path, {"type": "s3", "directory": "a/b", "include_grid_name": True,
                                    "directory_layout": "reverse_tms"},
                         {"s3": {"bucket_name": "tiles", "endpoint_url": "http://127.0.0.1:9", "region_name": "eu-x-1",
                                 "profile_name": None, "access_control_list": "public-read", "use_http_get": True}})
    assert store.bucket == "tiles" and store.region_name == "eu-x-1" and store.access_control_list == "public-read"
    assert store.keys.key((3, 4, 5)) == "a/b/GLOBAL_WEBMERCATOR/4/3/5.png"
    assert store.use_http_get and store.object_url((3, 4, 5)) == "http://127.0.0.1:9/tiles/a/b/GLOBAL_WEBMERCATOR/4/3/5.png"
    # the cache's own option wins over the global default; no directory: <cache>/<grid>
    store = _cache_store(tmp_path, {"type": "s3", "bucket_name": "own"}, {"s3": {"bucket_name": "tiles"}})
    assert store.bucket == "own" and store.keys.key((1, 2, 3)) == "osm/GLOBAL_WEBMERCATOR/3/1/2.png"
    assert store.object_url((1, 2, 3)) == "https://own.s3.amazonaws.com/osm/GLOBAL_WEBMERCATOR/3/1/2.png"


def test_azureblob_options_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    store = _cache_store(tmp_path, {"type": "azureblob", "connection_string": "AccountName=x;AccountKey=eQ==",
                                    "directory_layout": "quadkey"}, {"azureblob": {"container_name": "box"}})
    assert store.container == "box" and store.keys.key((1, 1, 1)) == "osm/GLOBAL_WEBMERCATOR/3.png"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=fromenv;AccountKey=eQ==")
    store = _cache_store(tmp_path, {"type": "azureblob", "container_name": "c", "connection_string": "AccountName=x"})
    assert store.connection_string == "AccountName=fromenv;AccountKey=eQ=="  # as in MapProxy, the environment wins


def test_redis_options(tmp_path: Path) -> None:
    store = _cache_store(tmp_path, {"type": "redis"})
    assert store.prefix == "osm_GLOBAL_WEBMERCATOR" and store.ttl == 3600 and store.supports_timestamps
    assert store.key((3, 4, 5)) == "osm_GLOBAL_WEBMERCATOR-5-3-4"
    kwargs = store.client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 6379, 0)
    store = _cache_store(tmp_path, {"type": "redis", "host": "10.1.2.3", "port": 6380, "db": 2, "prefix": "p",
                                    "default_ttl": 0, "username": "u", "password": "pw"})
    kwargs = store.client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["username"], kwargs["password"]) == \
        ("10.1.2.3", 6380, 2, "u", "pw")
    assert store.key((0, 0, 0)) == "p-0-0-0" and not store.supports_timestamps


@pytest.mark.parametrize(("block", "globals_cache", "message"), [
    ({"type": "s3"}, None, "caches.osm.cache.bucket_name: no bucket_name"),
    ({"type": "s3", "bucket_name": "b", "directory_layout": "nope"}, None, "caches.osm.cache.directory_layout: unknown"),
    ({"type": "azureblob", "connection_string": "x"}, None, "caches.osm.cache.container_name: no container_name"),
    ({"type": "azureblob"}, {"azureblob": {"container_name": "c"}}, "caches.osm.cache.connection_string: no connection"),
    ({"type": "redis", "port": "many"}, None, "caches.osm.cache.port: expected a number"),
    ({"type": "redis", "default_ttl": -1}, None, "caches.osm.cache.default_ttl: expected a number"),
])
def test_bad_options_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: dict,
                                  globals_cache: dict | None, message: str) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(ConfigError) as err:
        _cache_store(tmp_path, block, globals_cache)
    assert message in str(err.value)


def test_refresh_before_on_redis_without_expiry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _cache_store(tmp_path, {"type": "redis", "default_ttl": 0}, refresh_before={"hours": 1})
    assert "refresh_before" in str(err.value) and "keeps no tile timestamps" in str(err.value)


@pytest.mark.parametrize(("kind", "module", "extra"), [("s3", "boto3", "s3"), ("azureblob", "azure", "azure"),
                                                        ("redis", "redis", "redis")])
def test_missing_client_names_the_extra(tmp_path: Path, kind: str, module: str, extra: str) -> None:
    """In a python where the client cannot be imported (its module blocked)."""
    block = {"type": kind, "bucket_name": "b", "container_name": "c", "connection_string": "AccountName=x"}
    path = tmp_path / "mapproxy.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"caches": {"osm": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": [], "cache": block}},
                                    "layers": [{"name": "osm", "title": "osm", "sources": ["osm"]}],
                                    "services": {"tms": {}}}))
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from tileproxy.config.build import load_proxy_config\n"
            "from tileproxy.config.errors import ConfigError\n"
            f"try:\n    load_proxy_config({str(path)!r})\nexcept ConfigError as ex:\n    print(ex)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert f"pip install 'tileproxy[{extra}]'" in out.stdout, out.stdout + out.stderr
    assert "caches.osm.cache.type" in out.stdout


# -- behaviour of the backends ---------------------------------------------------------


def test_redis_tiles_expire_after_default_ttl(redis_server) -> None:
    space = RemoteSpace("redis", redis_server, default_ttl=1)
    store = space.store()
    store.store(Tile((0, 0, 1), data=tile_png((0, 0, 1))))
    assert store.is_cached((0, 0, 1))
    deadline = time.monotonic() + 10
    while store.is_cached((0, 0, 1)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not store.is_cached((0, 0, 1))
    forever = RemoteSpace("redis", redis_server, default_ttl=0).store()
    forever.store(Tile((0, 0, 1), data=tile_png((0, 0, 1))))
    assert redis_server.command("PTTL", f"{forever.prefix}-1-0-0").strip() == b":-1"
    assert forever.timestamp((0, 0, 1)) is None and forever.is_cached((0, 0, 1))


def test_s3_use_http_get_reads_over_plain_http(s3_server) -> None:
    """SeaweedFS without credentials configured answers anonymous GETs, as a public bucket does."""
    space = RemoteSpace("s3", s3_server)
    space.store().store_many([Tile(c, data=tile_png(c)) for c in COORDS[:2]])
    store = space.store(use_http_get=True)
    tile = Tile(COORDS[1])
    assert store.load(tile) and tile.data == tile_png(COORDS[1])
    assert tile.timestamp == space.store().timestamp(COORDS[1])
    assert not store.load(Tile((7, 7, 3)))
    assert store.timestamp((7, 7, 3)) is None


def test_unreachable_server_is_a_miss_and_a_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from support.servers import free_port

    port = free_port()
    from tileproxy.stores.redis_store import RedisStore
    from tileproxy.stores.s3 import S3Store

    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for store in (RedisStore("p", port=port), S3Store("b", "d", endpoint_url=f"http://127.0.0.1:{port}")):
        assert not store.load(Tile((0, 0, 0)))
        assert store.load_many([Tile((0, 0, 0)), Tile((1, 0, 1))]) == []
        with pytest.raises(StoreError):
            store.store_many([Tile((0, 0, 0), data=tile_png((0, 0, 0)))])


def test_serving_from_each_remote_cache(tmp_path: Path, source, remote_space: RemoteSpace) -> None:
    """A TMS tile is created once (one source request for its meta tile), then served
    from the store with the same ETag; the neighbours of its meta tile come from the
    store too."""
    config = write_debug_config(tmp_path, remote_space.conf, sources=("wms",), meta_size=(2, 2), wms=False,
                                wms_url=source.url)
    app = make_wsgi_app(str(config))
    first = call(app, "/tms/1.0.0/c/GLOBAL_WEBMERCATOR/2/1/1.png")
    assert first.status == 200 and first.body.startswith(b"\x89PNG")
    again = call(app, "/tms/1.0.0/c/GLOBAL_WEBMERCATOR/2/1/1.png")
    neighbour = call(app, "/tms/1.0.0/c/GLOBAL_WEBMERCATOR/2/0/0.png")
    assert again.status == neighbour.status == 200
    assert again.body == first.body
    assert again.headers["ETag"] == first.headers["ETag"]
    assert source.count("wms") == 1
    assert len(remote_space.raw_keys()) == 4  # the meta tile's four tiles


def test_redis_refresh_before_reads_the_age_from_the_expiry(tmp_path: Path, source, redis_server) -> None:
    """A key written two hours ago (by its remaining expiry) is stale for ``hours: 1``:
    served once more from the source, then fresh again."""
    space = RemoteSpace("redis", redis_server, default_ttl=86400)
    config = write_debug_config(tmp_path, space.conf, sources=("wms",), meta_size=(1, 1), wms=False,
                                wms_url=source.url)
    import yaml

    doc = yaml.safe_load(Path(config).read_text())
    doc["caches"]["c"]["refresh_before"] = {"hours": 1}
    Path(config).write_text(yaml.safe_dump(doc))
    app = make_wsgi_app(str(config))
    url = "/tms/1.0.0/c/GLOBAL_WEBMERCATOR/1/0/0.png"
    assert call(app, url).status == 200 and call(app, url).status == 200
    assert source.count("wms") == 1
    key = space.raw_keys()[0]
    assert redis_server.command("PEXPIRE", key, str((86400 - 7200) * 1000)).strip() == b":1"
    assert call(app, url).status == 200
    assert source.count("wms") == 2
    assert call(app, url).status == 200
    assert source.count("wms") == 2


@pytest.mark.parametrize("kind", ["s3", "azureblob"])
def test_a_missing_bucket_or_container_still_serves_tiles(tmp_path: Path, source, kind: str,
                                                           request: pytest.FixtureRequest) -> None:
    """Nothing is contacted at start-up; each request is served from the source, and the
    failed writes are logged, not answered with an error."""
    server = request.getfixturevalue(SERVER_FIXTURE[kind])
    space = RemoteSpace(kind, server)
    space.conf["bucket_name" if kind == "s3" else "container_name"] = "no-such-place"
    config = write_debug_config(tmp_path, space.conf, sources=("wms",), meta_size=(1, 1), wms=False,
                                wms_url=source.url)
    app = make_wsgi_app(str(config))
    for _ in range(2):
        answer = call(app, "/tms/1.0.0/c/GLOBAL_WEBMERCATOR/1/0/0.png")
        assert answer.status == 200 and answer.body.startswith(b"\x89PNG")
    assert source.count("wms") == 2  # nothing could be kept


def test_check_and_readyz_ask_the_remote_store(tmp_path: Path, source, remote_space: RemoteSpace, capsys) -> None:
    """``tileproxy check`` says each remote store answers, or what is wrong with it
    (and fails); /readyz answers 503 with the reason."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from tileproxy.cli.main import main

    config = write_debug_config(tmp_path, remote_space.conf, sources=("wms",), wms=False, wms_url=source.url)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["check", str(config)]) == 0
    assert "cache c (GLOBAL_WEBMERCATOR): " in out.getvalue() and ": answers" in out.getvalue()
    assert call(make_wsgi_app(str(config)), "/readyz").status == 200

    broken = dict(remote_space.conf)
    if remote_space.kind == "redis":
        from support.servers import free_port

        broken["port"] = free_port()
        reason = "cannot reach redis"
    else:
        key = "bucket_name" if remote_space.kind == "s3" else "container_name"
        broken[key] = "no-such-place"
        reason = "no-such-place does not exist"
    config = write_debug_config(tmp_path, broken, sources=("wms",), wms=False, wms_url=source.url)
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert main(["check", str(config)]) == 1
    assert "problem: cache c (GLOBAL_WEBMERCATOR)" in err.getvalue() and reason in err.getvalue()
    ready = call(make_wsgi_app(str(config)), "/readyz")
    assert ready.status == 503 and reason in ready.body.decode()
