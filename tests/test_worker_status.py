"""Camera workers on real footage (three looping file cameras, each with its own capture and
analysis threads): every camera is analysed, and every status it publishes names the camera,
its grid and its place (the gateway files it by them before its first alert)."""
from __future__ import annotations

import threading
import time

from camera_profiles import CameraProfile
from edge.camera.worker import CameraWorker
from tests.test_stream_roles_rtsp import StatusBoard


def test_every_camera_is_analysed_and_its_statuses_name_it(vtest_path):
    stop = threading.Event()
    boards = {f"cam-{i}": StatusBoard() for i in range(3)}
    workers = [CameraWorker(CameraProfile.model_validate({
        "id": cam, "name": f"{i + 1}号杆", "grid": "G-03-07", "location": {"lat": 36.726, "lon": 104.841},
        "source": str(vtest_path), "loop": True, "detect": {"fps": 10},
        "zones": [{"name": "草坪", "polygon": [[0.0, 0.6], [0.5, 0.6], [0.5, 1.0], [0.0, 1.0]]}]}),
        "edge1", board, stop, status_interval_s=0.5) for i, (cam, board) in enumerate(boards.items())]
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and min(w.pipeline.frames if w.pipeline else 0 for w in workers) < 20:
            time.sleep(0.2)
    finally:
        stop.set()
        for w in workers:
            w.join(10)
    assert all(w.pipeline.frames >= 20 and w.pipeline.errors == 0 for w in workers), "a camera was not analysed"
    for i, board in enumerate(boards.values()):
        assert board.statuses, "no status"
        assert all(s["name"] == f"{i + 1}号杆" and s["grid"] == "G-03-07" for s in board.statuses)
        assert board.statuses[-1]["location"] == {"lat": 36.726, "lon": 104.841}
