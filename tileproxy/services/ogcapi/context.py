"""One OGC API request: its base URL, the format it asks for, its parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ...http import Request
from .errors import invalid, unknown_parameter

JSON = "application/json"
HTML = "text/html"
PNG = "image/png"
JPEG = "image/jpeg"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"


class Context:
    """What every page needs of the request."""

    def __init__(self, req: Request):
        self.req = req
        self.args = req.args
        self.base = req.script_url + "/ogcapi"  # the service's public URL
        accept = req.header("Accept") or ""
        self.accept = accept
        f = self.args.get("f")
        self.html = f == "html" or (HTML in accept and f != "json")

    def href(self, path: str = "") -> str:
        """The public URL of ``path`` (below /ogcapi)."""
        return self.base + path

    def check(self, allowed: Iterable[str] = ("f",), formats: tuple = (None, "json", "html")) -> None:
        """Unknown parameters and unknown ``f`` values are refused (400)."""
        allowed = set(allowed)
        for name in self.args:
            if name not in allowed:
                raise unknown_parameter(name)
        if self.args.get("f") not in formats:
            raise invalid("Invalid value for f query parameter")

    def pair(self, title_json: str, title_html: str, path: str, sep: str = "?") -> list[dict]:
        """The JSON and HTML links of a page: ``self`` for the one answered."""
        return [
            {"rel": "alternate" if self.html else "self", "type": JSON, "title": title_json,
             "href": self.href(f"{path}{sep}f=json")},
            {"rel": "self" if self.html else "alternate", "type": HTML, "title": title_html,
             "href": self.href(f"{path}{sep}f=html")},
        ]


HtmlPage = Callable[[dict, Context], str]
