"""`make demo` on embedded defaults: incidents at /api/incidents within 60 s, Ctrl-C stops all."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from tests.support.services import REPO, free_port


def test_demo_opens_incidents_within_a_minute_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDWATCH_")}
    env["GRIDWATCH_ADMIN_TOKEN"] = "demo-test-token"
    demo = subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--dir", str(tmp_path), "--port", str(port),
                             "--broker", "embedded"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90     # start-up (migrations, clip) + the 60 s of the promise
        total = 0
        started = None
        while time.monotonic() < deadline and total == 0:
            assert demo.poll() is None, demo.stdout.read()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/incidents",
                              headers={"Authorization": "Bearer demo-test-token"}, timeout=2)
                if r.status_code == 200:
                    started = started or time.monotonic()
                    total = r.json()["total"]
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert total >= 1, "no incident from the demo camera"
        assert time.monotonic() - started <= 60
        logs = {p.name: p.read_text(errors="replace") for p in tmp_path.glob("*.log")}
        assert "broker.log" in logs, "the embedded broker was not used"
        # the board's thumbnail: the snapshot the edge uploaded beside its clip (SQLite, as the demo runs)
        auth = {"Authorization": "Bearer demo-test-token"}
        thumb = None
        while time.monotonic() < deadline + 30 and not thumb:
            listed = httpx.get(f"http://127.0.0.1:{port}/api/incidents", headers=auth, timeout=2).json()["items"]
            thumb = listed[0]["snapshot_url"]
            time.sleep(0.5)
        assert thumb and thumb.startswith("/api/media/"), thumb
        jpeg = httpx.get(f"http://127.0.0.1:{port}{thumb}", headers=auth, timeout=5)
        assert jpeg.status_code == 200 and jpeg.content[:2] == b"\xff\xd8", jpeg.headers
    finally:
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, out
    assert "stopped" in out
    # every demo user, with role and grid, and where each lands
    people = [p for f in json.loads((REPO / "gateway/examples/grids.geojson").read_text())["features"]
              for p in f["properties"].get("people", [])]
    users = {p["user"] for p in people} | {"admin"}   # and an admin who can sign in on the login page
    assert f"users ({len(users)};" in out
    for line in (ln for ln in out.splitlines() if ln.startswith("[demo]   ")):
        name, role, grid, lands = line.split()[1:5]
        assert name in users and role in ("operator", "grid_worker", "admin") and grid
        assert (role == "admin") == (name == "admin")
        assert lands == ("/m/" if role == "grid_worker" else "/console/")
        users.discard(name)
    assert users == set(), f"users not printed: {users}"
    # a start and a stop without noise
    gateway_log = (tmp_path / "gateway.log").read_text(errors="replace")
    assert "INFO alembic" not in gateway_log and "Task was destroyed" not in gateway_log, gateway_log
    edge_log = (tmp_path / "edge.log").read_text(errors="replace")
    for log in (gateway_log, edge_log):   # the libraries' chatter (every MQTT packet, every HTTP request)
        assert " gmqtt." not in log and " httpx:" not in log and "upload failed" not in log, log
    assert (tmp_path / "edge-media").is_dir()   # all the demo writes is under --dir
    # nothing left listening on the console port
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        alive = True
    except httpx.HTTPError:
        alive = False
    assert not alive


def test_demo_says_at_once_when_the_broker_it_was_given_cannot_be_reached(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDWATCH_")}
    for url, why in ((f"mqtt://127.0.0.1:{free_port()}", "refused"), ("mqtt://no-such-broker.invalid:1883", "")):
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "gateway", "demo", "--dir", str(tmp_path), "--port", str(free_port())],
                             cwd=REPO, env={**env, "GRIDWATCH_MQTT_URL": url}, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 1, out.stdout + out.stderr
        assert time.monotonic() - started < 20
        assert f"the MQTT broker at GRIDWATCH_MQTT_URL={url} cannot be reached" in out.stderr, out.stderr
        assert why in out.stderr.lower() and "unset it" in out.stderr
        assert not (tmp_path / "gateway.log").exists()   # nothing was started against it
