"""Tile servers addressed by URL templates (TMS, XYZ, Bing quadkeys, TileCache, ArcGIS caches)."""

from __future__ import annotations

from ..grid import TileCoord, TileGrid
from ..image.formats import ImageFormat
from ..image.result import ImageResult
from ..image.transform import blank_image
from ..stores.layouts import quadkey, tile_path
from .base import SourceError, TiledSource, source_image
from .http import HTTPClient, split_credentials
from .limits import NO_LIMITS, SourceLimits
from .on_error import ErrorPolicy

TEMPLATE_KEYS = ("x", "y", "z", "format", "quadkey", "tc_path", "tms_path", "arcgiscache_path", "bbox")


def check_template(url: str) -> None:
    """Raise ValueError naming the first unknown %(key)s in ``url``."""
    sample = {k: "0" for k in TEMPLATE_KEYS}
    try:
        url % sample
    except KeyError as ex:
        raise ValueError(f"unknown template key %({ex.args[0]})s in url") from None
    except (TypeError, ValueError) as ex:
        raise ValueError(f"invalid url template: {ex} (write a literal % as %%)") from None


class TileSource(TiledSource):
    """Fetches tiles of ``grid`` by URL template."""

    def __init__(
        self,
        name: str,
        url: str,
        grid: TileGrid,
        client: HTTPClient,
        transparent: bool = False,
        flip_y: bool = False,
        resampling: str = "bicubic",
        max_tile_limit: int | None = 500,
        limits: SourceLimits = NO_LIMITS,
        on_error: ErrorPolicy | None = None,
    ):
        super().__init__(name, transparent, limits, on_error)
        self.url, self.auth = split_credentials(url)
        self.grid = grid
        self.client = client
        self.flip_y = flip_y  # deprecated 'origin' differing from the grid origin
        self.resampling = resampling
        self.max_tile_limit = max_tile_limit  # maps of other grids: the most tiles one may need

    def tile_url(self, coord: TileCoord, fmt: ImageFormat) -> str:
        x, y, z = coord
        if self.flip_y:
            y = self.grid.flip_y(y, z)
        nw_y = y if self.grid.origin == "nw" else self.grid.flip_y(y, z)
        bbox = self.grid.tile_bbox(coord)
        values = {
            "x": x,
            "y": y,
            "z": z,
            "format": fmt.ext if fmt.mime != "mixed" else "png",
            "quadkey": quadkey(x, nw_y, z),
            "tc_path": tile_path("tc", (x, y, z), fmt.ext),
            "tms_path": f"{z}/{x}/{y}",
            "arcgiscache_path": f"L{z:02d}/R{nw_y:08x}/C{x:08x}",
            "bbox": ",".join(repr(float(v)) for v in bbox),
        }
        values["tc_path"] = values["tc_path"].rsplit(".", 1)[0]
        return self.url % values

    def fetch_tile(self, coord: TileCoord, format: ImageFormat) -> ImageResult:
        if self.url.startswith("file://"):
            return self._read_file(self.tile_url(coord, format)[7:], format)
        resp = self.client.get(self.tile_url(coord, format), auth=self.auth)
        data = resp.content
        if not format.is_image:
            # vector tiles and other payloads are passed through byte for byte
            return ImageResult(data=data, mime=format.mime)
        if not data:  # an empty answer: nothing there (MapProxy leaves such tiles blank too)
            return ImageResult(image=blank_image(tuple(self.grid.tile_size)))
        return source_image(data, tuple(self.grid.tile_size), f"tile source '{self.name}'")

    def _read_file(self, path: str, format: ImageFormat) -> ImageResult:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as ex:
            raise SourceError(f"tile source '{self.name}': {ex.strerror}", status=404) from None
        if not format.is_image:
            return ImageResult(data=data, mime=format.mime)
        return source_image(data, tuple(self.grid.tile_size), f"tile source '{self.name}'")
