"""The resolution range a layer draws in, from its own ``min_res``/``max_res`` (or
scales) or from what its sources draw, as MapProxy derives it: a cache draws
what its sources draw (unless it rescales tiles), a layer what its sources or
caches draw; a range merged with an unlimited one is unlimited."""

from __future__ import annotations

# (min_res, max_res) in metres per pixel: the coarsest resolution drawn and the
# finest one not drawn any more; None for no limit on that side
ResRange = tuple[float | None, float | None]


def res_range(min_res: float | None, max_res: float | None) -> ResRange | None:
    return None if min_res is None and max_res is None else (min_res, max_res)


def merge_res_ranges(ranges: list[ResRange | None]) -> ResRange | None:
    """The range that holds all of ``ranges``; None (unlimited) when one of them is."""
    if not ranges or any(r is None for r in ranges):
        return None
    min_res: float | None = ranges[0][0]  # type: ignore[index]
    max_res: float | None = ranges[0][1]  # type: ignore[index]
    for lo, hi in ranges[1:]:  # type: ignore[misc]
        min_res = None if min_res is None or lo is None else max(min_res, lo)
        max_res = None if max_res is None or hi is None else min(max_res, hi)
    return res_range(min_res, max_res)
