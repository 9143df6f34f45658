"""Band merge: build RGB(A) or greyscale images from bands of other sources,
e.g. false-colour or NDVI-like images (``sources: {r: [{source, band, factor}], ...}``)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from ..image.result import ImageResult
from .base import MapQuery, Source

CHANNELS = ("r", "g", "b", "a", "l")


@dataclass(frozen=True)
class BandOp:
    source: Source
    band: int  # 0-based band of the source image (R, G, B, A)
    factor: float = 1.0


class BandMergeSource(Source):
    """Each output channel is the sum of ``factor * band`` over its ops, clipped to 0..255.
    Every source is asked once per query, however many bands are taken from it."""

    def __init__(self, name: str, ops: dict[str, list[BandOp]]):
        super().__init__(name, transparent="a" in ops)
        self.ops = ops
        self.sources = list({id(op.source): op.source for ops in ops.values() for op in ops}.values())
        self.mode = "L" if "l" in ops else ("RGBA" if "a" in ops else "RGB")
        self.supports_meta_tiles = all(s.supports_meta_tiles for s in self.sources)

    def draw(self, query: MapQuery) -> ImageResult:
        import numpy as np  # here: numpy costs every worker memory, band merges are rare

        bands: dict[int, np.ndarray] = {}
        for source in self.sources:
            img = source.get_map(query).image.convert("RGBA")
            if img.size != query.size:
                img = img.resize(query.size)
            bands[id(source)] = np.asarray(img, dtype=np.float32)
        w, h = query.size
        out = []
        for channel in (("l",) if self.mode == "L" else ("r", "g", "b", "a")[: len(self.mode)]):
            total = np.zeros((h, w), dtype=np.float32)
            if channel not in self.ops:
                total += 255 if channel == "a" else 0
            for op in self.ops.get(channel, []):
                total += bands[id(op.source)][:, :, op.band] * op.factor
            out.append(Image.fromarray(np.clip(np.rint(total), 0, 255).astype(np.uint8), "L"))
        img = out[0] if self.mode == "L" else Image.merge(self.mode, out)
        return ImageResult(image=img)
