"""A tiny indenting XML writer for capabilities documents."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr


def num(value: float) -> str:
    """Numbers as MapProxy writes them: whole numbers from the configuration as
    written (``10``), others as the shortest text that reads back as the same float
    (``-48.0``, ``0.1``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(float(value))


# empty elements MapProxy's capabilities write as ``<BoundingBox ... />``: clients
# (and scripts) that look for the text find them the same way
_SPACED_EMPTY = frozenset({"BoundingBox", "LatLonBoundingBox"})


class XMLWriter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    @staticmethod
    def _attrs(attrs: dict) -> str:
        return "".join(f" {k}={quoteattr(str(v))}" for k, v in attrs.items() if v is not None)

    def raw(self, text: str) -> None:
        self.lines.append(text)

    def open(self, tag: str, **attrs) -> None:
        self.lines.append("  " * self.depth + f"<{tag}{self._attrs(_names(attrs))}>")
        self.depth += 1

    def close(self, tag: str) -> None:
        self.depth -= 1
        self.lines.append("  " * self.depth + f"</{tag}>")

    def leaf(self, tag: str, text: str | None = None, **attrs) -> None:
        a = self._attrs(_names(attrs))
        pad = "  " * self.depth
        if text is None:
            self.lines.append(f"{pad}<{tag}{a}{' />' if tag in _SPACED_EMPTY else '/>'}")
        else:
            self.lines.append(f"{pad}<{tag}{a}>{escape(str(text))}</{tag}>")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _names(attrs: dict) -> dict:
    """Python keyword names to XML names: ``xlink__href`` -> ``xlink:href``."""
    return {k.replace("__", ":"): v for k, v in attrs.items()}
