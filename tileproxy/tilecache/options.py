"""A cache's settings for serving and creating tiles (from its ``cache:`` block and
the globals): meta tiles, locking, storage, refresh rules and rescaling."""

from __future__ import annotations

from dataclasses import dataclass

from .freshness import RefreshBefore

REFRESH_MODES = ("foreground", "background")


@dataclass
class TileManagerOptions:
    meta_size: tuple[int, int] = (4, 4)
    meta_buffer: int = 80
    minimize_meta_requests: bool = False
    bulk_meta_tiles: bool = False  # tiled sources: fetch all tiles of a meta tile at once
    concurrent_tile_creators: int = 2
    disable_storage: bool = False
    link_single_color_images: bool = False
    lock_timeout: float = 60.0
    refresh_before: RefreshBefore | None = None
    refresh_mode: str = "foreground"  # background: serve stale at once, refresh later
    refresh_workers: int = 2
    refresh_queue_size: int = 256
    rescale_tiles: int = 0  # upscale_tiles as -N, downscale_tiles as +N
    cache_rescaled_tiles: bool = False
