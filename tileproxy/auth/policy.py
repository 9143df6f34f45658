"""A declarative access policy (policy.yaml) and its answers to MapProxy's
``mapproxy.authorize`` callback: who may use which layers in which service, and
inside which area. docs/security.md describes the file; in short::

    realm: maps.example.org
    api_keys: {header: X-API-Key, query: api_key}
    jwt: {jwks_file: jwks.json, algorithms: [RS256], audience: maps}
    users:
      alice:
        api_keys: ["sha256:..."]
        password: "$scrypt$ln=15,r=8,p=1$...$..."
        allow:
          - services: [wms, tms, wmts]
            layers: [osm, roads]
            limited_to: {bbox: [5, 45, 15, 55], srs: "EPSG:4326"}
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.errors import ConfigError, join_path
from ..config.loader import read_yaml
from ..config.schema import ANY, NUMBER, STR, ListOf, Mapping, Nullable, Spec, _kind, validate
from .secrets import PasswordHash, SecretFormatError, parse_key_digest
from .tokens import JWTVerifier

log = logging.getLogger("tileproxy.auth")

# MapProxy's service strings, and the right a partial answer grants for each
FEATURES: dict[str, str | None] = {
    "wms.map": "map",
    "wms.featureinfo": "featureinfo",
    "wms.legendgraphic": "legendgraphic",
    "wms.capabilities": "map",
    "tms": "tile",
    "kml": "tile",
    "wmts": "tile",
    "wmts.featureinfo": "featureinfo",
    "ogcapi.map": "map",  # tileproxy's own: OGC API maps and map tiles
    "ogcapi.tiles": "tile",  # tileproxy's own: OGC API vector tiles
    "demo": None,
}
# a name without a dot stands for its sub-services too: wms is every wms.*
GROUPS = {
    "*": tuple(FEATURES),
    "wms": tuple(s for s in FEATURES if s.startswith("wms.")),
    "wmts": ("wmts", "wmts.featureinfo"),
    "ogcapi": ("ogcapi.map", "ogcapi.tiles"),
}
# the rights a WMS capabilities document shows, besides map (a layer is listed with map)
CAPABILITY_EXTRAS = {"featureinfo": "wms.featureinfo", "legendgraphic": "wms.legendgraphic"}
ANY_LAYER = "*"
_ABSENT = object()


class StrictMapping(Mapping):
    """A mapping whose unknown keys are errors: a misspelt ``limited_to`` must not widen access."""

    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        if isinstance(value, dict) and self.values is None:
            for key in value:
                if key not in self.keys:
                    raise ConfigError(f"unknown key (known: {', '.join(self.keys)})", join_path(path, str(key)))
        super().check(value, path, warnings)


class Secret(Spec):
    """A string whose value no error message repeats."""

    def check(self, value: Any, path: str, warnings: list[str]) -> None:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {_kind(value)}", path)

    def describe(self) -> str:
        return "a string"


STRS = ListOf(STR)
GRANT = StrictMapping({"services": STRS, "layers": STRS, "limited_to": ANY}, required=("services", "layers"))
RIGHTS = {"allow": ListOf(GRANT), "limited_to": ANY}
USER = StrictMapping({"api_keys": ListOf(Secret()), "password": Secret(), **RIGHTS})
POLICY = StrictMapping({
    "realm": STR,
    "api_keys": StrictMapping({"header": Nullable(STR), "query": Nullable(STR)}),
    "jwt": StrictMapping({"key_file": STR, "jwks_file": STR, "algorithms": STRS, "audience": STR, "issuer": STR,
                          "user_claim": STR, "leeway": NUMBER, "require": STRS}, required=("algorithms",)),
    "users": Mapping(values=USER),
    "anonymous": StrictMapping(RIGHTS),
})


@dataclass(eq=False)
class Area:
    """A ``limited_to`` area: a tileproxy Coverage, and the callback's form of it."""

    coverage: Any
    answer: dict[str, Any]

    def overlaps(self, query_extent: tuple[str, Any]) -> bool:
        """True when the request's extent shares area with this one (not just an edge)."""
        from ..srs import get_srs

        code, bbox = query_extent
        try:
            return self.coverage.intersects(tuple(bbox), get_srs(code))
        except Exception as ex:  # an SRS or a transformation that fails: deny, never guess
            log.warning("cannot compare the request extent in %s with a limited_to area: %s", code, ex)
            return False


# service -> layer name (or ANY_LAYER) -> area, None for anywhere
Rights = dict[str, dict[str, "Area | None"]]


@dataclass(eq=False)
class User:
    name: str
    rights: Rights = field(default_factory=dict)
    area: Area | None = None  # the whole user's limit
    password: PasswordHash | None = field(default=None, repr=False)


@dataclass(eq=False)
class Policy:
    users: dict[str, User]
    anonymous: User | None = None
    realm: str = "tileproxy"
    key_header: str | None = None  # WSGI environ key, HTTP_X_API_KEY
    key_header_name: str | None = None
    key_query: str | None = None
    keys: dict[bytes, User] = field(default_factory=dict, repr=False)  # SHA-256 digest -> user
    jwt: JWTVerifier | None = None
    source: str = ""

    @property
    def basic(self) -> bool:
        return any(u.password is not None for u in self.users.values())

    def answer(self, user: User, service: str, layers: list[str], query_extent: tuple[str, Any] | None) -> dict:
        """What ``mapproxy.authorize`` answers for ``user`` (see docs/security.md)."""
        if service not in FEATURES:
            return {"authorized": "none"}  # a service this policy does not know: closed
        if service == "demo":
            return {"authorized": "full" if "demo" in user.rights else "none"}
        if user.area is not None and query_extent is not None and not user.area.overlaps(query_extent):
            return {"authorized": "none"}
        table = user.rights.get(service)
        if not table:
            return {"authorized": "none"}
        feature = FEATURES[service]
        extras = CAPABILITY_EXTRAS if service == "wms.capabilities" else {}
        granted: dict[str, dict[str, Any]] = {}
        full = user.area is None
        wildcard = table.get(ANY_LAYER, _ABSENT)
        for asked in layers:
            name, area = asked, table.get(asked, wildcard)
            if area is _ABSENT and feature == "tile" and "_" in asked:
                # TMS capabilities ask with the tile layers' keys (osm_EPSG3857), as MapProxy
                # does, and show the layers whose plain name the answer grants
                name = asked.rpartition("_")[0]
                area = table.get(name, wildcard)
            if area is _ABSENT:
                full = False
                continue
            if area is not None:
                full = False
                if query_extent is not None and not area.overlaps(query_extent):
                    continue
                rights = {feature: True, "limited_to": area.answer}
            else:
                rights = {feature: True}
            for extra, extra_service in extras.items():
                other = user.rights.get(extra_service, {})
                if other.get(name, other.get(ANY_LAYER, _ABSENT)) is not _ABSENT:
                    rights[extra] = True
                else:
                    full = False
            granted[name] = rights
        if layers and not granted:
            return {"authorized": "none"}
        if full:
            return {"authorized": "full"}
        result: dict[str, Any] = {"authorized": "partial", "layers": granted}
        if user.area is not None:
            result["limited_to"] = user.area.answer
        return result


def load_policy(path: str | os.PathLike) -> Policy:
    """The policy in the YAML file at ``path``; raises ConfigError naming the file and the
    key path of the first problem."""
    path = Path(path)
    data = read_yaml(path)
    try:
        return build_policy(data, str(path.parent))
    except ConfigError as ex:
        raise ex.with_file(str(path)) from None


def build_policy(data: dict, base_dir: str = ".") -> Policy:
    validate(data, POLICY)
    users: dict[str, User] = {}
    keys: dict[bytes, User] = {}
    for name, conf in (data.get("users") or {}).items():
        upath = join_path("users", str(name))
        user = _user(str(name), conf or {}, base_dir, upath)
        users[user.name] = user
        for i, stored in enumerate((conf or {}).get("api_keys") or []):
            kpath = join_path(join_path(upath, "api_keys"), i)
            try:
                digest = parse_key_digest(stored)
            except SecretFormatError as ex:
                raise ConfigError(str(ex), kpath) from None
            if digest in keys:
                raise ConfigError(f"this API key is given to user {keys[digest].name!r} already", kpath)
            keys[digest] = user
    anonymous = None
    if data.get("anonymous") is not None:
        anonymous = _user("anonymous", data["anonymous"], base_dir, "anonymous")
    policy = Policy(users=users, anonymous=anonymous, realm=data.get("realm") or "tileproxy", keys=keys)
    key_conf = data.get("api_keys") or {}
    header = key_conf.get("header", "X-API-Key")
    if header:
        policy.key_header_name = header
        policy.key_header = "HTTP_" + header.upper().replace("-", "_")
    policy.key_query = key_conf.get("query")
    if keys and not (policy.key_header or policy.key_query):
        raise ConfigError("users have API keys, but neither a header nor a query parameter carries them", "api_keys")
    if data.get("jwt") is not None:
        policy.jwt = JWTVerifier(data["jwt"], base_dir, "jwt")
    if not users and anonymous is None:
        raise ConfigError("the policy has no users and no anonymous rights: it would refuse everything", "users")
    return policy


def _user(name: str, conf: dict, base_dir: str, path: str) -> User:
    user = User(name)
    if conf.get("password") is not None:
        try:
            user.password = PasswordHash(conf["password"])
        except SecretFormatError as ex:
            raise ConfigError(str(ex), join_path(path, "password")) from None
    if conf.get("limited_to") is not None:
        user.area = _area(conf["limited_to"], base_dir, join_path(path, "limited_to"))
    merged: dict[str, dict[str, list[Area | None]]] = {}
    for i, grant in enumerate(conf.get("allow") or []):
        gpath = join_path(join_path(path, "allow"), i)
        area = None
        if grant.get("limited_to") is not None:
            area = _area(grant["limited_to"], base_dir, join_path(gpath, "limited_to"))
        for j, service in enumerate(grant["services"]):
            expanded = GROUPS.get(service) or ((service,) if service in FEATURES else None)
            if expanded is None:
                known = ", ".join([*GROUPS, *FEATURES])
                raise ConfigError(f"unknown service {service!r} (known: {known})",
                                  join_path(join_path(gpath, "services"), j))
            for one in expanded:
                for layer in grant["layers"]:
                    merged.setdefault(one, {}).setdefault(layer, []).append(area)
    # a capabilities document lists the layers one may draw
    for layer, areas in merged.get("wms.map", {}).items():
        merged.setdefault("wms.capabilities", {}).setdefault(layer, []).extend(areas)
    user.rights = {service: {layer: _union(areas) for layer, areas in layers.items()}
                   for service, layers in merged.items()}
    return user


def _union(areas: list[Area | None]) -> Area | None:
    """One area for several grants of one layer: anywhere if any grant is unlimited."""
    if any(a is None for a in areas):
        return None
    unique = list({id(a): a for a in areas}.values())
    if len(unique) == 1:
        return unique[0]
    from ..coverage import Coverage, combine_geoms

    srs = unique[0].coverage.srs
    geom = combine_geoms("union", [a.coverage.transform_to(srs).geom for a in unique])
    return Area(Coverage(geom, srs), {"geometry": geom, "srs": srs.code})


def _area(conf: Any, base_dir: str, path: str) -> Area:
    """A ``limited_to`` area: the coverage options of mapproxy.yaml (bbox, geometry as WKT or
    GeoJSON text, datasource, union/intersection/difference), or ``geojson`` as a mapping."""
    from ..coverage import CoverageError, load_coverage

    geojson = isinstance(conf, dict) and "geojson" in conf
    if geojson:
        doc = conf["geojson"]
        if not isinstance(doc, dict):
            raise ConfigError(f"expected a GeoJSON mapping, got {_kind(doc)}", join_path(path, "geojson"))
        conf = {**{k: v for k, v in conf.items() if k != "geojson"}, "geometry": json.dumps(doc)}
        conf.setdefault("srs", "EPSG:4326")  # GeoJSON is lon/lat
    try:
        coverage = load_coverage(conf, base_dir, path)
    except CoverageError as ex:
        where = ex.path or path
        if geojson and where == join_path(path, "geometry"):
            where = join_path(path, "geojson")
        raise ConfigError(str(ex), where) from None
    if coverage.is_empty:
        raise ConfigError("the area is empty", path)
    if coverage.made_from == "bbox":
        return Area(coverage, {"geometry": list(coverage.bbox), "srs": coverage.srs.code})
    return Area(coverage, {"geometry": coverage.geom, "srs": coverage.srs.code})

