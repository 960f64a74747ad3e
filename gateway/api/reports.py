"""What a person reported with an incident, for those who see the case; the reporter's contact
details only for those who handle it (operators, admins, the assignee), never for integrations."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from gateway.api.auth import READ_ROLES, Principal, require_role
from gateway.api.common import RowId, service
from gateway.api.errors import ERROR_RESPONSES
from gateway.db.models import Incident
from gateway.incidents.errors import NotFound
from gateway.incidents.reports import report_of
from gateway.incidents.service import IncidentService
from gateway.incidents.state import iso

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
        return {"incident_id": inc.id, "channel": rep.channel, "service_code": rep.service_code,
                "description": rep.description, "address": rep.address, "media_url": rep.media_url,
                "submitted_by": rep.submitted_by, "created_at": iso(rep.created_at),
                "reporter": rep.reporter if handles else None}
