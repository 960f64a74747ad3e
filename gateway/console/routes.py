"""The operator console and the grid worker's phone view: pages, static files and the
server-sent events stream (`GET /api/stream`).

The pages are static HTML/CSS/ES modules that talk to the REST API in the browser. This
router only serves them, picks the landing page by role, and turns the incident-events
feed (`GET /api/events?after=`) into server-sent events. It reaches the API through the
app itself (in-process ASGI calls carrying the caller's credentials), so the API's auth
and visibility rules apply unchanged, and polling the shared feed keeps several gateway
replicas consistent.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from gateway.api.common import visible_filter
from gateway.auth import READ_ROLES, Principal, require_role
from gateway.db.models import AlertRow, IncidentEvent

STATIC = Path(__file__).parent / "static"
POLL_S = 1.0          # how often the stream polls the events feed
KEEPALIVE_S = 15.0    # a comment line now and then keeps proxies from closing an idle stream
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


def _internal(request: Request) -> httpx.AsyncClient:
    """A client that calls this same app in-process, as the caller (same token/cookie)."""
    headers = {}
    if auth := request.headers.get("authorization"):
        headers["authorization"] = auth
    if cookie := request.headers.get("cookie"):
        headers["cookie"] = cookie
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=request.app),
                             base_url="http://gateway.internal", headers=headers, timeout=10.0)


def landing_for(role: str | None) -> str:
    """Where a user lands after login: grid workers on their phone view, others on the board."""
    return "/m/" if role == "grid_worker" else "/console/"


@router.get("/")
async def root(request: Request) -> RedirectResponse:
    async with _internal(request) as client:
        me = await client.get("/api/me")
    if me.status_code != 200:
        return RedirectResponse("/login", status_code=303)
    role = (me.json().get("user") or me.json()).get("role")
    return RedirectResponse(landing_for(role), status_code=303)


def sse_message(event_id: int | str, event: str, data: dict) -> str:
    """One server-sent event; `data` is a single JSON line, so it never needs splitting."""
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get("/api/stream")
async def stream(request: Request, after: str | None = None) -> Response:
    """Incident events as server-sent events, resuming after `Last-Event-ID` (or `?after=`).

    Without either, the stream starts from now: the page has just loaded the current list.
    """
    start = request.headers.get("last-event-id") or after
    client = _internal(request)
    try:
        first = await _poll(client, start, limit=1 if start is None else BATCH)
    except Exception:
        await client.aclose()
        raise
    if first.status_code != 200:
        await client.aclose()
        return Response(first.content, status_code=first.status_code,
                        media_type=first.headers.get("content-type", "application/json"))

    async def events():
        last = start
        items = first.json().get("items", [])
        if start is None:
            # Start from now: the page has just loaded the current list, no history to replay.
            last = await run_in_threadpool(_newest_event_id, request.app.state.db)
            items = []
        try:
            yield "retry: 2000\n\n"
            idle = 0.0
            while True:
                for item in items:
                    last = item["id"]
                    yield sse_message(item["id"], "incident", item)
                if await request.is_disconnected():
                    return
                if items:
                    idle = 0.0
                else:
                    await asyncio.sleep(POLL_S)
                    idle += POLL_S
                    if idle >= KEEPALIVE_S:
                        idle = 0.0
                        yield ": keepalive\n\n"
                resp = await _poll(client, last, BATCH)
                if resp.status_code != 200:
                    # Token expired or revoked: tell the page, which sends the user to login.
                    yield sse_message(last or 0, "error", {"status": resp.status_code})
                    return
                items = resp.json().get("items", [])
        finally:
            await client.aclose()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _poll(client: httpx.AsyncClient, after, limit: int) -> httpx.Response:
    params = {"limit": limit}
    if after is not None:
        params["after"] = after
    return await client.get("/api/events", params=params)


def _newest_event_id(db) -> int | None:
    with db.session() as session:
        return session.scalar(select(func.max(IncidentEvent.id)))


@router.get("/api/console/last-snapshots")
def last_snapshots(request: Request, principal: Principal = Depends(require_role(*READ_ROLES))) -> dict:
    """The newest snapshot URL of each visible camera, for the devices page ({camera_id: url}).
    Scans the newest alerts that carry a snapshot, enough for a site's cameras."""
    stmt = (select(AlertRow.camera_id, AlertRow.id).where(AlertRow.snapshot_media_id.is_not(None),
                                                          AlertRow.camera_id.is_not(None),
                                                          visible_filter(AlertRow.grid_id, principal))
            .order_by(AlertRow.ts.desc()).limit(2000))
    out: dict[str, str] = {}
    with request.app.state.db.session() as session:
        for camera_id, alert_id in session.execute(stmt):
            out.setdefault(camera_id, f"/api/alerts/{alert_id}/snapshot")
    return {"items": out}
