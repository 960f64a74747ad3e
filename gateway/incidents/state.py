"""An incident row and the engine's state, each made from the other, and the incident as the
API, the timeline and incident events show it (`incident_dict`)."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import Alert
from common.times import iso
from gateway.db.models import Incident, Silence
from gateway.engine import silences
from gateway.engine.state import STATE_FIELDS, UNRESOLVED, IncidentState

# What a plain repeated alert changes: fields of the engine state that are incident columns and
# `incident_dict` keys of the same name and value (see `attach.attach_pending`).
PATCHABLE = {"alert_count", "last_alert_at", "severity"}
STATE_COLUMNS = ("status", "level", "grid_id", "owner_grid_id", "type", "severity", "source_id", "camera_id",
                 "professional_grid_id", "assignee", "opened_at", "ack_due_at", "due_at", "acknowledged_at",
                 "resolved_at", "verified_at", "closed_at", "dismissed_at", "rule", "escalations", "reopen_count",
                 "alert_count", "last_alert_at", "false_alarm")


# Engine state fields kept only in the `engine_state` JSON (the others are columns; rows written
# before this keep a whole copy there, which `to_state` reads under the columns).
JSON_ONLY = tuple(f for f in STATE_FIELDS if f not in {*STATE_COLUMNS, "id", "merged_into"})


def state_columns(state: IncidentState) -> dict[str, Any]:
    """Incident columns from an engine state, plus `engine_state`: the fields without a column."""
    out = {k: getattr(state, k) for k in STATE_COLUMNS}
    out["merged_into"] = int(state.merged_into) if state.merged_into else None
    out["last_alert_at"] = state.last_alert_at or state.opened_at
    out["engine_state"] = state.to_dict(JSON_ONLY)
    return out


def to_state(inc: Incident) -> IncidentState:
    saved = dict(inc.engine_state or {})
    saved.update({k: getattr(inc, k) for k in STATE_COLUMNS})  # the columns are the truth
    saved["id"] = str(inc.id)
    saved["merged_into"] = str(inc.merged_into) if inc.merged_into else None
    return IncidentState.from_dict(saved)


PLAIN = (str, int, float, bool, type(None))


def jsonable(v: Any) -> Any:
    if type(v) in PLAIN:  # the usual cases first: a plain value, a flat dict of them
        return v
    if type(v) is dict and all(type(x) in PLAIN for x in v.values()) and all(type(k) is str for k in v):
        return v
    if isinstance(v, datetime):
        return iso(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x) for x in v]
    if dataclasses.is_dataclass(v):
        return jsonable(dataclasses.asdict(v))
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def is_overdue(inc: Incident, now: datetime) -> bool:
    if inc.status in ("open", "dispatched") and inc.ack_due_at and inc.acknowledged_at is None \
            and inc.ack_due_at < now:
        return True
    return inc.status in UNRESOLVED and bool(inc.due_at) and inc.due_at < now


def incident_dict(inc: Incident, now: datetime) -> dict[str, Any]:
    return {
        "id": inc.id, "status": inc.status, "grid_id": inc.grid_id, "level": inc.level, "type": inc.type,
        "severity": inc.severity, "source_kind": inc.source_kind, "source_id": inc.source_id,
        "camera_id": inc.camera_id, "edge_id": inc.edge_id, "alert_count": inc.alert_count, "assignee": inc.assignee,
        "opened_at": iso(inc.opened_at), "last_alert_at": iso(inc.last_alert_at),
        "dispatched_at": iso(inc.dispatched_at), "ack_due_at": iso(inc.ack_due_at), "due_at": iso(inc.due_at),
        "acknowledged_at": iso(inc.acknowledged_at), "resolved_at": iso(inc.resolved_at),
        "verified_at": iso(inc.verified_at), "closed_at": iso(inc.closed_at), "overdue": is_overdue(inc, now),
        "owner_grid_id": inc.owner_grid_id, "dismissed_at": iso(inc.dismissed_at), "false_alarm": inc.false_alarm,
        "rule": inc.rule, "title": inc.title, "location": inc.location, "unrouted_reason": inc.unrouted_reason,
        "professional_grid_id": inc.professional_grid_id, "escalations": inc.escalations,
        "reopen_count": inc.reopen_count, "merged_into": inc.merged_into, "first_alert_id": inc.first_alert_id,
        "version": inc.version,
    }


def silence_of(row: Silence) -> silences.Silence:
    return silences.Silence(starts_at=row.starts_at, ends_at=row.ends_at, reason=row.reason, created_by=row.created_by,
                            camera_id=row.camera_id, grid_id=row.grid_id, type=row.type, kind=row.kind, id=str(row.id))


def timer_kind(kind: str) -> str:
    return kind.removesuffix("_deadline")


def title(alert: Alert) -> str:
    where = alert.zone or alert.line or alert.camera_id or alert.source.id
    return f"{alert.type.value.replace('_', ' ').replace('.', ': ')} at {where}"


def lock_incident(s: Session, incident_id: Any) -> Incident | None:
    try:
        iid = int(incident_id)
    except (TypeError, ValueError):
        return None
    return s.scalar(select(Incident).where(Incident.id == iid).with_for_update())
