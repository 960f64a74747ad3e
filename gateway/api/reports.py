"""People's reports through the gateway's own API: a grid worker's patrol report from the phone
(`POST /api/reports`: category, description, photos, and the place: the phone's position, else
the first photo's EXIF position, else the worker's grid; only inside the worker's own area), and
what was reported with an incident (`GET /api/incidents/{id}/report`), the reporter's contact
details only for those who handle it (operators, admins, the assignee), never for integrations."""
from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request

from gateway.api.auth import READ_ROLES, Principal, require_role
from gateway.api.common import RowId, service
from gateway.api.errors import ERROR_RESPONSES
from gateway.db import audit
from gateway.db.models import Incident
from gateway.i18n import negotiate
from gateway.incidents import categories
from gateway.incidents.errors import BadRequest, Forbidden, NotFound
from gateway.incidents.reports import NewReport, file_report, report_of
from gateway.incidents.service import IncidentService
from gateway.incidents.state import incident_dict, iso
from gateway.media.photos import PhotoError, clean_photo
from gateway.media.service import store_bytes

router = APIRouter(prefix="/api", tags=["incidents"], responses=ERROR_RESPONSES)
HANDLERS = ("admin", "operator")


@router.get("/incidents/{incident_id}/report", summary="The report behind a person-reported incident")
def incident_report(incident_id: RowId, principal: Principal = Depends(require_role(*READ_ROLES)),
                    svc: IncidentService = Depends(service)) -> dict[str, Any]:
    with svc.db.session() as s:
        inc = s.get(Incident, incident_id)
        rep = report_of(s, incident_id) if inc is not None and principal.sees(inc) else None
        if inc is None or rep is None:
            raise NotFound(f"no report for incident {incident_id} (or not visible)")
        handles = principal.role in HANDLERS or principal.username == inc.assignee
        if handles and rep.reporter:  # who saw a resident's contact details, and when
            audit.record(s, at=svc.clock(), actor=principal.username, action="report.contact_view",
                         object_type="incident", object_id=inc.id, grid_id=inc.grid_id)
        return {"incident_id": inc.id, "channel": rep.channel, "service_code": rep.service_code,
                "description": rep.description, "address": rep.address, "media_url": rep.media_url,
                "submitted_by": rep.submitted_by, "created_at": iso(rep.created_at),
                "reporter": rep.reporter if handles else None}


REPORTERS = ("grid_worker", "operator", "admin")


def _number(form: Any, name: str) -> float | None:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number, not {raw!r}") from None


@router.post("/reports", status_code=201, summary="A grid worker's patrol report (multipart: category, description, "
                                                 "photo..., lat/lon or grid_id, on_the_spot)")
async def patrol_report(request: Request, principal: Principal = Depends(require_role(*REPORTERS)),
                        svc: IncidentService = Depends(service)) -> dict[str, Any]:
    form = await request.form()
    photos = []
    for f in form.getlist("photo"):
        if hasattr(f, "read"):
            try:
                photos.append(clean_photo(await f.read()))
            except PhotoError as e:
                raise BadRequest(f"photo {getattr(f, 'filename', '') or ''}: {e}".replace("photo : ", "photo: ")) from None
    lat, lon = _number(form, "lat"), _number(form, "lon")
    where = "given"
    if lat is None or lon is None:
        gps = next((p.location for p in photos if p.location), None)
        lat, lon, where = (gps[0], gps[1], "photo") if gps else (None, None, "grid")
    grid_id = str(form.get("grid_id") or "") or (principal.grid_id if lat is None else None)
    report = NewReport(category=str(form.get("category") or ""), description=str(form.get("description") or ""),
                       lat=lat, lon=lon, grid_id=grid_id, channel="patrol", reporter={"user": principal.username})
    on_the_spot = str(form.get("on_the_spot") or "").lower() in ("1", "true", "on", "yes")
    if lat is None and not grid_id:
        raise BadRequest("a report needs a place: the phone's position, a photo that has one, or a grid")

    def file() -> int:
        now = svc.clock()
        with svc.db.session() as s:
            grids = svc.grids(s)
            cell = grids.locate(lat, lon) if lat is not None and lon is not None else grids.get(grid_id)
            if cell is None or not principal.visible(cell.id):
                raise Forbidden(f"{principal.username} reports only in their own area"
                                + (f" ({principal.grid_id} and below)" if principal.grid_id else "")
                                + f": this place is in {cell.id if cell else 'no grid'}")
            inc = file_report(svc, s, report, actor=principal.username, now=now)
            for p in photos:
                store_bytes(s, svc.media, p.data, p.content_type, kind="photo", now=now, incident_id=inc.id)
            inc_id = inc.id
        if on_the_spot:  # a small matter handled at once: verification as usual
            svc.act(inc_id, "resolve", principal, {"note": "handled on the spot"})
        return inc_id

    inc_id = await anyio.to_thread.run_sync(file)
    with svc.db.session() as s:
        inc = s.get(Incident, inc_id)
        assert inc is not None
        return {**incident_dict(inc, svc.clock()), "photos": len(photos), "located_by": where}


@router.get("/report-categories", summary="What can be reported, in the caller's language")
def report_categories(request: Request, _p: Principal = Depends(require_role(*READ_ROLES))) -> dict[str, Any]:
    lang = negotiate(accept_language=request.headers.get("accept-language"), default=request.app.state.settings.language)
    items = categories.describe(request.app.state.service.rules, lang)
    return {"items": items, "total": len(items)}
