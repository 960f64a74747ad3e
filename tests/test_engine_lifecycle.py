"""The incident state machine, action by action: transitions, refusals with clear reasons,
permissions, timers and (de)serialisation."""
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.engine.grids import GridSet
from gateway.engine.lifecycle import (
    ACTIONS,
    NotAllowed,
    TransitionError,
    apply,
    attach,
    can,
    due_timers,
    merge_into,
    on_timer,
    open_incident,
)
from gateway.engine.routing import RoutingRules, route
from gateway.engine.state import Actor, IncidentState

pytestmark = pytest.mark.quick  # no service: `make test-quick`

GRIDS = GridSet.from_geojson(json.loads(
    (Path(__file__).resolve().parents[1] / "gateway" / "examples" / "grids.geojson").read_text()))
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
WORKER = Actor("worker.g0307", "grid_worker")
OTHER_WORKER = Actor("worker.g0306", "grid_worker")
OPERATOR = Actor("op.li", "operator")


def opened(type="intrusion", severity="major", grid="G-03-07", incident_id="I1"):
    r = route(RoutingRules(), GRIDS, alert_type=type, severity=severity, grid_id=grid, local_time=T0)
    return open_incident(r, GRIDS, T0, incident_id=incident_id, alert_type=type, severity=severity,
                         source_id="cam-lawn-01", camera_id="cam-lawn-01")


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def test_open_dispatches_to_the_grid_worker_and_starts_the_clock():
    s, events = opened()
    assert [e.name for e in events] == ["opened", "dispatched"]
    assert (s.status, s.level, s.assignee, s.owner_grid_id) == ("dispatched", "grid", "worker.g0307", "G-03-07")
    assert s.ack_due_at == at(30) and s.due_at == T0 + timedelta(hours=8)
    assert [(t.kind, t.due_at) for t in due_timers(s)] == [("ack", at(30)), ("resolve", T0 + timedelta(hours=8))]


def test_nobody_responsible_leaves_it_open_with_running_deadlines():
    r = route(RoutingRules(), GRIDS, alert_type="intrusion", severity="major", grid_id=None, local_time=T0)
    s, events = open_incident(r, GRIDS, T0, incident_id="I9", alert_type="intrusion", severity="major")
    assert s.status == "open" and s.assignee is None and [e.name for e in events] == ["opened"]
    assert len(due_timers(s)) == 2


def test_the_closed_loop():
    s, _ = opened()
    s, ev = apply(s, "acknowledge", WORKER, at(5))
    assert s.status == "acknowledged" and s.acknowledged_at == at(5) and ev[0].actor == "worker.g0307"
    assert [t.kind for t in due_timers(s)] == ["resolve"]
    s, ev = apply(s, "resolve", WORKER, at(40), note="chased the kids off the lawn", photos=["p/1.jpg"])
    assert (s.status, s.resolution_note, s.photos) == ("resolved", "chased the kids off the lawn", ("p/1.jpg",))
    assert due_timers(s) == []
    s, _ = apply(s, "verify", OPERATOR, at(50))
    s, ev = apply(s, "close", OPERATOR, at(51))
    assert (s.status, s.closed_at, ev[0].name) == ("closed", at(51), "closed")


@pytest.mark.parametrize("action, params, message", [
    ("verify", {}, "cannot verify an incident that is 'dispatched': it must be 'resolved' first"),
    ("close", {}, "cannot close an incident that is 'dispatched': it must be 'verified' first"),
    ("reopen", {"reason": "x"}, "cannot reopen an incident that is 'dispatched'"),
    ("dismiss", {}, "dismiss needs a reason"),
    ("dismiss", {"reason": "  "}, "dismiss needs a reason"),
    ("extend", {"minutes": 30}, "extend needs a reason"),
    ("extend", {"minutes": -5, "reason": "r"}, "positive number of minutes"),
    ("extend", {"minutes": 5, "reason": "r", "deadline": "lunch"}, "deadline must be 'ack' or 'resolve'"),
    ("reassign", {}, "reassign needs a assignee"),
    ("merge", {"into": "I1"}, "cannot merge an incident into itself"),
    ("fly", {}, "unknown action 'fly'"),
])
def test_invalid_actions_are_refused_with_a_clear_reason(action, params, message):
    s, _ = opened()
    with pytest.raises(TransitionError) as e:
        apply(s, action, OPERATOR, at(1), **params)
    assert message in str(e.value)


def test_resolve_needs_a_note_and_terminal_states_refuse_everything():
    s, _ = opened()
    with pytest.raises(TransitionError, match="resolve needs a note"):
        apply(s, "resolve", WORKER, at(1))
    s, _ = apply(s, "dismiss", OPERATOR, at(2), reason="a cat on the lawn")
    for action in ACTIONS:
        with pytest.raises(TransitionError, match="'dismissed'"):
            apply(s, action, OPERATOR, at(3), reason="r", note="n", minutes=5, assignee="x", into="I2")


def test_permissions():
    s, _ = opened()
    assert can("grid_worker", "resolve") and not can("grid_worker", "close") and not can("visitor", "acknowledge")
    with pytest.raises(NotAllowed, match="a grid_worker may not dismiss"):
        apply(s, "dismiss", WORKER, at(1), reason="r")
    with pytest.raises(NotAllowed, match="only acknowledge incidents assigned to them"):
        apply(s, "acknowledge", OTHER_WORKER, at(1))
    assert apply(s, "acknowledge", Actor("leader.c03", "grid_leader"), at(1))[0].status == "acknowledged"


def test_dismiss_records_false_alarm_per_camera_and_rule():
    s, _ = opened()
    s, ev = apply(s, "dismiss", OPERATOR, at(3), reason="shadow of a tree")
    assert (s.status, s.false_alarm, s.dismiss_reason) == ("dismissed", True, "shadow of a tree")
    assert ev[0].data == {"kind": "false_alarm", "false_alarm": True, "camera_id": "cam-lawn-01", "rule": "major"}
    s2, _ = apply(opened()[0], "dismiss", OPERATOR, at(3), reason="duplicate of a phone report", false_alarm=False)
    assert (s2.false_alarm, s2.dismiss_kind) == (False, "other")


@pytest.mark.parametrize("kind", ["false_alarm", "duplicate", "test", "other"])
def test_dismiss_takes_its_kind_and_only_a_false_alarm_is_one(kind):
    s, ev = apply(opened()[0], "dismiss", OPERATOR, at(3), kind=kind)
    assert (s.status, s.dismiss_kind, s.false_alarm) == ("dismissed", kind, kind == "false_alarm")
    assert s.dismiss_reason == kind.replace("_", " ") and ev[0].data["kind"] == kind
    s, _ = apply(opened()[0], "dismiss", OPERATOR, at(3), kind=kind, reason="seen on the phone report too")
    assert s.dismiss_reason == "seen on the phone report too"
    assert IncidentState.from_dict(s.to_dict()).dismiss_kind == kind


def test_dismiss_refuses_an_unknown_kind():
    with pytest.raises(TransitionError, match="dismiss kind must be one of false_alarm, duplicate, test, other"):
        apply(opened()[0], "dismiss", OPERATOR, at(3), kind="boring")


def test_reopen_sends_it_back_with_fresh_deadlines():
    s, _ = opened()
    s, _ = apply(s, "resolve", WORKER, at(20), note="done")
    s, _ = apply(s, "reopen", OPERATOR, at(60), reason="the fence is still broken")
    assert (s.status, s.assignee, s.reopen_count, s.resolved_at) == ("dispatched", "worker.g0307", 1, None)
    assert s.acknowledged_at == at(20)  # the first acknowledgement stays for the figures
    assert s.ack_due_at == at(90) and s.due_at == at(60) + timedelta(hours=8)


def test_extend_moves_the_deadline_and_a_stale_timer_does_nothing():
    s, _ = opened()
    s, _ = apply(s, "acknowledge", WORKER, at(1))
    old_due = s.due_at
    s, ev = apply(s, "extend", OPERATOR, at(2), minutes=90, reason="waiting for the property company")
    assert s.due_at == old_due + timedelta(minutes=90) and s.extensions == 1
    assert ev[0].data["minutes"] == 90 and ev[0].reason == "waiting for the property company"
    same, events = on_timer(s, "resolve", old_due, GRIDS)
    assert same == s and events == []
    same, events = on_timer(s, "ack", at(30), GRIDS)  # acknowledged: the ack timer is stale
    assert same == s and events == []


def test_missed_deadlines_climb_grid_community_street_then_report_overdue_once():
    s, _ = opened()
    s, ev = on_timer(s, "ack", at(30), GRIDS)
    assert [e.name for e in ev] == ["escalated", "dispatched"]
    assert (s.level, s.owner_grid_id, s.assignee, s.escalations, s.ack_missed) == \
           ("community", "C-03", "community.c03", 1, True)
    assert s.ack_due_at == at(60)
    s, ev = on_timer(s, "ack", at(60), GRIDS)
    assert (s.level, s.owner_grid_id, s.assignee) == ("street", "S-01", "street.duty")
    s, ev = on_timer(s, "ack", at(90), GRIDS)
    assert [e.name for e in ev] == ["overdue"] and s.level == "street"
    assert [t.kind for t in due_timers(s)] == ["resolve"]  # the ack deadline is not re-armed
    with pytest.raises(TransitionError, match="already at the street level"):
        apply(s, "escalate", OPERATOR, at(91), grids=GRIDS, reason="more hands")


def test_manual_escalation_reassign_and_merge():
    s, _ = opened()
    s, ev = apply(s, "escalate", Actor("leader.c03", "grid_leader"), at(5), grids=GRIDS,
                  reason="needs the property company")
    assert (s.level, s.assignee, ev[0].reason) == ("community", "community.c03", "needs the property company")
    s, ev = apply(s, "reassign", OPERATOR, at(6), assignee="worker.g0306")
    assert s.assignee == "worker.g0306" and ev[0].data == {"from": "community.c03", "to": "worker.g0306"}
    target, _ = opened(incident_id="I2")
    target, _ = attach(target, at(7), alert_id="A2", severity="critical")
    assert target.alert_count == 2 and target.severity == "critical"
    s, ev = apply(s, "merge", OPERATOR, at(8), into="I2")
    assert (s.status, s.merged_into) == ("closed", "I2") and due_timers(s) == []
    target, ev = merge_into(target, s, OPERATOR, at(8))
    assert target.alert_count == 3 and ev[0].data["from"] == "I1"
    with pytest.raises(TransitionError, match="cannot attach"):
        attach(s, at(9))


def test_state_round_trips_through_json():
    s, _ = opened()
    s, _ = apply(s, "resolve", WORKER, at(20), note="done", photos=["a.jpg"])
    back = IncidentState.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s


def test_attach_escalates_only_when_routing_wants_a_higher_level():
    s, _ = opened()
    same, ev = attach(s, at(1), alert_id="A2", severity="major", level="grid", grids=GRIDS)
    assert (same.level, same.alert_count, [e.name for e in ev]) == ("grid", 2, ["attached"])
    up, ev = attach(s, at(2), alert_id="A3", severity="critical", level="street", grids=GRIDS)
    assert (up.level, up.assignee, up.escalations) == ("street", "street.duty", 2)
    assert [e.name for e in ev] == ["attached", "escalated", "dispatched", "escalated", "dispatched"]
    resolved, _ = apply(s, "resolve", WORKER, at(3), note="done")
    kept, ev = attach(resolved, at(4), severity="critical", level="community", grids=GRIDS)
    assert kept.level == "grid" and [e.name for e in ev] == ["attached"]  # resolved: left to verification
