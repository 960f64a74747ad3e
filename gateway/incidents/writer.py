"""The event writer: what every change of an incident writes in its transaction, beside the row
itself: the timeline entries (also the /api/events feed), the outbox messages of published events
(to `<prefix>/incidents/<grid_id>`, relayed by gateway.outbox) and the pending timer rows."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import topics
from common.times import iso
from gateway.db import bulk
from gateway.db.models import Incident, IncidentEvent, OutboxMessage, Timer
from gateway.engine import lifecycle
from gateway.incidents.state import incident_dict, jsonable, state_columns

# Events that go out over MQTT (docs/design.md "MQTT topics"); the others only feed the timeline.
PUBLISHED_EVENTS = {"opened", "dispatched", "acknowledged", "escalated", "resolved", "verified", "closed",
                    "reopened", "dismissed", "deadline_near"}


_EVENT_STATUS = {"opened": "open", "dispatched": "dispatched", "acknowledged": "acknowledged", "resolved": "resolved",
                 "verified": "verified", "closed": "closed", "dismissed": "dismissed", "reopened": "dispatched"}


class EventWriter:
    def __init__(self, prefix: str = "gridwatch"):
        self.prefix = prefix

    def after_change(self, s: Session, inc: Incident, before: str | None, state, events, *, now: datetime,
                      extra_data: dict[str, Any] | None = None, written: bool = False,
                      deferred: bool = False) -> dict[str, Any] | None:
        """Write the new state, its timeline events (+ outbox) and its timer rows; returns the
        incident as of the last event (as `incident_dict` gives it).
        `written`: the row was just inserted with this state (nothing to update, no timers yet);
        `deferred`: change the row and add its events, but leave the flush and the timers to the
        caller (`attach.attach_pending`)."""
        if not written:
            for k, v in state_columns(state).items():
                setattr(inc, k, v)
            for ev in events:
                if ev.name == "dispatched":
                    inc.dispatched_at = ev.at
            inc.version = (inc.version or 0) + 1
            if not deferred:
                s.flush()
                bulk.flush_rows(s)  # sync_timers reads the pending timers back
        bodies: dict[datetime, Any] = {}  # the incident as of each event's time, built (and encoded) once
        body = None
        for n, ev in enumerate(events):
            # several events in one change (opened + dispatched): each gets the status it led to
            after = inc.status if n == len(events) - 1 else _EVENT_STATUS.get(ev.name, before)
            if ev.at not in bodies:
                body = incident_dict(inc, ev.at)
                bodies[ev.at] = bulk.JSONText(bulk.dumps(body)) if bulk.copies(s) else body
            self.event(s, inc, ev.name, ev.actor or "system", ev.at, note=ev.note, reason=ev.reason,
                        data={**ev.data, **(extra_data or {})}, from_status=before, to_status=after,
                        body=bodies[ev.at])
            before = after
        if not deferred:
            self.sync_timers(s, inc, state, now, none_pending=written)
        return body

    def event(self, s: Session, inc: Incident, name: str, actor: str, at: datetime, *, note: str | None = None,
               reason: str | None = None, data: dict[str, Any] | None = None, from_status: str | None = None,
               to_status: str | None = None, body: "dict[str, Any] | bulk.JSONText | None" = None) -> None:
        """A timeline entry, and the outbox messages of a published event, each with the incident
        as of `at` (`body`; in a COPY batch `body` may be its JSON text, encoded once for all)."""
        body = body if body is not None else incident_dict(inc, at)
        if bulk.copies(s) and not isinstance(body, str):
            body = bulk.JSONText(bulk.dumps(body))
        data = data or {}
        # as JSON text (COPY) orjson calls jsonable only for what it cannot encode as we show it
        data = bulk.with_incident(data, body, jsonable) if isinstance(body, bulk.JSONText) \
            else bulk.with_incident(jsonable(data), body)
        bulk.add_row(s, IncidentEvent, incident_id=inc.id, at=at, event=name, actor=actor, from_status=from_status,
                     to_status=to_status or inc.status, note=note, reason=reason, data=data)
        if name in PUBLISHED_EVENTS:
            # to the grid where it happened, and to the professional grid it was sent to (e.g. fire safety)
            for grid in dict.fromkeys([inc.grid_id or "unrouted", inc.professional_grid_id]):
                if grid is None:
                    continue
                bulk.add_row(s, OutboxMessage, topic=topics.incident(grid, self.prefix),
                             payload=bulk.with_incident({"event": name, "at": iso(at), "actor": actor, "note": note,
                                                         "reason": reason}, body),
                             created_at=at, attempts=0, next_attempt_at=at)

    def sync_timers(self, s: Session, inc: Incident, state, now: datetime, none_pending: bool = False) -> None:
        """Make the pending timer rows equal to the engine's due timers for this state."""
        self.sync_timers_many(s, [(inc, state)], now, none_pending)

    def sync_timers_many(self, s: Session, changed: list[tuple[Incident, Any]], now: datetime,
                          none_pending: bool = False) -> None:
        """`sync_timers` for several incidents, their pending timers read in one query."""
        pending: dict[int, list[Timer]] = {inc.id: [] for inc, _ in changed}
        if not none_pending:
            for t in s.scalars(select(Timer).where(Timer.incident_id.in_(list(pending)), Timer.fired_at.is_(None),
                                                   Timer.cancelled_at.is_(None))):
                pending[t.incident_id].append(t)
        for inc, state in changed:
            wanted = {(f"{t.kind}_deadline", t.due_at) for t in lifecycle.due_timers(state)}
            have = set()
            for t in pending[inc.id]:
                if (t.kind, t.due_at) in wanted:
                    have.add((t.kind, t.due_at))
                else:
                    t.cancelled_at = now
            for kind, due in wanted - have:
                bulk.add_row(s, Timer, incident_id=inc.id, kind=kind, due_at=due)
