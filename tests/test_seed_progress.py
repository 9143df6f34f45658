"""The progress display with a fake clock: what a person or a log collector sees."""

from __future__ import annotations

import io
import json

from tileproxy.seed.progress import Progress


def _run(mode: str) -> list[str]:
    now = [1000.0]
    out = io.StringIO()
    p = Progress(mode, stream=out, interval=1.0, clock=lambda: now[0])
    p.start_task("seed world (osm in GRID)", total=400)
    for _ in range(10):
        now[0] += 0.5  # 20 tiles every half second: 40 tiles/s
        p.advance(3, (1000.0, 2000.0, 3000.0, 4000.0), 20, created=16, requests=1)
    p.skip(100)  # a subtree outside the coverage
    p.finish_task()
    return out.getvalue().splitlines()


def test_text_progress_shows_level_share_rate_and_eta() -> None:
    lines = _run("text")
    assert "~400 tiles to check" in lines[0]
    progress = [line for line in lines if " L 3 " in line]
    assert len(progress) == 5  # at most one line per second
    last = progress[-1]
    assert " 50.00% " in last and "(200/~400 tiles" in last and "40.0 tiles/s" in last
    assert "ETA 0:00:05" in last and "1000, 2000, 3000, 4000" in last
    assert "done: 200 tiles checked, 160 written, 0 removed, 0 failed, 10 source requests" in lines[-1]


def test_json_progress_lines_parse_and_end_at_100_percent() -> None:
    events = [json.loads(line) for line in _run("json")]
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "done"
    mid = [e for e in events if e["event"] == "progress"][-1]
    assert mid["level"] == 3 and mid["bbox"] == [1000.0, 2000.0, 3000.0, 4000.0]
    assert mid["done"] == 200 and mid["total"] == 400 and mid["rate"] == 40.0 and mid["eta"] == 5.0
    assert events[-1]["percent"] == 100.0 and events[-1]["created"] == 160


def test_quiet_and_silent() -> None:
    assert len(_run("quiet")) == 1 and _run("silent") == []
