"""The "edge" of the delivery and fault tests: a real process that publishes a known stream
of alerts through `EdgePublisher` (spool + QoS 1), plus helpers to start it and to watch a topic.

    python -m tests.support.alert_stream --url mqtt://127.0.0.1:PORT --prefix P --edge-id edge-a \
        --spool /tmp/a.db --count 500 --seconds 5 [--repeat 2]

Alert `i` of edge E has the id `stream_alert_id(E, i)` and the source `E-s<i // repeat>`, so
`repeat` consecutive alerts of one source correlate into one incident: the expected result
is known in advance. A restarted stream resumes after the last alert its spool ever took
(the spool's sequence number), so a SIGKILLed edge neither skips nor repeats an alert.
It prints one JSON line when done: {"published": n, "flushed": bool, "stats": {...}}.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE_TS = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def stream_alert_id(edge_id: str, index: int) -> str:
    return f"{edge_id}-a{index:07d}"


def stream_alert(edge_id: str, index: int, repeat: int = 1, grid: str | None = None):
    from alerts import Alert

    source = f"{edge_id}-s{index // repeat}"
    return Alert(id=stream_alert_id(edge_id, index), edge_id=edge_id,
                 source={"kind": "sensor", "id": source}, type="sensor.alarm", severity="major",
                 ts=BASE_TS + timedelta(milliseconds=index), grid_hint=grid,
                 details={"index": index, "stream": edge_id})


def expected_incidents(count: int, repeat: int) -> int:
    return -(-count // repeat)


def main(argv: list[str] | None = None) -> int:
    from edge.delivery.publisher import EdgePublisher, MqttSettings
    from edge.delivery.spool import Spool

    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--edge-id", required=True)
    p.add_argument("--spool", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--grid", default=None, help="grid_hint for every alert")
    p.add_argument("--max-inflight", type=int, default=20)
    p.add_argument("--flush-timeout", type=float, default=240.0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s stream %(levelname)s %(message)s")

    # Resume: every put took one sequence number, so the spool knows how far we got.
    probe = Spool(a.spool)
    start = probe.last_seq()
    probe.close()
    pub = EdgePublisher(MqttSettings(url=a.url, prefix=a.prefix, max_inflight=a.max_inflight,
                                     reconnect_max_s=2.0), a.edge_id, a.spool)
    pub.start()
    print(json.dumps({"resumed_at": start}), flush=True)
    t0 = time.monotonic()
    interval = a.seconds / max(1, a.count)
    for i in range(start, a.count):
        pub.publish_alert(stream_alert(a.edge_id, i, a.repeat, a.grid))
        delay = t0 + (i - start + 1) * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    flushed = pub.flush(a.flush_timeout)
    stats = pub.stats
    pub.stop()
    print(json.dumps({"published": a.count - start, "flushed": flushed, "stats": stats}), flush=True)
    return 0 if flushed else 1


def durable(broker):
    """Make a `MosquittoBroker` really persist its sessions across a restart.

    Started as root, Mosquitto drops to the `mosquitto` user, which cannot write the
    fixture's 0700 temp dir: persistence then fails silently and a restart forgets every
    session and queued message. (Requested upstream in tests/support/services.py.)"""
    os.chmod(broker.dir, 0o777)
    return broker


class StreamProcess:
    """Runs the stream above as a child process (so a test can SIGKILL it)."""

    def __init__(self, url: str, prefix: str, edge_id: str, spool: Path, count: int, seconds: float,
                 repeat: int = 1, grid: str | None = None, log_path: Path | None = None):
        self.args = [sys.executable, "-m", "tests.support.alert_stream", "--url", url, "--prefix", prefix,
                     "--edge-id", edge_id, "--spool", str(spool), "--count", str(count),
                     "--seconds", str(seconds), "--repeat", str(repeat)] + (["--grid", grid] if grid else [])
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.lines: list[dict] = []

    def start(self) -> "StreamProcess":
        err = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.args, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines = []
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def wait(self, timeout: float) -> dict:
        """Waits for the stream to finish and flush; returns its final report line."""
        assert self.proc is not None
        self.proc.wait(timeout)
        deadline = time.monotonic() + 5
        while not any("published" in x for x in self.lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        done = [x for x in self.lines if "published" in x]
        assert done, f"stream {self.args} ended (rc={self.proc.returncode}) without a report"
        return done[-1]


class Collector:
    """A plain MQTT 5 subscriber that keeps every message it gets (topic, payload, properties)."""

    def __init__(self, url: str, topic_filter: str, qos: int = 1, session: str | None = None):
        """`session`: a client id whose session outlives the connection (and a broker restart),
        so nothing published while this subscriber is away is missed."""
        from urllib.parse import urlsplit

        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        u = urlsplit(url)
        self.messages: list = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=session or "",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, qos=qos)
        self.client.reconnect_delay_set(0.2, 1)
        props = None
        if session:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.client.connect(u.hostname, u.port, clean_start=not session, properties=props)
        self.client.loop_start()
        assert self._subscribed.wait(10), f"could not subscribe to {topic_filter} on {url}"

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append(msg)

    def payloads(self) -> list[dict]:
        with self._lock:
            return [json.loads(m.payload) for m in self.messages]

    def wait_for(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= n:
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


if __name__ == "__main__":
    sys.exit(main())
