"""Working-hours deadlines: lunch breaks, weekends, holidays, make-up days and DST changes,
UTC in and UTC out."""
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from gateway.engine.calendar import CALENDAR_TIME, WorkCalendar, to_local

pytestmark = pytest.mark.quick  # no service: `make test-quick`

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")

OFFICE = WorkCalendar.from_dict({
    "tz": "Asia/Shanghai",
    "hours": {"mon-fri": ["08:30-12:00", "13:30-17:30"]},
    "holidays": ["2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"],
    "workdays": ["2026-10-10"],
})


def local(tz, *args):
    return datetime(*args, tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize("start, minutes, expected", [
    ((2026, 11, 23, 9, 0), 60, (2026, 11, 23, 10, 0)),  # inside the morning
    ((2026, 11, 23, 11, 30), 60, (2026, 11, 23, 14, 0)),  # across lunch
    ((2026, 11, 20, 16, 30), 120, (2026, 11, 23, 9, 30)),  # Friday afternoon -> Monday
    ((2026, 11, 21, 10, 0), 15, (2026, 11, 23, 8, 45)),  # filed on a Saturday
    ((2026, 11, 23, 7, 0), 0, (2026, 11, 23, 7, 0)),  # no time to add
    ((2026, 9, 30, 17, 0), 60, (2026, 10, 8, 9, 0)),  # the October holidays
    ((2026, 10, 9, 17, 0), 60, (2026, 10, 10, 9, 0)),  # a make-up Saturday works
])
def test_working_hours_in_shanghai(start, minutes, expected):
    got = OFFICE.add(local(SH, *start), timedelta(minutes=minutes))
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert got == local(SH, *expected)


def test_across_the_spring_dst_change():
    cal = WorkCalendar("Europe/Berlin", tuple((d, time(9), time(17)) for d in range(5)))
    start = local(BERLIN, 2026, 3, 27, 16, 0)  # Friday 16:00 CET = 15:00 UTC
    due = cal.add(start, timedelta(hours=2))
    assert due == local(BERLIN, 2026, 3, 30, 10, 0)  # Monday 10:00 CEST
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_across_the_autumn_dst_change():
    cal = WorkCalendar("Europe/Berlin", tuple((d, time(9), time(17)) for d in range(5)))
    due = cal.add(local(BERLIN, 2026, 10, 23, 16, 0), timedelta(hours=2))
    assert due == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # Monday 10:00 CET


def test_a_dst_day_has_23_hours_of_round_the_clock_work():
    cal = WorkCalendar.from_dict({"tz": "Europe/Berlin", "hours": {"sun": ["00:00-23:59"]}})
    day = cal.working_time(local(BERLIN, 2026, 3, 29, 0, 0), local(BERLIN, 2026, 3, 30, 0, 0))
    assert day == timedelta(hours=22, minutes=59)
    # 3 working hours from 01:00 land at 05:00 local, since 02:00-03:00 does not exist
    assert cal.add(local(BERLIN, 2026, 3, 29, 1, 0), timedelta(hours=3)) == local(BERLIN, 2026, 3, 29, 5, 0)


def test_add_and_working_time_agree():
    rnd = random.Random(3)
    for _ in range(200):
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rnd.randrange(0, 365 * 24 * 60))
        d = timedelta(minutes=rnd.randrange(1, 5000))
        due = OFFICE.add(start, d)
        assert due > start
        assert OFFICE.working_time(start, due) == d


def test_calendar_time_is_plain_addition_and_local_display():
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert CALENDAR_TIME.add(start, timedelta(hours=5)) == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)
    assert to_local(start, "Asia/Shanghai").hour == 7 and to_local(start, "Asia/Shanghai").day == 29


def test_bad_calendars_are_refused():
    with pytest.raises(ValueError, match="naive"):
        OFFICE.add(datetime(2026, 1, 1), timedelta(hours=1))
    with pytest.raises(ValueError, match="at least one interval"):
        WorkCalendar("UTC", ())
    with pytest.raises(ZoneInfoNotFoundError):
        WorkCalendar("Mars/Olympus", ((0, time(9), time(17)),))
    never = WorkCalendar("UTC", ((0, time(9), time(17)),), holidays=frozenset(
        date(2026, 1, 5) + timedelta(weeks=w) for w in range(200)))
    with pytest.raises(ValueError, match="no working time"):
        never.add(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1))
