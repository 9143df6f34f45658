"""The /demo/ page: a map view per layer (placeholder until the viewer lands)."""

from __future__ import annotations

from html import escape

from ..http import Response


class DemoService:
    def __init__(self, config, tile_layers, tms, wmts):
        self.config = config
        self.tile_layers = tile_layers
        self.tms = tms
        self.wmts = wmts

    def handle(self, req, parts):
        items = "".join(f"<li>{escape(tl.name)} ({escape(tl.grid_name)})</li>" for tl in self.tile_layers)
        return Response(f"<!DOCTYPE html><html><body><h1>Demo</h1><ul>{items}</ul></body></html>",
                        content_type="text/html; charset=utf-8")
