"""Command-line options of tileproxy-seed beyond the basics: --duration,
--interactive, --log-config, --use-cache-lock."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

from support.seed import cached, manager, run_seed, write_configs

from tileproxy.tilecache.locks import FileLock

TWO_TASKS = {
    "seeds": {
        "first": {"caches": ["osm_cache"], "levels": [1]},
        "second": {"caches": ["osm_cache"], "levels": [2]},
    },
}


def test_duration_stops_and_continue_finishes(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, TWO_TASKS)
    seed, prog = str(tmp_path / "seed.yaml"), str(tmp_path / "progress")
    status, _, err = run_seed(tmp_path, "-s", seed, "--duration", "0s", "--continue", "--progress-file", prog)
    assert status == 0 and "--duration is over" in err and "--continue" in err
    assert source.count("wms") == 0 and os.path.exists(prog)
    status, _, err = run_seed(tmp_path, "-s", seed, "--duration", "1h", "--continue", "--progress-file", prog)
    assert status == 0, err
    assert len(cached(tmp_path)) == 4 + 16 and not os.path.exists(prog)


def test_interactive_asks_before_each_task(tmp_path: Path, source, monkeypatch) -> None:
    write_configs(tmp_path, source.url, TWO_TASKS)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\nyes\n"))
    status, out, _ = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "-i")
    assert status == 0
    assert "seed task 'first'" in out and "seed task 'second'" in out
    assert {c[2] for c in cached(tmp_path)} == {2}


def test_log_config_sends_errors_to_a_file(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, TWO_TASKS)
    log_file = tmp_path / "seed.log"
    conf = tmp_path / "log.ini"
    conf.write_text(f"""
[loggers]
keys=root
[handlers]
keys=file
[formatters]
keys=plain
[logger_root]
level=INFO
handlers=file
[handler_file]
class=FileHandler
args=({str(log_file)!r},)
formatter=plain
[formatter_plain]
format=%(levelname)s %(message)s
""")
    source.reset("error")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.run([sys.executable, "-m", "tileproxy.cli.seed", "-f", str(tmp_path / "mapproxy.yaml"),
                           "-s", str(tmp_path / "seed.yaml"), "--seed", "first", "--max-retries", "0",
                           "--log-config", str(conf)], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1
    assert "ERROR seed first (osm_cache in GLOBAL_WEBMERCATOR): tiles 1/0/0, 1/1/0" in log_file.read_text()


def test_cache_lock_waits_for_another_seed(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, TWO_TASKS)
    m = manager(tmp_path)
    lock = FileLock(os.path.join(m.lock_dir, f"seed-{m.lock_id}.lck"))
    lock.acquire()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "tileproxy.cli.seed", "-f", str(tmp_path / "mapproxy.yaml"),
                             "-s", str(tmp_path / "seed.yaml"), "--seed", "first", "--use-cache-lock"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 30
        while "waiting for the seed lock" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        assert "waiting for the seed lock" in seen
        assert source.count("wms") == 0 and proc.poll() is None
        lock.release()
        assert proc.wait(timeout=30) == 0
    finally:
        lock.release()
        proc.kill()
        proc.communicate()
    assert source.count("wms") == 1 and len(cached(tmp_path)) == 4


def test_shards_split_one_plan_without_overlap(tmp_path: Path, source) -> None:
    write_configs(tmp_path, source.url, {"seeds": {"s": {"caches": ["osm_cache"], "levels": {"to": 4}}}})
    seed = str(tmp_path / "seed.yaml")
    counts = []
    for shard in ("0/3", "1/3", "2/3"):
        source.reset()
        assert run_seed(tmp_path, "-s", seed, "--shard", shard)[0] == 0
        counts.append(source.count("wms"))
    assert all(counts) and sum(counts) == 1 + 1 + 4 + 16 + 64  # each meta tile once
    assert len(cached(tmp_path)) == 1 + 4 + 16 + 64 + 256
    assert run_seed(tmp_path, "-s", seed, "--shard", "3/3")[0] == 2
