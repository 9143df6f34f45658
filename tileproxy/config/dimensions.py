"""Layer dimensions (TIME, ELEVATION, DIM_*): values, ISO 8601 interval expansion."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_EXPANDED = 10_000

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


@dataclass(frozen=True)
class Dimension:
    name: str  # lower case: time, elevation or a custom name
    values: list[str]
    default: str

    @property
    def param(self) -> str:
        """The request parameter: TIME, ELEVATION or DIM_<NAME>."""
        return self.name if self.name in ("time", "elevation") else f"dim_{self.name}"

    @property
    def units(self) -> str:
        return {"time": "ISO8601", "elevation": "EPSG:5030"}.get(self.name, "")


def expand_interval(value: str) -> list[str]:
    """``start/end/period`` (ISO 8601) as the list of its instants; other values as they are.
    Years and months are not fixed lengths and are refused as periods."""
    parts = value.split("/")
    if len(parts) != 3:
        return [value]
    start, end, period = parts
    m = _DURATION.match(period)
    if not m or not any(m.groups()):
        raise ValueError(f"invalid ISO 8601 period '{period}' in '{value}'")
    years, months, weeks, days, hours, minutes, seconds = m.groups()
    if years or months:
        raise ValueError(f"periods of years or months are not supported in '{value}'")
    step = timedelta(weeks=int(weeks or 0), days=int(days or 0), hours=int(hours or 0),
                     minutes=int(minutes or 0), seconds=float(seconds or 0))
    try:
        t0, t1 = _parse_time(start), _parse_time(end)
    except ValueError:
        raise ValueError(f"invalid ISO 8601 interval '{value}'") from None
    out = []
    t = t0
    while t <= t1:
        out.append(_format_time(t, start))
        if len(out) > MAX_EXPANDED:
            raise ValueError(f"interval '{value}' has more than {MAX_EXPANDED} values")
        t += step
    return out


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _format_time(t: datetime, like: str) -> str:
    if "T" not in like:
        return t.date().isoformat()
    text = t.isoformat()
    return text.replace("+00:00", "Z") if like.endswith("Z") else text
