"""Figures: hand-computed counts, medians, p90s and rates over a small set of records, then
the same functions over incidents produced by the real state machine."""
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gateway.engine.figures import (
    FIELDS,
    by_grid,
    cameras_to_csv,
    period,
    summarise,
    to_csv,
)
from gateway.engine.grids import GridSet
from gateway.engine.routing import RoutingRules
from gateway.engine.scenario import Scenario
from gateway.engine.state import Actor

pytestmark = pytest.mark.quick  # no service: `make test-quick`

GRIDS = GridSet.from_geojson(json.loads(
    (Path(__file__).resolve().parents[1] / "gateway" / "examples" / "grids.geojson").read_text()))
DAY = date(2026, 11, 23)
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def rec(id, grid, type, camera, minutes_ack=None, minutes_resolved=None, status="closed", due_h=8.0,
        opened=T0, **kw):
    r = {"id": id, "grid_id": grid, "type": type, "camera_id": camera, "level": "grid", "status": status,
         "opened_at": opened.isoformat(), "due_at": opened + timedelta(hours=due_h),
         "acknowledged_at": None if minutes_ack is None else opened + timedelta(minutes=minutes_ack),
         "resolved_at": None if minutes_resolved is None else opened + timedelta(minutes=minutes_resolved),
         "reopen_count": 0, "escalations": 0, "merged_into": None, "false_alarm": False,
         "resolve_missed": False, "rule": "major"}
    r.update(kw)
    return r


RECORDS = [
    rec("r1", "G-03-07", "intrusion", "cam-lawn-01", 10, 60),
    rec("r2", "G-03-07", "loitering", "cam-lawn-01", status="dismissed", false_alarm=True, rule="minor"),
    rec("r3", "G-04-02", "intrusion", "cam-gate-02", 20, 240, reopen_count=1),
    rec("r4", "G-04-02", "line_crossing", "cam-gate-02", status="dispatched", due_h=2, level="street",
        escalations=2, resolve_missed=True),
    rec("r5", "G-04-02", "line_crossing", "cam-gate-02", 1, 2, merged_into="r4"),  # lives on in r4
    rec("r6", "G-03-07", "intrusion", "cam-lawn-01", 30, 120, opened=T0 - timedelta(hours=10)),  # yesterday 23:00
]


def test_period_bounds_are_local_days_and_weeks_in_utc():
    assert period(DAY, "daily", "Asia/Shanghai") == (datetime(2026, 11, 22, 16, 0, tzinfo=UTC),
                                                     datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    start, end = period(date(2026, 11, 26), "weekly", "Asia/Shanghai")
    assert (start, end - start) == (datetime(2026, 11, 22, 16, 0, tzinfo=UTC), timedelta(days=7))


def test_summary_over_all_grids():
    start, end = period(DAY, "daily", "Asia/Shanghai")
    s = summarise(RECORDS, start, end)
    assert s["incidents"] == 4
    assert s["by_type"] == {"intrusion": 2, "loitering": 1, "line_crossing": 1}
    assert s["by_level"] == {"grid": 3, "street": 1}
    assert (s["ack_median_s"], s["ack_p90_s"]) == (900, 1140)
    assert (s["resolve_median_s"], s["resolve_p90_s"]) == (9000, 13320)
    assert (s["cases_due"], s["closed_on_time"], s["on_time_closure_rate"]) == (4, 3, 0.75)
    assert (s["reopened"], s["reopen_rate"]) == (1, 0.5)
    assert (s["false_alarms"], s["false_alarm_rate"], s["escalated"]) == (1, 0.25, 1)
    assert s["cameras"] == {
        "cam-lawn-01": {"incidents": 2, "false_alarms": 1, "rate": 0.5, "rules": {"minor": 1}},
        "cam-gate-02": {"incidents": 2, "false_alarms": 0, "rate": 0.0, "rules": {}},
    }
    json.dumps(s)  # JSON-ready


def test_per_grid_rows_csv_and_report():
    start, end = period(DAY, "daily", "Asia/Shanghai")
    rows = by_grid(RECORDS, GRIDS, start, end)
    assert [r["grid_id"] for r in rows] == ["G-03-06", "G-03-07", "G-04-01", "G-04-02", "G-04-03", None]
    g0307, g0402 = rows[1], rows[3]
    assert (g0307["incidents"], g0307["cases_due"], g0307["on_time_closure_rate"]) == (2, 2, 1.0)
    assert (g0402["incidents"], g0402["cases_due"], g0402["on_time_closure_rate"]) == (2, 2, 0.5)
    assert rows[0]["incidents"] == 0 and rows[0]["on_time_closure_rate"] is None
    community = by_grid(RECORDS, GRIDS, start, end, level="community")
    assert [(r["grid_id"], r["incidents"]) for r in community] == [("C-03", 2), ("C-04", 2), (None, 4)]

    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert list(table[0]) == list(FIELDS) and len(table) == 6
    assert (table[3]["grid_id"], table[3]["on_time_closure_rate"], table[0]["ack_median_s"]) == ("G-04-02", "0.5", "")
    assert cameras_to_csv(rows[-1]).splitlines() == [
        "camera_id,incidents,false_alarms,false_alarm_rate", "cam-gate-02,2,0,0.0", "cam-lawn-01,2,1,0.5"]



def test_figures_over_incidents_from_the_state_machine():
    rules = RoutingRules.from_dict({"rules": []})
    sc = Scenario(GRIDS, rules, start=T0)
    worker, op = Actor("worker.g0307", "grid_worker"), Actor("op.li", "operator")
    sc.alert(timedelta(0), type="intrusion", severity="major", camera_id="cam-lawn-01", grid="G-03-07")
    sc.alert(timedelta(0), type="loitering", severity="major", camera_id="cam-lawn-01", grid="G-03-07")
    sc.alert(timedelta(0), type="line_crossing", severity="major", camera_id="cam-gate-02", grid="G-03-06")
    sc.act(timedelta(minutes=12), "I1", "acknowledge", worker)
    sc.act(timedelta(minutes=50), "I1", "resolve", worker, note="done")
    sc.act(timedelta(minutes=55), "I1", "verify", op)
    sc.act(timedelta(minutes=56), "I1", "close", op)
    sc.act(timedelta(minutes=5), "I2", "dismiss", op, reason="a dog")
    sc.run(until=timedelta(hours=10))  # I3 is never picked up: escalates, misses its deadlines
    s = summarise(sc.incidents.values(), *period(DAY, "daily", "Asia/Shanghai"))
    assert (s["incidents"], s["ack_median_s"], s["resolve_median_s"]) == (3, 720, 3000)
    assert (s["cases_due"], s["closed_on_time"], s["escalated"]) == (2, 1, 1)
    assert s["cameras"]["cam-lawn-01"]["rate"] == 0.5


def test_on_time_closure_counts_only_cases_closed_or_past_their_deadline():
    start, end = period(DAY, "daily", "Asia/Shanghai")
    records = [rec("open-not-due", "G-03-07", "intrusion", "cam-lawn-01", 5, status="acknowledged", due_h=6),
               rec("resolved-not-due", "G-03-07", "intrusion", "cam-lawn-01", 5, 30, status="resolved", due_h=6),
               rec("closed", "G-03-07", "intrusion", "cam-lawn-01", 5, 30, due_h=6)]
    s = summarise(records, start, end, now=T0 + timedelta(hours=1))   # today, before the deadlines
    assert (s["cases_due"], s["closed_on_time"], s["on_time_closure_rate"]) == (1, 1, 1.0)
    s = summarise(records, start, end, now=T0 + timedelta(hours=7))   # past them: the open ones are late
    assert (s["cases_due"], s["closed_on_time"], s["on_time_closure_rate"]) == (3, 1, 0.3333)
    assert summarise(records[:1], start, end, now=T0)["on_time_closure_rate"] is None
    rows = by_grid(records, GRIDS, start, end, now=T0 + timedelta(hours=1))
    assert rows[1]["grid_id"] == "G-03-07" and rows[1]["cases_due"] == 1
