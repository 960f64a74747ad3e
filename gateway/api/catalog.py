"""Read-only views: grids, alerts, dead letters, edges/cameras/sensors, the event feed."""
from __future__ import annotations

import base64
from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from sqlalchemy import func, select

from common.times import iso
from gateway.api.auth import READ_ROLES, Principal, require_role
from gateway.api.common import MAX_ROW_ID, Page, incident_filter, paginate, parse_time, service, visible_filter
from gateway.api.errors import ERROR_RESPONSES
from gateway.api.incidents import alert_view
from gateway.db import audit
from gateway.db.models import (
    OPEN_STATUSES,
    AlertRow,
    Camera,
    DeadLetter,
    Edge,
    Grid,
    Incident,
    IncidentEvent,
    Media,
    Person,
    Sensor,
)
from gateway.incidents.errors import NotFound
from gateway.incidents.service import IncidentService

router = APIRouter(prefix="/api", tags=["catalog"], responses=ERROR_RESPONSES)
reader = require_role(*READ_ROLES)


def _open_counts(s, grids) -> dict[str, int]:
    """Open incidents per grid, each counted in its grid and every grid above."""
    direct = dict(s.execute(select(Incident.grid_id, func.count()).where(Incident.status.in_(OPEN_STATUSES))
                            .group_by(Incident.grid_id)).all())
    out: Counter = Counter()
    for gid, n in direct.items():
        if gid is None:
            continue
        out[gid] += n
        for a in grids.ancestors(gid):
            out[a.id] += n
    return dict(out)


def _grid_rows(s, principal: Principal):
    return s.scalars(select(Grid).where(visible_filter(Grid.id, principal)).order_by(Grid.id)).all()


@router.get("/grids", summary="Grids visible to the caller, with their people and open-incident counts")
def list_grids(principal: Principal = Depends(reader), svc: IncidentService = Depends(service)) -> dict:
    with svc.db.session() as s:
        grids = svc.grids(s)
        counts = _open_counts(s, grids)
        people: dict[str, list] = {}
        for p in s.scalars(select(Person).order_by(Person.grid_id, Person.position)):
            people.setdefault(p.grid_id, []).append({"user": p.username, "name": p.display_name, "role": p.role,
                                                     "phone": p.phone})
        items = [{"id": g.id, "name": g.name, "level": g.level, "kind": g.kind, "parent": g.parent,
                  "people": people.get(g.id, []), "open_incidents": counts.get(g.id, 0),
                  "categories": (g.properties or {}).get("categories", [])}
                 for g in _grid_rows(s, principal) if g.id is not None]
        return {"items": items, "total": len(items)}


@router.get("/grids.geojson", summary="The visible grids as a GeoJSON FeatureCollection with open-incident counts")
def grids_geojson(principal: Principal = Depends(reader), svc: IncidentService = Depends(service)) -> dict:
    with svc.db.session() as s:
        counts = _open_counts(s, svc.grids(s))
        feats = [{"type": "Feature", "id": g.id, "geometry": g.geometry,
                  "properties": {**(g.properties or {}), "id": g.id, "name": g.name, "level": g.level, "kind": g.kind,
                                 "parent": g.parent, "open_incidents": counts.get(g.id, 0)}}
                 for g in _grid_rows(s, principal)]
    return {"type": "FeatureCollection", "features": feats}


@router.get("/alerts", summary="Alerts visible to the caller, newest first")
def list_alerts(page: Page = Depends(), camera: str | None = None, type: str | None = None,
                since: str | None = Query(None, description="ISO 8601 time"), source: str | None = None,
                disposition: str | None = None, principal: Principal = Depends(reader),
                svc: IncidentService = Depends(service)) -> dict:
    stmt = select(AlertRow).where(visible_filter(AlertRow.grid_id, principal))
    if camera:
        stmt = stmt.where(AlertRow.camera_id == camera)
    if source:
        stmt = stmt.where(AlertRow.source_id == source)
    if type:
        stmt = stmt.where(AlertRow.type == type)
    if disposition:
        stmt = stmt.where(AlertRow.disposition == disposition)
    t = parse_time(since, "since")
    if t is not None:
        stmt = stmt.where(AlertRow.ts >= t)
    with svc.db.session() as s:
        return paginate(s, stmt.order_by(AlertRow.ts.desc(), AlertRow.id.desc()), page, alert_view)


def _visible_alert(s, alert_id: str, principal: Principal) -> AlertRow:
    row = s.get(AlertRow, alert_id)
    if row is None or not principal.visible(row.grid_id):
        raise NotFound(f"alert {alert_id} not found")
    return row


@router.get("/alerts/{alert_id}", summary="One alert")
def get_alert(alert_id: str, principal: Principal = Depends(reader), svc: IncidentService = Depends(service)) -> dict:
    with svc.db.session() as s:
        return alert_view(_visible_alert(s, alert_id, principal))


@router.get("/alerts/{alert_id}/snapshot", summary="The alert's privacy-masked snapshot (JPEG)",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}})
def snapshot(alert_id: str, principal: Principal = Depends(reader), svc: IncidentService = Depends(service)):
    with svc.db.session() as s:
        row = _visible_alert(s, alert_id, principal)
        media = s.get(Media, row.snapshot_media_id) if row.snapshot_media_id else None
        if media is None or media.deleted_at is not None:
            raise NotFound(f"alert {alert_id} has no stored snapshot")
        audit.record(s, at=svc.clock(), actor=principal.username, action="media.view", object_type="media",
                     object_id=media.id, grid_id=row.grid_id, details={"alert_id": alert_id})
        return FileResponse(svc.media.file(media.path), media_type=media.type or "image/jpeg")


@router.get("/dead-letters", summary="Payloads refused by the ingest, with the reason")
def dead_letters(page: Page = Depends(), reason: str | None = None,
                 principal: Principal = Depends(require_role("admin", "operator", "integration")),
                 svc: IncidentService = Depends(service)) -> dict:
    stmt = select(DeadLetter)
    if reason:
        stmt = stmt.where(DeadLetter.reason_code == reason)

    def item(d: DeadLetter) -> dict[str, Any]:
        try:
            text, b64 = d.payload.decode("utf-8"), None
        except UnicodeDecodeError:
            text, b64 = None, base64.b64encode(d.payload).decode()
        return {"id": d.id, "topic": d.topic, "reason": d.reason, "reason_code": d.reason_code,
                "received_at": iso(d.received_at), "size": len(d.payload),
                "payload": text[:4096] if text is not None else None, "payload_base64": b64}

    with svc.db.session() as s:
        return paginate(s, stmt.order_by(DeadLetter.id.desc()), page, item)


@router.get("/edges", summary="Edge boxes (from their retained status)")
def edges(page: Page = Depends(), principal: Principal = Depends(reader), svc: IncidentService = Depends(service)) -> dict:
    with svc.db.session() as s:
        return paginate(s, select(Edge).order_by(Edge.id), page, lambda e: {
            "id": e.id, "state": e.state, "ts": iso(e.ts), "last_seen": iso(e.last_seen), "details": e.details})


@router.get("/cameras", summary="Cameras (status topics and alerts)")
def cameras(page: Page = Depends(), grid: str | None = None, principal: Principal = Depends(reader),
            svc: IncidentService = Depends(service)) -> dict:
    stmt = select(Camera).where(visible_filter(Camera.grid_id, principal))
    if grid:
        stmt = stmt.where(Camera.grid_id.in_(sorted(svc.grids().subtree(grid)) or [grid]))
    with svc.db.session() as s:
        return paginate(s, stmt.order_by(Camera.id), page, lambda c: {
            "id": c.id, "name": c.name, "edge_id": c.edge_id, "state": c.state, "fps": c.fps,
            "last_frame_at": iso(c.last_frame_at), "last_seen": iso(c.last_seen), "grid_id": c.grid_id,
            # the last status whole (source address, ONVIF serial and firmware) is for the monitoring
            # room and integrations; a grid worker gets the state and the health lifted out of it
            "location": c.location, "device": c.device if principal.role != "grid_worker" else None,
            **_stream_health(c.device or {})})


def _stream_health(status: dict) -> dict:
    """The record stream's state and the analysis counters of a camera's last status, lifted out
    of `device` (where the intake keeps whatever the edge sent) so a console need not know its shape."""
    record, analysis = status.get("record"), status.get("analysis")
    if isinstance(record, str):   # a bare state
        record = {"state": record}
    return {"record": {"state": record.get("state"), "error": record.get("error")} if isinstance(record, dict) else None,
            "analysis": {k: analysis.get(k) for k in ("frames", "errors", "last_error")} if isinstance(analysis, dict)
            else None}


@router.get("/sensors", summary="Sensors (registered from their alerts)")
def sensors(page: Page = Depends(), principal: Principal = Depends(reader), svc: IncidentService = Depends(service)) -> dict:
    stmt = select(Sensor).where(visible_filter(Sensor.grid_id, principal)).order_by(Sensor.id)
    with svc.db.session() as s:
        return paginate(s, stmt, page, lambda x: {
            "id": x.id, "edge_id": x.edge_id, "kind": x.kind, "state": x.state, "battery": x.battery,
            "last_seen": iso(x.last_seen), "last_alert_type": x.last_alert_type, "grid_id": x.grid_id,
            "location": x.location})


@router.get("/events", summary="Incident events after an event id, oldest first (the live-update feed)")
def events(after: int = Query(0, ge=0, le=MAX_ROW_ID), limit: int = Query(100, ge=1, le=1000),
           principal: Principal = Depends(reader), svc: IncidentService = Depends(service)) -> dict:
    stmt = (select(IncidentEvent).join(Incident, Incident.id == IncidentEvent.incident_id)
            .where(IncidentEvent.id > after, incident_filter(principal))
            .order_by(IncidentEvent.id).limit(limit))
    with svc.db.session() as s:
        rows = s.scalars(stmt).all()
        items = [{"id": e.id, "at": iso(e.at), "event": e.event, "actor": e.actor, "note": e.note, "reason": e.reason,
                  "incident": (e.data or {}).get("incident")} for e in rows]
    return {"items": items, "total": len(items), "last_id": items[-1]["id"] if items else after}
