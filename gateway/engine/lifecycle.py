"""The incident lifecycle (DESIGN.md): a pure state machine. Every function takes the
current state and `now` and returns the new state plus the events to record and publish;
nothing here reads a clock or stores anything. Timers are derived from the state
(`due_timers`), so the gateway keeps them as rows and a restart loses nothing.

    open -> dispatched -> acknowledged -> resolved -> verified -> closed
    side paths: dismissed, reopened (back to dispatched), escalated, extended,
    reassigned, merged (closed into another incident), attached (a repeated alert)
"""
from __future__ import annotations

import functools
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Callable, Collection, NamedTuple, Protocol

from gateway.engine.grids import LEVELS, GridSet, level_above
from gateway.engine.routing import SEVERITIES, Route

STATUSES = ("open", "dispatched", "acknowledged", "resolved", "verified", "closed", "dismissed")
ACTIVE = ("open", "dispatched", "acknowledged", "resolved", "verified")
UNRESOLVED = ("open", "dispatched", "acknowledged")
ACTIONS = ("dispatch", "acknowledge", "resolve", "verify", "reopen", "close", "dismiss",
           "escalate", "extend", "reassign", "merge")

# Who may do what. 'system' is the gateway itself (timers, ingest).
PERMISSIONS: dict[str, frozenset[str]] = {
    "grid_worker": frozenset({"acknowledge", "resolve"}),
    "grid_leader": frozenset({"dispatch", "acknowledge", "resolve", "dismiss", "escalate", "extend", "reassign"}),
    "professional": frozenset({"acknowledge", "resolve"}),
    "operator": frozenset(ACTIONS),
    "community": frozenset(ACTIONS),
    "street": frozenset(ACTIONS),
    "admin": frozenset(ACTIONS),
    "system": frozenset({"dispatch", "escalate", "reassign", "close"}),
}


def can(actor_role: str, action: str) -> bool:
    return action in PERMISSIONS.get(actor_role, frozenset())


class TransitionError(ValueError):
    """An action that is not possible in the incident's current state, or lacks a parameter."""


class NotAllowed(TransitionError):
    """The actor's role may not take this action on this incident."""


class Deadlines(Protocol):
    def add(self, start_utc: datetime, duration: timedelta) -> datetime: ...


@dataclass(frozen=True)
class Actor:
    username: str
    role: str


SYSTEM = Actor("gridwatch", "system")


@dataclass(frozen=True)
class Event:
    name: str
    at: datetime
    actor: str | None = None
    note: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "at": _iso(self.at), "actor": self.actor, "note": self.note,
                "reason": self.reason, "data": self.data}


class Timer(NamedTuple):
    kind: str  # 'ack' | 'resolve'
    due_at: datetime


@dataclass(frozen=True)
class IncidentState:
    id: str
    type: str
    severity: str
    status: str
    level: str  # the level currently answering: 'grid' | 'community' | 'street'
    grid_id: str | None  # the cell where it happened; never changes
    owner_grid_id: str | None  # the grid at `level` that answers for it
    opened_at: datetime
    source_id: str | None = None
    camera_id: str | None = None
    professional_grid_id: str | None = None
    assignee: str | None = None
    ack_due_at: datetime | None = None
    due_at: datetime | None = None
    acknowledged_at: datetime | None = None  # the first acknowledgement (kept across reopen)
    resolved_at: datetime | None = None
    verified_at: datetime | None = None
    closed_at: datetime | None = None
    dismissed_at: datetime | None = None
    calendar: str = "calendar"  # deadlines in 'working' hours or 'calendar' time
    ack_within: timedelta = timedelta(minutes=30)
    resolve_within: timedelta = timedelta(hours=4)
    rule: str | None = None
    escalations: int = 0
    reopen_count: int = 0
    extensions: int = 0
    alert_count: int = 1
    last_alert_at: datetime | None = None
    merged_into: str | None = None
    false_alarm: bool = False
    dismiss_reason: str | None = None
    resolution_note: str | None = None
    photos: tuple[str, ...] = ()
    ack_missed: bool = False  # an acknowledgement deadline passed at some level
    resolve_missed: bool = False  # a resolution deadline passed: not closed on time
    overdue: tuple[str, ...] = ()  # deadlines missed at the top level, already reported once

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_dict(self, only: Collection[str] | None = None) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC, durations in seconds; all fields, or `only` these."""
        d = self.__dict__  # all immutable: no deep copy
        out = dict(d) if only is None else {k: d[k] for k in only}
        for k in _TIME_FIELDS:
            if out.get(k) is not None:
                out[k] = _iso(out[k])
        for k in _DURATION_FIELDS:
            if k in out:
                out[k] = out[k].total_seconds()
        for k in _TUPLE_FIELDS:
            if k in out:
                out[k] = list(out[k])
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IncidentState":
        kw = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if v is not None and f.name.endswith("_at"):
                v = datetime.fromisoformat(v) if isinstance(v, str) else v
            elif f.name.endswith("_within") and not isinstance(v, timedelta):
                v = timedelta(seconds=float(v))
            elif f.name in ("photos", "overdue"):
                v = tuple(v or ())
            kw[f.name] = v
        return new_state(**kw)


STATE_FIELDS = tuple(f.name for f in fields(IncidentState))
_FIELD_NAMES = frozenset(STATE_FIELDS)
_TIME_FIELDS = tuple(f.name for f in fields(IncidentState) if "datetime" in str(f.type))
_DURATION_FIELDS = tuple(f.name for f in fields(IncidentState) if "timedelta" in str(f.type))
_TUPLE_FIELDS = tuple(f.name for f in fields(IncidentState) if str(f.type).startswith("tuple"))


_DEFAULTS = {f.name: f.default for f in fields(IncidentState) if f.default is not MISSING}
_REQUIRED = _FIELD_NAMES - _DEFAULTS.keys()


def new_state(**values: Any) -> IncidentState:
    """`IncidentState(**values)` without the frozen dataclass's __init__ (an object.__setattr__
    for each of its 37 fields): the ingest makes one for every new incident."""
    missing, unknown = _REQUIRED - values.keys(), values.keys() - _FIELD_NAMES
    if missing or unknown:
        raise TypeError(f"IncidentState: missing {sorted(missing)}, unknown {sorted(unknown)}")
    new = object.__new__(IncidentState)
    new.__dict__.update(_DEFAULTS, **values)
    return new


def replace(state: IncidentState, **changes: Any) -> IncidentState:
    """`dataclasses.replace` for a state (no __post_init__, no defaults to compute), without
    running __init__ over all its fields: the ingest calls it for every repeated alert."""
    unknown = changes.keys() - _FIELD_NAMES
    if unknown:
        raise TypeError(f"IncidentState has no field(s) {', '.join(sorted(unknown))}")
    new = object.__new__(IncidentState)
    new.__dict__.update(state.__dict__, **changes)
    return new


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else _isoformat(dt)


@functools.lru_cache(maxsize=4096)  # states of one ingest batch share their times
def _isoformat(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _deadline(kind: str, calendar: Deadlines | None, start: datetime, d: timedelta) -> datetime:
    """`start` + `d` in working hours (`kind` 'working', with a calendar) or in calendar time."""
    if kind == "working" and calendar is not None:
        return calendar.add(start, d)
    return start + d


# -- opening and attaching ------------------------------------------------------------------
def open_incident(route: Route, grids: GridSet | None, now: datetime, *, incident_id: str, alert_type: str,
                  severity: str, source_id: str | None = None, camera_id: str | None = None,
                  calendar: Deadlines | None = None) -> tuple[IncidentState, list[Event]]:
    """File an incident where `route` says and dispatch it at once to the responsible person
    of that level when there is one (the clock starts at filing either way, so an incident
    nobody picks up still escalates)."""
    person = grids.responsible(route.cell_grid_id or route.grid_id, route.level) if grids else None
    state = new_state(
        id=incident_id, type=alert_type, severity=severity, status="dispatched" if person else "open",
        level=route.level, grid_id=route.cell_grid_id, owner_grid_id=route.grid_id, opened_at=now,
        source_id=source_id, camera_id=camera_id, professional_grid_id=route.professional_grid_id,
        assignee=person.user if person else None, calendar=route.calendar, ack_within=route.ack_within,
        resolve_within=route.resolve_within, rule=route.rule, last_alert_at=now,
        ack_due_at=_deadline(route.calendar, calendar, now, route.ack_within),
        due_at=_deadline(route.calendar, calendar, now, route.resolve_within))
    events = [Event("opened", now, SYSTEM.username, data={
        "level": route.level, "grid_id": route.grid_id, "rule": route.rule,
        "professional_grid_id": route.professional_grid_id})]
    if person is not None:
        events.append(Event("dispatched", now, SYSTEM.username, data={"assignee": person.user, "level": state.level}))
    if route.professional_grid_id and grids is not None:
        # the professional grid is told at once; the admin level keeps the case
        pro = grids.responsible(route.professional_grid_id, route.level)
        events.append(Event("notified", now, SYSTEM.username, data={
            "grid_id": route.professional_grid_id, "user": pro.user if pro else None}))
    return state, events


def attach(state: IncidentState, now: datetime, *, alert_id: str | None = None, severity: str | None = None,
           level: str | None = None, grids: GridSet | None = None,
           calendar: Deadlines | None = None) -> tuple[IncidentState, list[Event]]:
    """A repeated alert of the same source and type joins the active incident. When the
    severity rises and routing now wants a higher `level` (route the alert again and pass
    its level and the grids), an unresolved incident escalates there at once."""
    if not state.active:
        raise TransitionError(f"cannot attach an alert to an incident that is '{state.status}': open a new one")
    sev = state.severity
    if severity in SEVERITIES and SEVERITIES.index(severity) > SEVERITIES.index(sev):
        sev = severity
    new = replace(state, alert_count=state.alert_count + 1, last_alert_at=now, severity=sev)
    events = [Event("attached", now, SYSTEM.username, data={"alert_id": alert_id, "alert_count": new.alert_count})]
    if level in LEVELS and grids is not None and new.status in UNRESOLVED:
        while LEVELS.index(level) < LEVELS.index(new.level):
            new, more = _level_up(new, now, grids, calendar, SYSTEM, f"severity rose to {sev}: the {level} answers")
            events += more
    return new, events


def merge_into(target: IncidentState, source: IncidentState, actor: Actor,
               now: datetime) -> tuple[IncidentState, list[Event]]:
    """The target's side of a merge: it takes over the source's alerts."""
    if not target.active:
        raise TransitionError(f"cannot merge into an incident that is '{target.status}'")
    if target.id == source.id:
        raise TransitionError("cannot merge an incident into itself")
    new = replace(target, alert_count=target.alert_count + source.alert_count,
                  opened_at=min(target.opened_at, source.opened_at))
    return new, [Event("merged", now, actor.username, data={"from": source.id, "alert_count": new.alert_count})]


# -- actions ------------------------------------------------------------------------------
# allowed source statuses, and what to say when the status is wrong
_FROM: dict[str, tuple[tuple[str, ...], str]] = {
    "dispatch": (("open", "dispatched"), "only an open incident can be dispatched"),
    "acknowledge": (("open", "dispatched"), "it must be 'dispatched' (and not yet acknowledged)"),
    "resolve": (("dispatched", "acknowledged"), "it must be 'dispatched' or 'acknowledged'"),
    "verify": (("resolved",), "it must be 'resolved' first"),
    "reopen": (("resolved", "verified"), "only a resolved or verified incident can be reopened"),
    "close": (("verified",), "it must be 'verified' first"),
    "dismiss": (("open", "dispatched", "acknowledged", "resolved"), "it is past verification"),
    "escalate": (UNRESOLVED, "only an unresolved incident can be escalated"),
    "extend": (UNRESOLVED, "only an unresolved incident has a deadline to extend"),
    "reassign": (ACTIVE, "it is no longer active"),
    "merge": (ACTIVE, "it is no longer active"),
}


def apply(state: IncidentState, action: str, actor: Actor, now: datetime, *, grids: GridSet | None = None,
          calendar: Deadlines | None = None, **params: Any) -> tuple[IncidentState, list[Event]]:
    """Take `action` on the incident. `grids` is needed to escalate and `calendar` (the
    working calendar) to move working-hour deadlines. Raises TransitionError."""
    if action not in _FROM:
        raise TransitionError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if not can(actor.role, action):
        raise NotAllowed(f"a {actor.role} may not {action} incidents")
    if actor.role in ("grid_worker", "professional") and state.assignee != actor.username:
        raise NotAllowed(f"{actor.username} may only {action} incidents assigned to them"
                         f" (this one is assigned to {state.assignee or 'nobody'})")
    allowed, hint = _FROM[action]
    if state.status not in allowed:
        raise TransitionError(f"cannot {action} an incident that is '{state.status}': {hint}")
    return _HANDLERS[action](state, actor, now, grids, calendar, params)


def _need(params: dict[str, Any], name: str, action: str) -> Any:
    v = params.get(name)
    if v is None or (isinstance(v, str) and not v.strip()):
        raise TransitionError(f"{action} needs a {name}")
    return v


def _dispatch(s, actor, now, grids, cal, p):
    person = grids.responsible(s.grid_id or s.owner_grid_id, s.level) if grids else None
    assignee = p.get("assignee") or (person.user if person else None)
    if not assignee:
        raise TransitionError("dispatch needs an assignee: nobody is responsible at this level")
    return replace(s, status="dispatched", assignee=assignee), [
        Event("dispatched", now, actor.username, note=p.get("note"), data={"assignee": assignee, "level": s.level})]


def _acknowledge(s, actor, now, grids, cal, p):
    new = replace(s, status="acknowledged", acknowledged_at=s.acknowledged_at or now)
    return new, [Event("acknowledged", now, actor.username, note=p.get("note"))]


def _resolve(s, actor, now, grids, cal, p):
    note = _need(p, "note", "resolve")
    photos = tuple(p.get("photos") or ())
    new = replace(s, status="resolved", resolved_at=now, acknowledged_at=s.acknowledged_at or now,
                  resolution_note=note, photos=photos)
    return new, [Event("resolved", now, actor.username, note=note, data={"photos": list(photos)})]


def _verify(s, actor, now, grids, cal, p):
    return replace(s, status="verified", verified_at=now), [Event("verified", now, actor.username, note=p.get("note"))]


def _reopen(s, actor, now, grids, cal, p):
    reason = _need(p, "reason", "reopen")
    new = replace(s, status="dispatched", resolved_at=None, verified_at=None, reopen_count=s.reopen_count + 1,
                  overdue=(),
                  ack_due_at=_deadline(s.calendar, cal, now, s.ack_within),
                  due_at=_deadline(s.calendar, cal, now, s.resolve_within))
    return new, [Event("reopened", now, actor.username, reason=reason, data={"assignee": s.assignee})]


def _close(s, actor, now, grids, cal, p):
    return replace(s, status="closed", closed_at=now), [Event("closed", now, actor.username, note=p.get("note"))]


def _dismiss(s, actor, now, grids, cal, p):
    reason = _need(p, "reason", "dismiss")
    false_alarm = bool(p.get("false_alarm", True))
    new = replace(s, status="dismissed", dismissed_at=now, dismiss_reason=reason, false_alarm=false_alarm)
    return new, [Event("dismissed", now, actor.username, reason=reason,
                       data={"false_alarm": false_alarm, "camera_id": s.camera_id, "rule": s.rule})]


def _escalate(s, actor, now, grids, cal, p):
    reason = _need(p, "reason", "escalate")
    return _level_up(s, now, grids, cal, actor, reason)


def _extend(s, actor, now, grids, cal, p):
    reason = _need(p, "reason", "extend")
    minutes = p.get("minutes")
    if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or minutes <= 0:
        raise TransitionError(f"extend needs a positive number of minutes, not {minutes!r}")
    which = p.get("deadline", "resolve")
    if which not in ("ack", "resolve"):
        raise TransitionError(f"extend: deadline must be 'ack' or 'resolve', not {which!r}")
    attr = "ack_due_at" if which == "ack" else "due_at"
    old = getattr(s, attr) or now
    new_due = _deadline(s.calendar, cal, max(old, now), timedelta(minutes=minutes))  # a passed deadline extends from now
    new = replace(s, extensions=s.extensions + 1, overdue=tuple(k for k in s.overdue if k != which),
                  **{attr: new_due})
    return new, [Event("extended", now, actor.username, reason=reason,
                       data={"deadline": which, "from": _iso(old), "to": _iso(new_due), "minutes": minutes})]


def _reassign(s, actor, now, grids, cal, p):
    assignee = _need(p, "assignee", "reassign")
    new = replace(s, assignee=assignee, status="dispatched" if s.status == "open" else s.status)
    return new, [Event("reassigned", now, actor.username, reason=p.get("reason"),
                       data={"from": s.assignee, "to": assignee})]


def _merge(s, actor, now, grids, cal, p):
    into = _need(p, "into", "merge")
    if into == s.id:
        raise TransitionError("cannot merge an incident into itself")
    new = replace(s, status="closed", closed_at=now, merged_into=into)
    return new, [Event("merged", now, actor.username, reason=p.get("reason"), data={"into": into})]


_HANDLERS: dict[str, Callable[..., tuple[IncidentState, list[Event]]]] = {
    "dispatch": _dispatch, "acknowledge": _acknowledge, "resolve": _resolve, "verify": _verify,
    "reopen": _reopen, "close": _close, "dismiss": _dismiss, "escalate": _escalate, "extend": _extend,
    "reassign": _reassign, "merge": _merge,
}


# -- deadlines and escalation -------------------------------------------------------------
def due_timers(state: IncidentState) -> list[Timer]:
    """The deadlines still running: the ack deadline until acknowledged, the resolution
    deadline until resolved. Store them as rows; fire them with `on_timer`."""
    timers = []
    if state.status in ("open", "dispatched") and state.ack_due_at:
        timers.append(Timer("ack", state.ack_due_at))
    if state.status in UNRESOLVED and state.due_at:
        timers.append(Timer("resolve", state.due_at))
    return [t for t in timers if t.kind not in state.overdue]


def on_timer(state: IncidentState, kind: str, now: datetime, grids: GridSet | None,
             calendar: Deadlines | None = None) -> tuple[IncidentState, list[Event]]:
    """A timer fired. Stale timers (acknowledged or resolved since, or a deadline moved
    later) do nothing. A missed deadline escalates one level up (grid -> community ->
    street), reassigns to that level's responsible person and restarts both deadlines; at
    the top it reports 'overdue' once and that deadline stops running (the case stays on
    the overdue list for supervision until someone acts)."""
    current = {t.kind: t.due_at for t in due_timers(state)}
    if kind not in current or current[kind] > now:
        return state, []
    missed = replace(state, ack_missed=state.ack_missed or kind == "ack",
                     resolve_missed=state.resolve_missed or kind == "resolve")
    reason = f"{'acknowledgement' if kind == 'ack' else 'resolution'} deadline {_iso(current[kind])} missed"
    if level_above(state.level) is None:
        new = replace(missed, overdue=tuple(sorted({*state.overdue, kind})))
        return new, [Event("overdue", now, SYSTEM.username, reason=reason,
                           data={"deadline": kind, "level": state.level, "assignee": state.assignee})]
    return _level_up(missed, now, grids, calendar, SYSTEM, reason)


def _level_up(s: IncidentState, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              actor: Actor, reason: str) -> tuple[IncidentState, list[Event]]:
    up = level_above(s.level)
    if up is None:
        raise TransitionError(f"cannot escalate an incident already at the {s.level} level: there is none above")
    if grids is None:
        raise TypeError("escalation needs the grids to find who answers at the next level")
    cell = s.grid_id or s.owner_grid_id
    owner = grids.at_level(cell, up)
    person = grids.responsible(cell, up)
    new = replace(s, level=up, owner_grid_id=owner.id if owner else s.owner_grid_id,
                  assignee=person.user if person else s.assignee,
                  status="dispatched" if person or s.status != "open" else "open",
                  escalations=s.escalations + 1, overdue=(),
                  ack_due_at=_deadline(s.calendar, cal, now, s.ack_within),
                  due_at=_deadline(s.calendar, cal, now, s.resolve_within))
    events = [Event("escalated", now, actor.username, reason=reason,
                    data={"from_level": s.level, "to_level": up, "owner_grid_id": new.owner_grid_id})]
    if new.assignee != s.assignee:
        events.append(Event("dispatched", now, actor.username, data={"assignee": new.assignee, "level": up}))
    return new, events
