"""GetMap over several uncached WMS layers: neighbours on one server share one
request (as MapProxy sends them), request parameters are forwarded per source,
and per-layer opacity and transparent colours are applied as MapProxy does."""

from __future__ import annotations

from support.configs import layer, wms_source
from support.source_server import COLORS
from support.wms import getmap
from support.wsgi import call

CONFIG = {
    "services": {"wms": {"srs": ["EPSG:3857"]}},
    "layers": [
        layer("a", "A", "src_a"), layer("b", "B", "src_b"), layer("other", "Other server", "src_other"),
        layer("vendor", "Forwards VENDOR", "src_vendor"), layer("faded", "Half opaque", "src_faded"),
        layer("keyed", "Red is transparent", "src_keyed"),
    ],
    "sources": {
        "src_a": {"type": "wms", "req": {"url": "{source}/wms", "layers": "a1", "transparent": True}},
        "src_b": {"type": "wms", "req": {"url": "{source}/wms", "layers": "b1,b2", "transparent": True}},
        "src_other": {"type": "wms", "req": {"url": "{source}/wms_other", "layers": "o1", "transparent": True}},
        "src_vendor": {
            "type": "wms",
            "forward_req_params": ["vendor"],
            "req": {"url": "{source}/wms", "layers": "v1", "transparent": True},
        },
        "src_faded": wms_source(layers="f1", image={"opacity": 0.5}),
        "src_keyed": {
            "type": "wms",
            "image": {"transparent_color": [200, 30, 30], "transparent_color_tolerance": 0},
            "req": {"url": "{source}/wms", "layers": "k1", "transparent": True},
        },
    },
}

BBOX = "0,0,1000000,1000000"


def layers_requested(source) -> list[str]:
    return [source.params(i)["LAYERS"] for i in range(len(source.requests))]


def test_neighbouring_layers_of_one_server_share_a_request(make_app, source) -> None:
    app = make_app(CONFIG)
    answer = call(app, getmap("a,b,other,a", BBOX, "EPSG:3857", size=(64, 64), transparent="true"))
    assert answer.status == 200, answer.body
    # 'a' named again is drawn once, where first named (MapProxy sends the same two requests)
    assert sorted(layers_requested(source)) == ["a1,b1,b2", "o1"]
    combined = next(source.params(i) for i in range(2) if source.params(i)["LAYERS"] == "a1,b1,b2")
    assert combined["TRANSPARENT"] == "True" and combined["BBOX"] == "0.0,0.0,1000000.0,1000000.0"


def test_a_layer_named_again_keeps_its_first_place(make_app, source) -> None:
    app = make_app(CONFIG)
    assert call(app, getmap("b,a,b", BBOX, "EPSG:3857", size=(64, 64), transparent="true")).status == 200
    assert layers_requested(source) == ["b1,b2,a1"]  # as MapProxy asks


def test_sources_forwarding_different_values_are_asked_apart(make_app, source) -> None:
    app = make_app(CONFIG)
    assert call(app, getmap("a,vendor", BBOX, "EPSG:3857", size=(64, 64), vendor="x1")).status == 200
    sent = {source.params(i)["LAYERS"]: source.params(i) for i in range(len(source.requests))}
    assert set(sent) == {"a1", "v1"}
    assert sent["v1"]["VENDOR"] == "x1" and "VENDOR" not in sent["a1"]

    source.reset()
    # nothing to forward: both send the same request, so it is one
    assert call(app, getmap("a,vendor", BBOX, "EPSG:3857", size=(64, 64))).status == 200
    assert layers_requested(source) == ["a1,v1"]


def test_layers_with_opacity_or_other_colour_keys_stay_apart(make_app, source) -> None:
    app = make_app(CONFIG)
    assert call(app, getmap("a,faded,keyed", BBOX, "EPSG:3857", size=(64, 64))).status == 200
    assert sorted(layers_requested(source)) == ["a1", "f1", "k1"]


def test_opacity_counts_in_whole_255ths(make_app, source) -> None:
    app = make_app(CONFIG)
    answer = call(app, getmap("faded", BBOX, "EPSG:3857", size=(64, 64), transparent="true"))
    assert answer.status == 200, answer.body
    alphas = {a for _, a in answer.image.convert("RGBA").getchannel("A").getcolors()}
    assert alphas == {127}  # 0.5 of 255 taken as 127, as MapProxy takes it


def test_one_layer_of_a_transparent_map_keeps_its_keyed_colour(make_app, source) -> None:
    app = make_app(CONFIG)
    answer = call(app, getmap("keyed", "0,0,2000000,1000000", "EPSG:3857", size=(128, 64), transparent="true"))
    assert answer.status == 200, answer.body
    colors = {c for _, c in answer.image.convert("RGBA").getcolors()}
    assert (*COLORS[0], 0) in colors  # transparent, the colour kept
    assert (*COLORS[1], 255) in colors
