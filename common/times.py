"""The one time format of gridwatch: ISO 8601 in UTC with milliseconds and a `Z`
("2026-11-21T08:15:02.340Z"), as alerts, statuses, the API and incident events show times."""
from __future__ import annotations

import functools
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """`dt` in UTC, milliseconds, `Z`; None stays None. A naive time is taken as UTC."""
    return None if dt is None else _iso_utc(dt)


@functools.lru_cache(maxsize=4096)  # an ingest batch formats the same few times again and again
def _iso_utc(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    elif dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def iso_exact(dt: datetime | None) -> str | None:
    """Like `iso` but keeping the microseconds: for state that is stored and read back, where a
    rounded time would no longer equal itself."""
    return None if dt is None else _iso_exact(dt)


@functools.lru_cache(maxsize=4096)
def _iso_exact(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    elif dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat() + "Z"


def parse_iso(value: str) -> datetime:
    """An ISO 8601 time (`Z` or an offset) as an aware datetime; a time without a zone is UTC.
    Raises ValueError with the text when it is not a time."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an ISO 8601 time")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
