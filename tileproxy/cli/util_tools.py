"""The subcommands named after mapproxy-util's tools."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from . import (
        autoconfig_tool,
        create_tool,
        gridconf_tool,
        grids_tool,
        scales_tool,
        wms_capabilities_tool,
    )

    grids_tool.add_parser(sub)
    scales_tool.add_parser(sub)
    create_tool.add_parser(sub)
    wms_capabilities_tool.add_parser(sub)
    autoconfig_tool.add_parser(sub)
    gridconf_tool.add_parser(sub)
