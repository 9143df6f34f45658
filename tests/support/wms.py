"""Helpers for the WMS tests: request URLs and checking map pixels against the
source server's checkerboard."""

from __future__ import annotations

from urllib.parse import urlencode

from PIL import Image

from support.configs import wms_source
from support.source_server import expected_color

# a layer's time (three days, the last one the default) and elevation dimensions
DIMENSIONS = {
    "time": {"values": ["2020-01-01/2020-01-03/P1D"], "default": "2020-01-03"},
    "elevation": {"values": [0, 500]},
}


def wms_config(**wms_options: object) -> dict:
    """A WMS (many SRS and formats, full metadata; ``wms_options`` are more keys of
    it) over the checkerboard: ``cached`` (2x2 meta tiles), ``direct``, and a group
    of a coarse and a fine layer."""
    wms = {
        "srs": ["EPSG:4326", "EPSG:3857", "EPSG:25832", "CRS:84", "EPSG:900913"],
        "image_formats": ["image/png", "image/jpeg", "png8", "image/gif", "image/tiff", "image/GeoTIFF"],
        "md": {
            "title": "Test WMS",
            "abstract": "Checkerboards for tests",
            "online_resource": "http://example.org/",
            "contact": {"person": "Ada", "organization": "Tests Inc.", "city": "Bonn", "country": "Germany",
                        "address": "Street 1", "postcode": "53111", "state": "NRW", "email": "ada@example.org"},
            "keyword_list": [{"vocabulary": "test", "keywords": ["checkerboard", "grid"]}],
        },
    }
    return {
        "services": {"wms": {**wms, **wms_options}},
        "layers": [
            {"name": "cached", "title": "Cached checkerboard", "sources": ["cb_cache"]},
            {"name": "direct", "title": "Direct checkerboard", "sources": ["cb_wms"]},
            {"name": "group", "title": "A group", "layers": [
                {"name": "coarse_only", "title": "Only when zoomed out", "sources": ["cb_wms"], "max_res": 1000},
                {"name": "fine_only", "title": "Only when zoomed in", "sources": ["cb_wms"], "min_res": 1000},
            ]},
        ],
        "caches": {"cb_cache": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["cb_wms"], "meta_size": [2, 2],
                                "meta_buffer": 0}},
        "sources": {"cb_wms": wms_source()},
        "globals": {"cache": {"base_dir": "./cache_data"}},
    }


def getmap(layers: str = "cached", bbox: str = "0,40,30,60", srs: str = "EPSG:4326", version: str = "1.1.1",
           size: tuple[int, int] = (512, 512), fmt: str = "image/png", path: str = "/service", **extra: str) -> str:
    params = {"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": version, "LAYERS": layers, "STYLES": "",
              "CRS" if version == "1.3.0" else "SRS": srs, "BBOX": bbox, "WIDTH": str(size[0]),
              "HEIGHT": str(size[1]), "FORMAT": fmt}
    params.update({k.upper(): v for k, v in extra.items()})
    return path + "?" + urlencode(params)


def check_checkerboard(img: Image.Image, bbox: tuple[float, float, float, float], srs: str,
                       steps: int = 12, margin: int = 4, tolerance: int = 40) -> int:
    """Assert that pixels away from cell borders have the checkerboard colour of
    their place; returns how many pixels were checked."""
    img = img.convert("RGB")
    w, h = img.size
    checked = 0

    def world(px: float, py: float) -> tuple[float, float]:
        return (bbox[0] + (px + 0.5) * (bbox[2] - bbox[0]) / w, bbox[3] - (py + 0.5) * (bbox[3] - bbox[1]) / h)

    for i in range(steps):
        for j in range(steps):
            px, py = int((i + 0.5) * w / steps), int((j + 0.5) * h / steps)
            want = expected_color(*world(px, py), srs)
            around = [expected_color(*world(px + dx, py + dy), srs)
                      for dx in (-margin, margin) for dy in (-margin, margin)]
            if any(c != want for c in around):
                continue  # near a cell border: resampling blurs it
            got = img.getpixel((px, py))
            assert all(abs(a - b) <= tolerance for a, b in zip(got, want)), (
                f"pixel {px},{py} is {got}, expected {want} at {world(px, py)} in {srs}")
            checked += 1
    return checked
