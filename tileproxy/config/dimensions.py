"""Layer dimensions (TIME, ELEVATION, DIM_*): values, ISO 8601 interval expansion."""

from __future__ import annotations

import calendar
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
        """The request parameter: TIME, ELEVATION or DIM_<NAME> (a name that starts
        with dim_ is the parameter's name already)."""
        if self.name in ("time", "elevation") or self.name.startswith("dim_"):
            return self.name
        return f"dim_{self.name}"

    @property
    def units(self) -> str:
        """ISO8601 for time dimensions (any name with 'time' in it, as in MapProxy)."""
        if "time" in self.name:
            return "ISO8601"
        return "EPSG:5030" if self.name == "elevation" else ""


def dimension_values(name: str, raw: list) -> list[str]:
    """A dimension's ``values`` as MapProxy reads them: one value of a time dimension
    (a name with 'time' in it) is an ISO 8601 instant or interval, expanded; one
    value of another dimension is a '/'-separated list; several values are taken
    as they are."""
    if len(raw) != 1:
        return [str(v) for v in raw]
    value = str(raw[0]).strip()
    if "time" in name.lower():
        return expand_interval(value)
    return value.split("/")


def expand_interval(value: str) -> list[str]:
    """An ISO 8601 interval (``start/end/period``, ``start/period`` or ``period/end``)
    as the instants from its start in steps of the period, as long as they come
    before end + period (so the last one may pass the end, as in MapProxy); a
    single instant as MapProxy writes it; anything else as it is."""
    parts = value.split("/")
    if len(parts) == 1:
        try:
            return [_format_time(_parse_time(value), value)]
        except ValueError:
            return [value]
    if len(parts) == 3:
        start, end, period = parts
    elif len(parts) == 2 and parts[1].startswith("P"):
        start, end, period = parts[0], None, parts[1]
    elif len(parts) == 2 and parts[0].startswith("P"):
        start, end, period = None, parts[1], parts[0]
    else:
        return [value]
    step = _duration(period, value)
    try:
        t0 = _parse_time(start) if start is not None else None
        t1 = _parse_time(end) if end is not None else None
    except ValueError:
        raise ValueError(f"invalid ISO 8601 interval '{value}'") from None
    if t0 is None:
        t0 = step.back(t1)  # type: ignore[arg-type]
    if t1 is None:
        t1 = step.add(t0)
    like = start if start is not None else end
    out = []
    t, stop = t0, step.add(t1)
    while t < stop:
        out.append(_format_time(t, like))  # type: ignore[arg-type]
        if len(out) > MAX_EXPANDED:
            raise ValueError(f"interval '{value}' has more than {MAX_EXPANDED} values")
        t = step.add(t)
    return out


@dataclass(frozen=True)
class _Step:
    months: int
    delta: timedelta

    def add(self, t: datetime) -> datetime:
        return _add_months(t, self.months) + self.delta

    def back(self, t: datetime) -> datetime:
        return _add_months(t, -self.months) - self.delta


def _duration(period: str, value: str) -> _Step:
    m = _DURATION.match(period)
    if not m or not any(m.groups()):
        raise ValueError(f"invalid ISO 8601 period '{period}' in '{value}'")
    years, months, weeks, days, hours, minutes, seconds = m.groups()
    step = _Step(int(years or 0) * 12 + int(months or 0),
                 timedelta(weeks=int(weeks or 0), days=int(days or 0), hours=int(hours or 0),
                           minutes=int(minutes or 0), seconds=float(seconds or 0)))
    if step.add(datetime(2000, 1, 1)) <= datetime(2000, 1, 1):
        raise ValueError(f"invalid ISO 8601 period '{period}' in '{value}'")
    return step


def _add_months(t: datetime, months: int) -> datetime:
    """``t`` moved by whole months; the day is kept, or the month's last day when it has fewer."""
    if not months:
        return t
    year, month = divmod(t.month - 1 + months, 12)
    year += t.year
    day = min(t.day, calendar.monthrange(year, month + 1)[1])
    return t.replace(year=year, month=month + 1, day=day)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _format_time(t: datetime, like: str) -> str:
    if "T" not in like:
        return t.date().isoformat()
    return t.isoformat().replace("+00:00", "Z")
