"""The alert intake: a batch of alerts in, each stored once with its outcome, incidents opened or
attached to, in the caller's transaction (gateway.mqtt.intake commits it, then acknowledges).

For each new alert: the grid it belongs to (`sources`), its source's row kept current, an inline
snapshot into the media store, then a recovery notice clears (`recovery`), a silenced alert is
suppressed, a repeat attaches (`attach`), anything else opens an incident through the pure engine
(gateway.engine.lifecycle), whose timeline, outbox and timer rows the `EventWriter` adds.

Alerts that no grid can be found for (unknown camera, no grid hint, no location) open an
incident in the *unrouted* queue (grid_id null, level street) with the reason in
`unrouted_reason`: nothing is lost and the street command centre routes it by hand."""
from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerts import Alert
from gateway.db import bulk
from gateway.db.dialect import insert_ignore
from gateway.db.models import OPEN_SQL, AlertRow, AuditEntry, Incident, Silence
from gateway.engine import lifecycle, silences
from gateway.engine import routing as routing_mod
from gateway.engine.grids import GridSet
from gateway.engine.state import IncidentState, replace
from gateway.incidents import attach, recovery, sources
from gateway.incidents.errors import AlertsRaced
from gateway.incidents.outcome import IngestOutcome
from gateway.incidents.recovery import is_recovery
from gateway.incidents.state import silence_of, state_columns, title
from gateway.media.service import store_bytes

OPEN_KEYS_KEPT = 50_000


@dataclass
class NewIncident:
    rule: str
    state: IncidentState
    events: list
    values: dict[str, Any]
    id: int | None = None  # once inserted


class AlertIntake:
    """The intake of one `IncidentService` (its routing rules, grids, clock, media store and
    event writer)."""

    def __init__(self, service):
        self.service = service
        self.writer = service.writer
        # (source, type) seen with an open incident lately: their next alert tries attach first.
        # Only a hint for the order of two race-safe statements, never a source of truth.
        self._open_keys: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._routes: dict = {}  # routes of the current `now` (see _route)

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
        now = self.service.clock()
        base_rows = self._alert_rows(alerts, now)
        new_ids = set(base_rows) - self._known_alerts(s, list(base_rows))
        grids = self.service.grids(s)
        active = self._active_silences(s, now)
        results: list[IngestOutcome | Exception] = []
        rows: list[tuple[IngestOutcome, dict[str, Any]]] = []  # the new alert rows and their outcomes
        later = None if isolate else sources.Upserts()  # camera/sensor upserts, sent together (fast path)
        attaches = None if isolate else attach.Attaches()  # repeated alerts, attached together (fast path)
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
                        attach.attach_pending(self, s, grids, active, attaches, now)
                    if rows:
                        insert_alert_rows(s, rows)
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
            attach.attach_pending(self, s, grids, active, attaches, now)
        if later:
            later.send(s)
        if not isolate:
            bulk.flush_rows(s, done=True)
        if rows:
            insert_alert_rows(s, rows)
        sources.touch_edges(s, (a.edge_id for a in alerts), now)  # last: its row locks are held the shortest
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
                    base_row: dict[str, Any], now: datetime, later: "sources.Upserts | None" = None,
                    opened: dict[str, NewIncident] | None = None,
                    attaches: "attach.Attaches | None" = None) -> tuple[IngestOutcome, dict[str, Any]]:
        """The incident work of a new alert (`base_row`: its row from `_alert_rows`); returns the
        outcome and its row (without the outcome's fields: see `insert_alert_rows`).
        `later`: collect the camera/sensor upserts there instead of sending each at once;
        `attaches`: collect repeated alerts there, attached together by `attach.attach_pending`
        (their outcome and row get the incident id then)."""
        snapshot = alert.snapshot
        grid_id, reason = sources.resolve_grid(s, grids, alert, later)
        sources.register_source(s, alert, grid_id, now, later)
        media_id = self._store_snapshot(s, alert, snapshot, now)
        if is_recovery(alert):
            outcome = recovery.clear(s, self.writer, alert, grid_id, now)
        else:
            outcome = self.open_or_attach(s, grids, active, alert, grid_id, reason, now, opened, attaches)
        row = {**base_row, "grid_id": grid_id, "snapshot_media_id": media_id}
        if media_id:
            row["payload"] = {**base_row["payload"], "snapshot_url": f"/api/alerts/{alert.id}/snapshot"}
        return outcome, row

    def open_or_attach(self, s: Session, grids: GridSet, active: list[silences.Silence], alert: Alert,
                        grid_id: str | None, unrouted: str | None, now: datetime,
                        opened: dict[str, "NewIncident"] | None = None,
                        attaches: "attach.Attaches | None" = None) -> IngestOutcome:
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
            attached = attach.attach_one(s, self.writer, alert, now)
            if attached is not None:
                return IngestOutcome("attached", attached, grid_id)
            self._open_keys.pop(key, None)
        if new is None:
            # Insert-or-attach (race-safe by the partial unique index on the open incident of a
            # source and type): a new source costs one INSERT, a known one an UPDATE.
            new = self._new_incident(grids, alert, grid_id, unrouted, now)
            ins = insert_ignore(s, Incident, conflict=("source_id", "type"), where=text(OPEN_SQL))
            new.id = s.connection().execute(ins.returning(Incident.id), new.values).scalar()
        self._remember_open(key)
        if new.id is None:  # it has an open incident (maybe opened by another replica just now): attach
            attached = attach.attach_one(s, self.writer, alert, now)
            if attached is None:
                raise RuntimeError(f"incident for {alert.source.id}/{alert.type.value} neither opened nor attachable")
            return IngestOutcome("attached", attached, grid_id)
        inc = SimpleNamespace(id=new.id, **new.values)  # the row just written (not re-read, not to be saved)
        state = replace(new.state, id=str(inc.id))
        self.writer.after_change(s, inc, None, state, new.events, now=now, extra_data={"alert_id": alert.id}, written=True)
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
                      now: datetime) -> "NewIncident":
        """The engine's new incident for this alert and its row (pure: nothing written)."""
        route = self._route(grids, alert, grid_id, now)
        state, events = lifecycle.open_incident(
            route, grids, now, incident_id="new", alert_type=alert.type.value, severity=alert.severity.value,
            source_id=alert.source.id, camera_id=alert.camera_id, calendar=self.service.rules.calendar_for(route.calendar))
        values = dict(
            source_kind=alert.source.kind, edge_id=alert.edge_id, first_alert_id=alert.id, title=title(alert),
            location=alert.location.model_dump() if alert.location else None, unrouted_reason=unrouted, version=1,
            dispatched_at=next((ev.at for ev in events if ev.name == "dispatched"), None), **state_columns(state))
        return NewIncident(route.rule, state, events, values)

    def _open_in_bulk(self, s: Session, grids: GridSet, active: list[silences.Silence], alerts: list[Alert],
                      now: datetime) -> dict[str, "NewIncident"]:
        """Insert, in one statement, the incidents that the batch's alerts of sources without a
        known open incident will open; returns them by alert id (those that conflicted with an
        open incident are left out: their alert attaches the usual way). Only alerts whose
        result cannot depend on an earlier alert of the batch qualify: the first of its source
        and type, routed by its own grid_hint or location, not silenced, and no recovery notice
        of its source in the batch."""
        recovering = {a.source.id for a in alerts if is_recovery(a)}
        seen: set[tuple[str, str]] = set()
        todo: dict[tuple[str, str], tuple[Alert, NewIncident]] = {}
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
            rows = bulk.insert_from_json(s, Incident.__table__, params,
                                         f"ON CONFLICT (source_id, type) WHERE {OPEN_SQL} DO NOTHING", "id, source_id, type")
        else:
            ins = insert_ignore(s, Incident, conflict=("source_id", "type"), where=text(OPEN_SQL))
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
        if grid_id is None:
            return routing_mod.unrouted()
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
            rules = self.service.rules
            self._routes[key] = routing_mod.route(rules, grids, local_time=now.astimezone(ZoneInfo(rules.tz)), **args)
        return self._routes[key]


    def forget_open(self, key: tuple[str, str]) -> None:
        self._open_keys.pop(key, None)

    def _store_snapshot(self, s: Session, alert: Alert, snapshot: str | None, now: datetime) -> int | None:
        """An inline base64 snapshot becomes a file in the media store and a `media` row."""
        if not snapshot or _is_link(snapshot):
            return None
        data = snapshot.split(",", 1)[1] if snapshot.startswith("data:") else snapshot
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None  # a broken picture must not cost the alert; the payload keeps no snapshot
        return store_bytes(s, self.service.media, raw, "image/jpeg", kind="snapshot", now=now, alert_id=alert.id,
                           camera_id=alert.camera_id).id


def _is_link(snapshot: str | None) -> bool:
    """A snapshot given as a URL or gateway path (a JPEG's base64 starts with "/9j/", so only "/api/..." counts)."""
    return bool(snapshot) and snapshot.startswith(("http://", "https://", "/api/"))


def insert_alert_rows(s: Session, pairs: list[tuple[IngestOutcome, dict[str, Any]]]) -> None:
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
    stored = set(s.scalars(insert_ignore(s, AlertRow).returning(AlertRow.id), rows))
    raced = {r["id"] for r in rows} - stored
    if raced:
        raise AlertsRaced(raced)
