"""The operator console and the grid worker's phone view: pages, static files and the
server-sent events stream (`GET /api/stream`).

The pages are static HTML/CSS/ES modules that talk to the REST API in the browser. This
router only serves them, picks the landing page by role, and turns the incident-events
feed (the query behind `GET /api/events?after=`, with the caller's grid visibility) into
server-sent events. Polling the shared table, rather than listening in-process, keeps
several gateway replicas consistent.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from gateway.api.auth import COOKIE, READ_ROLES, AuthError, Principal, authenticate, current_principal, require_role
from gateway.api.catalog import events as events_after
from gateway.api.common import visible_filter
from gateway.db.models import AlertRow, IncidentEvent, Media

log = logging.getLogger("gridwatch.console")
STATIC = Path(__file__).parent / "static"
POLL_S = 1.0          # how often the stream polls the events feed
KEEPALIVE_S = 10.0    # a comment line now and then keeps proxies from closing an idle stream
REAUTH_S = 10.0       # a revoked token or disabled user stops its streams this soon
# A stream ends after this long and the browser reconnects at once with Last-Event-ID, losing
# nothing: this bounds how long an open console can hold up a gateway's graceful shutdown.
MAX_AGE_S = 15.0
BATCH = 200

router = APIRouter(include_in_schema=False)

_PAGES = {
    "/login": "login.html",
    "/console/": "board.html",
    "/console/map": "map.html",
    "/console/devices": "devices.html",
    "/console/figures": "figures.html",
    "/m/": "mobile.html",
}


def _page(name: str) -> FileResponse:
    # Pages are tiny and change with deployments: let the browser revalidate each time.
    return FileResponse(STATIC / name, media_type="text/html", headers={"Cache-Control": "no-cache"})


def _add_page(path: str, name: str) -> None:
    async def page() -> FileResponse:
        return _page(name)

    router.add_api_route(path, page, methods=["GET"], name=f"console:{name}")


for _path, _name in _PAGES.items():
    _add_page(_path, _name)


@router.get("/console")
async def console_slash() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/m")
async def mobile_slash() -> RedirectResponse:
    return RedirectResponse("/m/", status_code=307)


@router.get("/console/incidents/{incident_id}")
async def incident_page(incident_id: str) -> FileResponse:
    return _page("incident.html")


@router.get("/console/static/{path:path}")
async def static_file(path: str) -> FileResponse:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise HTTPException(status_code=404, detail=f"no static file {path!r}")
    return FileResponse(target, headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    return FileResponse(STATIC / "logo.svg", media_type="image/svg+xml")


def landing_for(role: str | None) -> str:
    """Where a user lands after login: grid workers on their phone view, others on the board."""
    return "/m/" if role == "grid_worker" else "/console/"


@router.get("/")
def root(request: Request) -> RedirectResponse:
    try:
        principal = current_principal(request)
    except AuthError:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(landing_for(principal.role), status_code=303)


def sse_message(event_id: int | str, event: str, data: dict) -> str:
    """One server-sent event; `data` is a single JSON line, so it never needs splitting."""
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


reader = require_role(*READ_ROLES)


@router.get("/api/stream")
async def stream(request: Request, after: int | None = None, principal: Principal = Depends(reader)) -> Response:
    """Incident events as server-sent events, resuming after `Last-Event-ID` (or `?after=`).

    Without either, the stream starts from now: the page has just loaded the current list.
    The position is sent first (an `id:` line alone), so a reconnect resumes from it even
    when no event came in between.
    """
    header = request.headers.get("last-event-id", "").strip()
    if header.isdigit():
        after = int(header)
    service = request.app.state.service
    if after is None:
        after = await run_in_threadpool(_newest_event_id, request.app.state.db) or 0
    token = _token_of(request)
    loop = asyncio.get_running_loop()

    async def events():
        nonlocal principal
        last = after
        started = checked = loop.time()
        idle = 0.0
        yield f"retry: 2000\nid: {last}\n\n"
        while loop.time() - started < MAX_AGE_S:
            if loop.time() - checked >= REAUTH_S:
                checked = loop.time()
                try:
                    principal = await run_in_threadpool(authenticate, request, token)
                except AuthError as e:
                    yield sse_message(last, "error", {"status": e.status, "message": e.message})
                    return
            try:
                page = await run_in_threadpool(events_after, after=last, limit=BATCH, principal=principal, svc=service)
            except Exception as e:  # database away: end this stream, the browser retries in 2 s
                log.warning("event stream for %s ended: %s", principal.username, e)
                return
            for item in page["items"]:
                last = item["id"]
                yield sse_message(item["id"], "incident", item)
            if await request.is_disconnected():
                return
            if len(page["items"]) < BATCH:
                await asyncio.sleep(POLL_S)
                idle = 0.0 if page["items"] else idle + POLL_S
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    yield ": keepalive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(COOKIE) or None


def _newest_event_id(db) -> int | None:
    with db.session() as session:
        return session.scalar(select(func.max(IncidentEvent.id)))


@router.get("/api/console/last-snapshots")
def last_snapshots(request: Request, principal: Principal = Depends(reader)) -> dict:
    """The newest snapshot of each visible camera, for the devices page ({camera_id: url}): any
    stored snapshot, uploaded by the edge (the default) or inline in its alert, served where every
    medium is. Scans the newest snapshots, enough for a site's cameras."""
    stmt = (select(Media.camera_id, Media.path).join(AlertRow, AlertRow.id == Media.alert_id)
            .where(Media.kind == "snapshot", Media.camera_id.is_not(None), Media.deleted_at.is_(None),
                   visible_filter(AlertRow.grid_id, principal))
            .order_by(Media.created_at.desc(), Media.id.desc()).limit(2000))
    out: dict[str, str] = {}
    with request.app.state.db.session() as session:
        for camera_id, path in session.execute(stmt):
            out.setdefault(camera_id, f"/api/media/{PurePosixPath(path).stem}")
    return {"items": out}


@router.get("/api/console/config")
def console_config(principal: Principal = Depends(reader)) -> dict:
    """Display settings for the pages. `map_tile_url` (GRIDWATCH_MAP_TILE_URL, an XYZ template
    such as http://tiles.local/{z}/{x}/{y}.png) puts a base map under the grids; without it
    the map is drawn from the grids alone, as isolated monitoring rooms need."""
    return {"map_tile_url": os.environ.get("GRIDWATCH_MAP_TILE_URL") or None}
