"""The modules of tileproxy import each other in one direction: no two modules
import each other, directly or through others. Every import counts (also those
inside functions and under TYPE_CHECKING), since each says which module knows
which; only ``from tileproxy import __version__`` is left out (the package's own
``__init__`` imports the WSGI app lazily, as its entry point)."""

from __future__ import annotations

import ast
from pathlib import Path

import tileproxy

ROOT = Path(tileproxy.__file__).parent

# cycles that are known and being removed (issue 16, item 1: the tile cache package)
KNOWN = {frozenset({"tileproxy.tiles", "tileproxy.rescale"})}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = ("tileproxy", *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in mods else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in mods and m not in (name, "tileproxy")}


def _cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    mods = _modules()
    edges = {name: _imports(name, path, mods) for name, path in mods.items()}
    assert "tileproxy.sources.base" in edges["tileproxy.sources.tile"]  # the graph is read at all
    cycles = [sorted(c) for c in _cycles(edges) if frozenset(c) not in KNOWN]
    assert cycles == []


def test_the_graph_sees_every_kind_of_import() -> None:
    """An import inside a function or under TYPE_CHECKING is an edge too."""
    mods = _modules()
    edges = _imports("tileproxy.config.stores", mods["tileproxy.config.stores"], mods)
    assert "tileproxy.stores.covered" in edges  # imported inside build_store
    edges = _imports("tileproxy.sources.cache", mods["tileproxy.sources.cache"], mods)
    assert "tileproxy.tiles" in edges  # TYPE_CHECKING only
