"""tileproxy's grids/scales/... tools print what mapproxy-util 7.0 prints for the same input.

The expected outputs are recorded from mapproxy-util (bench/record_mapproxy_util.py)."""

from __future__ import annotations

import contextlib
import io
import os
import shlex
from pathlib import Path

import pytest

from tileproxy.cli.main import main

DATA = Path(__file__).parent / "data" / "mapproxy_util"


def _cases() -> list[tuple[str, str]]:
    lines = (DATA / "cases.txt").read_text().splitlines()
    return [tuple(part.strip() for part in line.split(":", 1))  # type: ignore[misc]
            for line in lines if line.strip() and not line.startswith("#")]


def run_tool(args: list[str], cwd: Path = DATA) -> tuple[int, str]:
    out = io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            code = main(args)
    finally:
        os.chdir(here)
    return code, out.getvalue()


@pytest.mark.parametrize(("name", "args"), _cases(), ids=[c[0] for c in _cases()])
def test_output_equals_mapproxy_util(name: str, args: str) -> None:
    code, out = run_tool(shlex.split(args))
    assert code == 0
    assert out == (DATA / f"{name}.out").read_text()


def test_unknown_grid_is_named() -> None:
    code, out = run_tool(["grids", "-g", "NoSuchGrid", "grids.yaml"])
    assert code == 1
    assert out == "grid not found: nosuchgrid\n"


def test_scales_eval_refuses_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_tool(["scales", "--eval", "__import__('os')"])
    assert (code, out) == (2, "")
    assert "not arithmetic" in capsys.readouterr().err
