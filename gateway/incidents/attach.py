"""Repeated alerts: an alert of a source and type with an open incident attaches to it (the
count, the last time, maybe a higher severity) instead of opening another. One at a time
(`attach_one`) or, on the intake's fast path, a batch's repeats together (`attach_pending`)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from alerts import Alert
from gateway.db import bulk
from gateway.db.models import OPEN_STATUSES, Incident
from gateway.engine import lifecycle, silences
from gateway.engine.grids import GridSet
from gateway.engine.state import STATE_FIELDS, IncidentState
from gateway.incidents.outcome import IngestOutcome
from gateway.incidents.state import PATCHABLE, jsonable, state_columns, to_state


class Attaches:
    """Repeated alerts of a fast-path batch waiting to be attached together
    (`attach_pending`), each with the outcome to complete then."""

    def __init__(self):
        self.waiting_list: list[tuple[Alert, str | None, str | None, IngestOutcome]] = []

    def add(self, alert: Alert, grid_id: str | None, unrouted: str | None) -> IngestOutcome:
        outcome = IngestOutcome("attached", None, grid_id)  # the incident id comes with the attach
        self.waiting_list.append((alert, grid_id, unrouted, outcome))
        return outcome

    def __bool__(self) -> bool:
        return bool(self.waiting_list)


def attach_one(s: Session, writer, alert: Alert, now: datetime) -> int | None:
    """Find and lock the active incident of this source and type in one UPDATE (race-safe:
    no read-then-write), then let the engine attach the alert to it."""
    stmt = (update(Incident)
            .where(Incident.source_id == alert.source.id, Incident.type == alert.type.value,
                   Incident.status.in_(OPEN_STATUSES))
            .values(version=Incident.version + 1)
            .returning(Incident.id))
    inc_id = s.connection().execute(stmt).scalar()
    if inc_id is None:
        return None
    inc = s.scalar(select(Incident).where(Incident.id == inc_id).execution_options(populate_existing=True))
    state, events = lifecycle.attach(to_state(inc), now, alert_id=alert.id, severity=alert.severity.value)
    writer.after_change(s, inc, inc.status, state, events, now=now)
    return inc_id


def attach_pending(intake, s: Session, grids: GridSet, active: list[silences.Silence], attaches: Attaches,
                   now: datetime) -> None:
    """Attach the waiting repeated alerts: their open incidents locked in one SELECT ... FOR
    UPDATE (in id order, so replicas lock alike), the engine applied alert by alert in memory,
    each incident written once, timers synced only where the deadlines moved. An alert whose
    incident is gone (closed meanwhile) opens a new one the usual way."""
    waiting, attaches.waiting_list = attaches.waiting_list, []
    keys = list(dict.fromkeys((a.source.id, a.type.value) for a, _, _, _ in waiting))
    rows = s.scalars(select(Incident).where(tuple_(Incident.source_id, Incident.type).in_(keys),
                                            Incident.status.in_(OPEN_STATUSES))
                     .order_by(Incident.id).with_for_update().execution_options(populate_existing=True)).all()
    by_key = {(r.source_id, r.type): r for r in rows}
    first: dict[int, IncidentState] = {}
    states: dict[int, IncidentState] = {}  # each incident's state after its latest alert
    bodies: dict[int, dict[str, Any]] = {}  # each incident as of its latest event
    behind: dict[int, int] = {}  # changes the row does not hold yet (see below)
    for alert, grid_id, unrouted, outcome in waiting:
        inc = by_key.get((alert.source.id, alert.type.value))
        if inc is None:
            intake.forget_open((alert.source.id, alert.type.value))
            done = intake.open_or_attach(s, grids, active, alert, grid_id, unrouted, now)
        else:
            if inc.id not in states:
                first[inc.id] = states[inc.id] = to_state(inc)
            before = states[inc.id]
            state, events = lifecycle.attach(before, now, alert_id=alert.id, severity=alert.severity.value)
            states[inc.id] = state
            changed = [k for k in STATE_FIELDS if getattr(before, k) != getattr(state, k)]
            if inc.id in bodies and [e.name for e in events] == ["attached"] and set(changed) <= PATCHABLE:
                # the usual repeat (count, time, maybe severity): the timeline entry gets the
                # incident patched; the row takes the final state once, after the loop
                behind[inc.id] = behind.get(inc.id, 0) + 1
                body = bodies[inc.id] = {**bodies[inc.id], **{k: jsonable(getattr(state, k)) for k in changed},
                                         "version": bodies[inc.id]["version"] + 1}
                ev = events[0]
                intake.writer.event(s, inc, ev.name, ev.actor or "system", ev.at, data=ev.data, from_status=inc.status,
                            to_status=inc.status, body=body)
            else:
                inc.version += behind.pop(inc.id, 0)
                bodies[inc.id] = intake.writer.after_change(s, inc, inc.status, state, events, now=now, deferred=True)
            done = IngestOutcome("attached", inc.id, grid_id)
        outcome.__dict__.update(done.__dict__)
    for inc_id, n in behind.items():
        inc = s.get(Incident, inc_id)
        for k, v in state_columns(states[inc_id]).items():
            setattr(inc, k, v)
        inc.version += n
    s.flush()  # one UPDATE per incident, however many alerts it took
    moved = {i: st for i, st in states.items() if lifecycle.due_timers(st) != lifecycle.due_timers(first[i])}
    if moved:
        bulk.flush_rows(s)  # timers of this batch's new incidents become visible to the query
        intake.writer.sync_timers_many(s, [(s.get(Incident, i), st) for i, st in moved.items()], now)
