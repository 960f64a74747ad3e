"""A real gateway for browser tests: `python -m gateway serve` as a subprocess on its own
PostgreSQL database, port, MQTT prefix and media directory, with the example grids and
their people imported as users."""
from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.services import REPO, free_port

GRIDS = REPO / "gateway" / "examples" / "grids.geojson"
# A point well inside each example grid cell (lat, lon), where the test's devices stand.
GRID_CENTRES = {"G-03-06": (36.7300, 104.8312), "G-03-07": (36.7300, 104.8437), "G-04-01": (36.7200, 104.8291),
                "G-04-02": (36.7200, 104.8375), "G-04-03": (36.7200, 104.8458)}
PASSWORD = "console-test-pw"
OPERATOR = "street.duty"      # operator for the whole street office (S-01)
WORKER = "worker.g0307"       # grid worker of G-03-07 (the campus lawn)
ADMIN_TOKEN = "console-test-admin-" + uuid.uuid4().hex[:8]


class Gateway:
    def __init__(self, db_url: str, mqtt_url: str, prefix: str):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gw-console-"))
        self.prefix = prefix
        self.mqtt_url = mqtt_url
        self.env = dict(os.environ,
                        GRIDWATCH_DB_URL=db_url, GRIDWATCH_MQTT_URL=mqtt_url, GRIDWATCH_MQTT_PREFIX=prefix,
                        GRIDWATCH_MQTT_CLIENT_ID=f"gw-console-{prefix}", GRIDWATCH_HTTP_HOST="127.0.0.1",
                        GRIDWATCH_HTTP_PORT=str(self.port), GRIDWATCH_ADMIN_TOKEN=ADMIN_TOKEN,
                        GRIDWATCH_MEDIA_DIR=str(self.dir / "media"), PYTHONUNBUFFERED="1")
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "gateway.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, *argv: str) -> None:
        env = dict(self.env, GRIDWATCH_USER_PASSWORD=PASSWORD)   # the seeded users' password
        out = subprocess.run([sys.executable, "-m", "gateway", *argv], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"gateway {' '.join(argv)} failed:\n{out.stdout}\n{out.stderr}"

    def start(self) -> "Gateway":
        self._run("migrate")
        self._run("import-grids", str(GRIDS), "--seed-users")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=self.env, cwd=REPO,
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"gateway exited:\n{self.log.read_text()[-3000:]}"
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"gateway not healthy after 60 s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- API as an admin, for setting the scene and checking results ----
    def api(self, method: str, path: str, token: str = ADMIN_TOKEN, **kw) -> httpx.Response:
        return httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=15, **kw)

    def wait_incident(self, source_id: str, timeout: float = 30.0) -> dict:
        """The incident opened for `source_id`, once the gateway has ingested its alert."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.api("GET", "/api/incidents", params={"limit": 500})
            r.raise_for_status()
            found = [i for i in r.json()["items"] if i.get("source_id") == source_id]
            if found:
                return found[0]
            time.sleep(0.3)
        raise TimeoutError(f"no incident for source {source_id!r} after {timeout} s")


def publish(mqtt_url: str, topic: str, payload: dict | str, retain: bool = False, timeout: float = 10.0) -> None:
    """Publish one message at QoS 1 and wait for the broker's PUBACK."""
    host, port = mqtt_url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"console-test-{uuid.uuid4().hex[:8]}")
    client.connect(host, int(port))
    client.loop_start()
    try:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        info = client.publish(topic, body, qos=1, retain=retain)
        info.wait_for_publish(timeout=timeout)
        assert info.is_published(), f"broker did not acknowledge {topic}"
    finally:
        client.loop_stop()
        client.disconnect()


def vtest_snapshot(vtest_path: Path, bbox: list[float], track: list[list[float]], frame_index: int = 250) -> str:
    """A real frame of vtest.avi rendered as the edge renders snapshots (privacy masks of the
    example lawn profile applied, box and track drawn), as an inline data URL."""
    import cv2

    from camera_profiles import load_profile
    from edge.camera.render import snapshot_jpeg

    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, frame_index)
    ok, image = cap.read()
    cap.release()
    assert ok, f"cannot read frame {frame_index} of {vtest_path}"
    profile = load_profile(REPO / "camera_profiles" / "examples" / "lawn.yaml")
    jpeg = snapshot_jpeg(image, profile, bbox, track)
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def location_in(grid: str) -> dict:
    """A point near the middle of `grid`, a little apart for each device so markers do not pile up."""
    lat, lon = GRID_CENTRES[grid]
    return {"lat": round(lat + random.uniform(-0.003, 0.003), 6), "lon": round(lon + random.uniform(-0.003, 0.003), 6)}


def camera_alert(camera_id: str, *, type_: str = "intrusion", severity: str = "major", grid: str = "G-03-07",
                 snapshot: str | None = None, bbox=None, track=None, edge_id: str = "edge-console-test") -> dict:
    from alerts import new_alert_id

    now = datetime.now(UTC)
    return {"schema": "gridwatch.alert/1", "id": new_alert_id(), "edge_id": edge_id,
            "source": {"kind": "camera", "id": camera_id}, "camera_id": camera_id, "type": type_,
            "severity": severity, "ts": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "frame": 250, "zone": "lawn", "line": None, "bbox": bbox, "score": 0.91,
            "details": {"pos_s": 25.0, **({"track": track} if track else {})}, "snapshot": snapshot,
            "location": location_in(grid), "grid_hint": grid}


def sensor_alert(sensor_id: str, *, type_: str = "sensor.battery_low", severity: str = "minor", grid: str = "G-03-07",
                 details: dict | None = None, edge_id: str = "edge-console-test") -> dict:
    from alerts import new_alert_id

    now = datetime.now(UTC)
    return {"schema": "gridwatch.alert/1", "id": new_alert_id(), "edge_id": edge_id,
            "source": {"kind": "sensor", "id": sensor_id}, "camera_id": None, "type": type_, "severity": severity,
            "ts": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z", "frame": None, "zone": None,
            "line": None, "bbox": None, "score": None, "details": details or {}, "snapshot": None,
            "location": location_in(grid), "grid_hint": grid}


def jpeg() -> bytes:
    """A real JPEG (a grey gradient), so the browser can decode it."""
    import cv2
    import numpy as np

    ok, data = cv2.imencode(".jpg", np.tile(np.arange(0, 256, 2, dtype=np.uint8), (96, 1)))
    assert ok
    return data.tobytes()
