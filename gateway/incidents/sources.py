"""Where an alert's source belongs and what it says about itself: the grid an alert routes to
(its grid hint, its location, else the grid its camera or sensor is known in) and the camera /
sensor rows kept current by race-safe upserts, collected per batch (`Upserts`); the edges they
come through seen alive (`touch_edges`)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from alerts import Alert
from gateway.db import bulk
from gateway.db.dialect import insert
from gateway.db.models import Camera, Edge, Sensor
from gateway.engine.grids import GridSet
from gateway.incidents.recovery import is_recovery


def resolve_grid(s: Session, grids: GridSet, alert: Alert,
                 later: "Upserts | None" = None) -> tuple[str | None, str | None]:
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


def register_source(s: Session, alert: Alert, grid_id: str | None, now: datetime,
                    later: "Upserts | None" = None) -> None:
    """Keep the camera / sensor row current with one race-safe upsert each (INSERT ... ON
    CONFLICT DO UPDATE: no read-then-write between replicas, no re-read of the row).
    A value the alert does not carry (NULL) keeps the stored one; a missing location is
    left out of the statement (a JSON parameter None would be JSON null, not NULL)."""
    loc = {"location": alert.location.model_dump()} if alert.location else {}
    upserts = later if later is not None else Upserts()
    if alert.camera_id:
        upserts.add(upsert_statement(s, Camera, bool(loc)),
                    dict(id=alert.camera_id, edge_id=alert.edge_id, state="unknown", last_seen=now, grid_id=grid_id,
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
        upserts.add(upsert_statement(s, Sensor, bool(loc)),
                    dict(id=alert.source.id, edge_id=alert.edge_id, state=state, last_seen=now,
                         last_alert_type=alert.type.value, kind=kind if isinstance(kind, str) else None, battery=battery,
                 grid_id=grid_id, **loc))
    if later is None:
        upserts.send(s)


class Upserts:
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


def upsert_statement(s: Session, model, with_location: bool):
    """The camera / sensor upsert (built once per dialect and shape): refreshes what an alert
    says about its source; a value it does not carry (NULL) keeps the stored one."""
    key = (s.get_bind().dialect.name, model, with_location)
    if key not in _UPSERTS:
        stmt = insert(s, model)
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


TOUCH_EVERY = timedelta(seconds=5)


def touch_edges(s: Session, edge_ids: Iterable[str], now: datetime) -> None:
    """An edge whose alerts or camera statuses arrive is alive: move its `last_seen` on, at most
    every TOUCH_EVERY (a row not due is not even locked), one edge at a time in id order (two
    database workers never wait on each other's edges in opposite orders)."""
    for edge_id in sorted(set(edge_ids)):
        s.execute(update(Edge).where(Edge.id == edge_id, Edge.last_seen < now - TOUCH_EVERY)
                  .values(last_seen=now).execution_options(synchronize_session=False))

