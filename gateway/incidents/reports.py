"""Cases that people report (a resident over Open311, a grid worker on patrol): routed by
location like an alert, opened and dispatched by the same engine, with the same deadlines,
escalation, audit trail and outbox. The incident is what everybody sees; the reporter's
contact details are stored apart (`reports`) and shown only to those who handle the case.

The categories are the services people can report (Open311 `service_code`s); an incident of
one has the type `report.<code>`, which routing rules can match like any alert type.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db import audit
from gateway.db.models import Incident, Report
from gateway.engine import lifecycle
from gateway.engine import routing as routing_mod
from gateway.engine.categories import TYPE_PREFIX
from gateway.incidents import categories
from gateway.incidents.errors import BadRequest
from gateway.incidents.state import state_columns

REPORTER_FIELDS = ("first_name", "last_name", "email", "phone", "device_id", "account_id")


@dataclass
class NewReport:
    category: str
    description: str
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    media_url: str | None = None
    grid_id: str | None = None  # when no location: the grid it is in ("my grid" on the phone)
    reporter: dict[str, Any] = field(default_factory=dict)
    channel: str = "open311"
    severity: str | None = None  # None: the category's


def file_report(service: Any, s: Session, report: NewReport, *, actor: str, now: datetime) -> Incident:
    """Open the incident of a report (in the caller's transaction); BadRequest for what cannot be."""
    known = categories.in_force(service.rules)
    category = known.get(report.category)
    if category is None:
        raise BadRequest(f"unknown category {report.category!r} (one of {', '.join(known)})")
    severity = report.severity or category.severity
    if not report.description.strip():
        raise BadRequest("a report needs a description")
    grids = service.grids(s)
    if report.lat is not None and report.lon is not None:
        if not (-90 <= report.lat <= 90 and -180 <= report.lon <= 180):
            raise BadRequest(f"lat/long out of range: {report.lat}, {report.lon}")
        cell = grids.locate(report.lat, report.lon)
    elif report.grid_id:
        cell = grids.get(report.grid_id)
        if cell is None:
            raise BadRequest(f"no grid {report.grid_id!r}")
    elif report.address:
        cell = None  # an address alone is not located here: the command centre routes it by hand
    else:
        raise BadRequest("a report needs a location: lat and long, an address, or a grid")
    type_ = TYPE_PREFIX + report.category
    rules = service.rules
    if cell is None:
        route = routing_mod.unrouted()
    else:
        route = routing_mod.route(rules, grids, alert_type=type_, severity=severity, grid_id=cell.id,
                                  local_time=now.astimezone(ZoneInfo(rules.tz)), lat=report.lat, lon=report.lon)
    key = f"{report.channel}-{uuid.uuid4().hex}"
    state, events = lifecycle.open_incident(route, grids, now, incident_id="new", alert_type=type_, source_id=key,
                                            severity=severity, calendar=rules.calendar_for(route.calendar))
    location: dict[str, Any] | None = {"lat": report.lat, "lon": report.lon} if report.lat is not None else None
    if location is not None and report.address:
        location["address"] = report.address
    inc = Incident(**{**state_columns(state), "source_kind": "report", "first_alert_id": key, "alert_count": 0,
                      "title": report.description.strip()[:300], "location": location, "version": 1,
                      "unrouted_reason": None if cell else "reported by address only: route it by hand",
                      "dispatched_at": next((ev.at for ev in events if ev.name == "dispatched"), None)})
    s.add(inc)
    s.flush()
    s.add(Report(incident_id=inc.id, channel=report.channel, service_code=report.category,
                 description=report.description.strip(), address=report.address, media_url=report.media_url,
                 reporter={k: v for k, v in report.reporter.items() if v}, submitted_by=actor, created_at=now))
    state = replace(state, id=str(inc.id))
    service.writer.after_change(s, inc, None, state, events, now=now, written=True,
                                extra_data={"reported_by": actor, "channel": report.channel})
    audit.record(s, at=now, actor=actor, action="incident.report", object_type="incident", object_id=inc.id,
                 grid_id=inc.grid_id, reason=f"{report.channel}: {report.category}",
                 details={"assignee": inc.assignee, "level": inc.level})
    return inc


def report_of(s: Session, incident_id: int) -> Report | None:
    return s.scalar(select(Report).where(Report.incident_id == incident_id))
