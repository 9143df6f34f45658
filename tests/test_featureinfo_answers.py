"""GetFeatureInfo as MapProxy clients know it: what the sources are asked, and
how their answers become one document labelled by what was merged."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from support.configs import cache, fill, layer, merge, write_config
from support.http_stub import StubServer, send
from support.wsgi import call

from tileproxy.config.build import load_proxy_config
from tileproxy.layers import build_tile_layers
from tileproxy.services.featureinfo import tile_feature_info
from tileproxy.sources.featureinfo import FeatureInfoQuery

CONFIG = {
    "services": {"wms": {"srs": ["EPSG:4326", "EPSG:3857"]}},
    "layers": [
        layer("plain", "answers as the server labels them", "src_plain"),
        layer("declared", "answers read as featureinfo_format", "src_declared"),
        layer("both", "two sources", "src_plain", "src_declared"),
        layer("limited", "covers the western hemisphere only", "src_limited"),
    ],
    "sources": {
        "src_plain": {
            "type": "wms",
            "wms_opts": {"featureinfo": True},
            "req": {"url": "{url}/wms", "layers": "a,b"},
        },
        "src_declared": {
            "type": "wms",
            "wms_opts": {
                "featureinfo": True,
                "featureinfo_format": "text/xml",
                "query_layers": "b",
                "version": "1.3.0",
            },
            "req": {"url": "{url}/wms", "layers": "b,c"},
        },
        "src_limited": {
            "type": "wms",
            "wms_opts": {"featureinfo": True},
            "coverage": {"bbox": [-180, -90, 0, 90], "srs": "EPSG:4326"},
            "req": {"url": "{url}/wms", "layers": "west"},
        },
    },
}


class InfoServer:
    """Answers every request with ``answers[LAYERS]`` (body, Content-Type) and keeps the parameters."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.answers: dict[str, tuple[bytes, str]] = {}

        def on_get(h) -> None:
            args = {k.upper(): v for k, v in parse_qsl(urlsplit(h.path).query, keep_blank_values=True)}
            self.requests.append(args)
            body, ctype = self.answers.get(args.get("LAYERS", ""), (b"", "text/plain"))
            send(h, 200, body, ctype)

        self.stub = StubServer(on_get)
        self.url = self.stub.url


@pytest.fixture
def info():
    server = InfoServer()
    yield server
    server.stub.close()


@pytest.fixture
def app(make_app, info):
    return make_app(fill(CONFIG, url=info.url))


def fi(layer: str, version: str = "1.1.1", **extra: str) -> str:
    params = {"SERVICE": "WMS", "REQUEST": "GetFeatureInfo", "VERSION": version, "LAYERS": layer,
              "QUERY_LAYERS": layer, "BBOX": "-20,40,20,60" if version != "1.3.0" else "40,-20,60,20",
              "WIDTH": "200", "HEIGHT": "100", "CRS" if version == "1.3.0" else "SRS": "EPSG:4326",
              "I" if version == "1.3.0" else "X": "10", "J" if version == "1.3.0" else "Y": "20"}
    params.update({k.upper(): v for k, v in extra.items()})
    return "/service?" + urlencode(params)


def test_sources_are_asked_with_format_and_the_point_as_given(app, info) -> None:
    info.answers["a,b"] = (b"info", "text/plain")
    assert call(app, fi("plain")).status == 200
    sent = info.requests[-1]
    # no INFO_FORMAT asked: none is passed on; FORMAT defaults to image/png; coordinates carry a decimal point
    assert "INFO_FORMAT" not in sent and sent["FORMAT"] == "image/png"
    assert sent["BBOX"] == "-20.0,40.0,20.0,60.0" and (sent["X"], sent["Y"]) == ("10", "20")
    assert sent["QUERY_LAYERS"] == "a,b" and sent["STYLES"] == ""
    call(app, fi("plain", format="image/jpeg", x="10.5", info_format="text/html", feature_count="3"))
    sent = info.requests[-1]
    assert sent["FORMAT"] == "image/jpeg" and sent["X"] == "10.5"
    assert sent["INFO_FORMAT"] == "text/html" and sent["FEATURE_COUNT"] == "3"


def test_source_options_fix_query_layers_and_info_format(app, info) -> None:
    call(app, fi("declared", info_format="text/html"))
    sent = info.requests[-1]
    assert sent["QUERY_LAYERS"] == "b" and sent["LAYERS"] == "b,c"
    assert sent["INFO_FORMAT"] == "text/xml" and (sent["I"], sent["J"]) == ("10", "20")


def test_answer_is_labelled_by_what_the_sources_sent(app, info) -> None:
    xml = b'<?xml version="1.0" encoding="UTF-8"?><features><f id="1"/></features>'
    info.answers["a,b"] = (xml, "text/xml; charset=UTF-8")
    answer = call(app, fi("plain", info_format="text/plain"))
    assert answer.content_type == "application/vnd.ogc.gml"  # XML before WMS 1.3.0 is GML
    assert answer.body == b'<features><f id="1"/></features>'  # re-serialized: no XML declaration
    answer = call(app, fi("plain", version="1.3.0"))
    assert answer.content_type == "text/xml; charset=utf-8"


def test_html_fragments_become_documents(app, info) -> None:
    info.answers["a,b"] = ("Straße ▼".encode(), "text/html")
    answer = call(app, fi("plain", info_format="text/html"))
    assert answer.content_type == "text/html; charset=utf-8"
    assert answer.text == "<html><body>Straße ▼</body></html>"


def test_featureinfo_format_beats_the_servers_label(app, info) -> None:
    info.answers["b,c"] = (b"<features><f id='2'/></features>", "text/x-custom")
    answer = call(app, fi("declared"))
    assert answer.content_type == "application/vnd.ogc.gml" and b'<f id="2"/>' in answer.body


def test_answers_of_different_kinds_are_joined_as_text(app, info) -> None:
    info.answers["a,b"] = (b"plain words", "text/plain")
    info.answers["b,c"] = (b'<?xml version="1.0"?><features><f/></features>', "text/xml")
    answer = call(app, fi("both"))
    assert answer.content_type == "text/plain; charset=utf-8"
    assert answer.text == 'plain words\n<?xml version="1.0"?><features><f/></features>'


def test_point_outside_a_source_coverage_asks_nothing(app, info) -> None:
    answer = call(app, fi("limited", x="190", info_format="text/html"))  # 19° east
    assert answer.status == 200 and answer.body == b"" and not info.requests
    assert answer.content_type == "text/html; charset=utf-8"  # nothing merged: labelled as asked
    info.answers["west"] = (b"here", "text/plain")
    answer = call(app, fi("limited", x="10"))
    assert answer.body == b"here" and len(info.requests) == 1


def test_not_queryable_and_unknown_layers(make_app, info) -> None:
    config = fill(CONFIG, url=info.url)
    del config["sources"]["src_limited"]["wms_opts"]
    app = make_app(config)
    answer = call(app, fi("limited"))
    assert "layer limited is not queryable" in answer.text and "code=" not in answer.text
    answer = call(app, fi("limited", version="1.3.0"))
    assert 'code="LayerNotQueryable"' in answer.text
    assert "unknown layer: nope" in call(app, fi("plain", query_layers="nope")).text
    missing = call(app, fi("plain").replace("&QUERY_LAYERS=plain", "").replace("&X=10", ""))
    assert "missing parameters ['query_layers', 'x']" in missing.text


TILE_CONFIG = {
    "layers": [
        layer("cached", "a cache of a queryable source", "outer"),
        layer("with_info_only", "a cache of a plain source and a feature-info-only source", "plain_cache", "info_only"),
    ],
    "caches": {
        "inner": cache("src_plain", meta_size=None),
        "outer": cache("inner", meta_size=None),
        "plain_cache": cache("src_map", meta_size=None),
    },
    "sources": {
        "src_plain": {
            "type": "wms",
            "wms_opts": {"featureinfo": True},
            "req": {"url": "{url}/wms", "layers": "a,b"},
        },
        "src_map": {"type": "wms", "req": {"url": "{url}/wms", "layers": "m"}},
        "info_only": {
            "type": "wms",
            "wms_opts": {"featureinfo": True, "map": False},
            "req": {"url": "{url}/wms", "layers": "i"},
        },
    },
}


def test_tile_layers_know_their_feature_info_sources(tmp_path, info) -> None:
    path = tmp_path / "mapproxy.yaml"
    write_config(path, fill(TILE_CONFIG, url=info.url))
    layers = {t.name: t for t in build_tile_layers(load_proxy_config(str(path)))}
    assert [s.name for s in layers["cached"].info_sources] == ["src_plain"]  # through the cache of a cache
    assert [s.name for s in layers["with_info_only"].info_sources] == ["info_only"]
    info.answers["a,b"] = (b'{"features": [1]}', "application/json")
    grid = layers["cached"].grid
    query = FeatureInfoQuery(grid.tile_bbox((0, 0, 0)), grid.tile_size, grid.srs, (17, 27), "application/json")
    body, ctype = tile_feature_info(layers["cached"].info_sources * 2, query)
    assert ctype == "application/json" and body == b'{"features": [1, 1]}'  # labelled as asked
    sent = info.requests[-1]
    assert (sent["X"], sent["Y"], sent["FORMAT"], sent["INFO_FORMAT"]) == ("17", "27", "image/png", "application/json")
    assert tile_feature_info([], query) == (b"", "application/json")


def test_a_broken_stylesheet_leaves_the_answer_as_it_came(make_app, info, tmp_path) -> None:
    (tmp_path / "broken.xsl").write_text("this is not a stylesheet")
    config = merge(fill(CONFIG, url=info.url), {"services": {"wms": {"featureinfo_xslt": {"xml": "broken.xsl"}}}})
    app = make_app(config)
    info.answers["a,b"] = (b"<features><f/></features>", "text/xml")
    answer = call(app, fi("plain", info_format="application/vnd.ogc.gml"))
    assert answer.status == 200 and answer.body == b"<features><f/></features>"
