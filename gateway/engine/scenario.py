"""A tiny in-memory incident loop for scenario tests, in the style of Alertmanager's
acceptance tests: a fake clock, a script of alerts and actions at given times, and the
events that came out, with when. Timers fire exactly at their due time, as a perfect
timer poller would, so a trace shows when escalations happen.

    sc = Scenario(grids, rules, start=datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc))
    sc.alert(timedelta(0), type="intrusion", severity="major", camera_id="cam-lawn-01", grid="G-03-07")
    sc.act(timedelta(minutes=10), "I1", "acknowledge", Actor("worker.g0307", "grid_worker"))
    sc.run(until=timedelta(hours=2))
    sc.trace()  # ['+0:00:00 I1 opened grid -', '+0:00:00 I1 dispatched grid worker.g0307', ...]

It is also the reference for how the gateway wires the engine together: silence check,
then attach to an active incident of the same source and type, else route and open."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.engine.grids import GridSet
from gateway.engine.lifecycle import TransitionError, apply, attach, due_timers, merge_into, on_timer, open_incident
from gateway.engine.routing import Route, RoutingRules, route
from gateway.engine.silences import Silence, is_silenced
from gateway.engine.state import Actor, Event, IncidentState


@dataclass(frozen=True)
class Record:
    at: datetime
    incident: str | None
    event: str
    level: str | None = None
    assignee: str | None = None
    actor: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class Scenario:
    def __init__(self, grids: GridSet, rules: RoutingRules | None = None, *, start: datetime,
                 silences: list[Silence] | None = None, incidents: list[IncidentState] | None = None):
        """`incidents` resumes from saved states, as the gateway does after a restart."""
        self.grids, self.rules, self.start = grids, rules or RoutingRules(), start
        self.clock = FakeClock(start)
        self.silences: list[Silence] = list(silences or [])
        self.incidents: dict[str, IncidentState] = {s.id: s for s in incidents or []}
        self.alerts: list[dict[str, Any]] = []  # every alert, suppressed ones included
        self.records: list[Record] = []
        self._steps: list[tuple[datetime, int, Callable[[], None]]] = []

    # -- the script ---------------------------------------------------------------------
    def _when(self, at: timedelta | datetime) -> datetime:
        return self.start + at if isinstance(at, timedelta) else at

    def _step(self, at: timedelta | datetime, fn: Callable[[], None]) -> "Scenario":
        self._steps.append((self._when(at), len(self._steps), fn))
        return self

    def alert(self, at: timedelta | datetime, *, type: str, severity: str = "major", camera_id: str | None = None,
              source_id: str | None = None, grid: str | None = None, lat: float | None = None,
              lon: float | None = None, sensor_kind: str | None = None, alert_id: str | None = None) -> "Scenario":
        fields = {"type": type, "severity": severity, "camera_id": camera_id, "source_id": source_id or camera_id,
                  "grid_hint": grid, "lat": lat, "lon": lon, "sensor_kind": sensor_kind, "id": alert_id}
        return self._step(at, lambda: self._ingest(dict(fields)))

    def act(self, at: timedelta | datetime, incident: str, action: str, actor: Actor, **params: Any) -> "Scenario":
        return self._step(at, lambda: self._act(incident, action, actor, params))

    def silence(self, at: timedelta | datetime, silence: Silence) -> "Scenario":
        return self._step(at, lambda: self.silences.append(silence))

    def run(self, until: timedelta | datetime) -> list[Record]:
        end = self._when(until)
        for at, _, fn in sorted(self._steps, key=lambda s: (s[0], s[1])):
            if at > end:
                break
            self._fire_timers(at)
            self.clock.now = at
            fn()
        self._fire_timers(end)
        self.clock.now = end
        self._steps = []
        return self.records

    def trace(self, local: bool = False) -> list[str]:
        """One line per event: '<when> <incident> <event> <level> <assignee>', with `when`
        the offset from the start, or the local time in the rules' zone when `local`; level
        and assignee are the incident's after the step that produced the event."""
        zone = ZoneInfo(self.rules.tz)
        out = []
        for r in self.records:
            when = f"{r.at.astimezone(zone):%a %Y-%m-%d %H:%M}" if local else f"+{r.at - self.start}"
            out.append(f"{when} {r.incident or '-'} {r.event} {r.level or '-'} {r.assignee or '-'}")
        return out

    # -- the loop -----------------------------------------------------------------------
    def _record(self, state: IncidentState | None, events: list[Event], incident: str | None = None) -> None:
        for e in events:
            self.records.append(Record(e.at, state.id if state else incident, e.name,
                                       state.level if state else None, state.assignee if state else None,
                                       e.actor, e.reason, dict(e.data)))

    def _ingest(self, a: dict[str, Any]) -> None:
        now = self.clock.now
        cell = self.grids.resolve_camera(a["grid_hint"], a["lat"], a["lon"])
        a["grid_id"] = cell.id if cell else None
        silence = is_silenced(self.silences, a, now, self.grids.subtree)
        a["suppressed_by"] = silence
        self.alerts.append(a)
        if silence is not None:
            self.records.append(Record(now, None, "suppressed", reason=silence.reason,
                                       data={"type": a["type"], "source_id": a["source_id"]}))
            return
        for inc in self.incidents.values():
            if inc.source_id == a["source_id"] and inc.type == a["type"]:
                while inc.merged_into and inc.merged_into in self.incidents:  # follow a merge
                    inc = self.incidents[inc.merged_into]
                if inc.active:
                    r = self._route(a, now)
                    new, events = attach(inc, now, alert_id=a["id"], severity=a["severity"], level=r.level,
                                         grids=self.grids, calendar=self.rules.calendar_for(inc.calendar))
                    self.incidents[new.id] = new
                    self._record(new, events)
                    return
        r = self._route(a, now)
        state, events = open_incident(r, self.grids, now, incident_id=f"I{len(self.incidents) + 1}",
                                      alert_type=a["type"], severity=a["severity"], source_id=a["source_id"],
                                      camera_id=a["camera_id"], calendar=self.rules.calendar_for(r.calendar))
        self.incidents[state.id] = state
        self._record(state, events)

    def _route(self, a: dict[str, Any], now: datetime) -> Route:
        return route(self.rules, self.grids, alert_type=a["type"], severity=a["severity"], grid_id=a["grid_id"],
                     local_time=now.astimezone(ZoneInfo(self.rules.tz)), sensor_kind=a["sensor_kind"],
                     lat=a["lat"], lon=a["lon"])

    def _act(self, incident: str, action: str, actor: Actor, params: dict[str, Any]) -> None:
        now = self.clock.now
        state = self.incidents[incident]
        try:
            new, events = apply(state, action, actor, now, grids=self.grids,
                                calendar=self.rules.work_calendar, **params)
            target, t_events = None, list[Event]()
            if action == "merge":
                if params["into"] not in self.incidents:
                    raise TransitionError(f"cannot merge into {params['into']!r}: no such incident")
                target, t_events = merge_into(self.incidents[params["into"]], state, actor, now)
        except TransitionError as e:
            self.records.append(Record(now, incident, "refused", state.level, state.assignee, actor.username,
                                       str(e), {"action": action}))
            return
        self.incidents[new.id] = new
        self._record(new, events)
        if target is not None:
            self.incidents[target.id] = target
            self._record(target, t_events)

    def _fire_timers(self, upto: datetime) -> None:
        """Fire every timer due by `upto`, earliest first, each at its own due time."""
        while True:
            due = [(t.due_at, s.id, t.kind) for s in self.incidents.values() for t in due_timers(s)
                   if t.due_at <= upto]
            if not due:
                return
            at, inc, kind = min(due)
            self.clock.now = max(self.clock.now, at)
            new, events = on_timer(self.incidents[inc], kind, at, self.grids, self.rules.work_calendar)
            if new == self.incidents[inc] and not events:
                raise RuntimeError(f"timer {kind} of {inc} at {at} did not move")  # would loop forever
            self.incidents[inc] = new
            self._record(new, events)
