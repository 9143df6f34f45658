"""The subcommands named after mapproxy-util's tools."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from . import grids_tool, scales_tool

    grids_tool.add_parser(sub)
    scales_tool.add_parser(sub)
