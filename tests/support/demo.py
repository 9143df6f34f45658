"""Helpers of the demo tests: apps from config dicts, pages fetched in-process, the
links and viewer config a page holds, the tile URLs the viewer builds, and the
viewer's own functions run by node."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from support.configs import dump
from support.wsgi import call
from tileproxy.wsgi import TileProxyApp, make_wsgi_app

ROOT = Path(__file__).resolve().parents[2]
VIEWER_JS = ROOT / "tileproxy" / "services" / "static" / "viewer.js"
NODE = shutil.which("node")
EVIL = "</script><script>alert('x')</script> & <b onclick=\"y\">"


def make_app(tmp_path: Path, config: dict) -> TileProxyApp:
    """The app of ``config`` in ``tmp_path``, caching under ``tmp_path/cache``."""
    config = copy.deepcopy(config)
    config.setdefault("globals", {}).setdefault("cache", {})["base_dir"] = str(tmp_path / "cache")
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "mapproxy.yaml"
    path.write_text(dump(config))
    app = make_wsgi_app(path)
    assert isinstance(app, TileProxyApp)
    return app


def get(app, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` (a path, or an absolute URL whose host part is dropped): status,
    headers by lower-case name, body."""
    answer = call(app, url, headers=headers)
    return answer.status, {k.lower(): v for k, v in answer.header_list}, answer.body


class LinkParser(HTMLParser):
    """Collects href/src attribute values and inline script contents."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: dict[str, str] = {}
        self._script_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("href", "src") and v]
        self._script_id = a.get("id") if tag == "script" else None

    def handle_data(self, data: str) -> None:
        if self._script_id:
            self.scripts[self._script_id] = self.scripts.get(self._script_id, "") + data

    def handle_endtag(self, tag: str) -> None:
        self._script_id = None


def parse(body: bytes) -> LinkParser:
    parser = LinkParser()
    parser.feed(body.decode("utf-8"))
    return parser


def viewer_config(app: TileProxyApp, url: str, headers: dict[str, str] | None = None) -> dict:
    status, headers_out, body = get(app, url, headers)
    assert status == 200, body
    assert headers_out["content-type"].startswith("text/html")
    return json.loads(parse(body).scripts["viewer-config"])


def tile_url(conf: dict, m: dict, col: int, row: int) -> str:
    """The URL viewer.js builds for a tile (``row`` counted from the top)."""
    if "{bbox}" in conf["url"]:  # WMS: GetMap for the tile's bbox
        w, h = conf["tileSize"][0] * m["res"], conf["tileSize"][1] * m["res"]
        bbox = [m["left"] + col * w, m["top"] - (row + 1) * h, m["left"] + (col + 1) * w, m["top"] - row * h]
        if conf.get("bboxYX"):
            bbox = [bbox[1], bbox[0], bbox[3], bbox[2]]
        return conf["url"].replace("{bbox}", ",".join(repr(v) for v in bbox))
    y = m["height"] - 1 - row if conf["yAxis"] == "up" else row
    return conf["url"].replace("{z}", m["id"]).replace("{x}", str(col)).replace("{y}", str(y))


def run_viewer(expr: str) -> object:
    """Evaluate ``expr`` with the viewer's functions in scope (``v``) and return it as JSON."""
    script = f"const v = require({json.dumps(str(VIEWER_JS))}); process.stdout.write(JSON.stringify({expr}));"
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)
