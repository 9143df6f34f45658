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


def quadkey(x: int, y: int, z: int) -> str:
    """Bing quadkey of a tile counted from the north-west corner."""
    digits = []
    for i in range(z, 0, -1):
        mask = 1 << (i - 1)
        digits.append(str((1 if x & mask else 0) + (2 if y & mask else 0)))
    return "".join(digits)


def _arcgis(x: int, y: int, z: int) -> str:
    return f"L{z:02d}/R{y:08x}/C{x:08x}"


LAYOUTS: dict[str, Callable[[int, int, int], str]] = {
    "tc": _tc,
    "mp": _mp,
    "tms": _tms,
    "reverse_tms": _reverse_tms,
    "quadkey": quadkey,
    "arcgis": _arcgis,
}


def level_dir(layout: str, z: int) -> str | None:
    """The directory below which all tiles of level ``z`` live, as ``tile_path`` writes
    them; None for layouts that mix levels in their directories."""
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


def _quadkey_coord(key: str) -> Coord | None:
    """The tile of a quadkey; level 0 is the empty key (the file ``.png``)."""
    if any(c not in "0123" for c in key):
        return None
    x = y = 0
    for digit in key:
        d = int(digit)
        x, y = x * 2 + (d & 1), y * 2 + (d >> 1)
    return (x, y, len(key))


def _ints(parts: list[str], base: int = 10) -> list[int] | None:
    try:
        return [int(p, base) for p in parts]
    except ValueError:
        return None


def parse_tile_path(layout: str, rel_path: str, ext: str) -> Coord | None:
    """The tile coordinate of a relative path in ``layout`` (the inverse of
    ``tile_path``); None for files that are not tiles of this layout."""
    suffix = "." + ext
    if not rel_path.endswith(suffix):
        return None
    parts = rel_path[: -len(suffix)].split("/")
    if layout == "quadkey":
        return _quadkey_coord(parts[0]) if len(parts) == 1 else None
    if layout == "arcgis":
        if len(parts) != 3 or parts[0][:1] != "L" or parts[1][:1] != "R" or parts[2][:1] != "C":
            return None
        z = _ints([parts[0][1:]])
        yx = _ints([parts[1][1:], parts[2][1:]], 16)
        return (yx[1], yx[0], z[0]) if z and yx else None
    nums = _ints(parts)
    if nums is None:
        return None
    if layout == "tc" and len(nums) == 7:
        z, x1, x2, x3, y1, y2, y3 = nums
        return (x1 * 1000000 + x2 * 1000 + x3, y1 * 1000000 + y2 * 1000 + y3, z)
    if layout == "mp" and len(nums) == 5:
        z, x1, x2, y1, y2 = nums
        return (x1 * 10000 + x2, y1 * 10000 + y2, z)
    if layout == "tms" and len(nums) == 3:
        z, x, y = nums
        return (x, y, z)
    if layout == "reverse_tms" and len(nums) == 3:
        y, x, z = nums
        return (x, y, z)
    return None
