"""GDAL's OGCAPI driver against a live tileproxy under gunicorn: gdalinfo opens a
collection, gdal_translate reads a window of it through OGC API Maps, and the
pixels are the source's at the right places."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from PIL import Image
from support.configs import write_config
from support.gunicorn import Gunicorn
from support.ogcapi import ogcapi_config
from support.source_server import expected_color

pytest.importorskip("gunicorn", reason="gunicorn is a test dependency (pip install -e '.[test]')")
if shutil.which("gdalinfo") is None or shutil.which("gdal_translate") is None:
    pytest.skip("GDAL's command line tools (gdalinfo, gdal_translate) are not installed", allow_module_level=True)


def _gdal_version() -> tuple[int, ...]:
    out = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True, check=True).stdout
    return tuple(int(v) for v in re.search(r"GDAL (\d+)\.(\d+)", out).groups())  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def server(tmp_path_factory, _source_server) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("ogcapi-live")
    # maps in lon/lat unless asked otherwise: GDAL asks for maps without crs
    config = ogcapi_config(map_srs=["EPSG:4326", "EPSG:3857"])
    write_config(directory / "mapproxy.yaml", config, _source_server.url)
    srv = Gunicorn(directory, {"TILEPROXY_CONFIG": str(directory / "mapproxy.yaml")})
    assert srv.base, "".join(srv.log)
    yield srv.base
    srv.stop()


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_gdalinfo_opens_a_collection_as_a_map(server):
    done = _run("gdalinfo", "-json", "-oo", "API=MAP", f"OGCAPI:{server}/ogcapi/collections/checker")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["driverShortName"] == "OGCAPI"
    assert info["metadata"][""]["TITLE"] == "Checkerboard"
    assert 'ID["EPSG",4326]' in info["coordinateSystem"]["wkt"]
    assert [band["colorInterpretation"] for band in info["bands"]][:3] == ["Red", "Green", "Blue"]


def test_gdal_translate_reads_the_source_pixels(server, tmp_path):
    out = tmp_path / "window.png"
    # 20 degrees square east of Greenwich, north of the equator, at 64 x 64 pixels
    done = _run("gdal_translate", "-q", "-of", "PNG", "-oo", "API=MAP", "-projwin", "0", "20", "20", "0",
                "-outsize", "64", "64", f"OGCAPI:{server}/ogcapi/collections/checker", str(out))
    assert done.returncode == 0, done.stderr
    img = Image.open(out).convert("RGB")
    assert img.size == (64, 64)
    def lonlat(i: float, j: float) -> tuple[float, float]:
        return (i + 0.5) * 20 / 64, 20 - (j + 0.5) * 20 / 64

    checked = 0
    for j in range(64):
        for i in range(64):
            want = expected_color(*lonlat(i, j), "EPSG:4326")
            # the test server draws lon/lat maps on a 4 pixel mesh and GDAL resamples
            # its 256 pixel blocks: squares' edges may move by a few pixels
            near = [expected_color(*lonlat(i + di, j + dj), "EPSG:4326") for di, dj in ((-5, 0), (5, 0), (0, -5), (0, 5))]
            if all(c == want for c in near):
                checked += 1
                assert img.getpixel((i, j)) == want, (i, j)
    assert checked > 64 * 64 / 3
    assert len(img.getcolors()) >= 2


def test_gdal_reads_map_tiles_too(server, tmp_path):
    if _gdal_version() < (3, 8):
        pytest.skip("GDAL before 3.8 reads TileMatrixSet 1.0 documents only (GDAL issue 6882); OGC API Tiles "
                    "serves TileMatrixSet 2.0 (OGC 17-083r4)")
    out = tmp_path / "tiles.png"
    done = _run("gdal_translate", "-q", "-of", "PNG", "-oo", "API=TILES", "-oo", "TILEMATRIXSET=WebMercatorQuad",
                "-projwin", "0", "20", "20", "0", "-projwin_srs", "EPSG:4326", "-outsize", "64", "64",
                f"OGCAPI:{server}/ogcapi/collections/checker", str(out))
    assert done.returncode == 0, done.stderr
    assert len(Image.open(out).convert("RGB").getcolors()) >= 2
