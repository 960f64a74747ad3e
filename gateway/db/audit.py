"""The append-only audit trail: every change, with who, when, what and why. Entries are
written in the same transaction as the change they describe."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from common.times import iso
from gateway.db.models import AuditEntry


def record(session: Session, *, at: datetime, actor: str, action: str, object_type: str,
           object_id: str | int | None = None, grid_id: str | None = None, reason: str | None = None,
           details: dict[str, Any] | None = None) -> AuditEntry:
    entry = AuditEntry(at=at, actor=actor, action=action, object_type=object_type,
                       object_id=None if object_id is None else str(object_id), grid_id=grid_id,
                       reason=reason, details=details or {})
    session.add(entry)
    return entry


def entry_dict(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, "at": iso(e.at), "actor": e.actor, "action": e.action, "object_type": e.object_type,
            "object_id": e.object_id, "grid_id": e.grid_id, "reason": e.reason, "details": e.details}
