"""An upload interrupted halfway (the gateway process killed) is completed after the gateway
restarts, resuming where the gateway's copy ends, with the SHA-256 verified."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import cv2
import httpx
import pytest
from sqlalchemy import select

from alerts import Alert, AlertSource, AlertType, new_alert_id
from camera_profiles.schema import CameraProfile
from common.backoff import Backoff
from edge.camera.clips import ClipRecorder, file_sha256
from edge.camera.frames import Frame
from edge.delivery.media_upload import MediaUploader
from gateway.api.auth import issue_token
from gateway.db import Database
from gateway.db.models import Media
from tests.support.services import REPO, free_port, wait_port
from tests.support.waiting import wait_for

T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
SERVE = """
import sys, uvicorn
from gateway.app import create_app
from gateway.config import Settings
uvicorn.run(create_app(Settings()), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


class GatewayProcess:
    def __init__(self, pg_url: str, media_dir, port: int):
        self.port, self.proc = port, None
        self.env = {**os.environ, "GRIDWATCH_DB_URL": pg_url, "GRIDWATCH_MEDIA_DIR": str(media_dir),
                    "GRIDWATCH_ADMIN_TOKEN": "admin-secret"}

    def start(self, max_file_bytes: int | None = None) -> None:
        """`max_file_bytes`: the kernel refuses to grow any file of the gateway beyond it
        (RLIMIT_FSIZE, EFBIG): a full media disk without needing root to mount a small one."""
        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write() instead of a killed process
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

        self.proc = subprocess.Popen([sys.executable, "-c", SERVE, str(self.port)], cwd=REPO, env=self.env,
                                     preexec_fn=limit if max_file_bytes else None)
        wait_port(self.port, timeout=30)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def clip(vtest_path, tmp_path):
    """A real 15 s clip (5 s before, 10 s after an alert) from vtest.avi."""
    profile = CameraProfile.model_validate({"id": "cam-walkway", "source": str(vtest_path), "detect": {"fps": 10}})
    rec = ClipRecorder(profile, tmp_path / "edge-media", crf=18)  # a high quality, so a bigger file
    cap = cv2.VideoCapture(str(vtest_path))
    for i in range(220):
        ok, img = cap.read()
        assert ok
        f = Frame(i, img, T0 + timedelta(seconds=i / 10), i / 10)
        rec.push(f)
        if i == 60:
            rec.on_alert(Alert(id=new_alert_id(), edge_id="edge-t", source=AlertSource(kind="camera", id="cam-walkway"),
                               camera_id="cam-walkway", type=AlertType.intrusion, ts=f.ts, frame=i))
    return next(c for c in rec.close() if c.kind == "clip")


@pytest.fixture
def edge_db(pg_url):
    """The gateway's migrated database and an `edge` token for the uploader."""
    db = Database(pg_url)
    db.upgrade()
    with db.session() as s:
        token = issue_token(s, name="edge-t", role="edge", grid_id=None, username=None, now=T0, ttl=None)
    yield db, token
    db.dispose()


def test_upload_interrupted_by_gateway_kill_resumes_after_restart(pg_url, tmp_path, clip, edge_db):
    db, token = edge_db
    media_dir = tmp_path / "gateway-media"
    gw = GatewayProcess(pg_url, media_dir, free_port())
    gw.start()
    partial = media_dir / ".partial" / clip.media_id
    size = clip.size
    assert size > 400_000, "the clip should be big enough to interrupt"
    # a thin uplink: ~8 s for the whole clip, so the kill lands in the middle
    uploader = MediaUploader(f"http://127.0.0.1:{gw.port}", token, tmp_path / "uploads.db", chunk_size=32 * 1024,
                             max_bytes_per_s=size / 8, backoff=Backoff(0.2, 0.5), timeout_s=5)
    uploader.enqueue(clip.path, clip.media_ref)
    uploader.start()
    try:
        wait_for(lambda: partial.exists() and partial.stat().st_size >= size // 3, 60, "a third of the upload")
        gw.kill()
        held = partial.stat().st_size
        assert 0 < held < size
        wait_for(lambda: (uploader.state(clip.media_id) or {}).get("attempts", 0) >= 1, 30, "a failed attempt")
        assert uploader.state(clip.media_id)["state"] == "pending"

        gw.start()
        wait_for(lambda: uploader.state(clip.media_id)["state"] == "done", 60, "the upload to complete")
    finally:
        uploader.stop()
        gw.kill()

    # resumed, not restarted: the bytes sent are the file plus at most the chunks lost in flight
    assert uploader.stats.bytes_sent < size + 3 * 32 * 1024
    assert not partial.exists() and not clip.path.exists()
    with db.session() as s:
        row = s.scalar(select(Media).where(Media.path.like(f"%{clip.media_id}.mp4")))
    assert row is not None and row.sha256 == clip.sha256 and row.size == size
    assert file_sha256(media_dir / row.path) == (clip.sha256, size)


def test_gateway_down_from_the_start_then_up(pg_url, tmp_path, clip, edge_db):
    """The edge queues while the gateway is unreachable, and the queue survives an edge restart."""
    _, token = edge_db
    port = free_port()
    queue = tmp_path / "uploads.db"
    first = MediaUploader(f"http://127.0.0.1:{port}", token, queue, backoff=Backoff(0.2, 0.5), timeout_s=2)
    first.enqueue(clip.path, clip.media_ref)
    first.start()
    wait_for(lambda: first.state(clip.media_id)["attempts"] >= 2, 30, "failed attempts")
    first.stop()  # the edge restarts

    gw = GatewayProcess(pg_url, tmp_path / "gateway-media", port)
    gw.start()
    second = MediaUploader(f"http://127.0.0.1:{port}", token, queue, backoff=Backoff(0.2, 0.5))
    try:
        assert second.pending() == 1
        second.start()
        wait_for(lambda: second.state(clip.media_id)["state"] == "done", 60, "the upload to complete")
        r = httpx.get(f"http://127.0.0.1:{port}/api/media/{clip.media_id}/upload",
                      headers={"Authorization": f"Bearer {token}"})
        assert r.json()["complete"] is True and r.json()["sha256"] == clip.sha256
    finally:
        second.stop()
        gw.kill()


def test_media_disk_full_keeps_a_clean_partial_and_completes_once_there_is_room(pg_url, tmp_path, clip, edge_db):
    db, token = edge_db
    media_dir = tmp_path / "gateway-media"
    gw = GatewayProcess(pg_url, media_dir, free_port())
    limit = 100_000 + 5_000  # not a multiple of the chunk: the chunk that hits it is cut midway
    gw.start(max_file_bytes=limit)
    uploader = MediaUploader(f"http://127.0.0.1:{gw.port}", token, tmp_path / "uploads.db", chunk_size=20_000,
                             backoff=Backoff(0.2, 0.5))
    uploader.enqueue(clip.path, clip.media_ref)
    partial = media_dir / ".partial" / clip.media_id
    try:
        uploader.start()
        wait_for(lambda: "507" in ((uploader.state(clip.media_id) or {}).get("last_error") or ""), 30, "a 507")
        assert "storage_full" in uploader.state(clip.media_id)["last_error"]
        # what the gateway kept is exactly a prefix of the file, on a chunk boundary: no torn write
        held = partial.read_bytes()
        assert len(held) == 100_000 and clip.path.read_bytes()[:len(held)] == held
        r = httpx.get(f"http://127.0.0.1:{gw.port}/healthz")
        assert r.json()["database"] is True  # alerts and incidents (in the database) are unaffected
        gw.kill()
        gw.start()  # room again
        wait_for(lambda: uploader.state(clip.media_id)["state"] == "done", 60, "the upload to complete")
    finally:
        uploader.stop()
        gw.kill()
    with db.session() as s:
        row = s.scalar(select(Media).where(Media.path.like(f"%{clip.media_id}.mp4")))
    assert row.sha256 == clip.sha256 and file_sha256(media_dir / row.path) == (clip.sha256, clip.size)


def test_recorder_hands_media_to_uploader_and_queue_never_outgrows_its_cap(vtest_path, tmp_path):
    """No gateway at all: finished media queue up (handed over from the encoder thread); with a
    cap smaller than any file, each newcomer pushes the older ones out: dropped, deleted, counted."""
    uploader = MediaUploader(f"http://127.0.0.1:{free_port()}", "t", tmp_path / "uploads.db",
                             max_pending_bytes=1, backoff=Backoff(0.2, 0.5))
    profile = CameraProfile.model_validate({"id": "cam-walkway", "source": str(vtest_path), "detect": {"fps": 10}})
    rec = ClipRecorder(profile, tmp_path / "edge-media", pre_s=1, post_s=1, on_finished=uploader.enqueue_finished)
    cap = cv2.VideoCapture(str(vtest_path))
    refs = []
    for i in range(120):
        ok, img = cap.read()
        assert ok
        f = Frame(i, img, T0 + timedelta(seconds=i / 10), i / 10)
        rec.push(f)
        if i in (20, 80):
            refs.append(rec.on_alert(Alert(id=new_alert_id(), edge_id="e", source=AlertSource(kind="camera", id="c"),
                                           camera_id="c", type=AlertType.intrusion, ts=f.ts, frame=i)))
    assert rec.close() == []  # everything went to the uploader instead of poll()
    (first, second) = refs
    # finished in this order: snapshot 1, clip 1 (at frame 31), snapshot 2, clip 2 (at close)
    assert [uploader.state(r[k]["id"])["state"] for r in refs for k in ("snapshot", "clip")] == \
        ["dropped", "dropped", "dropped", "pending"]
    assert uploader.pending() == 1 and uploader.stats.dropped == 3
    media = tmp_path / "edge-media"
    assert sorted(p.name for p in media.iterdir()) == [f"{second['clip']['id']}.mp4"]
    uploader.stop()
