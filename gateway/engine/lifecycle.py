"""The incident lifecycle (docs/design.md): a pure state machine. Every function takes the
current state and `now` and returns the new state plus the events to record and publish;
nothing here reads a clock or stores anything. Timers are derived from the state
(`due_timers`), so the gateway keeps them as rows and a restart loses nothing.

    open -> dispatched -> acknowledged -> resolved -> verified -> closed
    side paths: dismissed, reopened (back to dispatched), escalated, extended,
    reassigned, merged (closed into another incident), attached (a repeated alert)
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from common.times import iso_exact
from gateway.engine.grids import LEVELS, GridSet, level_above
from gateway.engine.routing import SEVERITIES, Route
from gateway.engine.state import ACTIVE, SYSTEM, UNRESOLVED, Actor, Event, IncidentState, Timer, new_state, replace

ACTIONS = ("dispatch", "acknowledge", "resolve", "verify", "reopen", "close", "dismiss",
           "escalate", "extend", "reassign", "merge", "rate")

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


# Why an incident is dismissed (the reason given when none is written)
DISMISS_KINDS = {"false_alarm": "false alarm", "duplicate": "duplicate", "test": "test", "other": "other"}


class TransitionError(ValueError):
    """An action that is not possible in the incident's current state, or lacks a parameter."""


class NotAllowed(TransitionError):
    """The actor's role may not take this action on this incident."""


class Deadlines(Protocol):
    def add(self, start_utc: datetime, duration: timedelta) -> datetime: ...


Change = tuple[IncidentState, list[Event]]  # what an action does: the new state and its events


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
    "rate": (("closed",), "the reporter rates a case once it is closed"),
}

# The reporter's satisfaction with a closed case they reported (the follow-up of grid management)
RATINGS = ("satisfied", "basically_satisfied", "not_satisfied")


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


def _dispatch(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    person = grids.responsible(s.grid_id or s.owner_grid_id, s.level) if grids else None
    assignee = p.get("assignee") or (person.user if person else None)
    if not assignee:
        raise TransitionError("dispatch needs an assignee: nobody is responsible at this level")
    return replace(s, status="dispatched", assignee=assignee), [
        Event("dispatched", now, actor.username, note=p.get("note"), data={"assignee": assignee, "level": s.level})]


def _acknowledge(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    new = replace(s, status="acknowledged", acknowledged_at=s.acknowledged_at or now)
    return new, [Event("acknowledged", now, actor.username, note=p.get("note"))]


def _resolve(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    note = _need(p, "note", "resolve")
    photos = tuple(p.get("photos") or ())
    new = replace(s, status="resolved", resolved_at=now, acknowledged_at=s.acknowledged_at or now,
                  resolution_note=note, photos=photos)
    return new, [Event("resolved", now, actor.username, note=note, data={"photos": list(photos)})]


def _verify(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    return replace(s, status="verified", verified_at=now), [Event("verified", now, actor.username, note=p.get("note"))]


def _reopen(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    reason = _need(p, "reason", "reopen")
    new = replace(s, status="dispatched", resolved_at=None, verified_at=None, reopen_count=s.reopen_count + 1,
                  overdue=(),
                  ack_due_at=_deadline(s.calendar, cal, now, s.ack_within),
                  due_at=_deadline(s.calendar, cal, now, s.resolve_within))
    return new, [Event("reopened", now, actor.username, reason=reason, data={"assignee": s.assignee})]


def _close(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    return replace(s, status="closed", closed_at=now), [Event("closed", now, actor.username, note=p.get("note"))]


def _rate(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
          p: dict[str, Any]) -> Change:
    """A reported case's follow-up: once rated it stays rated, except that the first 'not
    satisfied' sends it back to verification (once), and it is rated again when closed again."""
    if not s.type.startswith("report."):
        raise TransitionError("only a case a person reported is rated by them")
    rating = p.get("rating")
    if rating not in RATINGS:
        raise TransitionError(f"rate needs a rating: one of {', '.join(RATINGS)}, not {rating!r}")
    if s.ratings >= 2 or (s.ratings == 1 and s.satisfaction != "not_satisfied"):
        raise TransitionError(f"this case was rated already ({s.satisfaction})")
    comment = p.get("note") or p.get("comment")
    events = [Event("rated", now, actor.username, note=comment, data={"rating": rating, "round": s.ratings + 1})]
    new = replace(s, satisfaction=rating, ratings=s.ratings + 1)
    if rating == "not_satisfied" and s.ratings == 0:  # back to verification, once
        new = replace(new, status="resolved", verified_at=None, closed_at=None, reopen_count=s.reopen_count + 1)
        events.append(Event("reopened", now, actor.username, reason=f"the reporter is not satisfied: {comment or '-'}",
                            data={"for": "verification"}))
    return new, events


def _dismiss(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    kind = p.get("kind")
    if kind is None:  # clients from before the choice: `false_alarm` (default true) says which
        kind = "false_alarm" if p.get("false_alarm", True) else "other"
        reason = _need(p, "reason", "dismiss")
    elif kind not in DISMISS_KINDS:
        raise TransitionError(f"dismiss kind must be one of {', '.join(DISMISS_KINDS)}, not {kind!r}")
    else:
        reason = p.get("reason") or DISMISS_KINDS[kind]
    false_alarm = kind == "false_alarm"  # only these count in the false-alarm rate
    new = replace(s, status="dismissed", dismissed_at=now, dismiss_reason=reason, dismiss_kind=kind,
                  false_alarm=false_alarm)
    return new, [Event("dismissed", now, actor.username, reason=reason,
                       data={"kind": kind, "false_alarm": false_alarm, "camera_id": s.camera_id, "rule": s.rule})]


def _escalate(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    reason = _need(p, "reason", "escalate")
    return _level_up(s, now, grids, cal, actor, reason)


def _extend(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
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
                       data={"deadline": which, "from": iso_exact(old), "to": iso_exact(new_due), "minutes": minutes})]


def _reassign(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    assignee = _need(p, "assignee", "reassign")
    new = replace(s, assignee=assignee, status="dispatched" if s.status == "open" else s.status)
    return new, [Event("reassigned", now, actor.username, reason=p.get("reason"),
                       data={"from": s.assignee, "to": assignee})]


def _merge(s: IncidentState, actor: Actor, now: datetime, grids: GridSet | None, cal: Deadlines | None,
              p: dict[str, Any]) -> Change:
    into = _need(p, "into", "merge")
    if into == s.id:
        raise TransitionError("cannot merge an incident into itself")
    new = replace(s, status="closed", closed_at=now, merged_into=into)
    return new, [Event("merged", now, actor.username, reason=p.get("reason"), data={"into": into})]


_HANDLERS: dict[str, Callable[..., tuple[IncidentState, list[Event]]]] = {
    "dispatch": _dispatch, "acknowledge": _acknowledge, "resolve": _resolve, "verify": _verify,
    "reopen": _reopen, "close": _close, "dismiss": _dismiss, "escalate": _escalate, "extend": _extend,
    "reassign": _reassign, "merge": _merge, "rate": _rate,
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
    reason = f"{'acknowledgement' if kind == 'ack' else 'resolution'} deadline {iso_exact(current[kind])} missed"
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
