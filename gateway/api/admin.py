"""Users, tokens, the audit trail, silences and figures."""
from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import ConfigDict, Field, model_validator
from sqlalchemy import select

from common.times import iso
from gateway.api.auth import READ_ROLES, ROLES, Principal, hash_password, issue_token, require_role, token_digest
from gateway.api.common import Body, Page, RowId, incident_filter, paginate, parse_time, reader_language, service, visible_filter
from gateway.api.errors import ERROR_RESPONSES
from gateway.api.figures_report import FIGURE_HEADINGS, figures_html, translated_csv
from gateway.db import audit
from gateway.db.models import ApiToken, AuditEntry, Incident, Silence, User
from gateway.engine import figures
from gateway.i18n import t
from gateway.incidents.errors import BadRequest, Forbidden, NotFound
from gateway.incidents.service import IncidentService
from gateway.incidents.state import silence_of, to_state

router = APIRouter(prefix="/api", tags=["admin"], responses=ERROR_RESPONSES)
admin_only = require_role("admin")
reader = require_role(*READ_ROLES)
Role = Literal["admin", "operator", "grid_worker", "integration", "edge", "open311"]
assert set(Role.__args__) == set(ROLES)


class NewUser(Body):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    display_name: str | None = Field(None, max_length=200)
    role: Role
    grid_id: str | None = Field(None, max_length=64)
    password: str = Field(min_length=8, max_length=256)


class NewToken(Body):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: Role
    grid_id: str | None = Field(None, max_length=64)
    expires_in_hours: float | None = Field(None, gt=0, le=24 * 3650)


def _check_grid(svc: IncidentService, grid_id: str | None) -> None:
    if grid_id is not None and svc.grids().get(grid_id) is None:
        raise BadRequest(f"grid {grid_id!r} does not exist")


def _user(u: User) -> dict:
    return {"username": u.username, "display_name": u.display_name, "role": u.role, "grid_id": u.grid_id,
            "active": u.active, "created_at": iso(u.created_at)}


@router.get("/users", summary="Users (admin)")
def list_users(page: Page = Depends(), _p: Principal = Depends(admin_only), svc: IncidentService = Depends(service)) -> dict:
    with svc.db.session() as s:
        return paginate(s, select(User).order_by(User.username), page, _user)


@router.post("/users", status_code=201, summary="Create a user (admin)", responses={409: {"description": "exists"}})
def create_user(body: NewUser, principal: Principal = Depends(admin_only), svc: IncidentService = Depends(service)) -> dict:
    _check_grid(svc, body.grid_id)
    now = svc.clock()
    with svc.db.session() as s:
        if s.get(User, body.username) is not None:
            from gateway.incidents.errors import Conflict

            raise Conflict(f"user {body.username!r} already exists")
        u = User(username=body.username, display_name=body.display_name or body.username, role=body.role,
                 grid_id=body.grid_id, password_hash=hash_password(body.password), active=True, created_at=now)
        s.add(u)
        audit.record(s, at=now, actor=principal.username, action="user.create", object_type="user",
                     object_id=u.username, grid_id=u.grid_id, details={"role": u.role})
        return _user(u)


@router.post("/tokens", status_code=201, summary="Create an API token (admin); the token is shown once")
def create_token(body: NewToken, principal: Principal = Depends(admin_only), svc: IncidentService = Depends(service)) -> dict:
    _check_grid(svc, body.grid_id)
    now = svc.clock()
    with svc.db.session() as s:
        ttl = timedelta(hours=body.expires_in_hours) if body.expires_in_hours else None
        token = issue_token(s, name=body.name, role=body.role, grid_id=body.grid_id, username=None, now=now, ttl=ttl)
        audit.record(s, at=now, actor=principal.username, action="token.create", object_type="token",
                     object_id=body.name, grid_id=body.grid_id, details={"role": body.role})
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.token_sha256 == token_digest(token)))
    return {"token": token, "id": token_id, "name": body.name, "role": body.role, "grid_id": body.grid_id,
            "expires_at": iso(now + ttl) if ttl else None}


def _token(t: ApiToken) -> dict:
    return {"id": t.id, "name": t.name, "username": t.username, "role": t.role, "grid_id": t.grid_id,
            "created_at": iso(t.created_at), "expires_at": iso(t.expires_at), "revoked_at": iso(t.revoked_at)}


@router.get("/tokens", summary="API and login tokens, without their secrets (admin)")
def list_tokens(page: Page = Depends(), _p: Principal = Depends(admin_only), svc: IncidentService = Depends(service)) -> dict:
    with svc.db.session() as s:
        return paginate(s, select(ApiToken).order_by(ApiToken.id.desc()), page, _token)


@router.delete("/tokens/{token_id}", summary="Revoke a token (admin)")
def revoke_token(token_id: RowId, principal: Principal = Depends(admin_only), svc: IncidentService = Depends(service)) -> dict:
    now = svc.clock()
    with svc.db.session() as s:
        t = s.get(ApiToken, token_id)
        if t is None:
            raise NotFound(f"token {token_id} not found")
        t.revoked_at = t.revoked_at or now
        audit.record(s, at=now, actor=principal.username, action="token.revoke", object_type="token",
                     object_id=t.id, grid_id=t.grid_id, details={"name": t.name})
        return _token(t)


@router.get("/audit", summary="The audit trail (admin: all; operator: its subtree)")
def audit_trail(page: Page = Depends(), actor: str | None = None, action: str | None = None,
                object_type: str | None = None, object_id: str | None = None, since: str | None = None,
                principal: Principal = Depends(require_role("admin", "operator")),
                svc: IncidentService = Depends(service)) -> dict:
    stmt = select(AuditEntry).where(visible_filter(AuditEntry.grid_id, principal))
    for col, val in ((AuditEntry.actor, actor), (AuditEntry.action, action), (AuditEntry.object_type, object_type),
                     (AuditEntry.object_id, object_id)):
        if val:
            stmt = stmt.where(col == val)
    t = parse_time(since, "since")
    if t is not None:
        stmt = stmt.where(AuditEntry.at >= t)
    with svc.db.session() as s:
        return paginate(s, stmt.order_by(AuditEntry.id.desc()), page, audit.entry_dict)


class NewSilence(Body):
    model_config = ConfigDict(extra="forbid")
    camera_id: str | None = Field(None, max_length=128, description="a camera or sensor id")
    grid_id: str | None = Field(None, max_length=64)
    type: str | None = Field(None, max_length=32, description="an alert type or a pattern like 'tamper.*'")
    kind: Literal["silence", "maintenance"] = "silence"
    starts_at: str | None = Field(None, description="ISO 8601; default now")
    ends_at: str | None = Field(None, description="ISO 8601; or give duration_minutes")
    duration_minutes: float | None = Field(None, gt=0, le=60 * 24 * 365)
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _something(self):
        if not (self.camera_id or self.grid_id or self.type):
            raise ValueError("a silence needs at least one of camera_id, grid_id, type")
        return self


def _silence(r: Silence) -> dict:
    return {"id": r.id, "kind": r.kind, "camera_id": r.camera_id, "grid_id": r.grid_id, "type": r.type,
            "starts_at": iso(r.starts_at), "ends_at": iso(r.ends_at), "reason": r.reason, "created_by": r.created_by,
            "created_at": iso(r.created_at), "deleted_at": iso(r.deleted_at)}


@router.get("/silences", summary="Silences and maintenance windows (active and future unless all=true)")
def list_silences(page: Page = Depends(), all: bool = False, principal: Principal = Depends(reader),
                  svc: IncidentService = Depends(service)) -> dict:
    stmt = select(Silence).where(visible_filter(Silence.grid_id, principal))
    if not all:
        stmt = stmt.where(Silence.deleted_at.is_(None), Silence.ends_at > svc.clock())
    with svc.db.session() as s:
        return paginate(s, stmt.order_by(Silence.id.desc()), page, _silence)


@router.post("/silences", status_code=201, summary="Silence alerts by camera, grid and/or type until an end time")
def create_silence(body: NewSilence, principal: Principal = Depends(require_role("admin", "operator")),
                   svc: IncidentService = Depends(service)) -> dict:
    now = svc.clock()
    starts = parse_time(body.starts_at, "starts_at") or now
    ends = parse_time(body.ends_at, "ends_at")
    if ends is None:
        if body.duration_minutes is None:
            raise BadRequest("give ends_at or duration_minutes")
        ends = starts + timedelta(minutes=body.duration_minutes)
    _check_grid(svc, body.grid_id)
    if principal.visible_grids is not None and (body.grid_id is None or not principal.visible(body.grid_id)):
        raise Forbidden("a silence by someone bound to a grid must name a grid_id inside their subtree")
    row = Silence(kind=body.kind, camera_id=body.camera_id, grid_id=body.grid_id, type=body.type, starts_at=starts,
                  ends_at=ends, reason=body.reason, created_by=principal.username, created_at=now)
    try:
        silence_of(row)  # the engine's own checks (end after start, ...)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    with svc.db.session() as s:
        s.add(row)
        s.flush()
        audit.record(s, at=now, actor=principal.username, action="silence.create", object_type="silence",
                     object_id=row.id, grid_id=row.grid_id, reason=row.reason, details=_silence(row))
        return _silence(row)


@router.delete("/silences/{silence_id}", summary="End a silence now")
def delete_silence(silence_id: RowId, principal: Principal = Depends(require_role("admin", "operator")),
                   svc: IncidentService = Depends(service)) -> dict:
    now = svc.clock()
    with svc.db.session() as s:
        row = s.get(Silence, silence_id)
        if row is None or row.deleted_at is not None or not principal.visible(row.grid_id):
            raise NotFound(f"silence {silence_id} not found")
        row.deleted_at = now
        audit.record(s, at=now, actor=principal.username, action="silence.delete", object_type="silence",
                     object_id=row.id, grid_id=row.grid_id)
        return _silence(row)


@router.get("/figures", summary="Figures per grid and period (JSON, CSV or a printable HTML report)",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}}}})
def get_figures(request: Request, grid: str | None = None, since: str | None = None, until: str | None = None,
                format: Literal["json", "csv", "html"] = "json", level: Literal["street", "community", "grid"] = "grid",
                headings: Literal["keys", "names"] = "keys",
                principal: Principal = Depends(reader), svc: IncidentService = Depends(service)):
    now = svc.clock()
    end = parse_time(until, "until") or now
    start = parse_time(since, "since") or end - timedelta(days=7)
    if start >= end:
        raise BadRequest("since must be before until")
    grids = svc.grids()
    if grid is not None and (grids.get(grid) is None or not principal.visible(grid)):
        raise NotFound(f"grid {grid} not found")
    with svc.db.session() as s:
        # incidents touching the period: opened in it, or due in it
        recs = [to_state(i) for i in s.scalars(select(Incident).where(incident_filter(principal),
                                                                        Incident.opened_at < end))
                if i.opened_at >= start or (i.due_at is not None and i.due_at >= start)]
    if grid is not None:
        rows = [figures.summarise(recs, start, end, grid, grids.subtree(grid), now)]
    else:
        rows = [r for r in figures.by_grid(recs, grids, start, end, level=level, now=now)
                if r["grid_id"] is None or principal.visible(r["grid_id"])]
    lang = reader_language(request, principal)
    if format == "csv" and headings == "names":
        return PlainTextResponse(translated_csv(rows, figures.FIELDS, FIGURE_HEADINGS, lang), media_type="text/csv")
    if format == "csv":
        return PlainTextResponse(figures.to_csv(rows), media_type="text/csv")
    if format == "html":
        names = {g.id: g.name for g in grids}
        title = t(lang, "Figures") + (f" · {names[grid]}" if grid else "")
        return HTMLResponse(figures_html(rows, lang=lang, title=title, tz=svc.rules.tz, names=names))
    return {"items": rows, "total": len(rows), "start": iso(start), "end": iso(end)}
