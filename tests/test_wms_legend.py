"""GetLegendGraphic: source legends stacked, layer legendurl (file:// and http),
cached in <base_dir>/legends/."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from PIL import Image
from support.configs import fill, layer, wms_source, write_config
from support.source_server import legend_color
from support.wsgi import call

CONFIG = {
    "services": {"wms": None},
    "layers": [
        layer("two", "Two source layers", "legend_src"),
        {
            "name": "from_file",
            "title": "Legend from a file",
            "sources": ["plain"],
            "legendurl": "file://{legend_file}",
        },
        {
            "name": "from_url",
            "title": "Legend from a URL",
            "sources": ["plain"],
            "legendurl": "{source}/wms?SERVICE=WMS&REQUEST=GetLegendGraphic&LAYER=remote",
        },
        {"name": "group", "title": "Group of legends",
         "layers": [layer("child_a", "A", "legend_a"), layer("child_b", "B", "plain")]},
        layer("none", "No legend", "plain"),
    ],
    "sources": {
        "legend_src": wms_source(layers="a,bb", wms_opts={"legendgraphic": True}),
        "legend_a": wms_source(layers="ccc", wms_opts={"legendgraphic": True}),
        "plain": wms_source(),
    },
    "globals": {"cache": {"base_dir": "./cache_data"}},
}


@pytest.fixture
def app(make_app, tmp_path):
    legend = tmp_path / "legend.png"
    Image.new("RGB", (33, 7), (1, 2, 3)).save(legend)
    return make_app(fill(CONFIG, legend_file=str(legend)))


def legend(app, layer: str, version: str = "1.1.1", **extra: str):
    query = "&".join(f"{k}={v}" for k, v in extra.items())
    return call(app, f"/service?SERVICE=WMS&REQUEST=GetLegendGraphic&VERSION={version}&LAYER={layer}&FORMAT=image/png&{query}")


def test_source_legends_are_stacked_and_cached(app, source, tmp_path) -> None:
    answer = legend(app, "two")
    assert answer.status == 200 and answer.content_type == "image/png"
    img = answer.image.convert("RGBA")
    assert img.size == (20, 24)  # 'a' is 10x12, 'bb' 20x12
    assert img.getpixel((5, 5))[:3] == legend_color("bb")  # the upper layer's legend on top
    assert img.getpixel((5, 18))[:3] == legend_color("a")
    assert img.getpixel((15, 18))[3] == 0  # beside the narrower legend
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
    [("nope", {}, "LayerNotDefined"), ("two", {"FORMAT": "image/svg"}, "InvalidFormat"),
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


def test_layer_without_legend_is_not_found(app) -> None:
    answer = legend(app, "none")
    assert answer.status == 404 and b"layer none has no legend graphic" in answer.body


def test_legend_request_checks(app) -> None:
    base = "/service?SERVICE=WMS&REQUEST=GetLegendGraphic&VERSION=1.3.0"
    missing = call(app, base + "&LAYER=two")
    assert "missing parameters ['format']" in missing.text
    bad_sld = call(app, base + "&LAYER=two&FORMAT=image/png&SLD_VERSION=1.0.0")
    assert "invalid sld_version 1.0.0" in bad_sld.text
    bad_sld_111 = call(app, base.replace("1.3.0", "1.1.1") + "&LAYER=two&FORMAT=image/png&SLD_VERSION=1.0.0")
    assert "invalid sld_version 1.0.0" in bad_sld_111.text
    assert "unknown layer: nope" in call(app, base + "&LAYER=nope&FORMAT=image/png").text


def test_source_legends_are_cached_per_source(app, source, tmp_path) -> None:
    """A layer made of several sources finds each source's legend cached by another layer."""
    assert legend(app, "group").status == 200  # child_a's source: one request
    assert source.count("wms") == 1
    config = yaml.safe_load((tmp_path / "mapproxy.yaml").read_text())  # as the app fixture wrote it
    config["layers"].insert(-1, layer("both", "both", "legend_a", "legend_src"))
    write_config(tmp_path / "mapproxy.yaml", config)
    from tileproxy.wsgi import make_wsgi_app

    again = make_wsgi_app(tmp_path / "mapproxy.yaml")
    img = legend(again, "both").image.convert("RGBA")
    assert source.count("wms") == 3  # only legend_src's two layers were fetched
    assert img.size == (30, 36)
    assert img.getpixel((2, 2))[:3] == legend_color("bb") and img.getpixel((2, 30))[:3] == legend_color("ccc")


def test_other_image_formats_and_json(app, source) -> None:
    jpeg = call(app, "/service?SERVICE=WMS&REQUEST=GetLegendGraphic&VERSION=1.1.1&LAYER=two&FORMAT=image/jpeg")
    assert jpeg.status == 200 and jpeg.content_type == "image/jpeg" and jpeg.image.size == (20, 24)
    answer = call(app, "/service?SERVICE=WMS&REQUEST=GetLegendGraphic&VERSION=1.3.0&LAYER=two&FORMAT=application/json")
    assert answer.content_type == "application/json"
    assert [e["layerName"] for e in json.loads(answer.body)["Legend"]] == ["a", "bb"]
