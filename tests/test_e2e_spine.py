"""End to end on real parts: a camera frame becomes an incident for the grid worker.

A real edge worker process analyses a clip played at real speed as if live, publishes over a
real Mosquitto; a real gateway process on a real PostgreSQL opens exactly one incident for the
right grid's worker. A second camera is unreachable and a third profile is broken: each is
reported clearly and the rest keeps working. Replaying the same alert id opens nothing new.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from edge.commands.democlip import DEMO_PROFILE, make_demo_clip
from tests.support.services import REPO, free_port
from tests.support.waiting import wait_for

TOKEN = "e2e-admin-token"


def retained(broker_url: str, topic: str, timeout: float = 5.0) -> dict | None:
    got: dict = {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_message = lambda cl, ud, msg: got.setdefault("payload", json.loads(msg.payload))
    port = int(broker_url.rsplit(":", 1)[1])
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    deadline = time.monotonic() + timeout
    while "payload" not in got and time.monotonic() < deadline:
        time.sleep(0.1)
    c.loop_stop()
    c.disconnect()
    return got.get("payload")


@pytest.fixture
def system(tmp_path, broker, pg_url, prefix):
    """Gateway (PostgreSQL) + edge worker, as real processes, on the session's Mosquitto."""
    port = free_port()
    env = dict(os.environ, GRIDWATCH_DB_URL=pg_url, GRIDWATCH_MQTT_URL=broker.url, GRIDWATCH_MQTT_PREFIX=prefix,
               GRIDWATCH_MQTT_CLIENT_ID=f"gw-{prefix}", GRIDWATCH_HTTP_PORT=str(port), GRIDWATCH_HTTP_HOST="127.0.0.1",
               GRIDWATCH_ADMIN_TOKEN=TOKEN, GRIDWATCH_MEDIA_DIR=str(tmp_path / "media"), PYTHONUNBUFFERED="1")
    env.pop("GRIDWATCH_GRIDS", None)
    py = sys.executable
    subprocess.run([py, "-m", "gateway", "migrate"], env=env, cwd=REPO, check=True, timeout=120)
    subprocess.run([py, "-m", "gateway", "import-grids", "gateway/examples/grids.geojson"], env=env, cwd=REPO,
                   check=True, timeout=120)
    gw_log = open(tmp_path / "gateway.log", "wb")
    gateway = subprocess.Popen([py, "-m", "gateway", "serve"], env=env, cwd=REPO, stdout=gw_log, stderr=subprocess.STDOUT)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    def healthy():
        assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()
        try:
            return api.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, 60, "the gateway to answer /healthz", interval=0.5)

    clip = make_demo_clip(tmp_path / "lawn.avi")
    (tmp_path / "lawn.yaml").write_text(DEMO_PROFILE.format(clip=clip).replace("loop: true", "loop: false")
                                        + "clips: {pre_s: 2, post_s: 3}\n", encoding="utf-8")
    (tmp_path / "dead.yaml").write_text(
        f"id: cam-dead\nname: 东门 2号\ngrid: G-03-06\nlocation: {{lat: 36.7251, lon: 104.8402}}\n"
        f"source: rtsp://127.0.0.1:{free_port()}/nothing\n", encoding="utf-8")
    (tmp_path / "off.yaml").write_text("id: cam-off\nname: 仓库后门\ngrid: G-03-06\nlocation: {lat: 36.7249, lon: 104.8399}\n"
                                       "enabled: false\nsource: rtsp://127.0.0.1:1/off\n", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("id: cam-broken\nsource: x.mp4\ndetect: {fps: 0}\n")
    (tmp_path / "edge.yaml").write_text(
        f"edge_id: edge-e2e\nmqtt: {{url: '{broker.url}', prefix: {prefix}}}\n"
        f"spool: {tmp_path / 'spool.db'}\ncameras: [lawn.yaml, dead.yaml, broken.yaml, off.yaml]\nstatus_interval_s: 2\n")
    edge_log = open(tmp_path / "edge.log", "wb")
    env.update(GRIDWATCH_GATEWAY_URL=f"http://127.0.0.1:{port}", GRIDWATCH_EDGE_TOKEN=TOKEN)   # clips go over HTTP
    edge = subprocess.Popen([py, "-m", "edge", "run", "--config", str(tmp_path / "edge.yaml")], env=env, cwd=REPO,
                            stdout=edge_log, stderr=subprocess.STDOUT)
    yield {"api": api, "edge": edge, "gateway": gateway, "tmp": tmp_path, "prefix": prefix}
    for proc in (edge, gateway):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    api.close()


def test_camera_frame_becomes_one_incident_for_the_grid_worker(system, broker):
    api, tmp, prefix = system["api"], system["tmp"], system["prefix"]

    def intrusion_incidents():
        r = api.get("/api/incidents", params={"type": "intrusion"})
        assert r.status_code == 200, r.text
        return r.json()["items"]

    items = wait_for(intrusion_incidents, 60, "an intrusion incident from the demo camera", interval=0.5)
    assert len(items) == 1, items
    inc = items[0]
    assert inc["grid_id"] == "G-03-07"
    assert inc["assignee"] == "worker.g0307"
    assert inc["source_id"] == "cam-demo-lawn"

    # the unreachable camera is reported (an alert and its retained status), the other ran on
    lost = wait_for(lambda: [a for a in api.get("/api/alerts", params={"type": "stream.lost"}).json()["items"]
                             if a["camera_id"] == "cam-dead"], 30, "stream.lost for the unreachable camera", interval=0.5)
    assert lost
    status = retained(broker.url, f"{prefix}/status/edge-e2e/cam-dead")
    assert status and status["state"] in ("lost", "connecting"), status
    assert status["name"] == "东门 2号" and status["grid"] == "G-03-06", status
    # the gateway knows each camera by its profile's name, grid and place from its status alone:
    # the switched-off one never raised an alert
    cams = {c["id"]: c for c in api.get("/api/cameras").json()["items"]}
    off = cams["cam-off"]
    assert (off["state"], off["name"], off["grid_id"]) == ("disabled", "仓库后门", "G-03-06"), off
    assert off["location"] == {"lat": 36.7249, "lon": 104.8399}
    assert "name" not in off["device"] and "location" not in off["device"]   # (kept once, in their own fields)
    assert cams["cam-dead"]["name"] == "东门 2号" and cams["cam-demo-lawn"]["name"] == "演示摄像机 · 步道旁草坪"
    edge_log = (tmp / "edge.log").read_text()
    assert "cam-broken" in edge_log or "broken.yaml" in edge_log
    assert "detect.fps" in edge_log, edge_log[-2000:]

    # replaying the very same alert (same id) opens nothing and attaches nothing
    alerts = api.get("/api/alerts", params={"type": "intrusion"}).json()["items"]
    first = alerts[0]
    detail = api.get(f"/api/alerts/{first['id']}").json()
    replay = {k: v for k, v in detail.items() if k in {
        "schema", "id", "edge_id", "source", "camera_id", "type", "severity", "ts", "frame", "zone", "line",
        "bbox", "score", "details", "location", "grid_hint"}}
    replay["snapshot"] = detail["snapshot_url"]
    count_before = api.get(f"/api/incidents/{inc['id']}").json()["alert_count"]
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", int(broker.url.rsplit(":", 1)[1]))
    pub.loop_start()
    for _ in range(3):
        pub.publish(f"{prefix}/alerts/edge-e2e/cam-demo-lawn", json.dumps(replay), qos=1).wait_for_publish(5)
    pub.loop_stop()
    pub.disconnect()
    time.sleep(3)
    assert len(intrusion_incidents()) == 1
    assert api.get(f"/api/incidents/{inc['id']}").json()["alert_count"] == count_before
    same = [a for a in api.get("/api/alerts", params={"type": "intrusion", "limit": 500}).json()["items"]
            if a["id"] == first["id"]]
    assert len(same) == 1

    # the clip around the event went over HTTP, hash-checked, and is attached to the incident
    def ready_clip():
        media = api.get(f"/api/incidents/{inc['id']}/media").json()["items"]
        return [m for m in media if m["kind"] == "clip" and m["status"] == "ready"]

    clip_item = wait_for(ready_clip, 60, "the event clip to be uploaded", interval=0.5)[0]
    body = api.get(f"/api/media/{clip_item['id']}")
    assert body.status_code == 200 and body.content[4:8] == b"ftyp", body.headers   # an MP4
    assert detail["snapshot_url"].startswith("/api/media/")     # no JPEG bytes over MQTT
    # the board's thumbnail is that uploaded snapshot (the incident list, PostgreSQL)
    listed = next(i for i in intrusion_incidents() if i["id"] == inc["id"])
    assert listed["snapshot_url"] and listed["snapshot_url"].startswith("/api/media/"), listed
    thumb = api.get(listed["snapshot_url"])
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"

    lawn = retained(broker.url, f"{prefix}/status/edge-e2e/cam-demo-lawn")
    assert lawn["analysis"]["frames"] > 0 and lawn["analysis"]["errors"] == 0, lawn

    # a clean stop says so on the retained edge status
    system["edge"].send_signal(signal.SIGTERM)
    assert system["edge"].wait(30) == 0
    assert retained(broker.url, f"{prefix}/status/edge-e2e")["state"] == "stopped"
