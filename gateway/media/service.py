"""Media in the database: registering uploads, which alerts and incidents an item belongs to,
who may see it, and the retention clean-up. Used by `gateway.api.media`; no HTTP here."""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.times import iso
from gateway.db import audit
from gateway.db.models import OPEN_STATUSES, AlertRow, Incident, Media
from gateway.media.metrics import REMOVED
from gateway.media.retention import RetentionPolicy, StoredMedia, plan_retention
from gateway.media.storage import KEY_RE, MediaStore, candidate_relpaths

log = logging.getLogger("gridwatch.media")

VIEW_ROLES = ("admin", "operator", "grid_worker", "integration")
CLIP_WINDOW = timedelta(seconds=300)  # a clip's alerts lie within this span after its start (edge caps clips at 120 s)


def media_key(row: Media) -> str:
    return path_key(row.path)


def path_key(path: str) -> str:
    """A stored file's media key (the `<key>` of /api/media/<key>): its name without the suffix."""
    return PurePosixPath(path).stem


def find_media(s: Session, key: str) -> Media | None:
    if not KEY_RE.match(key):
        return None
    return s.scalar(select(Media).where(Media.path.in_(candidate_relpaths(key)), Media.deleted_at.is_(None)))


def media_refs(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The media references an alert carries (`details.media`), by media id."""
    media = (payload.get("details") or {}).get("media") or {}
    out = {}
    if isinstance(media, dict):
        for kind, ref in media.items():
            if isinstance(ref, dict) and isinstance(ref.get("id"), str):
                out[ref["id"]] = {**ref, "kind": ref.get("kind", kind)}
    return out


def alerts_for(s: Session, row: Media) -> list[AlertRow]:
    """The alerts that refer to this media: its first alert, and those of the same camera
    around its time whose `details.media` names it (one clip may serve several alerts)."""
    key = media_key(row)
    found: dict[str, AlertRow] = {}
    if row.alert_id:
        a = s.get(AlertRow, row.alert_id)
        if a is not None:
            found[a.id] = a
    if row.camera_id:
        q = select(AlertRow).where(AlertRow.camera_id == row.camera_id,
                                   AlertRow.ts >= row.created_at - timedelta(seconds=1),
                                   AlertRow.ts <= row.created_at + CLIP_WINDOW)
        for a in s.scalars(q):
            if key in media_refs(a.payload or {}):
                found[a.id] = a
    return list(found.values())


def incidents_for(s: Session, alerts: list[AlertRow], row: Media | None = None) -> list[Incident]:
    """The incidents of these alerts, and the one `row` belongs to itself (a resolution photo has no alert)."""
    ids = {a.incident_id for a in alerts if a.incident_id is not None}
    if row is not None and row.incident_id is not None:
        ids.add(row.incident_id)
    return list(s.scalars(select(Incident).where(Incident.id.in_(ids)))) if ids else []


def may_view(principal, alerts: list[AlertRow], incidents: list[Incident]) -> bool:
    """Allowed when the caller may see one of the incidents (or, before any incident, one of the
    alerts' grids); media nobody can place belongs to the top of the tree."""
    if principal.role not in VIEW_ROLES:
        return False
    if principal.is_admin:
        return True
    if incidents:
        return any(principal.sees(i) for i in incidents)  # also the professional grid it was sent to
    if alerts:
        return any(principal.visible(a.grid_id) for a in alerts)
    return principal.visible(None)


def register(s: Session, *, key: str, relpath: str, sha256: str, size: int, meta: dict[str, Any],
             now: datetime) -> Media:
    """The row of a completed upload (idempotent: a second completion returns the first row)."""
    existing = find_media(s, key)
    if existing is not None:
        return existing
    alert_ids = [a for a in meta.get("alert_ids") or [] if isinstance(a, str)]
    created = _parse_ts(meta.get("start")) or now
    row = Media(sha256=sha256, kind=str(meta.get("kind") or "clip"), alert_id=alert_ids[0] if alert_ids else None,
                camera_id=meta.get("camera_id"), type=meta.get("content_type"), path=relpath, size=size,
                created_at=created, complete=True)
    s.add(row)
    s.flush()
    incidents = incidents_for(s, alerts_for(s, row))
    if incidents:
        row.incident_id = incidents[0].id
    return row


def store_bytes(s: Session, store: MediaStore, data: bytes, content_type: str, *, kind: str, now: datetime,
                alert_id: str | None = None, incident_id: int | None = None, camera_id: str | None = None) -> Media:
    """The one way the gateway stores a file it received itself (an inline snapshot, a photo): in
    the media store's layout, with its `media` row, like every uploaded item."""
    _key, relpath, sha = store.write(data, content_type, now)
    row = Media(sha256=sha, kind=kind, alert_id=alert_id, incident_id=incident_id, camera_id=camera_id,
                type=content_type, path=relpath, size=len(data), created_at=now, complete=True)
    s.add(row)
    s.flush()
    return row


def media_dict(row: Media) -> dict[str, Any]:
    key = media_key(row)
    return {"id": key, "url": f"/api/media/{key}", "kind": row.kind, "content_type": row.type,
            "camera_id": row.camera_id, "sha256": row.sha256, "size": row.size, "status": "ready",
            "created_at": iso(row.created_at), "alert_id": row.alert_id, "incident_id": row.incident_id}


def incident_media(s: Session, incident: Incident) -> list[dict[str, Any]]:
    """Every media item the incident's alerts refer to, and its resolution photos: `ready` once
    stored, else `pending` (the clip is still recording or uploading) or `deleted` (by retention)."""
    return [item for item, _row in incident_media_rows(s, incident)]


def incident_media_rows(s: Session, incident: Incident) -> list[tuple[dict[str, Any], Media | None]]:
    """`incident_media` with each item's `media` row (None while pending)."""
    items: dict[str, dict[str, Any]] = {}
    alerts = list(s.scalars(select(AlertRow).where(AlertRow.incident_id == incident.id).order_by(AlertRow.ts)))
    for a in alerts:
        for key, ref in media_refs(a.payload or {}).items():
            item = items.setdefault(key, {"id": key, "url": f"/api/media/{key}", "kind": ref.get("kind"),
                                          "content_type": ref.get("content_type"), "camera_id": a.camera_id,
                                          "status": "pending", "alert_ids": []})
            item["alert_ids"].append(a.id)
    rows = {media_key(r): r for r in s.scalars(select(Media).where(Media.incident_id == incident.id))}
    for key, r in rows.items():
        items.setdefault(key, {"alert_ids": [r.alert_id] if r.alert_id else []})
    out = []
    for key, item in items.items():
        row = rows.get(key)
        if row is None and KEY_RE.match(key):  # an edge's reference names anything; only a ULID can be stored
            row = s.scalar(select(Media).where(Media.path.in_(candidate_relpaths(key))))
        if row is not None:
            item.update({k: v for k, v in media_dict(row).items() if k != "incident_id"})
            item["status"] = "deleted" if row.deleted_at else "ready"
        out.append((item, row))
    return sorted(out, key=lambda pair: pair[0]["id"])


# ---- retention -------------------------------------------------------------------------------

@dataclass
class CleanupReport:
    removed: list[dict[str, Any]] = field(default_factory=list)
    freed_bytes: int = 0
    kept_bytes: int = 0
    over_limit_bytes: int = 0
    orphans_removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "removed_count": len(self.removed), "freed_bytes": self.freed_bytes,
                "kept_bytes": self.kept_bytes, "over_limit_bytes": self.over_limit_bytes,
                "orphans_removed": self.orphans_removed, "errors": self.errors}


def protected_ids(s: Session) -> set[int]:
    """Media of open incidents: linked directly, through their first alert, or named in the
    `details.media` of any alert of an open incident."""
    open_ids = set(s.scalars(select(Incident.id).where(Incident.status.in_(OPEN_STATUSES))))
    if not open_ids:
        return set()
    alert_ids: set[str] = set()
    keys: set[str] = set()
    for aid, payload in s.execute(select(AlertRow.id, AlertRow.payload).where(AlertRow.incident_id.in_(open_ids))):
        alert_ids.add(aid)
        keys.update(media_refs(payload or {}))
    out = set()
    for row in s.scalars(select(Media).where(Media.deleted_at.is_(None))):
        if row.incident_id in open_ids or row.alert_id in alert_ids or media_key(row) in keys:
            out.add(row.id)
    return out


def run_cleanup(db, store: MediaStore, policy: RetentionPolicy, now: datetime, actor: str = "retention",
                orphan_grace_s: float = 600.0) -> CleanupReport:
    """Apply the retention policy. Rows are marked deleted (and audited) and committed before their
    files go, so the database never points at a missing file; files left by a crash in between,
    or by an upload whose row never got written, are swept as orphans."""
    report = CleanupReport()
    with db.session() as s:
        protected = protected_ids(s)
        rows = {r.id: r for r in s.scalars(select(Media).where(Media.deleted_at.is_(None)))}
        items = [StoredMedia(r.id, r.camera_id, r.kind, r.size, r.created_at, r.id in protected) for r in rows.values()]
        plan = plan_retention(items, now, policy)
        for rm in plan.removals:
            row = rows[rm.item.id]
            row.deleted_at = now
            entry = {"id": media_key(row), "kind": row.kind, "camera_id": row.camera_id, "size": row.size,
                     "created_at": iso(row.created_at), "reason": rm.reason, "path": row.path}
            report.removed.append(entry)
            REMOVED.labels(rm.reason).inc()
            audit.record(s, at=now, actor=actor, action="media.delete", object_type="media",
                         object_id=media_key(row), reason=f"retention: {rm.reason}",
                         details={k: entry[k] for k in ("kind", "camera_id", "size", "created_at")})
        report.freed_bytes, report.kept_bytes, report.over_limit_bytes = (plan.freed_bytes, plan.kept_bytes,
                                                                         plan.over_limit_bytes)
        live_paths = {store.relative(r.path) for r in rows.values() if r.deleted_at is None}
    for entry in report.removed:
        try:
            store.delete(entry["path"])
        except OSError as e:
            report.errors.append(f"{entry['path']}: {e.strerror}")
    cutoff = time.time() - orphan_grace_s  # wall clock: a file just finished may not have its row committed yet
    for relpath, mtime in store.own_files().items():
        if relpath not in live_paths and mtime < cutoff:
            try:
                store.delete(relpath)
                report.orphans_removed.append(relpath)
            except OSError as e:
                report.errors.append(f"{relpath}: {e.strerror}")
    if report.removed or report.orphans_removed:
        log.info("media retention removed %d items (%d bytes) and %d orphan files", len(report.removed),
                 report.freed_bytes, len(report.orphans_removed))
    return report


def _parse_ts(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        ts = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo else None



def dumps(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str).encode()


class RetentionLoop(threading.Thread):
    """Applies the retention policy every `interval_s` until `stop()`; a failed run is logged and
    tried again at the next interval. `clock` is the gateway's (the service's) clock."""

    def __init__(self, db, store: MediaStore, policy: RetentionPolicy, clock, interval_s: float = 3600.0):
        super().__init__(name="media-retention", daemon=True)
        self.db, self.store, self.policy, self.clock, self.interval_s = db, store, policy, clock, interval_s
        self.runs = 0
        self.last_report: CleanupReport | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.last_report = run_cleanup(self.db, self.store, self.policy, self.clock())
                self.runs += 1
            except Exception:  # a database hiccup must not end the clean-up for good
                log.exception("media retention run failed; trying again in %.0f s", self.interval_s)
            self._halt.wait(self.interval_s)

    def stop(self, timeout: float = 10.0) -> None:
        self._halt.set()
        self.join(timeout)
