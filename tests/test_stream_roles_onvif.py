"""Stream roles on a real ONVIF camera (ipycam, main 768x576 and sub 384x288 profiles): detection
takes the sub profile when the camera profile names none, clips the main one; a record profile
that is the detect profile itself is not opened twice."""
from __future__ import annotations

import threading
import time

import pytest

from camera_profiles import CameraProfile
from edge.camera.capture import CameraStream
from edge.onvif.client import resolve_media
from tests.support.onvif_camera import OnvifCamera
from tests.support.rtsp_server import RtspCamera


@pytest.fixture
def device(vtest_path):
    with RtspCamera(vtest_path, path="/video_main", extra_paths=("/video_sub",)) as rtsp, \
            OnvifCamera(rtsp.port, username="admin", password="s3cret") as dev:
        yield dev


def _profile(port: int, **onvif) -> CameraProfile:
    return CameraProfile.model_validate({"id": "cam-roles", "detect": {"fps": 5, "warmup_s": 0}, "source": {"onvif": {
        "host": "127.0.0.1", "port": port, "username": "admin", "password": "s3cret", "events": False, **onvif}}})


def test_detect_takes_the_sub_profile_and_clips_the_main_one(device):
    prof = _profile(device.port)
    detect = resolve_media(prof.onvif)
    assert detect.profile.token == "Profile_Sub" and detect.stream_uri.endswith("/video_sub")
    record = resolve_media(prof.record_stream.onvif, detect=prof.onvif)
    assert record.profile.token == "Profile_Main" and record.stream_uri.endswith("/video_main")
    assert not record.shared


def test_a_record_profile_equal_to_the_detect_one_is_shared(device):
    prof = _profile(device.port, profile="main")          # explicit: detect on main, record main
    assert resolve_media(prof.record_stream.onvif, detect=prof.onvif).shared
    statuses: list[dict] = []
    rec = CameraStream(prof, on_status=statuses.append, source=prof.record_stream, role="record")
    rec.start()
    try:
        deadline = time.monotonic() + 15
        while rec.status["state"] != "shared" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert rec.status["state"] == "shared" and rec.status["role"] == "record"
        assert rec.frames_read == 0                            # nothing opened twice
    finally:
        rec.stop()


def test_worker_on_a_shared_record_stream_clips_the_detect_frames(device, tmp_path):
    from edge.camera.clips import ClipRecorder
    from edge.camera.worker import CameraWorker
    from tests.test_stream_roles_rtsp import StatusBoard

    prof = _profile(device.port, profile="sub", record_profile="sub")
    clips = ClipRecorder(prof, tmp_path)
    stop = threading.Event()
    worker = CameraWorker(prof, "edge1", StatusBoard(), stop, clips=clips)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while len(clips._ring) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker.record.status["state"] == "shared"
        assert len(clips._ring) >= 3 and clips._ring[-1].image.shape[1] == 384   # fed by the detect stream
    finally:
        stop.set()
        worker.join(20)
