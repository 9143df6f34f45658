"""MapProxy's file cache directory layouts: where a tile lives on disk."""

from __future__ import annotations

from collections.abc import Callable

Coord = tuple[int, int, int]


def _tc(x: int, y: int, z: int) -> str:
    return (
        f"{z:02d}/{x // 1000000:03d}/{x // 1000 % 1000:03d}/{x % 1000:03d}/"
        f"{y // 1000000:03d}/{y // 1000 % 1000:03d}/{y % 1000:03d}"
    )


def _mp(x: int, y: int, z: int) -> str:
    return f"{z:02d}/{x // 10000:04d}/{x % 10000:04d}/{y // 10000:04d}/{y % 10000:04d}"


def _tms(x: int, y: int, z: int) -> str:
    return f"{z}/{x}/{y}"


def _reverse_tms(x: int, y: int, z: int) -> str:
    return f"{y}/{x}/{z}"


def _quadkey(x: int, y: int, z: int) -> str:
    from ..sources.tile import quadkey

    return quadkey(x, y, z)


def _arcgis(x: int, y: int, z: int) -> str:
    return f"L{z:02d}/R{y:08x}/C{x:08x}"


LAYOUTS: dict[str, Callable[[int, int, int], str]] = {
    "tc": _tc,
    "mp": _mp,
    "tms": _tms,
    "reverse_tms": _reverse_tms,
    "quadkey": _quadkey,
    "arcgis": _arcgis,
}

# layouts that put dimension segments in front of the path
DIMENSION_LAYOUTS = ("tc", "mp", "tms", "reverse_tms")


def level_dir(layout: str, z: int) -> str | None:
    """The directory that holds a whole level, when the layout has one."""
    if layout in ("tc", "mp"):
        return f"{z:02d}"
    if layout == "tms":
        return str(z)
    if layout == "arcgis":
        return f"L{z:02d}"
    return None


def tile_path(layout: str, coord: Coord, ext: str) -> str:
    """Relative path of a tile, e.g. ``tile_path('tc', (3, 4, 2), 'png')``
    is ``02/000/000/003/000/000/004.png``."""
    x, y, z = coord
    return f"{LAYOUTS[layout](x, y, z)}.{ext}"
