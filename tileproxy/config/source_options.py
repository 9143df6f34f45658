"""Options several source types share: ``http``, ``req``, ``wms_opts``, ``supported_*``,
and the limits every source has (see sources/limits.py)."""

from __future__ import annotations

from typing import Any

from ..image.formats import ImageFormat
from ..sources.http import HTTPClient, HTTPOptions
from ..sources.limits import SourceLimits
from ..sources.wms import WMSSourceOptions
from ..srs import SRSError, get_srs
from .colors import parse_color
from .context import BuildContext
from .errors import ConfigError, join_path
from .grids import res_limits
from .image_options import image_format, resampling
from .model import SUPPORTED_WMS_VERSIONS


def http_options(ctx: BuildContext, conf: dict, path: str = "") -> HTTPOptions:
    """A source's ``http`` block over ``globals.http``."""
    own = conf.get("http") or {}
    merged = {**ctx.g_http, **own}
    timeout = merged.get("client_timeout", 60)
    if not timeout > 0:
        where = join_path(path, "http") if "client_timeout" in own else "globals.http"
        raise ConfigError(f"expected a positive number of seconds, got {timeout}", join_path(where, "client_timeout"))
    return HTTPOptions(
        client_timeout=float(timeout),
        headers={str(k): str(v) for k, v in (merged.get("headers") or {}).items()},
        ssl_no_cert_checks=bool(merged.get("ssl_no_cert_checks", False)),
        ssl_ca_certs=ctx.abspath(merged["ssl_ca_certs"]) if merged.get("ssl_ca_certs") else None,
        hide_error_details=bool(merged.get("hide_error_details", True)),
        manage_cookies=bool(merged.get("manage_cookies", False)),
        method=str(merged.get("method", "AUTO")).upper(),
    )


def concurrent_requests(ctx: BuildContext, conf: dict) -> int:
    """A source's ``concurrent_requests``, else the global one; 0 is no limit."""
    return conf.get("concurrent_requests", ctx.g_http.get("concurrent_requests", 0)) or 0


def http_client(ctx: BuildContext, conf: dict, url: str, path: str,
                schemes: tuple[str, ...] = ("http", "https")) -> HTTPClient:
    """The HTTP client of a source at ``url``."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in schemes:
        shown = url.rpartition("@")[2] if "@" in url.partition("?")[0] else url  # no credentials in messages
        key = next((k for k in ("url", "landingpage_url") if k in conf), "req.url")
        raise ConfigError(f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}, got {shown!r}",
                          join_path(path, key))
    concurrent = concurrent_requests(ctx, conf)
    if concurrent < 0:
        where = join_path(path, "concurrent_requests") if "concurrent_requests" in conf else "globals.http.concurrent_requests"
        raise ConfigError(f"expected 0 (no limit) or more, got {concurrent}", where)
    return HTTPClient(http_options(ctx, conf, path), base_url=url, concurrent_requests=concurrent,
                      lock_dir=ctx.globals.lock_dir)


def req_params(conf: dict, path: str, require_url: bool = True) -> tuple[str, dict[str, str], bool]:
    """``req`` of a WMS-like source: the URL, the other request parameters, transparency."""
    req = dict(conf.get("req") or {})
    url = req.pop("url", None)
    if require_url and not url:
        raise ConfigError("missing required key 'url'", join_path(path, "req"))
    transparent = req.pop("transparent", False)
    if isinstance(transparent, str):
        transparent = transparent.lower() == "true"
    transparent = bool(transparent or conf.get("transparent", False))
    return url or "", {str(k): _param(v) for k, v in req.items()}, transparent


def sld_file_as_body(ctx: BuildContext, params: dict[str, str], path: str) -> None:
    """``req.sld: file://...``: the file's content goes along as SLD_BODY (relative
    to the configuration's directory), as MapProxy sends it."""
    key = next((k for k in params if k.lower() == "sld"), None)
    if key is None or not params[key].startswith("file://"):
        return
    filename = ctx.abspath(params[key][len("file://"):])
    try:
        with open(filename, encoding="utf-8") as f:
            body = f.read()
    except (OSError, UnicodeDecodeError) as ex:
        raise ConfigError(f"cannot read the SLD file {filename}: {getattr(ex, 'strerror', None) or ex}",
                          join_path(path, f"req.{key}")) from None
    del params[key]
    params["sld_body"] = body


def req_transparent(conf: dict) -> str | None:
    """``req.transparent`` as the request parameter it becomes: the configured value
    as text (YAML ``true`` is sent as ``True``, as MapProxy sends it); None when unset."""
    value = (conf.get("req") or {}).get("transparent")
    return None if value is None else str(value)


def check_layers(ctx: BuildContext, conf: dict, path: str) -> None:
    """A layer name YAML read as a number (``layers: 4``) is sent as written; one read
    as a decimal number may not be (``1.10`` is sent as 1.1), which a warning says.
    A source without ``req.layers`` loads, as in MapProxy: tagged references
    (``'name:l1,l2'``) name its layers (see caches.source_ref)."""
    layers = next((v for k, v in (conf.get("req") or {}).items() if str(k).lower() == "layers"), None)
    for i, name in enumerate(layers if isinstance(layers, list) else [layers]):
        if isinstance(name, float):
            key = join_path(join_path(path, "req.layers"), i) if isinstance(layers, list) else join_path(path, "req.layers")
            ctx.warn(key, f"the number {name!r} is sent as the layer name '{_param(name)}'; "
                     "quote the name if it is written otherwise")


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)  # as MapProxy writes YAML booleans: True / False
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def supported(ctx: BuildContext, conf: dict, path: str) -> tuple[list, list[ImageFormat]]:
    """``supported_srs`` and ``supported_formats`` of a WMS-like source."""
    try:
        supported_srs = [get_srs(s) for s in conf.get("supported_srs") or []]
    except SRSError as ex:
        raise ConfigError(str(ex), join_path(path, "supported_srs")) from None
    formats = [image_format(ctx, f, join_path(path, "supported_formats"), encodes=False)
               for f in conf.get("supported_formats") or []]
    return supported_srs, formats


def wms_options(ctx: BuildContext, conf: dict, path: str) -> dict[str, Any]:
    """Keyword arguments of a WMSSource (or MapServerSource) besides its URL, parameters and client."""
    wms_opts = conf.get("wms_opts") or {}
    version = str(wms_opts.get("version", "1.1.1"))
    if version not in SUPPORTED_WMS_VERSIONS:
        raise ConfigError(f"unsupported WMS version '{version}' (use one of {', '.join(SUPPORTED_WMS_VERSIONS)})", join_path(path, "wms_opts.version"))
    supported_srs, supported_formats = supported(ctx, conf, path)
    legendurl = wms_opts.get("legendurl")
    if legendurl and not str(legendurl).startswith(("http://", "https://", "file://")):
        raise ConfigError("expected an http(s):// or file:// URL", join_path(path, "wms_opts.legendurl"))
    min_res, max_res = res_limits(conf)
    return {
        "version": version,
        "supported_srs": supported_srs,
        "supported_formats": supported_formats,
        "resampling": resampling(ctx, conf.get("image") or {}, join_path(path, "image")),
        "options": WMSSourceOptions(
            map=bool(wms_opts.get("map", True)),
            featureinfo=bool(wms_opts.get("featureinfo", False)),
            featureinfo_format=wms_opts.get("featureinfo_format"),
            featureinfo_xslt=ctx.abspath(wms_opts["featureinfo_xslt"]) if wms_opts.get("featureinfo_xslt") else None,
            featureinfo_out_format=wms_opts.get("featureinfo_out_format"),
            legendgraphic=bool(wms_opts.get("legendgraphic", False)),
            legendurl=legendurl,
            min_res=min_res,
            max_res=max_res,
            forward_req_params=tuple(str(p).lower() for p in conf.get("forward_req_params") or []),
            query_layers=_param(wms_opts["query_layers"]) if wms_opts.get("query_layers") else None,
        ),
    }


def source_limits(ctx: BuildContext, name: str, conf: dict, path: str, kind: str) -> SourceLimits:
    """The options all sources share: resolution range, seed_only, opacity, coverage..."""
    min_res, max_res = res_limits(conf)
    image = conf.get("image") or {}
    opacity = image.get("opacity")
    tolerance = float(image.get("transparent_color_tolerance", ctx.g_image.get("transparent_color_tolerance", 5)))
    if opacity is not None and not 0 <= opacity <= 1:
        raise ConfigError("expected a number from 0 to 1", join_path(path, "image.opacity"))
    transparent_color = None
    if image.get("transparent_color") is not None:
        transparent_color = parse_color(image["transparent_color"], join_path(path, "image.transparent_color"))[:3]
    coverage = None
    if conf.get("coverage"):
        # imported here: shapely costs ~16 MB per worker that needs no coverage
        from ..coverage import CoverageError, load_coverage

        try:
            coverage = load_coverage(conf["coverage"], str(ctx.conf_dir), join_path(path, "coverage"), warn=ctx.warn)
        except CoverageError as ex:
            raise ConfigError(str(ex), ex.path) from None
    semaphore = None
    concurrent = concurrent_requests(ctx, conf)
    if concurrent and kind in ("mapserver", "mapnik"):  # HTTP sources cap in their client
        from ..tilecache.locks import Semaphore

        semaphore = Semaphore(ctx.globals.lock_dir, f"{kind}-{name}", int(concurrent), timeout=ctx.client_timeout)
    return SourceLimits(
        min_res=min_res,
        max_res=max_res,
        coverage=coverage,
        seed_only=bool(conf.get("seed_only", False)),
        transparent_color=transparent_color,
        tolerance=tolerance,
        opacity=opacity,
        semaphore=semaphore,
    )
