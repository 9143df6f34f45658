"""The access policy file (tileproxy.auth): what it refuses at start, with the file and
key path, and what MapProxy's authorize callback answers from it for a user, a service,
its layers and the request's extent."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import shapely
from shapely.geometry import box

from tileproxy.auth import load_policy
from tileproxy.auth.policy import build_policy
from tileproxy.auth.secrets import hash_api_key, hash_password
from tileproxy.config.errors import ConfigError

KEY = hash_api_key("k-alice")
HASH = hash_password("pw", ln=4)


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def refusal(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_policy(policy_file(tmp_path, text))
    return err.value


# -- a policy with errors is refused, naming the file and the key ---------------------


# each line: the key path, " | ", words of the message, " | ", the policy in YAML's flow style
REFUSED = """
users.a.allow[0].limted_to | unknown key | users: {a: {allow: [{services: [wms], layers: [x], limted_to: {}}]}}
users.a.allow[0].services[0] | unknown service 'wfs' | users: {a: {allow: [{services: [wfs], layers: [x]}]}}
users.a.allow[0] | missing required key 'layers' | users: {a: {allow: [{services: [tms]}]}}
users.a.allow[0].services | expected a list | users: {a: {allow: [{services: tms, layers: [x]}]}}
users.a.api_keys[0] | sha256: | users: {a: {api_keys: [not-a-digest]}}
users.a.password | $scrypt$ | users: {a: {password: plain-secret}}
users.a.password | expected a string | users: {a: {password: 123456}}
users.a.limited_to.bbox | empty | users: {a: {limited_to: {bbox: [10, 0, 5, 5], srs: 'EPSG:4326'}}}
users.a.limited_to.srs | unknown SRS | users: {a: {limited_to: {bbox: [0, 0, 5, 5], srs: 'EPSG:99999'}}}
users.a.limited_to.geometry | cannot read geometry | users: {a: {limited_to: {geometry: 'POLYGON((0 0, 1', srs: 'EPSG:4326'}}}
users.a.limited_to.geojson | no polygons | users: {a: {limited_to: {geojson: {type: Point, coordinates: [1, 2]}}}}
users.a.limited_to | missing required key 'srs' | users: {a: {limited_to: {bbox: [0, 0, 5, 5]}}}
jwt | exactly one of key_file, jwks_file | {jwt: {algorithms: [RS256]}, users: {a: {}}}
jwt.algorithms[0] | unsupported algorithm | {jwt: {algorithms: [none], key_file: k.pem}, users: {a: {}}}
jwt.key_file | cannot read | {jwt: {algorithms: [RS256], key_file: missing.pem}, users: {a: {}}}
users | no users | users: {}
api_keys | neither a header | {api_keys: {header: null}, users: {a: {api_keys: ['KEY']}}}
"""


@pytest.mark.parametrize("path, words, text", [line.split(" | ", 2) for line in REFUSED.strip().splitlines()])
def test_errors_name_file_and_key_path(tmp_path, path, words, text) -> None:
    err = refusal(tmp_path, text.replace("KEY", KEY))
    assert err.file == str(tmp_path / "policy.yaml")
    assert err.path == path, str(err)
    assert words in str(err)


def test_same_key_for_two_users_is_refused(tmp_path) -> None:
    err = refusal(tmp_path, f"users:\n  a:\n    api_keys: ['{KEY}']\n  b:\n    api_keys: ['{KEY}']\n")
    assert err.path == "users.b.api_keys[0]" and "'a'" in str(err)


def test_errors_never_repeat_a_secret(tmp_path) -> None:
    for text in ("users:\n  a:\n    password: hunter2-plain\n", "users:\n  a:\n    api_keys: [hunter2-plain]\n",
                 "users:\n  a:\n    password: [hunter2-plain]\n"):
        assert "hunter2" not in str(refusal(tmp_path, text))


def test_yaml_syntax_errors_name_the_file(tmp_path) -> None:
    err = refusal(tmp_path, "users:\n  a: [\n")
    assert err.file.endswith("policy.yaml") and "line" in str(err)


# -- answers: layers per service ----------------------------------------------------


def build(text: str, base_dir: Path | str = ".") :
    return build_policy(__import__("yaml").safe_load(textwrap.dedent(text)), str(base_dir))


GRANTS = """
users:
  alice:
    allow:
      - services: [wms.map, tms]
        layers: [osm, roads]
      - services: [wms.featureinfo]
        layers: [roads]
      - services: [wmts]
        layers: [osm]
      - services: [demo]
        layers: ['*']
  bob:
    allow:
      - services: ['*']
        layers: ['*']
"""


def answer(policy, user, service, layers, extent=None):
    return policy.answer(policy.users[user], service, layers, extent)


def test_layers_per_service() -> None:
    p = build(GRANTS)
    assert answer(p, "alice", "tms", ["osm"]) == {"authorized": "full"}
    assert answer(p, "alice", "tms", ["secret"]) == {"authorized": "none"}
    assert answer(p, "alice", "tms", ["osm", "roads", "secret"]) == {
        "authorized": "partial", "layers": {"osm": {"tile": True}, "roads": {"tile": True}}}
    assert answer(p, "alice", "wmts", ["osm", "roads"]) == {"authorized": "partial", "layers": {"osm": {"tile": True}}}
    assert answer(p, "alice", "wmts.featureinfo", ["osm"]) == {"authorized": "full"}  # wmts covers it
    assert answer(p, "alice", "kml", ["osm"]) == {"authorized": "none"}
    assert answer(p, "alice", "wms.map", ["osm", "roads"]) == {"authorized": "full"}
    assert answer(p, "alice", "wms.featureinfo", ["osm", "roads"]) == {
        "authorized": "partial", "layers": {"roads": {"featureinfo": True}}}
    assert answer(p, "alice", "wms.legendgraphic", ["osm"]) == {"authorized": "none"}
    assert answer(p, "alice", "demo", []) == {"authorized": "full"}
    assert answer(p, "bob", "kml", ["anything"]) == {"authorized": "full"}
    assert answer(p, "bob", "wms.capabilities", ["a", "b"]) == {"authorized": "full"}


def test_tms_capabilities_ask_with_tile_layer_keys() -> None:
    """MapProxy's TMS capabilities pass the tile layers' keys (layer_grid) and show
    the layers whose plain names the answer grants."""
    p = build(GRANTS)
    assert answer(p, "alice", "tms", ["osm_EPSG3857", "roads_EPSG4326", "secret_EPSG3857", "osm_roads_EPSG3857"]) == {
        "authorized": "partial", "layers": {"osm": {"tile": True}, "roads": {"tile": True}}}
    assert answer(p, "alice", "wms.map", ["osm_EPSG3857"]) == {"authorized": "none"}


def test_a_service_the_policy_does_not_know_is_denied() -> None:
    assert answer(build(GRANTS), "bob", "ogcapi.maps", ["x"]) == {"authorized": "none"}


def test_wms_capabilities_list_drawable_layers_with_their_other_rights() -> None:
    p = build(GRANTS)
    assert answer(p, "alice", "wms.capabilities", ["root", "osm", "roads"]) == {
        "authorized": "partial",
        "layers": {"osm": {"map": True}, "roads": {"map": True, "featureinfo": True}},
    }
    only_demo = build("users:\n  c:\n    allow: [{services: [demo], layers: ['*']}]\n")
    assert answer(only_demo, "c", "wms.capabilities", ["osm"]) == {"authorized": "none"}


# -- limited_to: the forms, and what the callback gives back -------------------------


def test_limited_to_forms(tmp_path) -> None:
    (tmp_path / "area.wkt").write_text("POLYGON((0 0, 4 0, 4 4, 0 0))\n")
    p = build("""
    users:
      u:
        allow:
          - {services: [tms], layers: [bbox], limited_to: {bbox: [5, 45, 15, 55], srs: 'EPSG:4326'}}
          - {services: [tms], layers: [wkt], limited_to: {geometry: 'POLYGON((0 0, 10 0, 10 10, 0 0))', srs: 'EPSG:3857'}}
          - {services: [tms], layers: [geojson], limited_to: {geojson: {type: Polygon, coordinates: [[[0, 0], [2, 0], [2, 2], [0, 0]]]}}}
          - {services: [tms], layers: [file], limited_to: {datasource: area.wkt, srs: 'EPSG:4326'}}
    """, tmp_path)
    result = answer(p, "u", "tms", ["bbox", "wkt", "geojson", "file"])
    assert result["authorized"] == "partial"
    limits = {name: rights["limited_to"] for name, rights in result["layers"].items()}
    assert limits["bbox"] == {"geometry": [5.0, 45.0, 15.0, 55.0], "srs": "EPSG:4326"}
    assert limits["wkt"]["srs"] == "EPSG:3857"
    assert limits["wkt"]["geometry"].equals(shapely.from_wkt("POLYGON((0 0, 10 0, 10 10, 0 0))"))
    assert limits["geojson"]["srs"] == "EPSG:4326"
    assert limits["geojson"]["geometry"].equals(shapely.from_wkt("POLYGON((0 0, 2 0, 2 2, 0 0))"))
    assert limits["file"]["geometry"].equals(shapely.from_wkt("POLYGON((0 0, 4 0, 4 4, 0 0))"))
    assert all(rights["tile"] is True for rights in result["layers"].values())


AREAS = """
users:
  u:
    limited_to: {bbox: [0, 40, 20, 60], srs: 'EPSG:4326'}
    allow:
      - {services: [wms.map], layers: [all_over]}
      - {services: [wms.map], layers: [west], limited_to: {bbox: [0, 40, 10, 60], srs: 'EPSG:4326'}}
"""


def test_limits_come_back_per_layer_and_for_the_user() -> None:
    p = build(AREAS)
    result = answer(p, "u", "wms.map", ["all_over", "west"], ("EPSG:4326", (5, 45, 15, 55)))
    assert result == {
        "authorized": "partial",
        "limited_to": {"geometry": [0.0, 40.0, 20.0, 60.0], "srs": "EPSG:4326"},
        "layers": {"all_over": {"map": True},
                   "west": {"map": True, "limited_to": {"geometry": [0.0, 40.0, 10.0, 60.0], "srs": "EPSG:4326"}}},
    }


def test_an_extent_wholly_outside_an_area_is_denied() -> None:
    p = build(AREAS)
    # outside the user's area: nothing
    assert answer(p, "u", "wms.map", ["all_over"], ("EPSG:4326", (30, 40, 40, 50))) == {"authorized": "none"}
    # outside the layer's area only: that layer is left out (the service answers 403 if it was asked for)
    east = answer(p, "u", "wms.map", ["all_over", "west"], ("EPSG:4326", (12, 45, 18, 50)))
    assert list(east["layers"]) == ["all_over"]
    # sharing only an edge is outside
    assert answer(p, "u", "wms.map", ["west"], ("EPSG:4326", (10, 45, 11, 50))) == {"authorized": "none"}


def test_extents_in_another_srs_are_compared_in_the_area_srs() -> None:
    p = build(AREAS)
    # a web mercator tile over Germany (lon 6..11, lat 47..52) and one over Brazil
    germany = ("EPSG:3857", (667916.0, 5948635.0, 1224514.0, 6800125.0))
    brazil = ("EPSG:900913", (-5565974.0, -1118890.0, -4452779.0, 0.0))
    assert answer(p, "u", "wms.map", ["west"], germany)["authorized"] == "partial"
    assert answer(p, "u", "wms.map", ["west"], brazil) == {"authorized": "none"}


def test_capabilities_carry_areas_without_an_extent() -> None:
    p = build(AREAS)
    result = answer(p, "u", "wms.capabilities", ["all_over", "west"])
    assert set(result["layers"]) == {"all_over", "west"}
    assert result["limited_to"]["geometry"] == [0.0, 40.0, 20.0, 60.0]


def test_grants_of_one_layer_add_up() -> None:
    p = build("""
    users:
      u:
        allow:
          - {services: [tms], layers: [x], limited_to: {bbox: [0, 0, 10, 10], srs: 'EPSG:4326'}}
          - {services: [tms], layers: [x], limited_to: {bbox: [20, 0, 30, 10], srs: 'EPSG:4326'}}
          - {services: [tms], layers: [y], limited_to: {bbox: [0, 0, 10, 10], srs: 'EPSG:4326'}}
          - {services: [tms], layers: [y]}
    """)
    both = answer(p, "u", "tms", ["x"])["layers"]["x"]["limited_to"]["geometry"]
    assert both.equals(box(0, 0, 10, 10).union(box(20, 0, 30, 10)))
    assert answer(p, "u", "tms", ["x"], ("EPSG:4326", (22, 2, 24, 4)))["authorized"] == "partial"
    assert answer(p, "u", "tms", ["x"], ("EPSG:4326", (12, 2, 14, 4))) == {"authorized": "none"}
    assert answer(p, "u", "tms", ["y"], ("EPSG:4326", (50, 2, 54, 4))) == {"authorized": "full"}


def test_geojson_text_and_feature_collections(tmp_path) -> None:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}]}
    (tmp_path / "area.geojson").write_text(json.dumps(doc))
    p = build("users:\n  u:\n    limited_to: {datasource: area.geojson}\n    allow: [{services: [tms], layers: [x]}]\n",
              tmp_path)
    assert p.users["u"].area.answer["geometry"].equals(shapely.from_wkt("POLYGON((0 0, 1 0, 1 1, 0 0))"))


def test_ogcapi_grants_cover_its_maps_and_tiles() -> None:
    p = build("""
users:
  carol:
    allow:
      - services: [ogcapi]
        layers: [osm]
""")
    assert answer(p, "carol", "ogcapi.map", ["osm"]) == {"authorized": "full"}
    assert answer(p, "carol", "ogcapi.map", ["osm", "roads"]) == {"authorized": "partial", "layers": {"osm": {"map": True}}}
    assert answer(p, "carol", "wms.map", ["osm"]) == {"authorized": "none"}
    assert answer(build(GRANTS), "bob", "ogcapi.map", ["roads"]) == {"authorized": "full"}  # '*' covers it
