"""The live view end to end on real parts: a real edge process (a looping file camera with a
privacy mask), the session's Mosquitto, and the gateway's app with its live link.

A want makes the edge publish masked ~640 px JPEGs, at most one a second; without one it sends
nothing. `GET /api/cameras/{id}/live.jpg` serves them to who may see the camera's grid and
says why when it cannot (waiting, offline)."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from alerts import topics
from edge.masks import PRIVACY_FILL
from gateway.db.models import Camera, Edge
from tests.support.gateway import PASSWORD, api_client
from tests.support.services import REPO

EDGE, CAMERA = "edge-live", "cam-live-01"
MASK = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]   # the top-left quarter


def start_edge(tmp_path, broker_url: str, prefix: str, video) -> subprocess.Popen:
    (tmp_path / "cam.yaml").write_text(
        f"id: {CAMERA}\ngrid: G-03-07\nsource: '{video}'\nloop: true\n"
        f"privacy_masks: [{MASK}]\ndetect: {{fps: 5}}\n")
    (tmp_path / "edge.yaml").write_text(
        f"edge_id: {EDGE}\nmqtt: {{url: '{broker_url}', prefix: {prefix}}}\n"
        f"spool: {tmp_path / 'spool.db'}\ncameras: [cam.yaml]\nstatus_interval_s: 1\n")
    return subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(tmp_path / "edge.yaml")],
                            cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            stdout=(tmp_path / "edge.log").open("wb"), stderr=subprocess.STDOUT)


def stop_edge(edge: subprocess.Popen) -> None:
    edge.send_signal(signal.SIGTERM)
    assert edge.wait(60) == 0


def subscriber(broker_url: str, topic_filter: str) -> tuple[mqtt.Client, queue.Queue]:
    got: queue.Queue = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: got.put((m.topic, m.payload, time.monotonic()))
    sub.connect("127.0.0.1", int(broker_url.rsplit(":", 1)[1]))
    sub.subscribe(topic_filter, qos=0)
    sub.loop_start()
    return sub, got


def wait_topic(got: queue.Queue, topic: str, timeout: float, pred=lambda payload: True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            t, payload, at = got.get(timeout=0.2)
        except queue.Empty:
            continue
        if t == topic and pred(payload):
            return payload, at
    return None


def assert_masked_live_jpeg(jpeg: bytes) -> None:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    h, w = img.shape[:2]
    assert w == 640 and 400 < h < 560   # vtest is 768x576: scaled to 640 wide, its shape kept
    masked = img[4:h // 2 - 4, 4:w // 2 - 4].astype(int)   # inside the mask, clear of JPEG's edge ringing
    assert abs(masked.mean() - PRIVACY_FILL) < 2 and masked.std() < 2, "the privacy mask is not burned in"
    assert img[h // 2:, w // 2:].std() > 10   # the rest is the scene


def test_a_full_hd_frame_is_scaled_to_640_with_its_mask_burned_in_and_left_untouched(vtest_path):
    from edge.camera.live import encode_live

    frame = cv2.resize(cv2.VideoCapture(str(vtest_path)).read()[1], (1920, 1440))   # vtest's 4:3, scaled up
    before = frame.copy()
    assert_masked_live_jpeg(encode_live(frame, [MASK]))
    assert np.array_equal(frame, before)   # the detector's frame keeps its pixels


def test_a_want_brings_masked_frames_once_a_second_and_none_without(tmp_path, broker, prefix, vtest_path):
    sub, got = subscriber(broker.url, f"{prefix}/#")
    edge = start_edge(tmp_path, broker.url, prefix, vtest_path)
    frame_topic = topics.live_frame(EDGE, CAMERA, prefix)
    try:
        streaming = wait_topic(got, topics.camera_status(EDGE, CAMERA, prefix), 30, lambda p: b'"streaming"' in p)
        assert streaming, (tmp_path / "edge.log").read_text()[-3000:]
        assert wait_topic(got, frame_topic, 3.0) is None   # nobody watches: nothing is sent

        sub.publish(topics.live_want(EDGE, CAMERA, prefix), b"1", qos=0)
        first = wait_topic(got, frame_topic, 5.0)
        assert first, (tmp_path / "edge.log").read_text()[-3000:]
        assert_masked_live_jpeg(first[0])
        arrivals = [first[1]]
        while len(arrivals) < 4:
            nxt = wait_topic(got, frame_topic, 3.0)
            assert nxt, "the live frames stopped while still wanted"
            arrivals.append(nxt[1])
        gaps = np.diff(arrivals)
        assert gaps.min() > 0.8 and gaps.max() < 2.0   # about one a second, never faster
    finally:
        stop_edge(edge)
        sub.loop_stop()
        sub.disconnect()


def _register(db, edge_state: str, cameras: list[tuple[str, str, str]]) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        s.merge(Edge(id=EDGE, state=edge_state, ts=now, last_seen=now, details={}))
        for cam_id, state, grid in cameras:
            s.merge(Camera(id=cam_id, edge_id=EDGE, state=state, last_seen=now, grid_id=grid, device={}))


def _login(client, username: str) -> dict:
    token = client.post("/api/auth/login", json={"username": username, "password": PASSWORD}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def gateway(tmp_path, broker, prefix):
    with api_client(tmp_path, mqtt_url=broker.url, mqtt_prefix=prefix,
                    mqtt_client_id=f"gw-live-{prefix}") as client:
        yield client


def test_the_gateway_serves_live_frames_to_the_cameras_grid_only(tmp_path, broker, prefix, vtest_path, gateway):
    _register(gateway.db, "online", [(CAMERA, "streaming", "G-03-07")])
    edge = start_edge(tmp_path, broker.url, prefix, vtest_path)
    try:
        worker = _login(gateway, "worker.g0307")
        deadline = time.monotonic() + 30
        r = gateway.get(f"/api/cameras/{CAMERA}/live.jpg", headers=worker)
        while r.status_code != 200 and time.monotonic() < deadline:   # the edge is still starting
            assert r.status_code == 202 and r.json()["state"] == "waiting", r.text
            r = gateway.get(f"/api/cameras/{CAMERA}/live.jpg", headers=worker)
        assert r.status_code == 200, (tmp_path / "edge.log").read_text()[-3000:]
        assert r.headers["content-type"] == "image/jpeg" and r.headers["cache-control"] == "no-store"
        assert_masked_live_jpeg(r.content)
        time.sleep(1.2)
        again = gateway.get(f"/api/cameras/{CAMERA}/live.jpg", headers=worker)
        assert again.status_code == 200 and again.content != r.content   # it is live: a newer frame

        other = gateway.get(f"/api/cameras/{CAMERA}/live.jpg", headers=_login(gateway, "worker.g0306"))
        assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
        gateway.cookies.clear()   # the logins left their session cookie
        assert gateway.get(f"/api/cameras/{CAMERA}/live.jpg").status_code == 401
    finally:
        stop_edge(edge)


def test_no_frame_says_waiting_for_a_streaming_camera_and_offline_otherwise(gateway):
    _register(gateway.db, "online", [("cam-quiet", "streaming", "G-03-07"), ("cam-lost", "lost", "G-03-07")])
    worker = _login(gateway, "worker.g0307")
    started = time.monotonic()
    r = gateway.get("/api/cameras/cam-quiet/live.jpg", headers=worker)   # no edge answers
    assert r.status_code == 202 and r.json() == {"state": "waiting", "message": "waiting for the camera"}
    assert 1.5 < time.monotonic() - started < 4   # it waited briefly for a frame
    r = gateway.get("/api/cameras/cam-lost/live.jpg", headers=worker)
    assert r.status_code == 404 and r.json()["error"]["code"] == "camera_offline"
    _register(gateway.db, "offline", [])
    r = gateway.get("/api/cameras/cam-quiet/live.jpg", headers=worker)
    assert r.status_code == 404 and r.json()["error"]["code"] == "camera_offline"
    assert gateway.get("/api/cameras/nope/live.jpg", headers=worker).status_code == 404
