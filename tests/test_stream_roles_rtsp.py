"""Stream roles against real RTSP cameras: detection reads the 640-wide sub stream, clips and
snapshots come from the 1280-wide main stream, and losing the main stream stops only the clips."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import cv2
import pytest

from alerts import Alert
from camera_profiles import CameraProfile
from edge.camera.clips import ClipRecorder
from edge.camera.render import MAX_WIDTH
from edge.camera.worker import CameraWorker
from tests.support.rtsp_server import RtspCamera


class StatusBoard:
    """Collects what the worker would send over MQTT (the statuses and alerts themselves)."""

    def __init__(self):
        self.statuses: list[dict] = []
        self.alerts: list[Alert] = []

    def publish_status(self, camera_id: str, status: dict) -> None:
        self.statuses.append(status)

    def publish_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def two_streams(vtest_path):
    with RtspCamera(vtest_path, width=1280, path="/main") as main, RtspCamera(vtest_path, width=640, path="/sub") as sub:
        yield main, sub


def test_detect_on_sub_record_main(two_streams, tmp_path):
    main, sub = two_streams
    prof = CameraProfile.model_validate({"id": "roles", "source": sub.url, "record_source": main.url,
                                         "detect": {"fps": 5, "warmup_s": 0},
                                         "clips": {"pre_s": 1, "post_s": 1}})
    finished: list = []
    clips = ClipRecorder(prof, tmp_path, clip_width=1280, on_finished=finished.append)
    board, stop = StatusBoard(), threading.Event()
    worker = CameraWorker(prof, "edge1", board, stop, status_interval_s=0.5, clips=clips)
    worker.start()
    try:
        _wait(lambda: worker.pipeline is not None and worker.pipeline.frames >= 5 and len(clips._ring) >= 3,
              20, "frames on both streams")
        h, w = worker.pipeline._src_shape
        assert w == 640                                        # the pipeline sees the sub stream
        assert clips._ring[-1].image.shape[1] == 1280          # the clips get the main stream
        # an alert from detection: its ts picks the nearest main frame, its box is normalised
        ring_ts = [bf.ts for bf in clips._ring]
        alert = worker.pipeline._make("intrusion", "major", ring_ts[-1] + timedelta(milliseconds=30),
                                      frame=worker.pipeline.frames, bbox=[0.25, 0.25, 0.5, 0.5])
        worker._emit(alert)
        sent = board.alerts[-1]
        media = sent.details["media"]
        assert "clip" in media and "snapshot" in media
        _wait(lambda: any(s.get("record", {}).get("state") == "streaming" for s in board.statuses), 10,
              "the record stream in the camera status")
        # the main stream goes away: detection goes on, the status says the record stream is lost
        main.kill()
        _wait(lambda: worker.record.status["state"] == "lost", 20, "record stream lost")
        before = worker.pipeline.frames
        _wait(lambda: worker.pipeline.frames >= before + 5, 10, "detection going on")
        assert worker.pipeline._src_shape[1] == 640
        assert any(s.get("record", {}).get("state") == "lost" and s.get("state") == "streaming"
                   for s in board.statuses)
    finally:
        stop.set()
        worker.join(20)
    done = {fc.kind: fc for fc in finished}   # the worker closed the recorder: all are done
    assert set(done) >= {"clip", "snapshot"}
    snap = cv2.imread(str(done["snapshot"].path))
    assert snap.shape[1] == MAX_WIDTH     # a main frame at the snapshot renderer's cap (the sub one is 640 too)
    clip = cv2.VideoCapture(str(done["clip"].path))
    ok, first = clip.read()
    clip.release()
    assert ok and first.shape[1] == 1280


def test_a_25_fps_stream_is_decoded_at_detect_fps_only(tmp_path):
    """Frames detection skips are grabbed, never retrieved: 5 of 25 per second get decoded to BGR."""
    import numpy as np

    path = tmp_path / "fast.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 240))
    for i in range(250):
        img = np.zeros((240, 320, 3), np.uint8)
        cv2.rectangle(img, (i % 280, 100), (i % 280 + 40, 140), (255, 255, 255), -1)
        out.write(img)
    out.release()
    prof = CameraProfile.model_validate({"id": "fast", "source": "rtsp://placeholder/cam", "detect": {"fps": 5}})
    with RtspCamera(path, width=320) as cam:
        from edge.camera.capture import CameraStream

        stream = CameraStream(prof, source=cam.url)
        stream.start()
        try:
            deadline = time.monotonic() + 15
            while stream.frames_read < 10 and time.monotonic() < deadline:
                stream.get(timeout=0.5)
            read0, dec0, t0 = stream.frames_read, stream.frames_decoded, time.monotonic()
            while time.monotonic() - t0 < 4.0:
                stream.get(timeout=0.5)
            elapsed = time.monotonic() - t0
            read, decoded = (stream.frames_read - read0) / elapsed, (stream.frames_decoded - dec0) / elapsed
        finally:
            stream.stop()
    assert 20 <= read <= 30, read           # the source's rate: every frame grabbed
    assert 4 <= decoded <= 6, decoded       # detect.fps: the rest never decoded
