"""The incident service: applies the pure engine (gateway.engine) to the database, one
transaction per change. Every change writes, in that same transaction, the incident row,
its timeline events (also the /api/events feed), its timer rows, an audit entry and the
outbox rows that the relay publishes to `<prefix>/incidents/<grid_id>`.

Alerts that no grid can be found for (unknown camera, no grid hint, no location) open an
incident in the *unrouted* queue (grid_id null, level street) with the reason in
`unrouted_reason`: nothing is lost and the street command centre routes it by hand."""
from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerts import Alert
from gateway import audit
from gateway.db import Database, bulk
from alerts import topics
from gateway.db.models import (OPEN_SQL, OPEN_STATUSES, AlertRow, AuditEntry, Camera, Grid, Incident, IncidentEvent,
                               Media, OutboxMessage, Sensor, Silence, Timer)
from gateway.engine.grids import GridSet
from gateway.engine import lifecycle, silences
from gateway.engine import routing as routing_mod

Clock = Callable[[], datetime]
OPEN_KEYS_KEPT = 50_000
# Events that go out over MQTT (DESIGN.md "MQTT topics"); the others only feed the timeline.
PUBLISHED_EVENTS = {"opened", "dispatched", "acknowledged", "escalated", "resolved", "verified", "closed",
                    "reopened", "dismissed"}


_EVENT_STATUS = {"opened": "open", "dispatched": "dispatched", "acknowledged": "acknowledged", "resolved": "resolved",
                 "verified": "verified", "closed": "closed", "dismissed": "dismissed", "reopened": "dispatched"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and a Z, as every API and event shows times."""
    return None if dt is None else _iso_utc(dt)


@functools.lru_cache(maxsize=4096)  # an ingest batch formats the same few times again and again
def _iso_utc(dt: datetime) -> str:
    if dt.tzinfo is not timezone.utc:
        dt = dt.astimezone(timezone.utc)
    return dt.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    """An invalid transition (409)."""


class Forbidden(PermissionError):
    pass


class BadRequest(ValueError):
    pass


@dataclass
class IngestOutcome:
    disposition: str  # opened | attached | cleared | suppressed | unrouted | duplicate
    incident_id: int | None = None
    grid_id: str | None = None
    reason: str | None = None


class GridCache:
    """The engine's GridSet built from the grids table, rebuilt only when the table changes
    (another process may import grids while this one runs)."""

    def __init__(self, db: Database):
        self.db = db
        self._key: tuple | None = None
        self._grids: GridSet = GridSet([])

    def get(self, session: Session | None = None) -> GridSet:
        if session is None:
            with self.db.session() as s:
                return self.get(s)
        key = tuple(session.execute(select(func.count(Grid.id), func.max(Grid.updated_at))).one())
        if key != self._key:
            rows = session.scalars(select(Grid)).all()
            self._grids = GridSet.from_geojson(grids_geojson(rows), overlap_tolerance=1.0) if rows else GridSet([])
            self._key = key
        return self._grids


def grids_geojson(rows: list[Grid]) -> dict[str, Any]:
    feats = []
    for g in rows:
        props = dict(g.properties or {})
        props.update(id=g.id, name=g.name, level=g.level, kind=g.kind or "admin", parent=g.parent)
        feats.append({"type": "Feature", "id": g.id, "properties": props, "geometry": g.geometry})
    return {"type": "FeatureCollection", "features": feats}


def load_routing(path: str | Path | None) -> routing_mod.RoutingRules:
    if path is None:
        return routing_mod.RoutingRules()
    return routing_mod.RoutingRules.from_yaml(Path(path).read_text())


class IncidentService:
    def __init__(self, db: Database, *, prefix: str = "gridwatch", media_dir: Path | str = "media",
                 rules: routing_mod.RoutingRules | None = None, clock: Clock = utcnow):
        self.db = db
        self.prefix = prefix
        self.media_dir = Path(media_dir)
        self.rules = rules or routing_mod.RoutingRules()
        self.clock = clock
        self._grids = GridCache(db)
        # (source, type) seen with an open incident lately: their next alert tries attach first.
        # Only a hint for the order of two race-safe statements, never a source of truth.
        self._open_keys: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._routes: dict = {}  # routes of the current `now` (see _route)

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
        """Store a batch of alerts in the caller's transaction: the ids already stored are
        duplicates (one query), each new alert's incident work is done, then the new alert rows
        are inserted with their outcomes in one INSERT ... ON CONFLICT DO NOTHING (written once:
        an alert row updated after its insert costs every index of the table twice). Should
        another replica have stored one of them meanwhile (a redelivery racing this batch),
        `AlertsRaced` says so: the caller rolls back and stores the batch again.

        isolate=True: each alert's incident work runs in its own SAVEPOINT; an alert that fails
        there is rolled back alone (and gets no row) and comes back as its exception, for the
        caller to dead-letter. isolate=False (the fast path): no savepoints, and the rows the
        batch adds (events, outbox, timers, audit) are flushed together at the end; any
        failure propagates, and the caller rolls back and retries the batch isolated.
        Database outages (OperationalError) always propagate: the caller retries the batch."""
        now = self.clock()
        base_rows = self._alert_rows(alerts, now)
        new_ids = set(base_rows) - self._known_alerts(s, list(base_rows))
        grids = self.grids(s)
        active = self._active_silences(s, now)
        results: list[IngestOutcome | Exception] = []
        rows: list[tuple[IngestOutcome, dict[str, Any]]] = []  # the new alert rows and their outcomes
        later = None if isolate else _Upserts()  # camera/sensor upserts, sent together (fast path)
        attaches = None if isolate else _Attaches()  # repeated alerts, attached together (fast path)
        opened = {} if isolate else self._open_in_bulk(s, grids, active, [a for a in alerts if a.id in new_ids], now)
        if not isolate:  # the rows the batch adds are collected as plain dicts (see bulk.add_row)
            bulk.collect_rows(s)
        with s.no_autoflush:  # pending rows go out in one flush per table, not one per statement
            for alert in alerts:
                if alert.id not in new_ids:  # stored before, or earlier in this batch
                    results.append(IngestOutcome("duplicate", reason=f"alert {alert.id} was already received"))
                    continue
                new_ids.discard(alert.id)
                if is_recovery(alert):  # it may clear an alert of this batch: write their incidents first
                    if attaches:
                        self._attach_pending(s, grids, active, attaches, now)
                    if rows:
                        _insert_alert_rows(s, rows)
                        rows = []
                if not isolate:
                    outcome, row = self._ingest_new(s, grids, active, alert, base_rows[alert.id], now, later, opened,
                                                    attaches)
                else:
                    try:
                        with s.begin_nested():
                            outcome, row = self._ingest_new(s, grids, active, alert, base_rows[alert.id], now)
                    except OperationalError:
                        raise
                    except Exception as e:  # one poisoned alert must not cost the others
                        results.append(e)
                        continue
                rows.append((outcome, row))
                results.append(outcome)
        if attaches:
            self._attach_pending(s, grids, active, attaches, now)
        if later:
            later.send(s)
        if not isolate:
            bulk.flush_rows(s, done=True)
        if rows:
            _insert_alert_rows(s, rows)
        return results

    @staticmethod
    def _alert_rows(alerts: list[Alert], now: datetime) -> dict[str, dict[str, Any]]:
        """Each alert's row (the first of a repeated id), with its stored payload: its JSON form,
        an inline snapshot replaced by `snapshot_url` (a link stays a link; a picture is set once stored)."""
        rows = {}
        for alert in alerts:
            if alert.id in rows:
                continue
            payload = alert.to_dict()
            snapshot = payload.pop("snapshot", None)
            payload["snapshot_url"] = snapshot if _is_link(snapshot) else None
            rows[alert.id] = dict(
                id=alert.id, edge_id=alert.edge_id, source_kind=alert.source.kind, source_id=alert.source.id,
                camera_id=alert.camera_id, type=alert.type.value, severity=alert.severity.value, ts=alert.ts,
                received_at=now, payload=payload)
        return rows

    @staticmethod
    def _known_alerts(s: Session, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        if bulk.is_postgresql(s):  # one array parameter: the statement text stays the same
            return set(s.connection().execute(text("SELECT id FROM alerts WHERE id = ANY(:ids)"), {"ids": ids}).scalars())
        return set(s.scalars(select(AlertRow.id).where(AlertRow.id.in_(ids))))

    def _active_silences(self, s: Session, now: datetime) -> list[silences.Silence]:
        rows = s.scalars(select(Silence).where(Silence.deleted_at.is_(None), Silence.starts_at <= now,
                                               Silence.ends_at > now)).all()
        return [silence_of(r) for r in rows]

    def _ingest_new(self, s: Session, grids: GridSet, active: list[silences.Silence], alert: Alert,
                    base_row: dict[str, Any], now: datetime, later: "_Upserts | None" = None,
                    opened: dict[str, _NewIncident] | None = None,
                    attaches: "_Attaches | None" = None) -> tuple[IngestOutcome, dict[str, Any]]:
        """The incident work of a new alert (`base_row`: its row from `_alert_rows`); returns the
        outcome and its row (without the outcome's fields: see `_insert_alert_rows`).
        `later`: collect the camera/sensor upserts there instead of sending each at once;
        `attaches`: collect repeated alerts there, attached together by `_attach_pending`
        (their outcome and row get the incident id then)."""
        snapshot = alert.snapshot
        grid_id, reason = self._resolve_grid(s, grids, alert, later)
        self._register_source(s, alert, grid_id, now, later)
        media_id = self._store_snapshot(s, alert, snapshot, now)
        if is_recovery(alert):
            outcome = self._clear(s, alert, grid_id, now)
        else:
            outcome = self._open_or_attach(s, grids, active, alert, grid_id, reason, now, opened, attaches)
        row = {**base_row, "grid_id": grid_id, "snapshot_media_id": media_id}
        if media_id:
            row["payload"] = {**base_row["payload"], "snapshot_url": f"/api/alerts/{alert.id}/snapshot"}
        return outcome, row

    def _resolve_grid(self, s: Session, grids: GridSet, alert: Alert,
                      later: "_Upserts | None" = None) -> tuple[str | None, str | None]:
        loc = alert.location
        g = grids.resolve_camera(alert.grid_hint, loc.lat if loc else None, loc.lon if loc else None)
        if g is not None:
            return g.id, None
        if later:
            later.send(s)  # the stored grid of the source may come from an earlier alert of this batch
        known = None
        if alert.camera_id:
            cam = s.get(Camera, alert.camera_id, populate_existing=True)
            known = cam.grid_id if cam is not None else None
        elif alert.source.kind == "sensor":
            sensor = s.get(Sensor, alert.source.id, populate_existing=True)
            known = sensor.grid_id if sensor is not None else None
        if known and known in grids:
            return known, None
        why = []
        if alert.grid_hint:
            why.append(f"grid_hint {alert.grid_hint!r} is not a known grid")
        if loc:
            why.append(f"location {loc.lat},{loc.lon} lies in no grid")
        if not alert.grid_hint and not loc:
            why.append("no grid_hint and no location")
        why.append(f"source {alert.source.kind} {alert.source.id!r} has no known grid")
        return None, "unrouted: " + "; ".join(why)

    def _register_source(self, s: Session, alert: Alert, grid_id: str | None, now: datetime,
                         later: "_Upserts | None" = None) -> None:
        """Keep the camera / sensor row current with one race-safe upsert each (INSERT ... ON
        CONFLICT DO UPDATE: no read-then-write between replicas, no re-read of the row).
        A value the alert does not carry (NULL) keeps the stored one; a missing location is
        left out of the statement (a JSON parameter None would be JSON null, not NULL)."""
        loc = {"location": alert.location.model_dump()} if alert.location else {}
        upserts = later if later is not None else _Upserts()
        if alert.camera_id:
            upserts.add(_upsert_statement(s, Camera, bool(loc)), dict(id=alert.camera_id, edge_id=alert.edge_id, state="unknown", last_seen=now, grid_id=grid_id,
                     device={"grid_hint": alert.grid_hint} if alert.grid_hint else {}, **loc))
            if alert.grid_hint:  # a merge into the device JSON; flushed only when the hint changed
                upserts.send(s)
                cam = s.get(Camera, alert.camera_id, with_for_update=True, populate_existing=True)
                if (cam.device or {}).get("grid_hint") != alert.grid_hint:
                    cam.device = {**(cam.device or {}), "grid_hint": alert.grid_hint}
        if alert.source.kind == "sensor":
            d = alert.details or {}
            kind = d.get("sensor_kind") or d.get("kind")
            battery = d.get("battery", (d.get("value") if alert.type.value == "sensor.battery_low" else None))
            battery = float(battery) if isinstance(battery, (int, float)) and not isinstance(battery, bool) else None
            # any message means the sensor speaks again; a cleared sensor.offline says so explicitly
            state = "offline" if alert.type.value == "sensor.offline" and not is_recovery(alert) else "online"
            upserts.add(_upsert_statement(s, Sensor, bool(loc)), dict(id=alert.source.id, edge_id=alert.edge_id, state=state, last_seen=now,
                     last_alert_type=alert.type.value, kind=kind if isinstance(kind, str) else None, battery=battery,
                     grid_id=grid_id, **loc))
        if later is None:
            upserts.send(s)

    def _store_snapshot(self, s: Session, alert: Alert, snapshot: str | None, now: datetime) -> int | None:
        """An inline base64 snapshot becomes a file under media_dir and a `media` row."""
        if not snapshot or _is_link(snapshot):
            return None
        data = snapshot.split(",", 1)[1] if snapshot.startswith("data:") else snapshot
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None  # a broken picture must not cost the alert; the payload keeps no snapshot
        sha = hashlib.sha256(raw).hexdigest()
        path = self.media_dir / "snapshots" / sha[:2] / f"{sha}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.with_suffix(".part")
            tmp.write_bytes(raw)
            tmp.replace(path)
        m = Media(sha256=sha, kind="snapshot", alert_id=alert.id, camera_id=alert.camera_id, type="image/jpeg",
                  path=str(path), size=len(raw), created_at=now, complete=True)
        s.add(m)
        s.flush()
        return m.id

    def _open_or_attach(self, s: Session, grids: GridSet, active: list[silences.Silence], alert: Alert,
                        grid_id: str | None, unrouted: str | None, now: datetime,
                        opened: dict[str, "_NewIncident"] | None = None,
                        attaches: "_Attaches | None" = None) -> IngestOutcome:
        """`opened`: incidents already inserted for this batch (see `_open_in_bulk`), by alert id;
        `attaches`: where a repeated alert waits to be attached with the batch's others."""
        silence = self._silenced(grids, active, alert, grid_id, now)
        if silence is not None:
            return IngestOutcome("suppressed", None, grid_id, f"silenced by {silence.kind} {silence.id}: {silence.reason}")
        key = (alert.source.id, alert.type.value)
        new = (opened or {}).get(alert.id)
        if new is None and key in self._open_keys and attaches is not None:
            return attaches.add(alert, grid_id, unrouted)
        if new is None and key in self._open_keys:  # it had an open incident a moment ago: most likely still
            attached = self._attach(s, alert, now)
            if attached is not None:
                return IngestOutcome("attached", attached, grid_id)
            self._open_keys.pop(key, None)
        if new is None:
            # Insert-or-attach (race-safe by the partial unique index on the open incident of a
            # source and type): a new source costs one INSERT, a known one an UPDATE.
            new = self._new_incident(grids, alert, grid_id, unrouted, now)
            ins = _insert_ignore(s, Incident, conflict=("source_id", "type"), where=text(OPEN_SQL))
            new.id = s.connection().execute(ins.returning(Incident.id), new.values).scalar()
        self._remember_open(key)
        if new.id is None:  # it has an open incident (maybe opened by another replica just now): attach
            attached = self._attach(s, alert, now)
            if attached is None:
                raise RuntimeError(f"incident for {alert.source.id}/{alert.type.value} neither opened nor attachable")
            return IngestOutcome("attached", attached, grid_id)
        inc = SimpleNamespace(id=new.id, **new.values)  # the row just written (not re-read, not to be saved)
        state = lifecycle.replace(new.state, id=str(inc.id))
        self._after_change(s, inc, None, state, new.events, now=now, extra_data={"alert_id": alert.id}, written=True)
        # the entry audit.record writes, as a row of the batch (see bulk.add_row)
        bulk.add_row(s, AuditEntry, at=now, actor="system", action="incident.open", object_type="incident",
                 object_id=str(inc.id), grid_id=inc.grid_id, reason=unrouted or f"alert {alert.id} (rule {new.rule})",
                 details={"alert_id": alert.id, "assignee": inc.assignee, "level": inc.level})
        return IngestOutcome("unrouted" if grid_id is None else "opened", inc.id, grid_id, unrouted)

    @staticmethod
    def _silenced(grids: GridSet, active: list[silences.Silence], alert: Alert, grid_id: str | None, now: datetime):
        fields = {"camera_id": alert.camera_id, "source_id": alert.source.id, "type": alert.type.value,
                  "grid_id": grid_id}
        return silences.is_silenced(active, fields, now, grids.subtree)

    def _new_incident(self, grids: GridSet, alert: Alert, grid_id: str | None, unrouted: str | None,
                      now: datetime) -> "_NewIncident":
        """The engine's new incident for this alert and its row (pure: nothing written)."""
        route = self._route(grids, alert, grid_id, now)
        state, events = lifecycle.open_incident(
            route, grids, now, incident_id="new", alert_type=alert.type.value, severity=alert.severity.value,
            source_id=alert.source.id, camera_id=alert.camera_id, calendar=self.rules.calendar_for(route.calendar))
        values = dict(
            source_kind=alert.source.kind, edge_id=alert.edge_id, first_alert_id=alert.id, title=_title(alert),
            location=alert.location.model_dump() if alert.location else None, unrouted_reason=unrouted, version=1,
            dispatched_at=next((ev.at for ev in events if ev.name == "dispatched"), None), **_state_columns(state))
        return _NewIncident(route.rule, state, events, values)

    def _open_in_bulk(self, s: Session, grids: GridSet, active: list[silences.Silence], alerts: list[Alert],
                      now: datetime) -> dict[str, "_NewIncident"]:
        """Insert, in one statement, the incidents that the batch's alerts of sources without a
        known open incident will open; returns them by alert id (those that conflicted with an
        open incident are left out: their alert attaches the usual way). Only alerts whose
        result cannot depend on an earlier alert of the batch qualify: the first of its source
        and type, routed by its own grid_hint or location, not silenced, and no recovery notice
        of its source in the batch."""
        recovering = {a.source.id for a in alerts if is_recovery(a)}
        seen: set[tuple[str, str]] = set()
        todo: dict[tuple[str, str], tuple[Alert, _NewIncident]] = {}
        for alert in alerts:
            key = (alert.source.id, alert.type.value)
            first = key not in seen
            seen.add(key)
            if not first or key in self._open_keys or alert.source.id in recovering:
                continue
            loc = alert.location
            g = grids.resolve_camera(alert.grid_hint, loc.lat if loc else None, loc.lon if loc else None)
            if g is None or self._silenced(grids, active, alert, g.id, now) is not None:
                continue
            todo[key] = (alert, self._new_incident(grids, alert, g.id, None, now))
        if not todo:
            return {}
        params = [new.values for _, new in todo.values()]
        if bulk.is_postgresql(s):
            rows = bulk.insert_from_json(s, Incident.__table__, params, f"ON CONFLICT (source_id, type) WHERE {OPEN_SQL} DO NOTHING",
                                     "id, source_id, type")
        else:
            ins = _insert_ignore(s, Incident, conflict=("source_id", "type"), where=text(OPEN_SQL))
            rows = s.connection().execute(ins.returning(Incident.id, Incident.source_id, Incident.type), params)
        out = {}
        for inc_id, source_id, type_ in rows:
            alert, new = todo.pop((source_id, type_))
            new.id = inc_id
            out[alert.id] = new
        for key in todo:  # it conflicted: an incident of this source and type is open, its alerts attach
            self._remember_open(key)
        return out

    def _remember_open(self, key: tuple[str, str]) -> None:
        self._open_keys[key] = None
        self._open_keys.move_to_end(key)
        if len(self._open_keys) > OPEN_KEYS_KEPT:
            self._open_keys.popitem(last=False)

    def _route(self, grids: GridSet, alert: Alert, grid_id: str | None, now: datetime) -> routing_mod.Route:
        if grid_id is None:  # the unrouted queue: the street command centre answers, on calendar time
            return routing_mod.Route(level="street", grid_id=None, cell_grid_id=None, professional_grid_id=None,
                                     ack_within=timedelta(hours=1), resolve_within=timedelta(hours=24),
                                     calendar="calendar", rule="unrouted")
        d = alert.details or {}
        args = dict(alert_type=alert.type.value, severity=alert.severity.value, grid_id=grid_id,
                    sensor_kind=(d.get("sensor_kind") or d.get("kind")) if alert.source.kind == "sensor" else None,
                    lat=alert.location.lat if alert.location else None,
                    lon=alert.location.lon if alert.location else None)
        # Routing is pure: within one `now` (an ingest batch) the same alert routes the same way.
        key = (now, grids, *args.values())
        if self._routes.get("now") != (now, grids):
            self._routes = {"now": (now, grids)}
        if key not in self._routes:
            self._routes[key] = routing_mod.route(self.rules, grids, local_time=now.astimezone(ZoneInfo(self.rules.tz)),
                                                  **args)
        return self._routes[key]

    def _attach(self, s: Session, alert: Alert, now: datetime) -> int | None:
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
        state, events = lifecycle.attach(_to_state(inc), now, alert_id=alert.id, severity=alert.severity.value)
        self._after_change(s, inc, inc.status, state, events, now=now)
        return inc_id

    def _attach_pending(self, s: Session, grids: GridSet, active: list[silences.Silence], attaches: "_Attaches",
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
        first: dict[int, lifecycle.IncidentState] = {}
        states: dict[int, lifecycle.IncidentState] = {}  # each incident's state after its latest alert
        bodies: dict[int, dict[str, Any]] = {}  # each incident as of its latest event
        behind: dict[int, int] = {}  # changes the row does not hold yet (see below)
        for alert, grid_id, unrouted, outcome in waiting:
            inc = by_key.get((alert.source.id, alert.type.value))
            if inc is None:
                self._open_keys.pop((alert.source.id, alert.type.value), None)
                done = self._open_or_attach(s, grids, active, alert, grid_id, unrouted, now)
            else:
                if inc.id not in states:
                    first[inc.id] = states[inc.id] = _to_state(inc)
                before = states[inc.id]
                state, events = lifecycle.attach(before, now, alert_id=alert.id, severity=alert.severity.value)
                states[inc.id] = state
                changed = [k for k in lifecycle.STATE_FIELDS if getattr(before, k) != getattr(state, k)]
                if inc.id in bodies and [e.name for e in events] == ["attached"] and set(changed) <= _PATCHABLE:
                    # the usual repeat (count, time, maybe severity): the timeline entry gets the
                    # incident patched; the row takes the final state once, after the loop
                    behind[inc.id] = behind.get(inc.id, 0) + 1
                    body = bodies[inc.id] = {**bodies[inc.id], **{k: _jsonable(getattr(state, k)) for k in changed},
                                             "version": bodies[inc.id]["version"] + 1}
                    ev = events[0]
                    self._event(s, inc, ev.name, ev.actor or "system", ev.at, data=ev.data, from_status=inc.status,
                                to_status=inc.status, body=body)
                else:
                    inc.version += behind.pop(inc.id, 0)
                    bodies[inc.id] = self._after_change(s, inc, inc.status, state, events, now=now, deferred=True)
                done = IngestOutcome("attached", inc.id, grid_id)
            outcome.__dict__.update(done.__dict__)
        for inc_id, n in behind.items():
            inc = s.get(Incident, inc_id)
            for k, v in _state_columns(states[inc_id]).items():
                setattr(inc, k, v)
            inc.version += n
        s.flush()  # one UPDATE per incident, however many alerts it took
        moved = {i: st for i, st in states.items() if lifecycle.due_timers(st) != lifecycle.due_timers(first[i])}
        if moved:
            bulk.flush_rows(s)  # timers of this batch's new incidents become visible to the query
            self._sync_timers_many(s, [(s.get(Incident, i), st) for i, st in moved.items()], now)

    def _clear(self, s: Session, alert: Alert, grid_id: str | None, now: datetime) -> IngestOutcome:
        """A recovery notice (the condition ended): a 'cleared' entry on the timeline of the
        incident it ends, no status change, and never a new incident."""
        inc_id, why = self._clear_target(s, alert)
        if inc_id is None:
            return IngestOutcome("cleared", None, grid_id, why)
        inc = s.scalar(select(Incident).where(Incident.id == inc_id).execution_options(populate_existing=True))
        raised_id = (alert.details or {}).get("raised_id")
        self._event(s, inc, "cleared", "system", now, note=f"{alert.type.value} ended at {alert.source.id}",
                    data={"alert_id": alert.id, "raised_id": raised_id, "ts": iso(alert.ts)},
                    from_status=inc.status, to_status=inc.status)
        return IngestOutcome("cleared", inc_id, grid_id)

    def _clear_target(self, s: Session, alert: Alert) -> tuple[int | None, str | None]:
        """The open incident a recovery notice ends, locked (one UPDATE, as in `_attach`): the
        incident of the alert it clears (after merges) when that alert is known, else the open
        incident of the same source and type. (A late notice of an earlier episode must not
        mark a newer, still ongoing one as ended.)"""
        where = [Incident.status.in_(OPEN_STATUSES)]
        raised_id = (alert.details or {}).get("raised_id")
        raised = s.get(AlertRow, raised_id) if isinstance(raised_id, str) else None
        if raised is not None:
            inc_id = raised.incident_id
            for _ in range(10):  # follow merges to the incident that took the alerts over
                merged = s.scalar(select(Incident.merged_into).where(Incident.id == inc_id)) if inc_id else None
                if merged is None:
                    break
                inc_id = merged
            if inc_id is None:
                return None, f"recovery notice: the alert it clears ({raised_id}) opened no incident"
            where.append(Incident.id == inc_id)
        else:
            where += [Incident.source_id == alert.source.id, Incident.type == recovered_type(alert)]
        stmt = update(Incident).where(*where).values(version=Incident.version + 1).returning(Incident.id)
        inc_id = s.execute(stmt).scalar()
        if inc_id is None:
            return None, f"recovery notice: no open {recovered_type(alert)} incident of {alert.source.id}"
        return inc_id, None

    # -- lifecycle ----------------------------------------------------------------------
    def act(self, incident_id: int, action: str, principal, params: dict[str, Any]) -> Incident:
        """Apply one lifecycle action for `principal` (gateway.auth.Principal). Raises NotFound
        (also when not visible), Forbidden, Conflict (invalid transition) or BadRequest."""
        now = self.clock()
        if action not in lifecycle.ACTIONS:
            raise NotFound(f"unknown action {action!r}; one of {', '.join(lifecycle.ACTIONS)}")
        with self.db.session() as s:
            inc = _lock_incident(s, incident_id)
            if inc is None or not sees(principal, inc):
                raise NotFound(f"incident {incident_id} not found")
            if not lifecycle.can(principal.role, action):
                raise Forbidden(f"a {principal.role} may not {action} incidents")
            grids = self.grids(s)
            kwargs = {k: v for k, v in params.items() if v is not None}
            if "extend_minutes" in kwargs:
                kwargs["minutes"] = kwargs.pop("extend_minutes")
            target = None
            if action == "merge":
                target = _lock_incident(s, kwargs.get("into"))
                if target is None or not sees(principal, target):
                    raise NotFound(f"incident {kwargs.get('into')!r} (the merge target) not found")
                kwargs["into"] = str(target.id)
            files = kwargs.pop("photo_files", None) or []
            if files:
                if action != "resolve":
                    raise BadRequest("photos go with the resolve action")
                kwargs["photos"] = [self._store_photo(s, inc, data, ctype, now) for data, ctype in files]
            actor = lifecycle.Actor(principal.username, principal.role)
            try:
                state, events = lifecycle.apply(_to_state(inc), action, actor, now, grids=grids,
                                                calendar=self._calendar_for(inc), **kwargs)
                if target is not None:
                    t_state, t_events = lifecycle.merge_into(_to_state(target), _to_state(inc), actor, now)
            except lifecycle.NotAllowed as e:
                raise Forbidden(str(e)) from None
            except lifecycle.TransitionError as e:
                raise Conflict(str(e)) from None
            before = inc.status
            self._after_change(s, inc, before, state, events, now=now)
            if target is not None:
                self._after_change(s, target, target.status, t_state, t_events, now=now)
            audit.record(s, at=now, actor=principal.username, action=f"incident.{action}", object_type="incident",
                         object_id=inc.id, grid_id=inc.grid_id, reason=params.get("reason") or params.get("note"),
                         details={"from_status": before, "to_status": inc.status,
                                  **_jsonable({k: v for k, v in params.items() if v is not None})})
            return inc

    def _store_photo(self, s: Session, inc: Incident, data: bytes, ctype: str, now: datetime) -> str:
        """A resolution photo: a file under media_dir and a `media` row (kind 'photo'); returns its URL."""
        sha = hashlib.sha256(data).hexdigest()
        ext = {"image/png": ".png", "image/webp": ".webp"}.get(ctype, ".jpg")
        path = self.media_dir / "photos" / sha[:2] / f"{sha}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        s.add(Media(sha256=sha, kind="photo", incident_id=inc.id, camera_id=inc.camera_id, type=ctype, path=str(path),
                    size=len(data), created_at=now, complete=True))
        n = s.scalar(select(func.count(Media.id)).where(Media.incident_id == inc.id, Media.kind == "photo"))
        return f"/api/incidents/{inc.id}/photos/{n - 1}"

    def allowed_actions(self, inc: Incident, principal) -> list[str]:
        """The actions `principal` may take now: a dry run of the pure engine for each."""
        state, grids = _to_state(inc), self.grids()
        actor = lifecycle.Actor(principal.username, principal.role)
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
        inc = _lock_incident(s, timer.incident_id)
        if inc is None:
            return []
        state, events = lifecycle.on_timer(_to_state(inc), _timer_kind(timer.kind), now, self.grids(s),
                                           self._calendar_for(inc))
        if events:
            before = inc.status
            self._after_change(s, inc, before, state, events, now=now)
            audit.record(s, at=now, actor="system", action="incident.deadline", object_type="incident",
                         object_id=inc.id, grid_id=inc.grid_id, reason=f"{timer.kind} {iso(timer.due_at)} passed",
                         details={"events": [e.name for e in events]})
        return [e.name for e in events]

    def _calendar_for(self, inc: Incident):
        return self.rules.calendar_for((inc.engine_state or {}).get("calendar", "calendar"))

    def _after_change(self, s: Session, inc: Incident, before: str | None, state, events, *, now: datetime,
                      extra_data: dict[str, Any] | None = None, written: bool = False,
                      deferred: bool = False) -> dict[str, Any] | None:
        """Write the new state, its timeline events (+ outbox) and its timer rows; returns the
        incident as of the last event (as `incident_dict` gives it).
        `written`: the row was just inserted with this state (nothing to update, no timers yet);
        `deferred`: change the row and add its events, but leave the flush and the timers to the
        caller (`_attach_pending`)."""
        if not written:
            for k, v in _state_columns(state).items():
                setattr(inc, k, v)
            for ev in events:
                if ev.name == "dispatched":
                    inc.dispatched_at = ev.at
            inc.version = (inc.version or 0) + 1
            if not deferred:
                s.flush()
                bulk.flush_rows(s)  # _sync_timers reads the pending timers back
        bodies: dict[datetime, Any] = {}  # the incident as of each event's time, built (and encoded) once
        body = None
        for n, ev in enumerate(events):
            # several events in one change (opened + dispatched): each gets the status it led to
            after = inc.status if n == len(events) - 1 else _EVENT_STATUS.get(ev.name, before)
            if ev.at not in bodies:
                body = incident_dict(inc, ev.at)
                bodies[ev.at] = bulk.JSONText(bulk.dumps(body)) if bulk.copies(s) else body
            self._event(s, inc, ev.name, ev.actor or "system", ev.at, note=ev.note, reason=ev.reason,
                        data={**ev.data, **(extra_data or {})}, from_status=before, to_status=after,
                        body=bodies[ev.at])
            before = after
        if not deferred:
            self._sync_timers(s, inc, state, now, none_pending=written)
        return body

    def _event(self, s: Session, inc: Incident, name: str, actor: str, at: datetime, *, note: str | None = None,
               reason: str | None = None, data: dict[str, Any] | None = None, from_status: str | None = None,
               to_status: str | None = None, body: "dict[str, Any] | bulk.JSONText | None" = None) -> None:
        """A timeline entry, and the outbox messages of a published event, each with the incident
        as of `at` (`body`; in a COPY batch `body` may be its JSON text, encoded once for all)."""
        body = body if body is not None else incident_dict(inc, at)
        if bulk.copies(s) and not isinstance(body, str):
            body = bulk.JSONText(bulk.dumps(body))
        data = data or {}
        # as JSON text (COPY) orjson calls _jsonable only for what it cannot encode as we show it
        data = bulk.with_incident(data, body, _jsonable) if isinstance(body, bulk.JSONText) \
            else bulk.with_incident(_jsonable(data), body)
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

    def _sync_timers(self, s: Session, inc: Incident, state, now: datetime, none_pending: bool = False) -> None:
        """Make the pending timer rows equal to the engine's due timers for this state."""
        self._sync_timers_many(s, [(inc, state)], now, none_pending)

    def _sync_timers_many(self, s: Session, changed: list[tuple[Incident, Any]], now: datetime,
                          none_pending: bool = False) -> None:
        """`_sync_timers` for several incidents, their pending timers read in one query."""
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


@dataclass
class _NewIncident:
    rule: str
    state: lifecycle.IncidentState
    events: list
    values: dict[str, Any]
    id: int | None = None  # once inserted


class _Attaches:
    """Repeated alerts of a fast-path batch waiting to be attached together
    (`IncidentService._attach_pending`), each with the outcome to complete then."""

    def __init__(self):
        self.waiting_list: list[tuple[Alert, str | None, str | None, IngestOutcome]] = []

    def add(self, alert: Alert, grid_id: str | None, unrouted: str | None) -> IngestOutcome:
        outcome = IngestOutcome("attached", None, grid_id)  # the incident id comes with the attach
        self.waiting_list.append((alert, grid_id, unrouted, outcome))
        return outcome

    def __bool__(self) -> bool:
        return bool(self.waiting_list)


class _Upserts:
    """Upserts of the same shape collected in order and sent as one statement each (PostgreSQL:
    the rows as one JSON parameter; else an executemany). Rows of one source are merged into one
    as the statement would apply them in turn: a later value wins, a NULL keeps the earlier."""

    def __init__(self):
        self._params: dict[Any, dict[Any, dict[str, Any]]] = {}  # statement -> source id -> its row

    def add(self, stmt, params: dict[str, Any]) -> None:
        rows = self._params.setdefault(stmt, {})
        old = rows.get(params["id"])
        rows[params["id"]] = params if old is None else {**old, **{k: v for k, v in params.items() if v is not None}}

    def __bool__(self) -> bool:
        return bool(self._params)

    def send(self, s: Session) -> None:
        for stmt, rows in self._params.items():
            if bulk.is_postgresql(s):
                bulk.upsert_from_json(s, stmt, list(rows.values()))
            else:
                s.connection().execute(stmt, list(rows.values()))
        self._params.clear()


_UPSERTS: dict[tuple, Any] = {}


def _is_link(snapshot: str | None) -> bool:
    """A snapshot given as a URL or gateway path (a JPEG's base64 starts with "/9j/", so only "/api/..." counts)."""
    return bool(snapshot) and snapshot.startswith(("http://", "https://", "/api/"))


class AlertsRaced(RuntimeError):
    """Alerts of this batch were stored meanwhile by another replica (a redelivered message):
    the batch's transaction must be rolled back and the batch stored again."""

    def __init__(self, ids: set[str]):
        super().__init__(f"{len(ids)} alert(s) of the batch were stored meanwhile by another replica, "
                         f"e.g. {sorted(ids)[:3]}: the batch is stored again")
        self.ids = ids


def _insert_alert_rows(s: Session, pairs: list[tuple[IngestOutcome, dict[str, Any]]]) -> None:
    """Insert the new alert rows with their outcomes as they stand now (an attach completes
    late): one COPY on PostgreSQL (the ids were looked up first: a duplicate can only be a
    redelivery that another replica stored meanwhile, and fails the COPY), else an executemany."""
    rows = [{**row, "incident_id": o.incident_id, "disposition": o.disposition, "reason": o.reason} for o, row in pairs]
    if bulk.is_postgresql(s):
        try:
            bulk.copy_rows(s, AlertRow.__table__, rows)
        except psycopg.errors.UniqueViolation as e:
            if e.diag.table_name != AlertRow.__tablename__:
                raise
            key = re.search(r"\(id\)=\((.*)\)", e.diag.message_detail or "")  # "Key (id)=(...) already exists."
            raise AlertsRaced({key.group(1) if key else "?"}) from None
        return
    stored = set(s.scalars(_insert_ignore(s, AlertRow).returning(AlertRow.id), rows))
    raced = {r["id"] for r in rows} - stored
    if raced:
        raise AlertsRaced(raced)


def _upsert_statement(s: Session, model, with_location: bool):
    """The camera / sensor upsert (built once per dialect and shape): refreshes what an alert
    says about its source; a value it does not carry (NULL) keeps the stored one."""
    key = (s.get_bind().dialect.name, model, with_location)
    if key not in _UPSERTS:
        stmt = _insert(s, model)
        new = stmt.excluded
        if model is Camera:
            values = dict(last_seen=new.last_seen, edge_id=new.edge_id, grid_id=func.coalesce(new.grid_id, Camera.grid_id))
        else:
            values = dict(edge_id=new.edge_id, state=new.state, last_seen=new.last_seen,
                          last_alert_type=new.last_alert_type, kind=func.coalesce(new.kind, Sensor.kind),
                          battery=func.coalesce(new.battery, Sensor.battery),
                          grid_id=func.coalesce(new.grid_id, Sensor.grid_id))
        if with_location:
            values["location"] = new.location
        _UPSERTS[key] = stmt.on_conflict_do_update(index_elements=["id"], set_=values)
    return _UPSERTS[key]


# A notice of this type ends the condition that an alert of the other type raised.
RECOVERS = {"stream.restored": "stream.lost"}


def is_recovery(alert: Alert) -> bool:
    """A notice that a condition ended, never a new incident: a sensor's recovery notice
    (edge/sensors/README.md: `details.cleared: true`, `details.raised_id`), a camera's view
    coming back after tampering (`tamper.*` with `details.state: restored`), a stream restored."""
    details = alert.details or {}
    return (details.get("cleared") is True or alert.type.value in RECOVERS
            or (alert.type.value.startswith("tamper.") and details.get("state") == "restored"))


def recovered_type(alert: Alert) -> str:
    """The alert type whose condition this recovery notice ends."""
    return RECOVERS.get(alert.type.value, alert.type.value)


def sees(principal, inc: Incident) -> bool:
    """An incident is visible where it happened and to the professional grid it was sent to."""
    return principal.visible(inc.grid_id) or bool(inc.professional_grid_id and principal.visible(inc.professional_grid_id))


def silence_of(row: Silence) -> silences.Silence:
    return silences.Silence(starts_at=row.starts_at, ends_at=row.ends_at, reason=row.reason, created_by=row.created_by,
                            camera_id=row.camera_id, grid_id=row.grid_id, type=row.type, kind=row.kind, id=str(row.id))


def _timer_kind(kind: str) -> str:
    return kind.removesuffix("_deadline")


def _title(alert: Alert) -> str:
    where = alert.zone or alert.line or alert.camera_id or alert.source.id
    return f"{alert.type.value.replace('_', ' ').replace('.', ': ')} at {where}"


def _lock_incident(s: Session, incident_id: Any) -> Incident | None:
    try:
        iid = int(incident_id)
    except (TypeError, ValueError):
        return None
    return s.scalar(select(Incident).where(Incident.id == iid).with_for_update())


# What a plain repeated alert changes: fields of the engine state that are incident columns and
# `incident_dict` keys of the same name and value (see `_attach_pending`).
_PATCHABLE = {"alert_count", "last_alert_at", "severity"}
_STATE_COLUMNS = ("status", "level", "grid_id", "owner_grid_id", "type", "severity", "source_id", "camera_id",
                  "professional_grid_id", "assignee", "opened_at", "ack_due_at", "due_at", "acknowledged_at",
                  "resolved_at", "verified_at", "closed_at", "dismissed_at", "rule", "escalations", "reopen_count",
                  "alert_count", "last_alert_at", "false_alarm")


# Engine state fields kept only in the `engine_state` JSON (the others are columns; rows written
# before this keep a whole copy there, which `_to_state` reads under the columns).
_JSON_ONLY = tuple(f for f in lifecycle.STATE_FIELDS if f not in {*_STATE_COLUMNS, "id", "merged_into"})


def _state_columns(state: lifecycle.IncidentState) -> dict[str, Any]:
    """Incident columns from an engine state, plus `engine_state`: the fields without a column."""
    out = {k: getattr(state, k) for k in _STATE_COLUMNS}
    out["merged_into"] = int(state.merged_into) if state.merged_into else None
    out["last_alert_at"] = state.last_alert_at or state.opened_at
    out["engine_state"] = state.to_dict(_JSON_ONLY)
    return out


def _to_state(inc: Incident) -> lifecycle.IncidentState:
    saved = dict(inc.engine_state or {})
    saved.update({k: getattr(inc, k) for k in _STATE_COLUMNS})  # the columns are the truth
    saved["id"] = str(inc.id)
    saved["merged_into"] = str(inc.merged_into) if inc.merged_into else None
    return lifecycle.IncidentState.from_dict(saved)


_PLAIN = (str, int, float, bool, type(None))


def _jsonable(v: Any) -> Any:
    if type(v) in _PLAIN:  # the usual cases first: a plain value, a flat dict of them
        return v
    if type(v) is dict and all(type(x) in _PLAIN for x in v.values()) and all(type(k) is str for k in v):
        return v
    if isinstance(v, datetime):
        return iso(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x) for x in v]
    if dataclasses.is_dataclass(v):
        return _jsonable(dataclasses.asdict(v))
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def _insert(s: Session, model):
    """The dialect's INSERT (PostgreSQL or SQLite), which knows ON CONFLICT."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def _insert_ignore(s: Session, model, conflict: tuple[str, ...] | None = None, where=None):
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite."""
    stmt = _insert(s, model)
    if conflict:
        return stmt.on_conflict_do_nothing(index_elements=list(conflict), index_where=where)
    return stmt.on_conflict_do_nothing()


def is_overdue(inc: Incident, now: datetime) -> bool:
    if inc.status in ("open", "dispatched") and inc.ack_due_at and inc.acknowledged_at is None \
            and inc.ack_due_at < now:
        return True
    return inc.status in lifecycle.UNRESOLVED and bool(inc.due_at) and inc.due_at < now


def incident_dict(inc: Incident, now: datetime) -> dict[str, Any]:
    return {
        "id": inc.id, "status": inc.status, "grid_id": inc.grid_id, "level": inc.level, "type": inc.type,
        "severity": inc.severity, "source_kind": inc.source_kind, "source_id": inc.source_id,
        "camera_id": inc.camera_id, "edge_id": inc.edge_id, "alert_count": inc.alert_count, "assignee": inc.assignee,
        "opened_at": iso(inc.opened_at), "last_alert_at": iso(inc.last_alert_at),
        "dispatched_at": iso(inc.dispatched_at), "ack_due_at": iso(inc.ack_due_at), "due_at": iso(inc.due_at),
        "acknowledged_at": iso(inc.acknowledged_at), "resolved_at": iso(inc.resolved_at),
        "verified_at": iso(inc.verified_at), "closed_at": iso(inc.closed_at), "overdue": is_overdue(inc, now),
        "owner_grid_id": inc.owner_grid_id, "dismissed_at": iso(inc.dismissed_at), "false_alarm": inc.false_alarm,
        "rule": inc.rule, "title": inc.title, "location": inc.location, "unrouted_reason": inc.unrouted_reason,
        "professional_grid_id": inc.professional_grid_id, "escalations": inc.escalations,
        "reopen_count": inc.reopen_count, "merged_into": inc.merged_into, "first_alert_id": inc.first_alert_id,
        "version": inc.version,
    }
