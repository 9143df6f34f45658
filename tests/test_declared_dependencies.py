"""pyproject.toml declares exactly what the code imports, no more, no less: every
third-party module imported by tileproxy/ comes from a runtime dependency or an
optional extra, every runtime dependency is imported, extras are imported only
where they are used (never when a module loads), and tests import only what the
runtime and [test] dependencies install. The package data it names exists."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tileproxy"
TESTS = ROOT / "tests"

# extras that install tools, not modules tileproxy imports
TOOL_EXTRAS = {"test", "gunicorn"}
# modules imported by a computed name, with the module that imports them
DYNAMIC_IMPORTS = {"mapnik": PACKAGE / "sources" / "mapnik.py"}
# test files that are no tests: run by hand against MapProxy itself
REFERENCE_SCRIPTS = {"mapproxy_seed_reference.py"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normalized(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requirements}


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
RUNTIME = _requirement_names(PROJECT["dependencies"])
EXTRAS = {name: _requirement_names(reqs) for name, reqs in PROJECT["optional-dependencies"].items()}
OPTIONAL = set().union(*(reqs for name, reqs in EXTRAS.items() if name not in TOOL_EXTRAS)) - RUNTIME


@cache
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def _distributions(module: str) -> list[str]:
    return [_normalized(d) for d in _installed().get(module) or [module]]


def _distribution(module: str) -> str:
    """The distribution that installs ``module`` (PIL: pillow); the module's own name when
    it is not installed here. A namespace shared by several distributions (azure) counts
    as the declared one among them."""
    dists = _distributions(module)
    declared = RUNTIME.union(*EXTRAS.values())
    return next((d for d in dists if d in declared), dists[0])


def _lazy_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside function bodies: they run when called, not when the module loads."""
    return {id(n) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for n in ast.walk(fn) if n is not fn}


def _imports(files: list[Path], local: set[str]) -> Iterator[tuple[str, Path, bool]]:
    """(top-level module, file, imported when the module loads) of every third-party
    import, ``pytest.importorskip("x")`` included."""
    for file in files:
        tree = ast.parse(file.read_text(), str(file))
        lazy = _lazy_nodes(tree)
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                names = [node.args[0].value]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local and top != "__future__":
                    yield top, file, id(node) not in lazy


def _package_imports() -> list[tuple[str, Path, bool]]:
    found = list(_imports(sorted(PACKAGE.rglob("*.py")), {"tileproxy"}))
    for module, file in DYNAMIC_IMPORTS.items():
        assert f'"{module}"' in file.read_text(), f"{file.name} no longer imports {module}: update DYNAMIC_IMPORTS"
        found.append((module, file, False))
    return found


def test_every_import_of_tileproxy_is_declared() -> None:
    undeclared = {f"{module} ({file.relative_to(ROOT)})" for module, file, _ in _package_imports()
                  if _distribution(module) not in RUNTIME | OPTIONAL}
    assert not undeclared, "imported but not declared in pyproject.toml"


def test_every_runtime_dependency_is_imported() -> None:
    imported = {_distribution(module) for module, _, _ in _package_imports()}
    assert RUNTIME - imported == set(), "declared as runtime dependencies but imported by no module"


def test_every_optional_extra_is_imported_and_only_where_used() -> None:
    imports = _package_imports()
    assert OPTIONAL - {d for module, _, _ in imports for d in _distributions(module)} == set()
    eager = {f"{module} ({file.relative_to(ROOT)})" for module, file, at_load in imports
             if at_load and _distribution(module) in OPTIONAL}
    assert not eager, "optional extras imported when a module loads: tileproxy fails without them"


def test_tests_import_only_declared_dependencies() -> None:
    files = [f for f in sorted(TESTS.rglob("*.py")) if f.name not in REFERENCE_SCRIPTS]
    local = {"tileproxy"} | {f.stem for f in TESTS.rglob("*.py")} | {d.name for d in TESTS.rglob("*") if d.is_dir()}
    undeclared = {f"{module} ({file.relative_to(ROOT)})" for module, file, _ in _imports(files, local)
                  if _distribution(module) not in RUNTIME | EXTRAS["test"]}
    assert not undeclared, "imported by tests but in neither the runtime nor the [test] dependencies"


def test_package_data_names_existing_files() -> None:
    """Every package-data pattern matches files (a pattern for files that went ships nothing)."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["tileproxy"]
    assert patterns
    assert [p for p in patterns if not list(PACKAGE.glob(p))] == []
