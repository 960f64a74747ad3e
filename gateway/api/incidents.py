"""Incidents: list, detail (alerts, timeline, allowed actions), lifecycle actions, photos."""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import ConfigDict, Field
from sqlalchemy import and_, func, or_, select

from common.times import iso
from gateway.api.auth import READ_ROLES, Principal, require_role
from gateway.api.common import MAX_ROW_ID, Body, Page, RowId, incident_filter, paginate, service
from gateway.api.errors import ERROR_RESPONSES
from gateway.db import audit
from gateway.db.models import AlertRow, Incident, IncidentEvent, Media
from gateway.engine import lifecycle
from gateway.engine.state import UNRESOLVED
from gateway.incidents.errors import BadRequest, NotFound
from gateway.incidents.service import IncidentService
from gateway.incidents.state import incident_dict
from gateway.media.photos import PhotoError, clean_photo
from gateway.media.service import path_key

router = APIRouter(prefix="/api", tags=["incidents"], responses=ERROR_RESPONSES)
reader = require_role(*READ_ROLES)


Action = Enum("Action", {a: a for a in lifecycle.ACTIONS}, type=str)


class ActionBody(Body):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=4000)
    reason: str | None = Field(None, max_length=4000)
    assignee: str | None = Field(None, max_length=64)
    extend_minutes: float | None = Field(None, gt=0, le=60 * 24 * 365)
    deadline: str | None = Field(None, pattern="^(ack|resolve)$", description="which deadline `extend` moves")
    into: int | None = Field(None, ge=1, le=MAX_ROW_ID, description="the incident to merge into")
    kind: Literal["false_alarm", "duplicate", "test", "other"] | None = Field(
        None, description="dismiss: why; only `false_alarm` counts in the false-alarm rate (the reason may then be left out)")
    false_alarm: bool | None = Field(None, description="dismiss without `kind`: a false alarm (default) or `other`")
    rating: Literal["satisfied", "basically_satisfied", "not_satisfied"] | None = Field(
        None, description="rate: the reporter's satisfaction with a closed case they reported (the note: their comment)")


@router.get("/incidents", summary="Incidents visible to the caller, newest first")
def list_incidents(request: Request, page: Page = Depends(), status: str | None = Query(None, description="comma-separated"),
                   grid: str | None = None, type: str | None = None, level: str | None = None,
                   overdue: bool | None = None, assignee: str | None = None,
                   principal: Principal = Depends(reader), svc: IncidentService = Depends(service)) -> dict:
    now = svc.clock()
    stmt = select(Incident).where(incident_filter(principal))
    if status:
        stmt = stmt.where(Incident.status.in_([s.strip() for s in status.split(",") if s.strip()]))
    if grid:
        stmt = stmt.where(Incident.grid_id.in_(sorted(svc.grids().subtree(grid)) or [grid]))
    if type:
        stmt = stmt.where(Incident.type == type)
    if level:
        stmt = stmt.where(Incident.level == level)
    if assignee:
        stmt = stmt.where(Incident.assignee == assignee)
    if overdue is not None:
        late = or_(and_(Incident.status.in_(("open", "dispatched")), Incident.acknowledged_at.is_(None),
                        Incident.ack_due_at < now),
                   and_(Incident.status.in_(UNRESOLVED), Incident.due_at < now))
        stmt = stmt.where(late if overdue else ~late)
    stmt = stmt.order_by(Incident.opened_at.desc(), Incident.id.desc())
    with svc.db.session() as s:
        out = paginate(s, stmt, page, lambda inc: incident_dict(inc, now))
        snaps = latest_snapshots(s, [i["id"] for i in out["items"]])
        for item in out["items"]:
            item["snapshot_url"] = snaps.get(item["id"])
        return out


def latest_snapshots(s, incident_ids: list[int]) -> dict[int, str]:
    """The newest stored snapshot of each incident, for the board's thumbnails: an alert's inline
    snapshot (stored at ingest) or one its edge uploaded beside its clip (an alert that refers to
    `/api/media/<key>`: every edge with clips), whichever is newer. Two queries for the page; the
    newest per incident by a window function (DISTINCT ON is PostgreSQL's only: the demo's SQLite
    ignored it and showed the oldest)."""
    if not incident_ids:
        return {}
    inline = (select(AlertRow.incident_id, AlertRow.id, AlertRow.ts)
              .where(AlertRow.incident_id.in_(incident_ids), AlertRow.snapshot_media_id.is_not(None)))
    uploaded = (select(Media.incident_id, Media.path, Media.created_at)
                .where(Media.incident_id.in_(incident_ids), Media.kind == "snapshot", Media.deleted_at.is_(None),
                       Media.complete.is_(True)))
    newest: dict[int, tuple[Any, str]] = {}
    for stmt, url in ((inline, lambda alert: f"/api/alerts/{alert}/snapshot"),
                      (uploaded, lambda path: f"/api/media/{path_key(path)}")):
        for inc, ref, at in _newest_each(s, stmt):
            if inc not in newest or at > newest[inc][0]:
                newest[inc] = (at, url(ref))
    return {inc: u for inc, (_, u) in newest.items()}


def _newest_each(s, stmt) -> list[tuple[int, Any, Any]]:
    """(incident, ref, time) rows of `stmt` (those three columns), the newest row per incident."""
    inc, _ref, at = stmt.selected_columns
    rank = func.row_number().over(partition_by=inc, order_by=at.desc())
    inc_c, ref_c, at_c, rank_c = stmt.add_columns(rank).subquery().c
    return [tuple(r) for r in s.execute(select(inc_c, ref_c, at_c).where(rank_c == 1))]


def _visible_incident(s, incident_id: int, principal: Principal) -> Incident:
    inc = s.get(Incident, incident_id)
    if inc is None or not principal.sees(inc):
        raise NotFound(f"incident {incident_id} not found")
    return inc


def alert_view(row: AlertRow) -> dict[str, Any]:
    out = dict(row.payload)
    out.update(received_at=iso(row.received_at), grid_id=row.grid_id, incident_id=row.incident_id,
               disposition=row.disposition, reason=row.reason)
    return out


def event_view(e: IncidentEvent) -> dict[str, Any]:
    data = {k: v for k, v in (e.data or {}).items() if k != "incident"}
    return {"id": e.id, "at": iso(e.at), "actor": e.actor, "action": e.event, "event": e.event,
            "from_status": e.from_status, "to_status": e.to_status, "note": e.note, "reason": e.reason, "data": data}


@router.get("/incidents/{incident_id}", summary="One incident with its alerts, timeline and the caller's allowed actions")
def get_incident(incident_id: RowId, principal: Principal = Depends(reader), svc: IncidentService = Depends(service)) -> dict:
    now = svc.clock()
    with svc.db.session() as s:
        inc = _visible_incident(s, incident_id, principal)
        # the newest 200, oldest first: an incident that absorbed more still shows its latest snapshot
        alerts = s.scalars(select(AlertRow).where(AlertRow.incident_id == inc.id)
                           .order_by(AlertRow.ts.desc()).limit(200)).all()[::-1]
        events = s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == inc.id).order_by(IncidentEvent.id)).all()
        out = incident_dict(inc, now)
        out["alerts"] = [alert_view(a) for a in alerts]
        out["timeline"] = [event_view(e) for e in events]
        st = inc.engine_state or {}
        n_photos = s.scalar(select(func.count(Media.id)).where(Media.incident_id == inc.id, Media.kind == "photo",
                                                                Media.deleted_at.is_(None)))
        out.update(resolution_note=st.get("resolution_note"), dismiss_reason=st.get("dismiss_reason"),
                   dismiss_kind=st.get("dismiss_kind"),
                   photos=[f"/api/incidents/{inc.id}/photos/{n}" for n in range(n_photos)])
        out["allowed_actions"] = svc.allowed_actions(inc, principal)
        return out


@router.post("/incidents/{incident_id}/{action}",
             summary="A lifecycle action: dispatch, acknowledge, resolve, verify, reopen, close, dismiss, escalate, "
                     "extend, reassign, merge",
             responses={409: {"description": "invalid transition"}},
             openapi_extra={"requestBody": {"required": False, "content": {
                 "application/json": {"schema": ActionBody.model_json_schema()},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "note": {"type": "string"}, "photo": {"type": "string", "format": "binary"}}}}}}})
async def act(incident_id: RowId, action: Action, request: Request, principal: Principal = Depends(reader),
              svc: IncidentService = Depends(service)) -> dict:
    params = await _action_params(request)
    import anyio

    inc = await anyio.to_thread.run_sync(lambda: svc.act(incident_id, action.value, principal, params))
    return incident_dict(inc, svc.clock())


async def _action_params(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        photos = []
        for f in form.getlist("photo"):
            if hasattr(f, "read"):
                data = await f.read()
                if data:
                    try:  # a real image, stored without its EXIF
                        photo = clean_photo(data)
                    except PhotoError as e:
                        raise BadRequest(f"photo {f.filename or ''}: {e}".replace("photo : ", "photo: ")) from None
                    photos.append((photo.data, photo.content_type))
        fields = {k: v for k, v in form.items() if k != "photo" and isinstance(v, str)}
        body = _validated(fields)
        params = body.model_dump(exclude_none=True)
        if photos:
            params["photo_files"] = photos
        return params
    raw = await request.body()
    if not raw.strip():
        return {}
    import json

    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body must be JSON (or multipart/form-data for resolve with a photo)") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return _validated(data).model_dump(exclude_none=True)


def _validated(data: dict[str, Any]) -> ActionBody:
    """The action's parameters, checked like any FastAPI body: a bad one is a 422 naming the field."""
    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    try:
        return ActionBody.model_validate(data)
    except ValidationError as e:
        raise RequestValidationError(e.errors()) from None


@router.get("/incidents/{incident_id}/photos/{n}", summary="A resolution photo", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}})
def photo(incident_id: RowId, n: Annotated[int, PathParam(ge=0, le=10_000)], principal: Principal = Depends(reader),
          svc: IncidentService = Depends(service)):
    with svc.db.session() as s:
        inc = _visible_incident(s, incident_id, principal)
        rows = s.scalars(select(Media).where(Media.incident_id == inc.id, Media.kind == "photo",
                                             Media.deleted_at.is_(None)).order_by(Media.id)).all()
        if not (0 <= n < len(rows)):
            raise NotFound(f"incident {incident_id} has no photo {n}")
        audit.record(s, at=svc.clock(), actor=principal.username, action="media.view", object_type="media",
                     object_id=rows[n].id, grid_id=inc.grid_id)
        return FileResponse(svc.media.file(rows[n].path), media_type=rows[n].type or "image/jpeg")
