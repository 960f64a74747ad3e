"""Evidence end to end on real footage: an alert on vtest.avi -> clip + snapshot on the edge ->
uploaded over HTTP to a real gateway (uvicorn, PostgreSQL) -> served to an allowed user,
refused to another grid's worker, both in the audit trail -> exported as a verifiable ZIP."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import select

from alerts import Alert, AlertSource, AlertType, new_alert_id
from camera_profiles.schema import CameraProfile
from common.backoff import Backoff
from edge.camera.clips import ClipRecorder
from edge.camera.frames import Frame
from edge.delivery.media_upload import MediaUploader
from gateway.api.auth import make_principal
from gateway.config import Settings
from gateway.db.models import AuditEntry, Media
from gateway.media.retention import RetentionPolicy
from tests.support.media_gateway import MASK, Gateway
from tests.support.services import REPO
from tests.support.waiting import wait_for

T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)




@pytest.fixture
def gateway(pg_url, tmp_path):
    g = Gateway(pg_url, tmp_path / "gateway-media").start()
    yield g
    g.stop()


def record_alert(vtest_path, out_dir: Path) -> tuple[Alert, list]:
    """Run the clip recorder over vtest with an intrusion alert on frame 100 (2 s before, 3 s after)."""
    profile = CameraProfile.model_validate({"id": "cam-walkway", "grid": "G-03-07", "source": str(vtest_path),
                                            "detect": {"fps": 10}, "privacy_masks": [MASK]})
    rec = ClipRecorder(profile, out_dir, pre_s=2, post_s=3, fps=10)
    cap = cv2.VideoCapture(str(vtest_path))
    alert = None
    for i in range(140):
        ok, img = cap.read()
        assert ok
        frame = Frame(i, img, T0 + timedelta(seconds=i / 10), i / 10)
        rec.push(frame)
        if i == 100:
            alert = Alert(id=new_alert_id(), edge_id="edge-t", source=AlertSource(kind="camera", id="cam-walkway"),
                          camera_id="cam-walkway", type=AlertType.intrusion, ts=frame.ts, frame=i,
                          bbox=[0.4, 0.5, 0.1, 0.3], grid_hint="G-03-07", details={"pos_s": frame.pos_s})
            alert = alert.model_copy(update={"details": {**alert.details, "media": rec.on_alert(alert)}})
    cap.release()
    return alert, rec.close()


def test_clip_reaches_allowed_user_and_is_refused_to_other_grid(gateway, vtest_path, tmp_path):
    alert, finished = record_alert(vtest_path, tmp_path / "edge-media")
    clip = next(f for f in finished if f.kind == "clip")
    clip_bytes = clip.path.read_bytes()
    outcome = gateway.service.ingest(alert)  # the alert (with its media reference) arrives first
    assert outcome.disposition == "opened" and outcome.grid_id == "G-03-07"
    inc = outcome.incident_id

    worker_a = {"Authorization": f"Bearer {gateway.token('worker-a', 'grid_worker', 'G-03-07')}"}
    worker_b = {"Authorization": f"Bearer {gateway.token('worker-b', 'grid_worker', 'G-04-01')}"}
    http = httpx.Client(base_url=gateway.url, timeout=30)

    # before upload: the incident lists its clip as pending
    listed = http.get(f"/api/incidents/{inc}/media", headers=worker_a).json()["items"]
    assert {(i["id"], i["status"]) for i in listed} == {(alert.details["media"]["clip"]["id"], "pending"),
                                                         (alert.details["media"]["snapshot"]["id"], "pending")}

    uploader = MediaUploader(gateway.url, gateway.token("edge-t", "edge", None), tmp_path / "uploads.db",
                             chunk_size=64 * 1024, backoff=Backoff(0.2, 1.0))
    for f in finished:
        uploader.enqueue(f.path, f.media_ref)
    uploader.start()
    try:
        wait_for(lambda: uploader.pending() == 0, 60, "uploads")
    finally:
        uploader.stop()
    assert uploader.stats.uploaded == 2 and not clip.path.exists()  # the edge's copy is gone once uploaded

    listed = {i["id"]: i for i in http.get(f"/api/incidents/{inc}/media", headers=worker_a).json()["items"]}
    assert listed[clip.media_id]["status"] == "ready" and listed[clip.media_id]["sha256"] == clip.sha256

    # the allowed worker gets the very clip; OpenCV reads back 2 s + 1 + 3 s of frames
    r = http.get(f"/api/media/{clip.media_id}", headers=worker_a)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4" and r.content == clip_bytes
    got = tmp_path / "served.mp4"
    got.write_bytes(r.content)
    cap = cv2.VideoCapture(str(got))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 51

    r = http.get(f"/api/media/{clip.media_id}", headers=worker_b)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = http.get(f"/api/media/{clip.media_id}?download=1", headers=worker_a)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert http.get(f"/api/media/{clip.media_id}").status_code == 401
    assert http.get(f"/api/incidents/{inc}/media", headers=worker_b).status_code == 404

    # a browser's <video> asks for ranges: served, but one viewing is one audit entry
    r = http.get(f"/api/media/{clip.media_id}", headers={**worker_a, "Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == clip_bytes[1000:2000]

    with gateway.db.session() as s:
        trail = [(e.actor, e.action, e.object_id) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "media").order_by(AuditEntry.id))]
    assert trail.count(("worker-a", "media.view", clip.media_id)) == 1
    assert ("worker-a", "media.view", clip.media_id) in trail
    assert ("worker-b", "media.view_denied", clip.media_id) in trail
    assert ("worker-a", "media.download", clip.media_id) in trail
    assert ("edge-t", "media.upload", clip.media_id) in trail

    # the evidence package: every file's hash is in the manifest and matches
    r = http.get(f"/api/incidents/{inc}/evidence", headers=worker_a)
    assert r.status_code == 200
    z = zipfile.ZipFile(io.BytesIO(r.content))
    manifest = json.loads(z.read("manifest.json"))
    names = {f["path"] for f in manifest["files"]}
    assert {"incident.json", "timeline.json", "alerts.json", "audit.json",
            f"media/{clip.media_id}.mp4"} <= names
    for f in manifest["files"]:
        assert hashlib.sha256(z.read(f["path"])).hexdigest() == f["sha256"]
    assert z.read(f"media/{clip.media_id}.mp4") == clip_bytes and manifest["integrity_problems"] == []
    sums = z.read("SHA256SUMS").decode().splitlines()
    assert len(sums) == len(manifest["files"])
    exported_audit = json.loads(z.read("audit.json"))
    assert {"media.view", "media.view_denied", "incident.export"} <= {e["action"] for e in exported_audit}
    assert json.loads(z.read("incident.json"))["id"] == inc
    assert http.get(f"/api/incidents/{inc}/evidence", headers=worker_b).status_code == 404


def test_upload_rejects_bad_input_and_wrong_hash(gateway, tmp_path):
    edge = {"Authorization": f"Bearer {gateway.token('edge-t', 'edge', None)}"}
    worker = {"Authorization": f"Bearer {gateway.token('worker-a', 'grid_worker', 'G-03-07')}"}
    http = httpx.Client(base_url=gateway.url, timeout=30)
    data = b"\xff\xd8" + bytes(range(256)) * 40
    key = new_alert_id()
    meta = json.dumps({"kind": "snapshot", "content_type": "image/jpeg", "camera_id": "cam-x"})
    good = hashlib.sha256(data).hexdigest()

    def put(body, rng, sha=good, m=meta, k=key, h=edge):
        return http.put(f"/api/media/{k}", content=body, headers={**h, "X-Media-Sha256": sha, "X-Media-Meta": m,
                                                                   "Content-Range": rng})

    n = len(data)
    assert put(data, f"bytes 0-{n - 1}/{n}", h=worker).status_code == 403  # only edges upload
    assert put(data, f"bytes 0-{n - 1}/{n}", k="../../etc").status_code in (400, 404)
    assert put(data, f"bytes 0-{n - 1}/{n}", k="not-a-ulid-at-all-0000000").json()["error"]["code"] == "bad_media_id"
    assert put(data, f"bytes 0-{n - 1}/{n}", m='{"content_type": "text/html"}').status_code == 415
    assert put(data, "bytes=0-").json()["error"]["code"] == "bad_range"
    assert put(data, f"bytes 0-{n - 1}/{n}", m="{nope").json()["error"]["code"] == "bad_meta"

    # a chunk at the wrong offset says where to resume
    assert put(data[:1000], f"bytes 0-999/{n}").json() == {"id": key, "received": 1000, "size": n, "complete": False}
    r = put(data[500:], f"bytes 500-{n - 1}/{n}")
    assert r.status_code == 409 and r.json()["received"] == 1000

    # a complete upload whose bytes do not hash to the announced SHA-256 is discarded
    r = put(data[1000:-1] + b"X", f"bytes 1000-{n - 1}/{n}")
    assert r.status_code == 422 and r.json()["error"]["code"] == "hash_mismatch"
    assert http.get(f"/api/media/{key}/upload", headers=edge).json()["received"] == 0
    with gateway.db.session() as s:
        assert s.scalar(select(Media).where(Media.sha256 == good)) is None

    assert put(data, f"bytes 0-{n - 1}/{n}").json()["complete"] is True
    assert put(data, f"bytes 0-{n - 1}/{n}").json()["complete"] is True  # a retry is harmless
    with gateway.db.session() as s:
        assert len(s.scalars(select(Media).where(Media.sha256 == good)).all()) == 1


def test_blurring_level_per_role(gateway, vtest_path, tmp_path):
    alert, finished = record_alert(vtest_path, tmp_path / "edge-media")
    snap = next(f for f in finished if f.kind == "snapshot")
    clip = next(f for f in finished if f.kind == "clip")
    original = snap.path.read_bytes()
    inc = gateway.service.ingest(alert).incident_id
    uploader = MediaUploader(gateway.url, gateway.token("edge-t", "edge", None), tmp_path / "uploads.db")
    for f in finished:
        uploader.enqueue(f.path, f.media_ref)
    uploader.run_once()
    uploader.stop()
    gateway.app.state.media_blur = {"grid_worker": 31}  # field workers see events, not faces
    worker = {"Authorization": f"Bearer {gateway.token('worker-a', 'grid_worker', 'G-03-07')}"}
    operator = {"Authorization": f"Bearer {gateway.token('op', 'operator', 'C-03')}"}
    http = httpx.Client(base_url=gateway.url, timeout=60)

    def sharpness(img) -> float:
        return cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()

    def first_frame(data: bytes, name: str):
        path = tmp_path / name
        path.write_bytes(data)
        ok, img = cv2.VideoCapture(str(path)).read()
        assert ok, f"{name} is not a readable video"
        return img

    as_operator = http.get(f"/api/media/{snap.media_id}", headers=operator).content
    as_worker = http.get(f"/api/media/{snap.media_id}", headers=worker).content
    assert as_operator == original  # the stored evidence itself is never altered

    def decode(data):
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    assert sharpness(decode(as_worker)) < sharpness(decode(original)) / 5

    plain = first_frame(http.get(f"/api/media/{clip.media_id}", headers=operator).content, "plain.mp4")
    blurred = first_frame(http.get(f"/api/media/{clip.media_id}", headers=worker).content, "blurred.mp4")
    assert sharpness(blurred) < sharpness(plain) / 3
    derived = sorted(p.name for p in (gateway.settings.media_dir / ".derived").iterdir())
    assert derived == sorted([f"{snap.media_id}-blur31.jpg", f"{clip.media_id}-blur31.mp4"])

    # once the case is over, retention takes the originals and their blurred copies together
    gateway.service.act(inc, "dismiss", make_principal("admin", "admin", None, gateway.service.grids()),
                        {"reason": "false alarm"})
    gateway.app.state.media_retention = RetentionPolicy(max_total_bytes=1)
    report = http.post("/api/media/cleanup", headers={"Authorization": "Bearer admin-secret"}).json()
    assert sorted(r["id"] for r in report["removed"]) == sorted([snap.media_id, clip.media_id])
    assert list((gateway.settings.media_dir / ".derived").iterdir()) == []
    assert http.get(f"/api/media/{snap.media_id}", headers=operator).status_code == 404


def test_professional_grid_sees_the_media_of_incidents_sent_to_it(pg_url, tmp_path):
    """A smoke alarm goes to the community and to the fire-safety grid (the example routing):
    the fire-safety duty officer sees its picture and evidence, another grid's worker does not."""
    gw = Gateway(pg_url, tmp_path / "gateway-media", routing=REPO / "gateway/examples/routing.yaml").start()
    try:
        smoke = Alert(id=new_alert_id(), edge_id="edge-t", source=AlertSource(kind="sensor", id="smoke-b3-201"),
                      type=AlertType.sensor_alarm, severity="critical", ts=T0, grid_hint="G-03-07",
                      location={"lat": 36.7260, "lon": 104.8411}, details={"sensor_kind": "smoke"})
        inc = gw.service.ingest(smoke).incident_id
        http = httpx.Client(base_url=gw.url, timeout=30)
        fire = {"Authorization": f"Bearer {gw.token('fire.duty', 'grid_worker', 'P-FIRE-01')}"}
        other = {"Authorization": f"Bearer {gw.token('worker-b', 'grid_worker', 'G-04-01')}"}
        assert http.get(f"/api/incidents/{inc}", headers=fire).json()["professional_grid_id"] == "P-FIRE-01"

        # the camera next to the detector sends a snapshot of the moment
        img = np.zeros((120, 160, 3), np.uint8)
        cv2.putText(img, "smoke", (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        data = cv2.imencode(".jpg", img)[1].tobytes()
        key = upload_snapshot(gw, http, data, smoke.id, "cam-b3")

        r = http.get(f"/api/media/{key}", headers=fire)
        assert r.status_code == 200 and r.content == data
        listed = http.get(f"/api/incidents/{inc}/media", headers=fire).json()["items"]
        assert [(i["id"], i["status"]) for i in listed] == [(key, "ready")]
        z = zipfile.ZipFile(io.BytesIO(http.get(f"/api/incidents/{inc}/evidence", headers=fire).content))
        assert z.read(f"media/{key}.jpg") == data

        assert http.get(f"/api/media/{key}", headers=other).status_code == 403
        assert http.get(f"/api/incidents/{inc}/media", headers=other).status_code == 404
        assert http.get(f"/api/incidents/{inc}/evidence", headers=other).status_code == 404
    finally:
        gw.stop()


def upload_snapshot(gw: Gateway, http: httpx.Client, data: bytes, alert_id: str, camera_id: str) -> str:
    """PUT a JPEG as the edge does (one request); returns its media id."""
    key = new_alert_id()
    meta = {"kind": "snapshot", "content_type": "image/jpeg", "camera_id": camera_id, "alert_ids": [alert_id]}
    r = http.put(f"/api/media/{key}", content=data, headers={
        "Authorization": f"Bearer {gw.token('edge-t', 'edge', None)}", "X-Media-Meta": json.dumps(meta),
        "X-Media-Sha256": hashlib.sha256(data).hexdigest()})
    assert r.json()["complete"] is True, r.text
    return key


def test_media_settings_from_file_and_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("media_blur: {grid_worker: 15}\nmedia_retention: /etc/gridwatch/retention.yaml\n")
    s = Settings.load(cfg)
    assert (s.media_blur, s.media_retention) == ({"grid_worker": 15}, Path("/etc/gridwatch/retention.yaml"))
    monkeypatch.setenv("GRIDWATCH_MEDIA_BLUR", '{"grid_worker": 31, "integration": 9}')
    assert Settings.load(cfg).media_blur == {"grid_worker": 31, "integration": 9}  # the environment wins
    monkeypatch.setenv("GRIDWATCH_MEDIA_BLUR", "grid_worker=21, integration=x")    # the older form still reads
    assert Settings().media_blur == {"grid_worker": 21}
    assert Settings().media_retention_interval_s == 3600.0


def test_blur_and_retention_come_from_the_environment(pg_url, vtest_path, tmp_path, monkeypatch):
    """GRIDWATCH_MEDIA_BLUR and GRIDWATCH_MEDIA_RETENTION reach the media endpoints through Settings."""
    policy = tmp_path / "retention.yaml"
    policy.write_text("max_age_days: {snapshot: 1}\n")
    monkeypatch.setenv("GRIDWATCH_MEDIA_BLUR", '{"grid_worker": 31}')
    monkeypatch.setenv("GRIDWATCH_MEDIA_RETENTION", str(policy))
    now = [datetime.now(UTC)]
    gw = Gateway(pg_url, tmp_path / "gateway-media", clock=lambda: now[0]).start()
    try:
        assert gw.settings.media_blur == {"grid_worker": 31} and gw.settings.media_retention == policy
        cap = cv2.VideoCapture(str(vtest_path))
        ok, frame = cap.read()
        cap.release()
        assert ok
        original = cv2.imencode(".jpg", frame)[1].tobytes()
        a = Alert(id=new_alert_id(), edge_id="edge-t", source=AlertSource(kind="camera", id="cam-walkway"),
                  camera_id="cam-walkway", type=AlertType.intrusion, ts=now[0], grid_hint="G-03-07")
        inc = gw.service.ingest(a).incident_id
        http = httpx.Client(base_url=gw.url, timeout=60)
        key = upload_snapshot(gw, http, original, a.id, "cam-walkway")
        worker = {"Authorization": f"Bearer {gw.token('worker-a', 'grid_worker', 'G-03-07')}"}
        operator = {"Authorization": f"Bearer {gw.token('op', 'operator', 'C-03')}"}
        sharpness = lambda data: cv2.Laplacian(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE),  # noqa: E731
                                               cv2.CV_64F).var()
        assert http.get(f"/api/media/{key}", headers=operator).content == original
        assert sharpness(http.get(f"/api/media/{key}", headers=worker).content) < sharpness(original) / 5

        # the policy file says snapshots go after a day: kept while the case is open, then removed
        admin = {"Authorization": "Bearer admin-secret"}
        now[0] += timedelta(days=2)
        assert http.post("/api/media/cleanup", headers=admin).json()["removed"] == []
        gw.service.act(inc, "dismiss", make_principal("admin", "admin", None, gw.service.grids()),
                       {"reason": "false alarm"})
        assert [r["id"] for r in http.post("/api/media/cleanup", headers=admin).json()["removed"]] == [key]
    finally:
        gw.stop()
