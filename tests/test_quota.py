"""cache.max_size (docs/quota.md): the config keys and their errors, sweeps that keep
file caches (every directory layout) and compact caches (v1, v2) under the limit by
removing the tiles served longest ago, protected levels, the recording of serving
times, and a real seeder filling a cache past the limit while gunicorn serves it."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from PIL import Image
from support.configs import debug_cache_config, write_config
from support.stores import tile_png

from tileproxy.cli.main import main as tileproxy_main
from tileproxy.config.build import load_proxy_config
from tileproxy.config.errors import ConfigError
from tileproxy.image.codec import check_image_bytes
from tileproxy.storage_check import format_size
from tileproxy.stores.base import Tile
from tileproxy.stores.compact import CompactStore
from tileproxy.stores.file import FileStore
from tileproxy.stores.layouts import LAYOUTS
from tileproxy.stores.quota import Quota, area_of, disk_use, read_last_used, write_last_used

DAY = 86400.0
ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, backend: dict, **more: object) -> Path:
    """A debug-source cache ``c`` with the ``cache:`` block ``backend``, and a cache
    ``other`` without a limit; caches under ./cache."""
    config = debug_cache_config(backend)
    config["caches"]["other"] = {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["dbg"], "meta_size": [1, 1],
                                 "meta_buffer": 0, "cache": {"type": "file"}}
    config["layers"].append({"name": "other", "title": "other", "sources": ["other"]})
    config.update(more)
    return write_config(tmp_path / "mapproxy.yaml", config)


# --- configuration


@pytest.mark.parametrize(("written", "size"), [
    ("20GB", 20 * 1024 ** 3), ("500 MB", 500 * 1024 ** 2), ("1.5TB", int(1.5 * 1024 ** 4)), ("64KiB", 65536),
    ("64kb", 65536), ("1000 bytes", 1000), (123456, 123456), ("12k", 12288), ("2G", 2 * 1024 ** 3),
])
def test_max_size_forms(tmp_path, written, size):
    quota = load_proxy_config(_config(tmp_path, {"type": "file", "max_size": written})).caches["c"].quota
    assert quota is not None and quota.max_size == size
    assert quota.sweep_interval == 300 and quota.protect == frozenset()


@pytest.mark.parametrize(("key", "value", "says"), [
    ("max_size", "20 parsecs", "expected a size such as 20GB"),
    ("max_size", "GB", "expected a size such as 20GB"),
    ("max_size", 0, "above zero"),
    ("max_size", True, "expected a string or a number"),
    ("max_size_sweep_interval", "5 fortnights", "expected seconds or a duration"),
    ("max_size_sweep_interval", -1, "zero or more"),
    ("protect_levels", {"from": 5, "to": 2}, "below 'from'"),
    ("protect_levels", [0, -1], "expected"),
])
def test_bad_quota_values_name_the_file_and_key(tmp_path, key, value, says):
    backend = {"type": "file", "max_size": "1GB", key: value}
    path = _config(tmp_path, backend)
    with pytest.raises(ConfigError) as err:
        load_proxy_config(path)
    text = str(err.value)
    assert str(path) in text and "caches.c.cache." + key in text and says in text, text


def test_max_size_only_on_file_and_compact_caches(tmp_path):
    with pytest.raises(ConfigError, match=r"caches\.c\.cache\.max_size: max_size works on file and compact"):
        load_proxy_config(_config(tmp_path, {"type": "mbtiles", "max_size": "1GB"}))


def test_max_size_refused_on_a_cache_without_sources(tmp_path):
    config = debug_cache_config({"type": "file", "max_size": "1GB"}, sources=())
    with pytest.raises(ConfigError, match="without sources"):
        load_proxy_config(write_config(tmp_path / "mapproxy.yaml", config))


def test_protect_levels_forms(tmp_path):
    def protect(value: object) -> frozenset[int]:
        path = _config(tmp_path, {"type": "compact", "version": 2, "max_size": "1GB", "protect_levels": value})
        return load_proxy_config(path).caches["c"].quota.protect

    assert protect(3) == {3}
    assert protect([0, 1, 5]) == {0, 1, 5}
    assert protect({"from": 0, "to": 8}) == set(range(9))
    assert protect({"from": 18}) == set(range(18, 20))  # to the grid's last level


def test_quota_keys_without_max_size_warn(tmp_path):
    config = load_proxy_config(_config(tmp_path, {"type": "file", "protect_levels": [0]}))
    assert config.caches["c"].quota is None
    assert any("caches.c.cache.protect_levels" in w and "without cache.max_size" in w for w in config.warnings)


def test_check_reports_the_quota(tmp_path):
    path = _config(tmp_path, {"type": "file", "max_size": "2GB", "max_size_sweep_interval": "10m",
                              "protect_levels": {"from": 0, "to": 4}})
    out = io.StringIO()
    with redirect_stdout(out):
        assert tileproxy_main(["check", str(path)]) == 0
    line = next(ln for ln in out.getvalue().splitlines() if ln.startswith("cache c:"))
    assert "max_size 2.0 GiB (2147483648 bytes)" in line
    assert "every 600 s" in line and "protected levels: 0-4" in line
    assert str(tmp_path / "cache" / "c_EPSG3857") in line
    assert "cache other:" not in out.getvalue()


def test_no_max_size_no_quota(tmp_path):
    config = load_proxy_config(_config(tmp_path, {"type": "file"}))
    assert config.caches["c"].quota is None
    assert config.caches["c"].managers["GLOBAL_WEBMERCATOR"].store.quota is None


# --- sweeps of file caches


def _noisy_png(coord: tuple[int, int, int]) -> bytes:
    """A PNG of about 12 KB that tells its coordinate (noise does not compress)."""
    noise = random.Random(repr(coord)).randbytes(64 * 64 * 3)
    buf = io.BytesIO()
    Image.frombytes("RGB", (64, 64), noise).save(buf, "PNG")
    return buf.getvalue()


def _fill(store, levels: range, tile=tile_png) -> list[tuple[int, int, int]]:
    coords = [(x, y, z) for z in levels for x in range(2 ** z) for y in range(2 ** z)]
    store.store_many([Tile(c, tile(c)) for c in coords])
    return coords


def _age_file(store: FileStore, coord, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(store.path(coord), (when, when))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_file_sweep_removes_the_least_recently_served(tmp_path, layout):
    store = FileStore(str(tmp_path / "c"), layout=layout)
    coords = _fill(store, range(0, 4))  # 1 + 4 + 16 + 64 tiles
    # levels 2 and 3: the older a tile's last use, the smaller its number
    ages = {c: (i + 1) * 3600.0 for i, c in enumerate(reversed([c for c in coords if c[2] >= 2]))}
    for coord, seconds_ago in ages.items():
        _age_file(store, coord, seconds_ago)
    quota = Quota("c", 1, [area_of(store)], str(tmp_path / "locks" / "q.lock"), protect=frozenset([0, 1]))
    used = quota.usage()
    quota.max_size = used * 2 // 3
    result = quota.sweep()
    assert result.before == used and result.removed > 0
    assert quota.usage() <= quota.max_size
    kept = {c for z in range(4) for c in store.iter_coords(z)}
    assert {c for c in coords if c[2] < 2} <= kept  # protected
    gone = set(coords) - kept
    # whatever went was served longer ago than whatever stayed
    assert min(ages[c] for c in gone) > max(ages[c] for c in kept if c in ages)


def test_file_sweep_keeps_tiles_of_other_dimensions_in_its_count(tmp_path):
    store = FileStore(str(tmp_path / "c"))
    time_store = store.for_dimensions((("TIME", "2020"),))
    _fill(store, range(0, 3))
    old = _fill(time_store, range(0, 3))
    for coord in old:
        _age_file(time_store, coord, DAY)
    quota = Quota("c", 1, [area_of(store)], str(tmp_path / "q.lock"))
    used = quota.usage()
    assert used == sum(disk_use(os.stat(store.path(c))) + disk_use(os.stat(time_store.path(c))) for c in old)
    quota.max_size = used * 3 // 4
    quota.sweep()
    assert quota.usage() <= quota.max_size
    assert len(list(store.iter_coords(2))) == 16  # the newer tiles stay, the old TIME ones go first
    assert len(list(time_store.iter_coords(2))) < 16


def test_file_sweep_under_the_limit_removes_nothing(tmp_path):
    store = FileStore(str(tmp_path / "c"))
    coords = _fill(store, range(0, 3))
    quota = Quota("c", 10 ** 12, [area_of(store)], str(tmp_path / "q.lock"))
    result = quota.sweep()
    assert result.removed == 0 and result.after == result.before
    assert all(os.path.exists(store.path(c)) for c in coords)


def test_serving_a_file_tile_records_its_use_once_an_hour(tmp_path):
    store = FileStore(str(tmp_path / "c"))
    store.quota = Quota("c", 10 ** 12, [area_of(store)], str(tmp_path / "q.lock"))
    coord = (1, 1, 1)
    store.store(Tile(coord, tile_png(coord)))
    path = store.path(coord)
    written = time.time() - 2 * DAY
    os.utime(path, (written, written))
    assert store.load(Tile(coord))
    st = os.stat(path)
    assert st.st_atime > time.time() - 60 and st.st_mtime == written  # the tile's time stays
    recent = time.time() - 10
    os.utime(path, (recent, written))
    changed = os.stat(path).st_ctime_ns
    assert store.load(Tile(coord))
    # not recorded again within the hour (setting times changes the ctime, a kernel atime update does not)
    assert os.stat(path).st_ctime_ns == changed


def test_tiles_served_by_the_app_record_their_use(tmp_path):
    """Every request of a tile counts as its use, also when the same URL is asked again
    (a worker keeps no copy of a tile of a cache with max_size)."""
    from support.wsgi import call

    from tileproxy.wsgi import make_wsgi_app

    config = _config(tmp_path, {"type": "file", "max_size": "1GB"})
    app = make_wsgi_app(str(config))
    url = "/tms/1.0.0/c/GLOBAL_WEBMERCATOR/1/0/0.png"
    assert call(app, url).status == 200  # drawn and stored
    store = load_proxy_config(config).caches["c"].managers["GLOBAL_WEBMERCATOR"].store
    (path,) = [store.path(c) for z in range(4) for c in store.iter_coords(z)]
    written = time.time() - 2 * DAY
    for _ in range(3):
        # last served two hours ago: past the hour after which a use is recorded again, and
        # within the day after which the kernel (relatime) would record a read itself
        os.utime(path, (time.time() - 7200, written))
        answer = call(app, url)
        assert answer.status == 200 and answer.headers.get("Cache-Status", "").endswith("hit")
        assert os.stat(path).st_atime > time.time() - 60


# --- sweeps of compact caches


@pytest.mark.parametrize("version", [1, 2])
def test_compact_sweep_removes_the_least_recently_served(tmp_path, version):
    directory = str(tmp_path / "c")
    lock = str(tmp_path / "q.lock")
    store = CompactStore(directory, version=version)
    store.quota = Quota("c", 10 ** 12, [area_of(store)], lock)
    coords = _fill(store, range(0, 4), _noisy_png)  # one bundle per level
    _fill(store, range(3, 4), _noisy_png)  # stored again: the first copies are dead space in the bundle
    # every tile last used days ago, then a fresh process serves some of them
    for _level, bundle in store.bundles():
        write_last_used(bundle.base, [pos for pos, _, _ in bundle.entries()], time.time() - 3 * DAY)
    serving = CompactStore(directory, version=version)
    serving.quota = Quota("c", 10 ** 12, [area_of(serving)], lock)
    served = [c for c in coords if c[2] >= 2 and (c[0] + c[1]) % 3 == 0]
    for coord in served:
        assert serving.load(Tile(coord))
    quota = Quota("c", 1, [area_of(store)], lock, protect=frozenset([0, 1]))
    used = quota.usage()
    quota.max_size = used * 2 // 3
    result = quota.sweep()
    assert result.removed > 0 and quota.usage() <= quota.max_size
    kept = set(store.coords())
    assert {c for c in coords if c[2] < 2} <= kept  # protected
    assert set(served) <= kept
    reader = CompactStore(directory, version=version)
    for coord in kept:  # the rewritten bundles read whole
        tile = Tile(coord)
        assert reader.load(tile) and tile.data == _noisy_png(coord)
    for coord in set(coords) - kept:
        assert not reader.load(Tile(coord))


def test_compact_stores_record_when_tiles_are_stored(tmp_path):
    store = CompactStore(str(tmp_path / "c"), version=2)
    store.quota = Quota("c", 10 ** 12, [area_of(store)], str(tmp_path / "q.lock"))
    before = time.time()
    store.store(Tile((3, 5, 4), tile_png((3, 5, 4))))
    bundle = store.bundle((3, 5, 4))
    used = read_last_used(bundle.base)
    assert used[bundle.position((3, 5, 4))] >= int(before)
    assert sum(1 for t in used if t) == 1


# --- when sweeps run


def _quota_for(tmp_path: Path, interval: float) -> tuple[Quota, FileStore]:
    store = FileStore(str(tmp_path / "c"))
    quota = Quota("c", 1, [area_of(store)], str(tmp_path / "locks" / "q.lock"), sweep_interval=interval)
    store.quota = quota
    return quota, store


def test_a_write_starts_a_sweep_off_the_writers_thread(tmp_path):
    quota, store = _quota_for(tmp_path, 0)
    store.store(Tile((0, 0, 0), tile_png((0, 0, 0))))
    assert quota.wait(30)
    assert quota.last_result is not None and quota.last_result.removed == 1
    assert not os.path.exists(store.path((0, 0, 0)))


def test_no_sweep_within_the_interval_after_another_process_swept(tmp_path):
    quota, store = _quota_for(tmp_path, 300)
    os.makedirs(tmp_path / "locks")
    (tmp_path / "locks" / "q.lock").write_text(repr(time.time() - 10))  # another process swept 10 s ago
    store.store(Tile((0, 0, 0), tile_png((0, 0, 0))))
    assert quota.wait(30)
    assert quota.last_result is None and os.path.exists(store.path((0, 0, 0)))
    store.store(Tile((1, 0, 1), tile_png((1, 0, 1))))  # not due again: no sweep is started
    assert quota._thread is None and quota.last_result is None


def test_no_sweep_when_another_began_after_the_write(tmp_path):
    quota, store = _quota_for(tmp_path, 0)
    os.makedirs(tmp_path / "locks")
    (tmp_path / "locks" / "q.lock").write_text(repr(time.time() + 60))
    store.store(Tile((0, 0, 0), tile_png((0, 0, 0))))
    assert quota.wait(30)
    assert quota.last_result is None


# --- a seeder fills the cache while gunicorn serves it


def _tree(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in directory.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("backend", "max_size"), [
    ({"type": "file", "directory_layout": "tms"}, "1MB"),  # 341 tiles of 4 KiB on disk
    # tiles of 3.4 KB, and each bundle (one per level here) keeps its index: 132 KiB on disk
    ({"type": "compact", "version": 2}, "1.2MB"),
    ({"type": "compact", "version": 1}, "1.3MB"),  # 150 KiB per bundle
], ids=["file", "compact-v2", "compact-v1"])
def test_seeding_past_max_size_while_serving(tmp_path, backend, max_size):
    pytest.importorskip("gunicorn")
    from support.gunicorn import Gunicorn
    from support.wsgi import fetch

    levels = range(0, 5)  # 341 debug tiles
    config = debug_cache_config({**backend, "max_size": max_size, "max_size_sweep_interval": 0,
                                 "protect_levels": {"from": 0, "to": 2}})
    config["caches"]["other"] = {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["dbg"], "meta_size": [1, 1],
                                 "meta_buffer": 0, "cache": {"type": "file"}}
    path = write_config(tmp_path / "mapproxy.yaml", config)
    write_config(tmp_path / "seed.yaml", {"seeds": {
        "other": {"caches": ["other"], "levels": {"from": 0, "to": 2}},
        "c": {"caches": ["c"], "levels": {"from": levels.start, "to": levels.stop - 1}},
    }})
    seed = [sys.executable, "-m", "tileproxy.cli.seed", "-f", str(path), "-s", str(tmp_path / "seed.yaml"), "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(seed + ["--seed", "other"], env=env, check=True, capture_output=True)
    other = _tree(tmp_path / "cache" / "other_EPSG3857")

    srv = Gunicorn(tmp_path, {"TILEPROXY_CONFIG": str(path)}, workers=2)
    answers: list[tuple[str, int, bytes]] = []
    done = threading.Event()

    def read(worker: int) -> None:
        i = worker
        while not done.is_set():
            z = i % len(levels)
            x, y = (i * 7) % 2 ** z, (i * 13) % 2 ** z
            url = f"{srv.base}/tms/1.0.0/c/GLOBAL_WEBMERCATOR/{z}/{x}/{y}.png"
            answer = fetch(url)
            answers.append((url, answer.status, answer.body))
            i += 3

    try:
        assert srv.base, "".join(srv.log)
        readers = [threading.Thread(target=read, args=(n,)) for n in range(3)]
        for t in readers:
            t.start()
        try:
            seeded = subprocess.run(seed + ["--seed", "c"], env=env, capture_output=True, text=True, timeout=600)
        finally:
            done.set()
            for t in readers:
                t.join()
        assert seeded.returncode == 0, seeded.stderr
        quota = load_proxy_config(path).caches["c"].quota
        deadline = time.monotonic() + 60  # the workers' last sweeps, on their own threads
        while quota.usage() > quota.max_size and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        log = srv.stop()
    assert answers, log
    for url, status, body in answers:  # every answer a whole PNG, none cut by a removal
        assert status == 200, (url, body[:200])
        check_image_bytes(body)
    assert quota.usage() <= quota.max_size
    manager = load_proxy_config(path).caches["c"].managers["GLOBAL_WEBMERCATOR"]
    for z in range(0, 3):  # protected
        assert len(list(manager.store.iter_coords(z))) == 4 ** z
    remaining = sum(len(list(manager.store.iter_coords(z))) for z in levels)
    assert remaining < sum(4 ** z for z in levels)  # tiles were removed
    assert _tree(tmp_path / "cache" / "other_EPSG3857") == other


def test_quota_command_reports_use_and_sweeps(tmp_path):
    path = _config(tmp_path, {"type": "file", "max_size": "1MB"})
    cache = load_proxy_config(path).caches["c"]
    store = cache.managers["GLOBAL_WEBMERCATOR"].store
    store.quota = None  # filled past the limit without sweeps
    _fill(store, range(0, 4), _noisy_png)  # 85 tiles of 12+ KiB
    used = cache.quota.usage()
    assert used > 1024 ** 2

    def tileproxy(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            status = tileproxy_main(["quota", "-f", str(path), *args])
        return status, out.getvalue(), err.getvalue()

    assert tileproxy() == (0, f"c: {format_size(used)} of 1.0 MiB ({100 * used / 1024 ** 2:.0f}%)\n", "")
    status, swept, _ = tileproxy("--sweep")
    assert status == 0 and swept.startswith(f"c: {format_size(used)} -> ") and "tiles removed" in swept
    assert cache.quota.usage() <= 1024 ** 2
    status, _, err = tileproxy("--caches", "other")
    assert status == 2 and "other is a cache without max_size" in err


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_single_colour_tiles_and_their_links_stay(tmp_path, link):
    store = FileStore(str(tmp_path / "c"), link_single_color=link)
    red = tile_png((0, 0, 0))
    linked = [(x, y, 3) for x in range(4) for y in range(4)]
    for coord in linked:
        store.store(Tile(coord, red, single_color=(255, 0, 0)))
    plain = _fill(store, range(2, 3), _noisy_png)
    shared = tmp_path / "c" / "single_color_tiles" / "ff0000.png"
    quota = Quota("c", 1, [area_of(store)], str(tmp_path / "q.lock"))
    used = quota.usage()
    assert used >= disk_use(os.stat(shared)) + sum(disk_use(os.stat(store.path(c))) for c in plain)
    quota.sweep()
    assert shared.exists() and all(os.path.lexists(store.path(c)) for c in linked)
    assert not any(os.path.exists(store.path(c)) for c in plain)


def test_one_limit_over_all_grids_and_a_coverage(tmp_path):
    config = debug_cache_config({"type": "file", "max_size": "1GB", "coverage": {"bbox": [0, 0, 10, 10], "srs": "EPSG:4326"}})
    config["caches"]["c"]["grids"] = ["GLOBAL_WEBMERCATOR", "GLOBAL_GEODETIC"]
    cache = load_proxy_config(write_config(tmp_path / "mapproxy.yaml", config)).caches["c"]
    stores = [m.store for m in cache.managers.values()]
    assert [area.directory for area in cache.quota.areas] == [s.inner.directory for s in stores]
    assert len({area.directory for area in cache.quota.areas}) == 2
    assert all(s.inner.quota is cache.quota for s in stores)
