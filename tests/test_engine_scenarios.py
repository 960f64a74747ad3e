"""Scenario tests in the style of Alertmanager's acceptance tests: a fake clock, a script of
alerts and actions, and the events expected at the expected times. The expected traces
were worked out by hand from the rules (gateway/examples/routing.yaml and the defaults)."""
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.engine.grids import GridSet
from gateway.engine.routing import RoutingRules
from gateway.engine.scenario import Scenario
from gateway.engine.silences import Silence
from gateway.engine.state import Actor, IncidentState

pytestmark = pytest.mark.quick  # no service: `make test-quick`

EXAMPLES = Path(__file__).resolve().parents[1] / "gateway" / "examples"
GRIDS = GridSet.from_geojson(json.loads((EXAMPLES / "grids.geojson").read_text()))
RULES = RoutingRules.from_yaml((EXAMPLES / "routing.yaml").read_text())
MON_9AM = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
WORKER = Actor("worker.g0307", "grid_worker")
OPERATOR = Actor("op.li", "operator")
LAWN = dict(camera_id="cam-lawn-01", grid="G-03-07")


def m(minutes):
    return timedelta(minutes=minutes)


def test_routing_to_the_right_grid_and_level():
    sc = Scenario(GRIDS, RULES, start=MON_9AM)
    sc.alert(m(0), type="intrusion", severity="major", **LAWN)
    sc.alert(m(1), type="sensor.threshold", severity="major", source_id="water-ch-01", lat=36.7221, lon=104.8302)
    sc.alert(m(2), type="falling_object", severity="critical", **LAWN)
    sc.alert(m(3), type="sensor.alarm", severity="critical", source_id="smoke-b3-201", sensor_kind="smoke",
             lat=36.7221, lon=104.8302)
    sc.run(until=m(4))
    assert sc.trace() == [
        "+0:00:00 I1 opened grid worker.g0307",
        "+0:00:00 I1 dispatched grid worker.g0307",
        "+0:01:00 I2 opened grid worker.g0401",
        "+0:01:00 I2 dispatched grid worker.g0401",
        "+0:02:00 I3 opened community community.c03",
        "+0:02:00 I3 dispatched community community.c03",
        "+0:03:00 I4 opened community community.c04",
        "+0:03:00 I4 dispatched community community.c04",
        "+0:03:00 I4 notified community community.c04",
    ]
    i2, i3, i4 = sc.incidents["I2"], sc.incidents["I3"], sc.incidents["I4"]
    assert (i2.grid_id, i2.owner_grid_id) == ("G-04-01", "G-04-01")
    assert (i3.grid_id, i3.owner_grid_id, i3.rule) == ("G-03-07", "C-03", "falling-object")
    assert (i4.professional_grid_id, sc.records[-1].data) == ("P-FIRE-01", {"grid_id": "P-FIRE-01", "user": "fire.duty"})


def test_repeated_alerts_attach_while_the_incident_is_active():
    sc = Scenario(GRIDS, RULES, start=MON_9AM)
    for k in range(3):
        sc.alert(m(k), type="intrusion", severity="major", **LAWN)
    sc.alert(m(3), type="loitering", severity="minor", **LAWN)  # another type: its own incident
    sc.act(m(4), "I1", "resolve", WORKER, note="gate closed")
    sc.alert(m(5), type="intrusion", severity="critical", **LAWN)  # resolved, not yet closed: attaches
    sc.act(m(6), "I1", "verify", OPERATOR)
    sc.act(m(7), "I1", "close", OPERATOR)
    sc.alert(m(8), type="intrusion", severity="major", **LAWN)  # closed: a new incident
    sc.run(until=m(9))
    assert [t for t in sc.trace() if "dispatched" not in t] == [
        "+0:00:00 I1 opened grid worker.g0307",
        "+0:01:00 I1 attached grid worker.g0307",
        "+0:02:00 I1 attached grid worker.g0307",
        "+0:03:00 I2 opened grid worker.g0307",
        "+0:04:00 I1 resolved grid worker.g0307",
        "+0:05:00 I1 attached grid worker.g0307",
        "+0:06:00 I1 verified grid worker.g0307",
        "+0:07:00 I1 closed grid worker.g0307",
        "+0:08:00 I3 opened grid worker.g0307",
    ]
    assert (sc.incidents["I1"].alert_count, sc.incidents["I1"].severity) == (4, "critical")


def test_a_missed_deadline_escalates_but_not_after_acknowledgement():
    sc = Scenario(GRIDS, RULES, start=MON_9AM)
    sc.alert(m(0), type="intrusion", severity="major", **LAWN)  # major: ack within 30 min, round the clock
    sc.alert(m(0), type="line_crossing", severity="major", camera_id="cam-gate-02", grid="G-03-06")
    sc.act(m(29), "I2", "acknowledge", Actor("worker.g0306", "grid_worker"))
    sc.run(until=m(120))
    assert [t for t in sc.trace() if " I1 " in t] == [
        "+0:00:00 I1 opened grid worker.g0307",
        "+0:00:00 I1 dispatched grid worker.g0307",
        "+0:30:00 I1 escalated community community.c03",
        "+0:30:00 I1 dispatched community community.c03",
        "+1:00:00 I1 escalated street street.duty",
        "+1:00:00 I1 dispatched street street.duty",
        "+1:30:00 I1 overdue street street.duty",
    ]
    assert [t for t in sc.trace() if " I2 " in t] == [
        "+0:00:00 I2 opened grid worker.g0306",
        "+0:00:00 I2 dispatched grid worker.g0306",
        "+0:29:00 I2 acknowledged grid worker.g0306",
    ]
    assert sc.incidents["I1"].ack_missed and not sc.incidents["I2"].ack_missed
    # acknowledged, but the resolution deadline (8 h) still runs and escalates
    sc.run(until=timedelta(hours=9))
    assert [t for t in sc.trace() if " I2 " in t][3:] == [
        "+8:00:00 I2 escalated community community.c03",
        "+8:00:00 I2 dispatched community community.c03",
        "+8:30:00 I2 escalated street street.duty",  # the community must acknowledge within 30 min
        "+8:30:00 I2 dispatched street street.duty",
        "+9:00:00 I2 overdue street street.duty",
    ]
    # I1 reached the street at +1:00 and its resolution deadline restarted there: 8 h later
    assert [t for t in sc.trace() if " I1 " in t][-1] == "+9:00:00 I1 overdue street street.duty"
    assert sc.incidents["I2"].resolve_missed and sc.incidents["I2"].status == "dispatched"


def test_working_hours_deadline_across_a_weekend():
    # minor: ack within 4 working hours (Mon-Fri 08:30-12:00, 13:30-17:30 Shanghai)
    fri_4pm = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    sc = Scenario(GRIDS, RULES, start=fri_4pm)
    sc.alert(m(0), type="loitering", severity="minor", **LAWN)
    sc.alert(m(0), type="loitering", severity="minor", camera_id="cam-gate-02", grid="G-03-06")
    sc.act(datetime(2026, 11, 23, 2, 30, tzinfo=UTC), "I2", "acknowledge",
           Actor("worker.g0306", "grid_worker"))  # Monday 10:30, in time
    sc.run(until=timedelta(days=4))
    assert sc.trace(local=True) == [
        "Fri 2026-11-20 16:00 I1 opened grid worker.g0307",
        "Fri 2026-11-20 16:00 I1 dispatched grid worker.g0307",
        "Fri 2026-11-20 16:00 I2 opened grid worker.g0306",
        "Fri 2026-11-20 16:00 I2 dispatched grid worker.g0306",
        "Mon 2026-11-23 10:30 I2 acknowledged grid worker.g0306",
        # 1.5 h on Friday + 2.5 h on Monday from 08:30
        "Mon 2026-11-23 11:00 I1 escalated community community.c03",
        "Mon 2026-11-23 11:00 I1 dispatched community community.c03",
        # 4 more working hours: 11:00-12:00, then 13:30-16:30
        "Mon 2026-11-23 16:30 I1 escalated street street.duty",
        "Mon 2026-11-23 16:30 I1 dispatched street street.duty",
        # 4 more working hours at the street: 16:30-17:30, then 08:30-11:30
        "Tue 2026-11-24 11:30 I1 overdue street street.duty",
        # resolve within 15 working hours of Friday 16:00: 1.5 + 7.5 + 6 = Tuesday 16:00 for I2
        "Tue 2026-11-24 16:00 I2 escalated community community.c03",
        "Tue 2026-11-24 16:00 I2 dispatched community community.c03",
    ]


def test_working_hours_deadline_across_a_dst_change():
    rules = RoutingRules.from_dict({
        "calendar": {"tz": "Europe/Berlin", "hours": {"mon-fri": ["09:00-17:00"]}},
        "rules": [{"name": "office", "level": "grid", "calendar": "working", "ack_within": "2h",
                   "resolve_within": "16h"}]})
    fri_4pm_cet = datetime(2026, 3, 27, 15, 0, tzinfo=UTC)
    sc = Scenario(GRIDS, rules, start=fri_4pm_cet)
    sc.alert(m(0), type="loitering", severity="minor", **LAWN)
    sc.run(until=timedelta(days=4))
    assert sc.trace(local=True)[:4] == [
        "Fri 2026-03-27 16:00 I1 opened grid worker.g0307",
        "Fri 2026-03-27 16:00 I1 dispatched grid worker.g0307",
        "Mon 2026-03-30 10:00 I1 escalated community community.c03",  # 1 h Friday + 1 h Monday, now CEST
        "Mon 2026-03-30 10:00 I1 dispatched community community.c03",
    ]
    assert sc.records[2].at == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # stored in UTC


def test_silence_suppresses_but_stores_and_ends_on_time():
    mowing = Silence(starts_at=MON_9AM, ends_at=MON_9AM + m(60), reason="lawn mowing", created_by="op.li",
                     grid_id="C-03", kind="maintenance")
    sc = Scenario(GRIDS, RULES, start=MON_9AM, silences=[mowing])
    sc.silence(m(5), Silence(starts_at=MON_9AM, ends_at=MON_9AM + timedelta(days=1), reason="lens cleaning",
                             created_by="op.li", camera_id="cam-gate-02", type="tamper.*"))
    sc.alert(m(10), type="intrusion", severity="major", **LAWN)  # in C-03: silenced
    sc.alert(m(15), type="sensor.threshold", severity="major", source_id="water-ch-01", lat=36.7221, lon=104.8302)
    sc.alert(m(20), type="tamper.covered", severity="major", camera_id="cam-gate-02", grid="G-04-02")
    sc.alert(m(21), type="line_crossing", severity="major", camera_id="cam-gate-02", grid="G-04-02")
    sc.alert(m(60), type="intrusion", severity="major", **LAWN)  # the window is over
    sc.run(until=m(61))
    assert [t for t in sc.trace() if " opened " in t or " suppressed " in t] == [
        "+0:10:00 - suppressed - -",
        "+0:15:00 I1 opened grid worker.g0401",
        "+0:20:00 - suppressed - -",
        "+0:21:00 I2 opened grid worker.g0402",
        "+1:00:00 I3 opened grid worker.g0307",
    ]
    assert [r.reason for r in sc.records if r.event == "suppressed"] == ["lawn mowing", "lens cleaning"]
    assert len(sc.alerts) == 5 and sum(a["suppressed_by"] is not None for a in sc.alerts) == 2


def test_reopen_after_failed_verification():
    sc = Scenario(GRIDS, RULES, start=MON_9AM)
    sc.alert(m(0), type="intrusion", severity="major", **LAWN)
    sc.act(m(5), "I1", "acknowledge", WORKER)
    sc.act(m(40), "I1", "resolve", WORKER, note="fence repaired", photos=["fence.jpg"])
    sc.act(m(41), "I1", "close", OPERATOR)  # refused: not verified
    sc.act(m(50), "I1", "reopen", OPERATOR, reason="the photo shows the hole is still there")
    # not acknowledged again within 30 min of the reopen: escalates
    sc.run(until=m(81))
    assert sc.trace() == [
        "+0:00:00 I1 opened grid worker.g0307",
        "+0:00:00 I1 dispatched grid worker.g0307",
        "+0:05:00 I1 acknowledged grid worker.g0307",
        "+0:40:00 I1 resolved grid worker.g0307",
        "+0:41:00 I1 refused grid worker.g0307",
        "+0:50:00 I1 reopened grid worker.g0307",
        "+1:20:00 I1 escalated community community.c03",
        "+1:20:00 I1 dispatched community community.c03",
    ]
    assert sc.records[4].reason == "cannot close an incident that is 'resolved': it must be 'verified' first"
    community = Actor("community.c03", "community")
    sc.act(m(85), "I1", "resolve", community, note="hole closed, photo attached", photos=["fence2.jpg"])
    sc.act(m(90), "I1", "verify", OPERATOR)
    sc.act(m(91), "I1", "close", OPERATOR)
    sc.run(until=m(600))
    inc = sc.incidents["I1"]
    assert (inc.status, inc.reopen_count, inc.photos, inc.acknowledged_at) == (
        "closed", 1, ("fence2.jpg",), MON_9AM + m(5))
    assert sc.trace()[-3:] == ["+1:25:00 I1 resolved community community.c03",
                               "+1:30:00 I1 verified community community.c03",
                               "+1:31:00 I1 closed community community.c03"]


def test_merge_two_incidents_of_one_event():
    sc = Scenario(GRIDS, RULES, start=MON_9AM)
    sc.alert(m(0), type="intrusion", severity="major", **LAWN)
    sc.alert(m(1), type="line_crossing", severity="major", camera_id="cam-gate-02", grid="G-03-07")
    sc.act(m(2), "I2", "merge", OPERATOR, into="I1", reason="same people, two cameras")
    sc.alert(m(3), type="line_crossing", severity="major", camera_id="cam-gate-02", grid="G-03-07")
    sc.act(m(4), "I1", "merge", OPERATOR, into="I9")
    sc.act(m(5), "I1", "acknowledge", WORKER)
    sc.run(until=m(120))
    assert [t for t in sc.trace() if "dispatched" not in t] == [
        "+0:00:00 I1 opened grid worker.g0307",
        "+0:01:00 I2 opened grid worker.g0307",
        "+0:02:00 I2 merged grid worker.g0307",
        "+0:02:00 I1 merged grid worker.g0307",
        "+0:03:00 I1 attached grid worker.g0307",  # the merged source now feeds I1
        "+0:04:00 I1 refused grid worker.g0307",
        "+0:05:00 I1 acknowledged grid worker.g0307",
    ]
    i1, i2 = sc.incidents["I1"], sc.incidents["I2"]
    assert (i2.status, i2.merged_into, i1.alert_count) == ("closed", "I1", 3)
    refused = [r for r in sc.records if r.event == "refused"]
    assert refused[0].reason == "cannot merge into 'I9': no such incident"


@pytest.mark.parametrize("extend_at, expect_escalation", [(m(20), False), (m(40), True)])
def test_extension_with_a_reason_moves_the_escalation(extend_at, expect_escalation):
    sc = Scenario(GRIDS, RULES, start=MON_9AM)
    sc.alert(m(0), type="intrusion", severity="major", **LAWN)
    sc.act(extend_at, "I1", "extend", Actor("leader.c03", "grid_leader"), minutes=60, deadline="ack",
           reason="worker at a hospital appointment")
    sc.run(until=m(85))
    names = [r.event for r in sc.records]
    # extended at 20 min: ack due at 90 min, nothing escalates by 85 min; at 40 min it is too late
    assert ("escalated" in names) is expect_escalation
    assert "extended" in names


def test_escalation_state_survives_a_restart():
    """Stop mid-escalation, keep only the states as JSON (the rows), resume: same events."""
    street = Actor("street.duty", "street")
    whole = Scenario(GRIDS, RULES, start=MON_9AM)
    whole.alert(m(0), type="intrusion", severity="major", **LAWN)
    whole.act(m(70), "I1", "acknowledge", street)
    whole.run(until=m(600))

    first = Scenario(GRIDS, RULES, start=MON_9AM)
    first.alert(m(0), type="intrusion", severity="major", **LAWN)
    first.run(until=m(45))  # escalated to the community at +30, not yet to the street
    saved = [json.dumps(s.to_dict()) for s in first.incidents.values()]
    restored = [IncidentState.from_dict(json.loads(s)) for s in saved]
    second = Scenario(GRIDS, RULES, start=MON_9AM + m(45), incidents=restored)
    second.act(m(25), "I1", "acknowledge", street)  # +70 from the original start
    second.run(until=m(555))

    assert [(r.at, r.incident, r.event, r.assignee) for r in first.records + second.records] == \
           [(r.at, r.incident, r.event, r.assignee) for r in whole.records]
    assert [r.event for r in second.records] == ["escalated", "dispatched", "acknowledged", "overdue"]


def test_a_repeat_with_a_higher_severity_escalates_at_once():
    sc = Scenario(GRIDS, RULES, start=MON_9AM)
    sc.alert(m(0), type="falling_object", severity="minor", **LAWN)  # minor: the grid, office hours
    sc.act(m(3), "I1", "acknowledge", WORKER)
    sc.alert(m(5), type="falling_object", severity="critical", **LAWN)  # the falling-object rule: community
    sc.alert(m(6), type="falling_object", severity="critical", **LAWN)  # already there: attaches only
    sc.run(until=m(7))
    assert sc.trace() == [
        "+0:00:00 I1 opened grid worker.g0307",
        "+0:00:00 I1 dispatched grid worker.g0307",
        "+0:03:00 I1 acknowledged grid worker.g0307",
        "+0:05:00 I1 attached community community.c03",  # a trace line shows the state after its step
        "+0:05:00 I1 escalated community community.c03",
        "+0:05:00 I1 dispatched community community.c03",
        "+0:06:00 I1 attached community community.c03",
    ]
    assert sc.records[4].reason == "severity rose to critical: the community answers"
