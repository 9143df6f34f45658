"""HTML helpers of the demo pages: escaping, links and the page frame.

Links between demo pages and to the services are relative (``../service?...``,
``../demo/?...``; every demo page lives at ``/demo/``), as MapProxy's demo
writes them, so they work behind any proxy prefix. Their query values are
percent-encoded, so the ``&`` between parameters is the only character that
HTML could read differently, and it is never followed by a character reference
name (``&format=``, ``&srs=``): it stays as MapProxy's users and tools see it.
"""

from __future__ import annotations

import hashlib
import json
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import quote

STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def h(value: object) -> str:
    """Escape text for HTML element content and quoted attribute values."""
    return escape(str(value), quote=True)


def seg(value: str) -> str:
    """Quote a URL path segment."""
    return quote(value, safe="")


def query(params: list[tuple[str, str | None]]) -> str:
    """A query string with percent-encoded values (``None``: the bare name)."""
    return "&".join(name if value is None else f"{name}={quote(value, safe='')}" for name, value in params)


def demo_link(*params: tuple[str, str | None]) -> str:
    """The relative URL of a demo page."""
    return "../demo/?" + query(list(params))


def link(href: str, text: str, attrs: str = "") -> str:
    """An ``<a>``; ``href`` is a URL built by this module (see the module doc)."""
    return f'<a href="{href}"{attrs}>{text}</a>'


def script_json(data: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``</script>``, no
    ``<!--``, no HTML entities and no line separators that break old parsers."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, repl in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, repl)
    return text


def read_static(name: str) -> bytes | None:
    """A file of the static folder (no subfolders, known types only), or None."""
    if name.startswith(".") or "/" in name or name[name.rfind("."):] not in STATIC_TYPES:
        return None
    try:
        return resources.files(__package__).joinpath("static", name).read_bytes()
    except OSError:  # no such file, a folder, a name too long for the file system
        return None


def asset_url(name: str) -> str:
    """URL of a static file, with a content hash so browsers never keep a stale copy."""
    digest = hashlib.sha1(read_static(name) or b"").hexdigest()[:12]
    return f"../demo/static/{name}?v={digest}"


def page_html(title: str, body: str, script: str = "") -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{h(title)} – tileproxy demo</title>"
        f"<link rel=\"stylesheet\" href=\"{asset_url('demo.css')}\"></head>\n"
        "<body><header><a class=\"home\" href=\"../demo/\">tileproxy demo</a>"
        f"<span class=\"page-title\">{h(title)}</span></header>\n{body}\n{script}</body></html>\n"
    )


def not_found_body(message: str) -> str:
    """``message`` is HTML."""
    return (f"<main class=\"index\"><h1>Not found</h1><p>{message}</p>"
            f"<p>{link('../demo/', 'All layers')}</p></main>")
