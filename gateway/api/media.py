"""Media endpoints (mounted by `gateway.api.create_app`):

- `PUT  /api/media/{id}`           resumable upload from an edge (`Content-Range: bytes a-b/total`,
                                   `X-Media-Sha256`, `X-Media-Meta` JSON); the last chunk is hash-checked
- `GET  /api/media/{id}/upload`    how many bytes the gateway holds (where to resume)
- `GET  /api/media/{id}`           the file, for users who may see its incident (`?download=1`: attachment);
                                   every view, download and refusal goes to the audit trail
- `GET  /api/incidents/{id}/media` the incident's clips, snapshots and photos (ready, pending or deleted)
- `GET  /api/incidents/{id}/evidence` the evidence package (ZIP + SHA-256 manifest), audited
- `POST /api/media/cleanup`        apply the retention policy now (admin); returns what was removed
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from gateway.api.auth import Principal, current_principal, require_role
from gateway.api.common import RowId
from gateway.db import audit
from gateway.db.models import Incident
from gateway.incidents.state import incident_dict
from gateway.media import service
from gateway.media.export import write_evidence_zip
from gateway.media.metrics import UPLOAD_BYTES, UPLOADS, VIEWS
from gateway.media.retention import RetentionPolicy
from gateway.media.storage import MediaStore, StorageError, check_key, relpath_for

router = APIRouter(tags=["media"])
UPLOAD_ROLES = ("edge", "admin", "integration")
RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
MAX_MEDIA_BYTES = 2 * 1024**3


def _err(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The API's error shape, plus `received` for uploads (where the edge resumes)."""
    return JSONResponse({"error": {"code": code, "message": message}, **extra}, status_code=status)


def _now(request: Request) -> datetime:
    """The app's injected clock when it has one (tests), else the wall clock."""
    service_ = getattr(request.app.state, "service", None)
    clock = getattr(request.app.state, "clock", None) or getattr(service_, "clock", None)
    return clock() if clock else datetime.now(UTC)


def media_store(request: Request) -> MediaStore:
    return _store(request.app)


def retention_policy(request: Request) -> RetentionPolicy:
    return _policy(request.app)


def _store(app: FastAPI) -> MediaStore:
    store = getattr(app.state, "media_store", None)
    if store is None:
        store = app.state.media_store = app.state.service.media  # the incidents' store: one for every file
    return store


def _policy(app: FastAPI) -> RetentionPolicy:
    """`app.state.media_retention`, else the file named by the `media_retention` setting
    (GRIDWATCH_MEDIA_RETENTION, YAML), else defaults."""
    policy = getattr(app.state, "media_retention", None)
    if policy is None:
        path = app.state.settings.media_retention
        data = yaml.safe_load(Path(path).read_text()) if path else {}
        policy = app.state.media_retention = RetentionPolicy.model_validate(data or {})
    return policy


def start_retention(app: FastAPI, interval_s: float = 3600.0) -> service.RetentionLoop:
    """For `gateway serve`: the periodic clean-up with the app's database, media store, policy and clock."""
    clock = getattr(app.state, "clock", None) or app.state.service.clock
    loop = service.RetentionLoop(app.state.db, _store(app), _policy(app), clock, interval_s)
    loop.start()
    return loop


# ---- upload ------------------------------------------------------------------------------------

@router.get("/api/media/{media_id}/upload")
def upload_status(media_id: str, request: Request, principal: Principal = Depends(require_role(*UPLOAD_ROLES))):
    try:
        check_key(media_id)
    except StorageError as e:
        return _err(e.status, e.code, e.message)
    with request.app.state.db.session() as s:
        row = service.find_media(s, media_id)
        if row is not None:
            return {"id": media_id, "received": row.size, "size": row.size, "complete": True, "sha256": row.sha256}
    return {"id": media_id, "received": media_store(request).received(media_id), "complete": False}


@router.put("/api/media/{media_id}")
async def upload(media_id: str, request: Request, principal: Principal = Depends(require_role(*UPLOAD_ROLES))):
    store = media_store(request)
    db = request.app.state.db
    try:
        check_key(media_id)
        sha = request.headers.get("x-media-sha256", "").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise StorageError(400, "bad_hash", "X-Media-Sha256 must be the file's SHA-256 in hex")
        try:
            meta = json.loads(request.headers.get("x-media-meta") or "{}")
        except json.JSONDecodeError as e:
            raise StorageError(400, "bad_meta", f"X-Media-Meta is not JSON: {e}") from None
        if not isinstance(meta, dict):
            raise StorageError(400, "bad_meta", "X-Media-Meta must be a JSON object")
        relpath = relpath_for(media_id, str(meta.get("content_type") or ""))
        start, end, total = _content_range(request)
    except StorageError as e:
        UPLOADS.labels("refused").inc()
        return _err(e.status, e.code, e.message)

    done = await run_in_threadpool(_completed, db, media_id, sha)
    if done is not None:
        return done  # a retry after the gateway already finished: nothing to do
    async with _upload_lock(request.app, media_id):  # a retry overlapping a slow request waits its turn
        return await _receive(request, store, db, media_id, sha, meta, relpath, start, total, principal)


def _upload_lock(app: FastAPI, media_id: str) -> asyncio.Lock:
    locks = getattr(app.state, "media_upload_locks", None)
    if locks is None:
        locks = app.state.media_upload_locks = weakref.WeakValueDictionary()
    lock = locks.get(media_id)
    if lock is None:
        lock = locks[media_id] = asyncio.Lock()
    return lock


async def _receive(request: Request, store: MediaStore, db, media_id: str, sha: str, meta: dict[str, Any],
                   relpath: str, start: int, total: int, principal: Principal):
    try:
        received = await store.append(media_id, start, request.stream())
    except StorageError as e:
        UPLOADS.labels("storage_full" if e.status == 507 else "refused").inc()
        return _err(e.status, e.code, e.message, received=e.received)
    UPLOAD_BYTES.inc(max(0, received - start))
    if received < total:
        UPLOADS.labels("chunk").inc()
        return {"id": media_id, "received": received, "size": total, "complete": False}
    if received > total:
        store.discard(media_id)
        return _err(400, "too_long", f"received {received} bytes for a {total}-byte file; discarded", received=0)
    try:
        sha_got, size = await run_in_threadpool(store.finish, media_id, relpath, sha)
    except StorageError as e:
        UPLOADS.labels("hash_mismatch").inc()
        return _err(e.status, e.code, e.message, received=0)
    UPLOADS.labels("complete").inc()
    return await run_in_threadpool(_register, db, media_id, relpath, sha_got, size, meta, _now(request), principal)


def _content_range(request: Request) -> tuple[int, int, int]:
    header = request.headers.get("content-range")
    if header:
        m = RANGE_RE.match(header.strip())
        if not m:
            raise StorageError(400, "bad_range", f"Content-Range {header!r} is not 'bytes START-END/TOTAL'")
        start, end, total = map(int, m.groups())
    else:  # a whole file in one request
        total = int(request.headers.get("content-length") or 0)
        start, end = 0, total - 1
    if not (0 <= start <= end + 1 and end < total <= MAX_MEDIA_BYTES):
        raise StorageError(400, "bad_range", f"range {start}-{end}/{total} is not within a file of at most "
                                             f"{MAX_MEDIA_BYTES} bytes")
    return start, end, total


def _completed(db, media_id: str, sha: str) -> dict[str, Any] | None:
    with db.session() as s:
        row = service.find_media(s, media_id)
        if row is None:
            return None
        return {"id": media_id, "received": row.size, "size": row.size, "complete": True, "sha256": row.sha256,
                "same_content": row.sha256 == sha}


def _register(db, media_id, relpath, sha, size, meta, now, principal) -> dict[str, Any]:
    with db.session() as s:
        row = service.register(s, key=media_id, relpath=relpath, sha256=sha, size=size, meta=meta, now=now)
        audit.record(s, at=now, actor=principal.username, action="media.upload", object_type="media",
                     object_id=media_id, details={"kind": row.kind, "sha256": sha, "size": size,
                                                  "camera_id": row.camera_id, "alert_ids": meta.get("alert_ids")})
        return {"id": media_id, "received": size, "size": size, "complete": True, "sha256": sha}


# ---- viewing -----------------------------------------------------------------------------------

@router.get("/api/media/{media_id}")
def serve(media_id: str, request: Request, download: bool = False,
          principal: Principal = Depends(current_principal)):
    try:
        check_key(media_id)
    except StorageError as e:
        return _err(e.status, e.code, e.message)
    now = _now(request)
    store = media_store(request)
    action = "media.download" if download else "media.view"
    with request.app.state.db.session() as s:
        row = service.find_media(s, media_id)
        if row is None:
            return _err(404, "not_found", f"media {media_id} is not stored (still recording or uploading, "
                                          "removed by retention, or unknown)")
        alerts = service.alerts_for(s, row)
        incidents = service.incidents_for(s, alerts, row)
        grid = incidents[0].grid_id if incidents else (alerts[0].grid_id if alerts else None)
        details = {"kind": row.kind, "incident_ids": [i.id for i in incidents], "sha256": row.sha256}
        allowed = service.may_view(principal, alerts, incidents)
        if not allowed:
            audit.record(s, at=now, actor=principal.username, action=action + "_denied", object_type="media",
                         object_id=media_id, grid_id=grid, reason=f"role {principal.role} in grid "
                         f"{principal.grid_id or '(all)'} may not see this incident", details=details)
        elif _first_request(request):  # a video player fetches many ranges: one entry per viewing
            audit.record(s, at=now, actor=principal.username, action=action, object_type="media",
                         object_id=media_id, grid_id=grid, details=details)
        path = store.file(row.path)
        content_type = row.type or "application/octet-stream"
    VIEWS.labels("allowed" if allowed else "denied").inc()
    if not allowed:
        return _err(403, "forbidden", "you may not see the incident this media belongs to")
    blur = _blur_for(request, principal)
    if blur:
        path = _blurred(store, path, blur)
    return FileResponse(path, media_type=content_type, filename=path.name if download else None,
                        content_disposition_type="attachment" if download else "inline",
                        headers={"Cache-Control": "private, no-store"})


def _first_request(request: Request) -> bool:
    rng = request.headers.get("range", "")
    return not rng or rng.replace(" ", "").startswith("bytes=0-")


def _blur_for(request: Request, principal: Principal) -> int:
    """Optional blurring per role: `app.state.media_blur`, else the `media_blur` setting (GRIDWATCH_MEDIA_BLUR)."""
    table = getattr(request.app.state, "media_blur", None)
    if table is None:
        table = request.app.state.media_blur = dict(request.app.state.settings.media_blur)
    return int(table.get(principal.role, 0))


def _blurred(store: MediaStore, path: Path, level: int) -> Path:
    """A blurred copy, made once and kept until retention removes the original: snapshots with
    OpenCV, clips with ffmpeg."""
    import subprocess
    import uuid

    import cv2

    k = level | 1  # odd kernel
    out = store.derived(path.stem, f"blur{k}", path.suffix)
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")  # concurrent viewers
    if path.suffix == ".mp4":
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(path), "-vf",
                        f"boxblur={max(1, k // 2)}", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                        "-movflags", "+faststart", str(tmp)], check=True, timeout=300)
    else:
        img = cv2.imread(str(path))
        cv2.imwrite(str(tmp), cv2.GaussianBlur(img, (k, k), 0))
    os.replace(tmp, out)
    return out


def _incident_for(s, incident_id: int, principal: Principal) -> Incident | JSONResponse:
    inc = s.get(Incident, incident_id)
    if inc is None or principal.role not in service.VIEW_ROLES or not principal.sees(inc):
        return _err(404, "not_found", f"incident {incident_id} not found")  # do not reveal what exists elsewhere
    return inc


@router.get("/api/incidents/{incident_id}/media")
def list_incident_media(incident_id: RowId, request: Request, principal: Principal = Depends(current_principal)):
    with request.app.state.db.session() as s:
        inc = _incident_for(s, incident_id, principal)
        if isinstance(inc, JSONResponse):
            return inc
        items = service.incident_media(s, inc)
    return {"items": items, "total": len(items)}


@router.get("/api/incidents/{incident_id}/evidence")
def export_evidence(incident_id: RowId, request: Request, principal: Principal = Depends(current_principal)):
    now = _now(request)
    store = media_store(request)
    with request.app.state.db.session() as s:
        inc = _incident_for(s, incident_id, principal)
        if isinstance(inc, JSONResponse):
            return inc
        audit.record(s, at=now, actor=principal.username, action="incident.export", object_type="incident",
                     object_id=str(incident_id), grid_id=inc.grid_id, reason="evidence package downloaded")
    fd, name = tempfile.mkstemp(prefix=f"evidence-{incident_id}-", suffix=".zip")
    os.close(fd)
    with request.app.state.db.session() as s:
        inc = s.get(Incident, incident_id)
        write_evidence_zip(s, store, inc, Path(name), incident_view=incident_dict(inc, now),
                           generated_by=principal.username, now=now)
    return FileResponse(name, media_type="application/zip", filename=f"incident-{incident_id}-evidence.zip",
                        background=BackgroundTask(os.unlink, name))


@router.post("/api/media/cleanup")
def cleanup(request: Request, principal: Principal = Depends(require_role("admin"))):
    report = service.run_cleanup(request.app.state.db, media_store(request), retention_policy(request),
                                 _now(request), actor=principal.username)
    return report.as_dict()
