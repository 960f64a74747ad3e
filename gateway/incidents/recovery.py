"""Recovery notices: an alert saying that a condition ended (a sensor back to normal, a camera's
view restored after tampering, a stream back). It never opens an incident: it puts a "cleared"
entry on the timeline of the open incident whose condition it ends."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts import Alert
from common.times import iso
from gateway.db.models import OPEN_STATUSES, AlertRow, Incident
from gateway.incidents.outcome import IngestOutcome

# A notice of this type ends the condition that an alert of the other type raised.
RECOVERS = {"stream.restored": "stream.lost"}


def is_recovery(alert: Alert) -> bool:
    """A notice that a condition ended, never a new incident: a sensor's recovery notice
    (edge/sensors/README.md: `details.cleared: true`, `details.raised_id`), a camera's view
    coming back after tampering (`tamper.*` with `details.state: restored`), a stream restored."""
    details = alert.details or {}
    return (details.get("cleared") is True or alert.type.value in RECOVERS
            or (alert.type.value.startswith("tamper.") and details.get("state") == "restored"))


def recovered_type(alert: Alert) -> str:
    """The alert type whose condition this recovery notice ends."""
    return RECOVERS.get(alert.type.value, alert.type.value)


def clear(s: Session, writer, alert: Alert, grid_id: str | None, now: datetime) -> IngestOutcome:
    """A recovery notice (the condition ended): a 'cleared' entry on the timeline of the
    incident it ends, no status change, and never a new incident."""
    inc_id, why = clear_target(s, alert)
    if inc_id is None:
        return IngestOutcome("cleared", None, grid_id, why)
    inc = s.scalar(select(Incident).where(Incident.id == inc_id).execution_options(populate_existing=True))
    raised_id = (alert.details or {}).get("raised_id")
    writer.event(s, inc, "cleared", "system", now, note=f"{alert.type.value} ended at {alert.source.id}",
                data={"alert_id": alert.id, "raised_id": raised_id, "ts": iso(alert.ts)},
                from_status=inc.status, to_status=inc.status)
    return IngestOutcome("cleared", inc_id, grid_id)


def clear_target(s: Session, alert: Alert) -> tuple[int | None, str | None]:
    """The open incident a recovery notice ends, locked (one UPDATE, as in `attach.attach_one`): the
    incident of the alert it clears (after merges) when that alert is known, else the open
    incident of the same source and type. (A late notice of an earlier episode must not
    mark a newer, still ongoing one as ended.)"""
    where = [Incident.status.in_(OPEN_STATUSES)]
    raised_id = (alert.details or {}).get("raised_id")
    raised = s.get(AlertRow, raised_id) if isinstance(raised_id, str) else None
    if raised is not None:
        inc_id = raised.incident_id
        for _ in range(10):  # follow merges to the incident that took the alerts over
            merged = s.scalar(select(Incident.merged_into).where(Incident.id == inc_id)) if inc_id else None
            if merged is None:
                break
            inc_id = merged
        if inc_id is None:
            return None, f"recovery notice: the alert it clears ({raised_id}) opened no incident"
        where.append(Incident.id == inc_id)
    else:
        where += [Incident.source_id == alert.source.id, Incident.type == recovered_type(alert)]
    stmt = update(Incident).where(*where).values(version=Incident.version + 1).returning(Incident.id)
    inc_id = s.execute(stmt).scalar()
    if inc_id is None:
        return None, f"recovery notice: no open {recovered_type(alert)} incident of {alert.source.id}"
    return inc_id, None
