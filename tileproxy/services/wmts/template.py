"""RESTful URL templates such as ``/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.{Format}``.
Variables other than the WMTS ones name dimensions (``{Time}``)."""

from __future__ import annotations

import re

_PATTERNS = {
    "Layer": r"[^/]+",
    "TileMatrixSet": r"[^/]+",
    "Style": r"[^/]+",
    "TileMatrix": r"\d+",
    "TileCol": r"-?\d+",
    "TileRow": r"-?\d+",
    "I": r"\d+",
    "J": r"\d+",
    "Format": r"\w+",
    "InfoFormat": r"\w+",
}
_DIMENSION = r"[^/]+"
_VARIABLE = re.compile(r"\{(\w+)\}")


class URLTemplate:
    def __init__(self, template: str):
        self.template = template
        self.dimensions: list[str] = []  # as written in the template
        out, pos = [], 0
        for m in _VARIABLE.finditer(template):
            name = m.group(1)
            out.append(re.escape(template[pos:m.start()]))
            if name in _PATTERNS:
                out.append(f"(?P<{name}>{_PATTERNS[name]})")
            elif name.lower() not in (d.lower() for d in self.dimensions):
                self.dimensions.append(name)
                out.append(f"(?P<dim_{len(self.dimensions) - 1}>{_DIMENSION})")
            else:  # the same dimension twice: the second must repeat the first
                index = [d.lower() for d in self.dimensions].index(name.lower())
                out.append(f"(?P=dim_{index})")
            pos = m.end()
        out.append(re.escape(template[pos:]))
        self.regex = re.compile("".join(out))

    def match(self, path: str) -> tuple[dict[str, str], dict[str, str]] | None:
        """(WMTS variables, dimension values by lower-case name) of a matching path."""
        m = self.regex.fullmatch(path)
        if m is None:
            return None
        values = m.groupdict()
        if not self.dimensions:
            return values, {}
        dims = {name.lower(): values.pop(f"dim_{i}") for i, name in enumerate(self.dimensions)}
        return values, dims

    def dimension_key(self, name: str) -> str:
        """A dimension's name as the template writes it (``Time`` for ``time``)."""
        return next((d for d in self.dimensions if d.lower() == name.lower()), name)

    def fill(self, **values: str) -> str:
        """The template with some variables replaced (the others stay for clients)."""
        text = self.template
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text
