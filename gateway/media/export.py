"""An incident's evidence package: one ZIP with its clips, snapshots and photos, timeline, alerts and
audit entries, and a manifest of SHA-256 hashes (also as SHA256SUMS, for `sha256sum -c`)
so whoever receives it can check that nothing was altered."""
from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from common.times import iso
from gateway.db.audit import entry_dict
from gateway.db.models import AlertRow, AuditEntry, Incident, IncidentEvent
from gateway.media.service import incident_media_rows
from gateway.media.storage import MediaStore, file_sha256

SCHEMA = "gridwatch.evidence/1"


def _json(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str).encode()


def _event_dict(e: IncidentEvent) -> dict[str, Any]:
    return {"id": e.id, "at": iso(e.at), "event": e.event, "actor": e.actor, "from_status": e.from_status,
            "to_status": e.to_status, "note": e.note, "reason": e.reason, "data": e.data}


def write_evidence_zip(s: Session, store: MediaStore, incident: Incident, out: Path, *, incident_view: dict[str, Any],
                       generated_by: str, now: datetime) -> dict[str, Any]:
    """Write the package to `out` (`incident_view`: the incident as the API shows it); returns its manifest."""
    pairs = incident_media_rows(s, incident)
    media = [item for item, _row in pairs]
    keys = [m["id"] for m in media]
    timeline = [_event_dict(e) for e in s.scalars(
        select(IncidentEvent).where(IncidentEvent.incident_id == incident.id).order_by(IncidentEvent.at, IncidentEvent.id))]
    alerts = [a.payload for a in s.scalars(
        select(AlertRow).where(AlertRow.incident_id == incident.id).order_by(AlertRow.ts))]
    conds = [(AuditEntry.object_type == "incident") & (AuditEntry.object_id == str(incident.id))]
    if keys:
        conds.append((AuditEntry.object_type == "media") & AuditEntry.object_id.in_(keys))
    audit = [entry_dict(e) for e in s.scalars(select(AuditEntry).where(or_(*conds)).order_by(AuditEntry.at, AuditEntry.id))]

    files: list[dict[str, Any]] = []
    problems: list[str] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        def add(name: str, data: bytes) -> None:
            z.writestr(name, data)
            files.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})

        add("incident.json", _json(incident_view))
        add("timeline.json", _json(timeline))
        add("alerts.json", _json(alerts))
        add("audit.json", _json(audit))
        for m, row in pairs:
            if row is None or m["status"] != "ready":
                continue
            path = store.file(row.path)
            sha, size = file_sha256(path)
            if sha != row.sha256:  # altered or damaged on disk since upload: say so, ship it anyway
                problems.append(f"{m['id']}: file SHA-256 {sha} differs from the {row.sha256} recorded at upload")
            name = f"media/{m['id']}{path.suffix}"
            z.write(path, name, compress_type=zipfile.ZIP_STORED)  # already compressed
            files.append({"path": name, "sha256": sha, "size": size, "media_id": m["id"], "kind": m["kind"],
                          "recorded_sha256": row.sha256})
        manifest = {"schema": SCHEMA, "incident_id": incident.id, "generated_at": iso(now),
                    "generated_by": generated_by, "files": files, "media": media, "integrity_problems": problems}
        z.writestr("manifest.json", _json(manifest))
        z.writestr("SHA256SUMS", "".join(f"{f['sha256']}  {f['path']}\n" for f in files))
    return manifest
