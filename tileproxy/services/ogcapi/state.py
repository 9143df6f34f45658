"""The service's configuration as its pages and maps read it."""

from __future__ import annotations

from ...config.model import OGCAPIConfig, WMSConfig
from ...grid import TileGrid
from ...layers import TileLayer, WMSLayer
from ...srs import get_srs
from .errors import collection_not_found, matrix_set_not_found, not_found
from .mapparams import SizeLimits
from .matrixsets import matrix_sets
from .stored import stored_tile_layers
from .vector_sets import vector_tile_layers


class OGCAPIState:
    """What the pages and maps of the service read: the collections, map CRS,
    tile matrix sets and limits, built once from the configuration."""

    def __init__(self, conf: OGCAPIConfig, root: WMSLayer, grids: dict[str, TileGrid],
                 tile_layers: list[TileLayer] | None = None, max_age: int = 3600):
        self.conf = conf
        self.layers = {lyr.name: lyr for lyr in root.walk() if lyr.name}
        self.map_srs = [get_srs(code) for code in conf.map_srs]
        self.matrix_sets = matrix_sets(grids)
        self.stored = stored_tile_layers(self.layers, self.matrix_sets, tile_layers or [])
        self.vector = vector_tile_layers(self.matrix_sets, tile_layers or []) if conf.enable_tiles else {}
        self.max_age = max_age  # seconds clients may keep a stored tile
        self.limits = SizeLimits(conf.max_output_pixels)
        self.render_conf = WMSConfig(on_source_errors=conf.on_source_errors, attribution=conf.attribution,
                                     concurrent_layer_renderer=conf.concurrent_layer_renderer)
        names = conf.default_dataset_layers
        self.dataset = self.group([self.layers[n] for n in names if n in self.layers]) if names else None

    @staticmethod
    def group(layers: list[WMSLayer]) -> WMSLayer:
        """Several collections drawn as one map (bottom to top)."""
        return WMSLayer(name=None, title="Dataset", md={}, map_layers=[], info_sources=[], legend_sources=[],
                        layers=layers,
                        nominal_scale=max((lyr.nominal_scale or 0 for lyr in layers), default=0) or None)

    def layer_of(self, coll_id: str | None) -> WMSLayer:
        """The collection's layer, or the dataset's (the default dataset layers)."""
        if coll_id is None:
            if self.dataset is None:
                raise not_found("this service has no dataset map (no default_dataset_layers configured)")
            return self.dataset
        layer = self.layers.get(coll_id)
        if layer is None:
            raise collection_not_found()
        return layer

    def matrix_set(self, tms_id: str) -> TileGrid:
        if tms_id not in self.matrix_sets:
            raise matrix_set_not_found()
        return self.matrix_sets[tms_id][0]
