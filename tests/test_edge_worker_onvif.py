"""The edge worker on a real ONVIF camera (ipycam + GStreamer RTSP on loopback): the stream
is found through ONVIF, the device's identity is in the retained camera status, and the
camera's own motion event becomes a `camera_event` alert over MQTT."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time

import paho.mqtt.client as mqtt

from tests.support.onvif_camera import OnvifCamera
from tests.support.pullpoint import PullPointResponder
from tests.support.rtsp_server import RtspCamera
from tests.support.services import REPO


def test_worker_streams_an_onvif_camera_and_forwards_its_events(tmp_path, broker, prefix, vtest_path):
    got: queue.Queue = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: got.put((m.topic, json.loads(m.payload)))
    sub.connect("127.0.0.1", int(broker.url.rsplit(":", 1)[1]))
    sub.subscribe(f"{prefix}/#", qos=1)
    sub.loop_start()
    responder = PullPointResponder()
    with RtspCamera(vtest_path, path="/video_main", extra_paths=("/video_sub",)) as rtsp, \
            OnvifCamera(rtsp.port, username="admin", password="s3cret", pullpoint=responder) as dev:
        (tmp_path / "cam.yaml").write_text(
            "id: cam-onvif-01\ngrid: G-03-07\n"
            f"source: {{onvif: {{host: 127.0.0.1, port: {dev.port}, username: admin, "
            "password: '${CAM_PASS}', profile: sub}}\n"
            "detect: {fps: 5, warmup_s: 0.5}\n")
        (tmp_path / "edge.yaml").write_text(
            f"edge_id: edge-onvif\nmqtt: {{url: '{broker.url}', prefix: {prefix}}}\n"
            f"spool: {tmp_path / 'spool.db'}\ncameras: [cam.yaml]\nstatus_interval_s: 1\n")
        env = dict(os.environ, CAM_PASS="s3cret", PYTHONUNBUFFERED="1")
        log = open(tmp_path / "edge.log", "wb")
        edge = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(tmp_path / "edge.yaml")],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            status, alert = None, None
            deadline = time.monotonic() + 60
            emitted = False
            while time.monotonic() < deadline and not (status and alert):
                if not emitted and responder.subscriptions > 0:
                    responder.emit("tns1:RuleEngine/CellMotionDetector/Motion", {"IsMotion": "true"},
                                   source={"VideoSourceConfigurationToken": "vsc_1"})
                    emitted = True
                try:
                    topic, payload = got.get(timeout=0.5)
                except queue.Empty:
                    continue
                if topic == f"{prefix}/status/edge-onvif/cam-onvif-01" and payload.get("state") == "streaming" \
                        and payload.get("device"):
                    status = payload
                if topic == f"{prefix}/alerts/edge-onvif/cam-onvif-01" and payload["type"] == "camera_event":
                    alert = payload
            assert status, (tmp_path / "edge.log").read_text()[-3000:]
            assert status["device"]["manufacturer"] == "Gridwatch Test" and status["device"]["model"] == "LoopCam-1"
            assert "s3cret" not in json.dumps(status)           # credentials never leave in a status
            assert alert, (tmp_path / "edge.log").read_text()[-3000:]
            assert alert["details"]["kind"] == "motion" and alert["grid_hint"] == "G-03-07"
        finally:
            edge.send_signal(signal.SIGTERM)
            assert edge.wait(60) == 0
            sub.loop_stop()
            sub.disconnect()
