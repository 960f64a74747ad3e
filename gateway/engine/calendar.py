"""Deadline arithmetic: calendar time, or working hours in a local time zone with holidays
and make-up working days. UTC in, UTC out; local time is only used to find the working
intervals, so weekends, holidays and DST changes come out right."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_DAYS = 3 * 366  # a calendar with no working time in three years is a configuration error


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: pass an aware UTC time")
    return dt.astimezone(UTC)


class CalendarTime:
    """Round-the-clock deadlines: plain addition."""

    kind = "calendar"

    def add(self, start_utc: datetime, duration: timedelta) -> datetime:
        return _utc(start_utc) + duration

    def working_time(self, start_utc: datetime, end_utc: datetime) -> timedelta:
        return max(_utc(end_utc) - _utc(start_utc), timedelta(0))


CALENDAR_TIME = CalendarTime()


@dataclass(frozen=True)
class WorkCalendar:
    """Working hours per weekday (0 = Monday) in the zone `tz`. `holidays` are days off;
    `workdays_override` are days worked although they fall on a weekend (make-up days),
    with the hours of a normal Monday."""

    tz: str
    hours: tuple[tuple[int, time, time], ...]
    holidays: frozenset[date] = frozenset()
    workdays_override: frozenset[date] = frozenset()

    kind = "working"

    def __post_init__(self) -> None:
        ZoneInfo(self.tz)  # fail early on an unknown zone
        object.__setattr__(self, "hours", tuple(sorted(self.hours)))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays_override", frozenset(self.workdays_override))
        for wd, s, e in self.hours:
            if not (0 <= wd <= 6 and s < e):
                raise ValueError(f"working hours ({wd}, {s}, {e}): weekday 0..6 and start before end")
        if not self.hours:
            raise ValueError("a working calendar needs at least one interval of working hours")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WorkCalendar":
        """`{tz: Asia/Shanghai, hours: {mon-fri: ["08:30-12:00", "13:30-17:30"]},
        holidays: [2026-10-01, ...], workdays: [2026-09-27, ...]}`"""
        hours = []
        for days, spans in (data.get("hours") or {}).items():
            if not isinstance(spans, list):
                raise ValueError(f"hours for {days!r} must be a list like ['08:30-12:00', '13:30-17:30']")
            for wd in _weekdays(str(days)):
                for span in spans:
                    s, e = str(span).split("-")
                    hours.append((wd, time.fromisoformat(s.strip()), time.fromisoformat(e.strip())))
        return cls(tz=data.get("tz", "UTC"), hours=tuple(hours),
                   holidays=frozenset(_dates(data.get("holidays"))),
                   workdays_override=frozenset(_dates(data.get("workdays"))))

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of one local day, as UTC datetimes."""
        if day in self.holidays:
            return []
        wd = day.weekday()
        if day in self.workdays_override and not any(h[0] == wd for h in self.hours):
            wd = min(h[0] for h in self.hours)  # a make-up day works like a normal weekday
        zone = ZoneInfo(self.tz)
        return [(datetime.combine(day, s, zone).astimezone(UTC),
                 datetime.combine(day, e, zone).astimezone(UTC))
                for w, s, e in self.hours if w == wd]

    def add(self, start_utc: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of working time after `start_utc`."""
        cursor, left = _utc(start_utc), duration
        if left <= timedelta(0):
            return cursor
        day = cursor.astimezone(ZoneInfo(self.tz)).date() - timedelta(days=1)  # DST edge safety
        for _ in range(_MAX_DAYS):
            for s, e in self.intervals(day):
                begin = max(cursor, s)
                if begin >= e:
                    continue
                if left <= e - begin:
                    return begin + left
                left -= e - begin
                cursor = e
            day += timedelta(days=1)
        raise ValueError(f"no working time within {_MAX_DAYS} days of {start_utc.isoformat()}")

    def working_time(self, start_utc: datetime, end_utc: datetime) -> timedelta:
        """How much working time lies between two moments."""
        a, b = _utc(start_utc), _utc(end_utc)
        total, day = timedelta(0), a.astimezone(ZoneInfo(self.tz)).date() - timedelta(days=1)
        while day <= b.astimezone(ZoneInfo(self.tz)).date():
            for s, e in self.intervals(day):
                lo, hi = max(a, s), min(b, e)
                if lo < hi:
                    total += hi - lo
            day += timedelta(days=1)
        return total


def to_local(dt: datetime | None, tz: str) -> datetime | None:
    """For display: a stored UTC time in the zone `tz`."""
    return None if dt is None else _utc(dt).astimezone(ZoneInfo(tz))


def _weekday(name: str) -> int:
    key = name.strip().lower()[:3]
    if key not in WEEKDAYS:
        raise ValueError(f"{name!r} is not a weekday (mon, tue, ... sun)")
    return WEEKDAYS.index(key)


def _weekdays(spec: str) -> list[int]:
    """'mon-fri', 'sat', 'mon,wed,fri' -> weekday numbers."""
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = (_weekday(x) for x in part.split("-", 1))
            out += list(range(a, b + 1))
        else:
            out.append(_weekday(part))
    return out


def _dates(values: Iterable[Any] | None) -> list[date]:
    return [v if isinstance(v, date) else date.fromisoformat(str(v)) for v in values or []]
