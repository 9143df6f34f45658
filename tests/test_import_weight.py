"""Memory per worker: a configuration without coverages or band merges must not load
shapely and numpy (about 16 MB of RSS in every gunicorn worker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.configs import cache_config, tile_source, write_config

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import sys
from tileproxy import make_wsgi_app
make_wsgi_app(sys.argv[1])
print(sorted(m for m in ("shapely", "numpy") if m in sys.modules))
"""


def _loaded_after_app(conf: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", CHECK, str(conf)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def _config(tmp_path: Path, **file_cache: object) -> Path:
    """A file cache (``file_cache``: more keys of its ``cache:``) over a tile source."""
    return write_config(tmp_path / "mapproxy.yaml", cache_config(
        {"s": tile_source("http://127.0.0.1:9/%(z)s/%(x)s/%(y)s.png")}, source_name="s", layer_name="t", title="T",
        meta_size=None, services={"tms": None, "wmts": None}, cache_options={"cache": {"type": "file", **file_cache}},
        globals={"cache": {"base_dir": str(tmp_path / "cache")}}))


def test_no_coverage_no_shapely(tmp_path):
    assert _loaded_after_app(_config(tmp_path)) == "[]"


def test_a_cache_coverage_still_loads_it(tmp_path):
    coverage = {"bbox": [5, 45, 15, 55], "srs": "EPSG:4326"}
    assert "shapely" in _loaded_after_app(_config(tmp_path, coverage=coverage))
