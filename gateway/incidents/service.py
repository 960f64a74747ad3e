"""The incident service: applies the pure engine (gateway.engine) to the database, one
transaction per change. Every change writes, in that same transaction, the incident row, its
timeline events, its timer rows, an audit entry and the outbox rows that the relay publishes
(gateway.incidents.writer). Alerts come in through the intake (gateway.incidents.intake), people's
actions through `act`, passed deadlines through `fire_timer` (gateway.incidents.timers)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import Alert
from common.times import iso, utcnow
from gateway.db import Database, audit
from gateway.db.models import Incident, Media, Timer
from gateway.engine import lifecycle
from gateway.engine import routing as routing_mod
from gateway.engine.grids import GridSet
from gateway.engine.state import Actor
from gateway.incidents.errors import AlertsRaced, BadRequest, Conflict, Forbidden, NotFound
from gateway.incidents.grids import GridCache, load_routing
from gateway.incidents.intake import AlertIntake
from gateway.incidents.outcome import IngestOutcome
from gateway.incidents.state import jsonable, lock_incident, timer_kind, to_state
from gateway.incidents.writer import EventWriter
from gateway.media.service import store_bytes
from gateway.media.storage import MediaStore

Clock = Callable[[], datetime]


class IncidentService:
    def __init__(self, db: Database, *, prefix: str = "gridwatch", media_dir: Path | str = "media",
                 rules: routing_mod.RoutingRules | None = None, clock: Clock = utcnow):
        self.db = db
        self.prefix = prefix
        self.media = MediaStore(media_dir)  # every file the gateway stores goes here
        self.rules = rules or routing_mod.RoutingRules()
        self.clock = clock
        self._grids = GridCache(db)
        self.writer = EventWriter(prefix)
        self.intake = AlertIntake(self)

    @classmethod
    def from_settings(cls, settings, db: Database, clock: Clock = utcnow) -> "IncidentService":
        return cls(db, prefix=settings.mqtt_prefix, media_dir=settings.media_dir,
                   rules=load_routing(settings.routing), clock=clock)

    def grids(self, session: Session | None = None) -> GridSet:
        return self._grids.get(session)

    # -- ingest -----------------------------------------------------------------------
    def ingest(self, alert: Alert, *, topic: str | None = None) -> IngestOutcome:
        """Store the alert and open or attach its incident, all in one transaction.
        Idempotent on the alert id (a unique key, insert ... on conflict do nothing)."""
        try:
            with self.db.session() as s:
                result = self.ingest_many(s, [alert])[0]
        except AlertsRaced:  # another replica stored it meanwhile: now it is a known id
            with self.db.session() as s:
                result = self.ingest_many(s, [alert])[0]
        if isinstance(result, Exception):
            raise result
        return result


    def ingest_many(self, s: Session, alerts: list[Alert], *, isolate: bool = True) -> list[IngestOutcome | Exception]:
        """Store a batch of alerts in the caller's transaction (see `AlertIntake.ingest_many`)."""
        return self.intake.ingest_many(s, alerts, isolate=isolate)

    # -- lifecycle ----------------------------------------------------------------------
    def act(self, incident_id: int, action: str, principal, params: dict[str, Any]) -> Incident:
        """Apply one lifecycle action for `principal` (gateway.api.auth.Principal). Raises NotFound
        (also when not visible), Forbidden, Conflict (invalid transition) or BadRequest."""
        now = self.clock()
        if action not in lifecycle.ACTIONS:
            raise NotFound(f"unknown action {action!r}; one of {', '.join(lifecycle.ACTIONS)}")
        with self.db.session() as s:
            inc = lock_incident(s, incident_id)
            if inc is None or not principal.sees(inc):
                raise NotFound(f"incident {incident_id} not found")
            if not lifecycle.can(principal.role, action):
                raise Forbidden(f"a {principal.role} may not {action} incidents")
            grids = self.grids(s)
            kwargs = {k: v for k, v in params.items() if v is not None}
            if "extend_minutes" in kwargs:
                kwargs["minutes"] = kwargs.pop("extend_minutes")
            target = None
            if action == "merge":
                target = lock_incident(s, kwargs.get("into"))
                if target is None or not principal.sees(target):
                    raise NotFound(f"incident {kwargs.get('into')!r} (the merge target) not found")
                kwargs["into"] = str(target.id)
            files = kwargs.pop("photo_files", None) or []
            if files:
                if action != "resolve":
                    raise BadRequest("photos go with the resolve action")
                kwargs["photos"] = [self._store_photo(s, inc, data, ctype, now) for data, ctype in files]
            actor = Actor(principal.username, principal.role)
            try:
                state, events = lifecycle.apply(to_state(inc), action, actor, now, grids=grids,
                                                calendar=self._calendar_for(inc), **kwargs)
                if target is not None:
                    t_state, t_events = lifecycle.merge_into(to_state(target), to_state(inc), actor, now)
            except lifecycle.NotAllowed as e:
                raise Forbidden(str(e)) from None
            except lifecycle.TransitionError as e:
                raise Conflict(str(e)) from None
            before = inc.status
            self.writer.after_change(s, inc, before, state, events, now=now)
            if target is not None:
                self.writer.after_change(s, target, target.status, t_state, t_events, now=now)
            audit.record(s, at=now, actor=principal.username, action=f"incident.{action}", object_type="incident",
                         object_id=inc.id, grid_id=inc.grid_id, reason=params.get("reason") or params.get("note"),
                         details={"from_status": before, "to_status": inc.status,
                                  **jsonable({k: v for k, v in params.items() if v is not None})})
            return inc

    def _store_photo(self, s: Session, inc: Incident, data: bytes, ctype: str, now: datetime) -> str:
        """A resolution photo: into the media store with its `media` row (kind 'photo'); returns its URL."""
        store_bytes(s, self.media, data, ctype, kind="photo", now=now, incident_id=inc.id, camera_id=inc.camera_id)
        n = s.scalar(select(func.count(Media.id)).where(Media.incident_id == inc.id, Media.kind == "photo"))
        return f"/api/incidents/{inc.id}/photos/{n - 1}"

    def allowed_actions(self, inc: Incident, principal) -> list[str]:
        """The actions `principal` may take now: a dry run of the pure engine for each."""
        state, grids = to_state(inc), self.grids()
        actor = Actor(principal.username, principal.role)
        dummy = {"note": "-", "reason": "-", "minutes": 1, "assignee": "-", "into": "0"}
        out = []
        for action in lifecycle.ACTIONS:
            if not lifecycle.can(principal.role, action):
                continue
            try:
                lifecycle.apply(state, action, actor, self.clock(), grids=grids, calendar=self._calendar_for(inc), **dummy)
            except lifecycle.TransitionError:
                continue
            out.append(action)
        return out

    def fire_timer(self, s: Session, timer: Timer, now: datetime) -> list[str]:
        """A deadline passed: the engine escalates (inside the caller's claiming transaction)."""
        inc = lock_incident(s, timer.incident_id)
        if inc is None:
            return []
        state, events = lifecycle.on_timer(to_state(inc), timer_kind(timer.kind), now, self.grids(s),
                                           self._calendar_for(inc))
        if events:
            before = inc.status
            self.writer.after_change(s, inc, before, state, events, now=now)
            audit.record(s, at=now, actor="system", action="incident.deadline", object_type="incident",
                         object_id=inc.id, grid_id=inc.grid_id, reason=f"{timer.kind} {iso(timer.due_at)} passed",
                         details={"events": [e.name for e in events]})
        return [e.name for e in events]

    def _calendar_for(self, inc: Incident):
        return self.rules.calendar_for((inc.engine_state or {}).get("calendar", "calendar"))
