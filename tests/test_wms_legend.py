"""GetLegendGraphic: source legends stacked, layer legendurl (file:// and http),
cached in <base_dir>/legends/."""

from __future__ import annotations

import io

import pytest
from conftest import call
from PIL import Image
from source_server import legend_color

CONFIG = """
services:
  wms:
layers:
  - name: two
    title: Two source layers
    sources: [legend_src]
  - name: from_file
    title: Legend from a file
    sources: [plain]
    legendurl: file://{legend_file}
  - name: from_url
    title: Legend from a URL
    sources: [plain]
    legendurl: "{source}/wms?SERVICE=WMS&REQUEST=GetLegendGraphic&LAYER=remote"
  - name: group
    title: Group of legends
    layers:
      - name: child_a
        title: A
        sources: [legend_a]
      - name: child_b
        title: B
        sources: [plain]
  - name: none
    title: No legend
    sources: [plain]
sources:
  legend_src:
    type: wms
    wms_opts: {legendgraphic: true}
    req: {url: "{source}/wms", layers: "a,bb"}
  legend_a:
    type: wms
    wms_opts: {legendgraphic: true}
    req: {url: "{source}/wms", layers: "ccc"}
  plain:
    type: wms
    req: {url: "{source}/wms", layers: base}
globals:
  cache:
    base_dir: ./cache_data
"""


@pytest.fixture
def app(make_app, tmp_path):
    legend = tmp_path / "legend.png"
    Image.new("RGB", (33, 7), (1, 2, 3)).save(legend)
    return make_app(CONFIG.replace("{legend_file}", str(legend)))


def legend(app, layer: str, version: str = "1.1.1", **extra: str):
    query = "&".join(f"{k}={v}" for k, v in extra.items())
    return call(app, f"/service?SERVICE=WMS&REQUEST=GetLegendGraphic&VERSION={version}&LAYER={layer}&FORMAT=image/png&{query}")


def test_source_legends_are_stacked_and_cached(app, source, tmp_path) -> None:
    answer = legend(app, "two")
    assert answer.status == 200 and answer.content_type == "image/png"
    img = answer.image.convert("RGBA")
    assert img.size == (20, 24)  # 'a' is 10x12, 'bb' 20x12
    assert img.getpixel((5, 5))[:3] == legend_color("a")
    assert img.getpixel((5, 18))[:3] == legend_color("bb")
    assert img.getpixel((15, 5))[3] == 0  # beside the narrower legend
    assert source.count("wms") == 2
    assert len(list((tmp_path / "cache_data" / "legends").glob("*.png"))) == 1
    again = legend(app, "two", "1.3.0", SLD_VERSION="1.1.0")
    assert again.body == answer.body and source.count("wms") == 2  # from the legend cache


def test_legendurl_file_and_http(app, source) -> None:
    from_file = legend(app, "from_file").image
    assert from_file.size == (33, 7) and from_file.convert("RGB").getpixel((3, 3)) == (1, 2, 3)
    from_url = legend(app, "from_url").image
    assert from_url.size == (60, 12)  # 'remote' is six characters


def test_group_legend_collects_children(app) -> None:
    img = legend(app, "group").image
    assert img.size == (30, 12)  # only child_a has a legend


@pytest.mark.parametrize(
    "layer, extra, code",
    [("nope", {}, "LayerNotDefined"), ("none", {}, "LayerNotDefined"), ("two", {"FORMAT": "image/svg"}, "InvalidFormat"),
     ("two", {"STYLE": "fancy"}, "StyleNotDefined")],
)
def test_bad_legend_requests(app, layer, extra, code) -> None:
    url = f"/service?SERVICE=WMS&REQUEST=GetLegendGraphic&VERSION=1.1.1&LAYER={layer}"
    url += "".join(f"&{k}={v}" for k, v in {"FORMAT": "image/png", **extra}.items())
    answer = call(app, url)
    # XML exceptions answer 500 as in MapProxy, a layer without legend 404
    assert answer.status == (404 if layer == "none" else 500) and f'code="{code}"'.encode() in answer.body


def test_unreachable_legend_is_an_exception(app, source) -> None:
    source.reset("error")
    answer = legend(app, "two")
    assert answer.status == 500 and b"ServiceException" in answer.body
    assert Image.open(io.BytesIO(legend(app, "from_file").body)).size == (33, 7)


def test_capabilities_do_not_retry_a_failing_legend_at_once(app, source) -> None:
    source.reset("error")
    url = "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1"
    first = call(app, url)
    assert first.status == 200 and b"<Name>two</Name>" in first.body
    tries = source.count("wms")
    assert tries > 0
    call(app, url)
    assert source.count("wms") == tries  # the failure is remembered for a while
