"""Scorecards (gateway.engine.scorecards) for a period: JSON, CSV, or a printable HTML report."""
from __future__ import annotations

import html
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy import select

from gateway.api.auth import Principal, require_role
from gateway.api.common import incident_filter, parse_time, reader_language, service
from gateway.api.errors import ERROR_RESPONSES
from gateway.api.figures_report import translated_csv
from gateway.db.models import Incident, IncidentEvent
from gateway.engine import scorecards as cards
from gateway.i18n import N_, t
from gateway.incidents.errors import BadRequest
from gateway.incidents.service import IncidentService
from gateway.incidents.state import iso

router = APIRouter(prefix="/api", tags=["figures"], responses=ERROR_RESPONSES)
HEADINGS = {"kind": N_("Kind"), "id": N_("Id"), "name": N_("Name"), "found": N_("Found on patrol"),
            "received": N_("Received"), "resolved": N_("Handled"), "on_time_handling_rate": N_("Handled on time"),
            "closed": N_("Closed"), "on_time_closure_rate": N_("Closed on time"), "escalations": N_("Escalated"),
            "reopenings": N_("Reopened"), "rated": N_("Rated"), "satisfaction_rate": N_("Reporters satisfied"),
            "mean_dispatch_s": N_("Mean time to dispatch"), "mean_close_s": N_("Mean time to close")}


@router.get("/scorecards", summary="Scorecards per grid worker, grid, community and street for a period "
                                   "(JSON, CSV or a printable HTML report)",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}}}})
def get_scorecards(request: Request, since: str | None = None, until: str | None = None,
                   kind: Literal["worker", "grid", "community", "street"] | None = None,
                   format: Literal["json", "csv", "html"] = "json", headings: Literal["keys", "names"] = "keys",
                   principal: Principal = Depends(require_role("admin", "operator", "integration")),
                   svc: IncidentService = Depends(service)) -> Any:
    end = parse_time(until, "until") or svc.clock()
    start = parse_time(since, "since") or end - timedelta(days=30)
    if start >= end:
        raise BadRequest("since must be before until")
    with svc.db.session() as s:
        touched = (select(IncidentEvent.incident_id).join(Incident, Incident.id == IncidentEvent.incident_id)
                   .where(IncidentEvent.at >= start, IncidentEvent.at < end, incident_filter(principal)).distinct())
        events = [{"incident_id": e.incident_id, "event": e.event, "at": e.at, "actor": e.actor, "data": e.data}
                  for e in s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id.in_(touched),
                                                                 IncidentEvent.at < end).order_by(IncidentEvent.id))]
    rows = [r for r in cards.scorecards(events, svc.grids(), start, end)
            if (kind is None or r["kind"] == kind) and (r["kind"] == "worker" or principal.visible(r["id"]))]
    lang = reader_language(request, principal)
    if format == "csv" and headings == "names":
        return PlainTextResponse(translated_csv(rows, cards.FIELDS, HEADINGS, lang), media_type="text/csv")
    if format == "csv":
        return PlainTextResponse(cards.to_csv(rows), media_type="text/csv")
    if format == "html":
        return HTMLResponse(_report(rows, lang, start.isoformat(), end.isoformat()))
    return {"items": rows, "total": len(rows), "start": iso(start), "end": iso(end)}


def _cell(key: str, v: Any) -> str:
    if v is None:
        return "—"
    if key.endswith("_rate"):
        return f"{round(v * 100)}%"
    if key.endswith("_s"):
        return f"{v / 3600:.1f} h"
    return html.escape(str(v))


def _report(rows: list[dict[str, Any]], lang: str, start: str, end: str) -> str:
    head = "".join(f"<th>{html.escape(t(lang, HEADINGS[k]))}</th>" for k in cards.FIELDS)
    body = "".join("<tr>" + "".join(f"<td>{_cell(k, r[k])}</td>" for k in cards.FIELDS) + "</tr>" for r in rows)
    title = html.escape(t(lang, "Scorecards"))
    return (f"<!doctype html><html lang=\"{lang}\"><meta charset=\"utf-8\"><title>{title}</title>"
            "<style>body{font:13px system-ui,'Noto Sans CJK SC',sans-serif;margin:24px}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}th{background:#eee}"
            "@media print{body{margin:0}}</style>"
            f"<h1>{title}</h1><p>{html.escape(start)} – {html.escape(end)}</p><table><tr>{head}</tr>{body}</table></html>")
