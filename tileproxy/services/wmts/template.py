"""RESTful URL templates such as ``/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.{Format}``.
Variables other than the WMTS ones name dimensions (``{Time}``)."""

from __future__ import annotations

import re
from operator import itemgetter

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

# the variables a RESTful tile / feature info URL gives its service, in this order
TILE_FIELDS = ("Layer", "TileMatrixSet", "TileMatrix", "TileCol", "TileRow", "Format")
INFO_FIELDS = ("Layer", "TileMatrixSet", "TileMatrix", "TileCol", "TileRow", "I", "J", "InfoFormat")


class URLTemplate:
    def __init__(self, template: str, fields: tuple[str, ...] = TILE_FIELDS):
        """``fields``: the WMTS variables ``match`` returns (two or more)."""
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
        # the fields and dimensions by their place in a match's groups (on the cached-tile
        # path: no dicts). A template of just the fields in their order (the default
        # ones) has them as its groups; else they are picked from the groups, to which
        # None is appended for the fields the template lacks.
        places = {name: index - 1 for name, index in self.regex.groupindex.items()}
        self._groups_are_fields = tuple(sorted(places, key=places.__getitem__)) == fields
        self._fields = itemgetter(*(places.get(name, self.regex.groups) for name in fields))
        self._dimension_places = [(name.lower(), places[f"dim_{i}"]) for i, name in enumerate(self.dimensions)]

    def match(self, path: str) -> tuple[tuple[str | None, ...], dict[str, str]] | None:
        """(the values of the fields, None for those the template lacks; dimension
        values by lower-case name) of a matching path."""
        m = self.regex.fullmatch(path)
        if m is None:
            return None
        if self._groups_are_fields:
            return m.groups(), {}
        groups = (*m.groups(), None)
        return self._fields(groups), {name: groups[i] for name, i in self._dimension_places}

    def dimension_key(self, name: str) -> str:
        """A dimension's name as the template writes it (``Time`` for ``time``)."""
        return next((d for d in self.dimensions if d.lower() == name.lower()), name)

    def fill(self, **values: str) -> str:
        """The template with some variables replaced (the others stay for clients)."""
        text = self.template
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text
