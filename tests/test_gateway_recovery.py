"""Notices that a condition ended (a camera's view back after tampering, a stream restored)
end up on the open incident's timeline and never open an incident of their own."""
from __future__ import annotations

import json

from sqlalchemy import select

from alerts import parse_alert
from gateway.db.models import AlertRow, Incident, IncidentEvent
from gateway.incidents.service import IncidentService
from tests.support.gateway import alert, make_db


def ingest(svc: IncidentService, **kw):
    return svc.ingest(parse_alert(json.dumps(alert(**kw))))


def test_camera_recoveries_attach_to_the_open_incident_and_open_nothing(pg_url, tmp_path):
    db = make_db(pg_url)
    svc = IncidentService(db, media_dir=tmp_path)
    covered = ingest(svc, type_="tamper.covered", details={"state": "raised"})
    lost = ingest(svc, type_="stream.lost", details={"reason": "read timed out"})
    assert covered.incident_id and lost.incident_id and covered.incident_id != lost.incident_id

    back = ingest(svc, type_="tamper.covered", severity="info", details={"state": "restored", "duration_s": 12.0})
    restored = ingest(svc, type_="stream.restored", severity="info", details={"outage_s": 42.0})
    assert (back.disposition, back.incident_id) == ("cleared", covered.incident_id)
    assert (restored.disposition, restored.incident_id) == ("cleared", lost.incident_id)

    # a restoration with nothing open (already closed, or never raised) is kept, opens nothing
    orphan = ingest(svc, source="cam-other", type_="stream.restored", severity="info", details={"outage_s": 3.0})
    assert orphan.disposition == "cleared" and orphan.incident_id is None
    assert "no open stream.lost incident of cam-other" in orphan.reason

    with db.session() as s:
        incidents = s.scalars(select(Incident)).all()
        assert sorted(i.type for i in incidents) == ["stream.lost", "tamper.covered"]
        assert all(i.alert_count == 1 for i in incidents)
        for inc_id in (covered.incident_id, lost.incident_id):
            last = s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == inc_id)
                             .order_by(IncidentEvent.id.desc())).first()
            assert last.event == "cleared" and last.from_status == last.to_status
        assert s.scalar(select(AlertRow.disposition).where(AlertRow.incident_id.is_(None))) == "cleared"
