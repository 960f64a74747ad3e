"""`gateway serve` as one process: API, MQTT ingest, timers and the outbox relay together,
configured by file and environment, stopped cleanly."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts import new_alert_id, topics
from gateway.commands.serve import run
from gateway.config import Settings
from tests.support.gateway import GRIDS, Publisher, alert
from tests.support.services import free_port, wait_port
from tests.support.waiting import wait_for


def test_serve_runs_the_whole_loop_and_stops(broker, prefix, tmp_path):
    port = free_port()
    settings = Settings(db_url=f"sqlite:///{tmp_path}/gw.db", mqtt_url=broker.url, mqtt_prefix=prefix,
                        mqtt_client_id=f"gw-{prefix}", http_port=port, media_dir=tmp_path / "media",
                        admin_token="adm-token", grids=GRIDS, outbox_interval_s=0.1, media_retention_interval_s=0.2)
    first = orphan_media(tmp_path / "media")  # a file no row refers to (an upload whose row never got written)
    events: queue.Queue = queue.Queue()
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}")
    sub.on_message = lambda _c, _u, m: events.put((m.topic, json.loads(m.payload)))
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe(f"{prefix}/incidents/#", qos=1)
    sub.loop_start()
    stop = threading.Event()
    server = threading.Thread(target=run, args=(settings,), kwargs={"stop_event": stop})
    server.start()
    pub = Publisher(broker.url)
    try:
        wait_port(port, timeout=30)
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer adm-token"}, timeout=10)
        wait_for(lambda: api.get("/healthz").json()["mqtt"], what="ingest connected")
        pub.send(topics.alert("edge-t", "cam-lawn-01", prefix), alert())
        items = wait_for(lambda: api.get("/api/incidents").json()["items"], what="incident in the API")
        assert items[0]["grid_id"] == "G-03-07" and items[0]["assignee"] == "worker.g0307"
        got = [events.get(timeout=15) for _ in range(2)]
        assert [(t, e["event"]) for t, e in got] == [(f"{prefix}/incidents/G-03-07", "opened"),
                                                     (f"{prefix}/incidents/G-03-07", "dispatched")]
        assert got[1][1]["incident"]["assignee"] == "worker.g0307"
        assert "gridwatch_gateway_alerts_total" in api.get("/metrics").text
        # the media retention loop runs at start and then every media_retention_interval_s
        wait_for(lambda: not first.exists(), what="the retention loop to sweep the orphan")
        second = orphan_media(tmp_path / "media")
        wait_for(lambda: not second.exists(), what="the next retention run")
    finally:
        stop.set()
        server.join(30)
        pub.close()
        sub.loop_stop()
        sub.disconnect()
    assert not server.is_alive()
    assert not [t for t in threading.enumerate() if t.name == "media-retention"]


def orphan_media(media_dir: Path) -> Path:
    """A media file in the store's layout, an hour old (past the sweep's grace for fresh uploads)."""
    key = new_alert_id()
    path = media_dir / "2026-11-21" / f"{key}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8orphan\xff\xd9")
    old = time.time() - 3600
    os.utime(path, (old, old))
    return path


def test_environment_wins_over_the_config_file(tmp_path, monkeypatch):
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("http_port: 9100\nmqtt_prefix: fromfile\nadmin_token: file-token\n")
    monkeypatch.setenv("GRIDWATCH_MQTT_PREFIX", "fromenv")
    s = Settings.load(cfg)
    assert (s.http_port, s.mqtt_prefix, s.admin_token) == (9100, "fromenv", "file-token")


def test_serve_process_stops_on_sigterm(tmp_path, broker, prefix):
    port = free_port()
    env = dict(os.environ, GRIDWATCH_DB_URL=f"sqlite:///{tmp_path}/gw.db", GRIDWATCH_MQTT_URL=broker.url,
               GRIDWATCH_MQTT_PREFIX=prefix, GRIDWATCH_MQTT_CLIENT_ID=f"gw-{prefix}", GRIDWATCH_HTTP_PORT=str(port),
               GRIDWATCH_MEDIA_DIR=str(tmp_path / "media"))
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_port(port, timeout=60)
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200,
                 what="healthy (database and broker)")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert b"gateway stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_of_the_group_stops_serve_and_its_relay_at_once_and_quietly(tmp_path, broker, prefix):
    """Ctrl-C reaches serve and its relay child together (as in `make demo`); with the broker up or
    unreachable, both stop within seconds, and start and stop say only what matters: no alembic
    INFO lines, no asyncio task destroyed pending."""
    for url in (broker.url, "mqtt://127.0.0.1:1"):
        port = free_port()
        env = dict(os.environ, GRIDWATCH_DB_URL=f"sqlite:///{tmp_path}/gw-{port}.db", GRIDWATCH_MQTT_URL=url,
                   GRIDWATCH_MQTT_PREFIX=prefix, GRIDWATCH_MQTT_CLIENT_ID=f"gw-{prefix}-{port}",
                   GRIDWATCH_HTTP_PORT=str(port), GRIDWATCH_MEDIA_DIR=str(tmp_path / "media"))
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_port(port, timeout=60)
            health = f"http://127.0.0.1:{port}/healthz"
            wait_for(lambda h=health: httpx.get(h, timeout=10).status_code in (200, 503), what="answering")
            time.sleep(2)   # the relay child is up (and, unreachable, both links are retrying)
            started = time.monotonic()
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(20) == 0, f"serve did not stop on Ctrl-C ({url})"
            assert time.monotonic() - started < 10
            out = proc.stdout.read().decode()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert "gateway stopped" in out and "outbox relay stopped" in out, out
        assert "Task was destroyed" not in out, out
        assert "INFO alembic" not in out, out
