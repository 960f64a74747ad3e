"""Sensor test helpers: ChirpStack payloads from its documentation, the bridge in-process with a
fake clock (`Running`), a raw MQTT sender, and the bridge as a real process (`BridgeProcess`)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from edge.sensors.bridge import BridgeApp
from edge.sensors.config import config_from_dict
from tests.support.services import REPO
from tests.support.waiting import wait_for

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


# ChirpStack v4 MQTT integration, event "up" (JSON encoding), as in its documentation
UPLINK = {
    "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
    "time": "2026-11-21T09:33:28.823500726+00:00",
    "deviceInfo": {"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "ChirpStack",
                   "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97", "applicationName": "water",
                   "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad", "deviceProfileName": "LSN50",
                   "deviceName": "water-ch-01", "devEui": "a84041000181c8f1", "tags": {}},
    "devAddr": "00189440", "adr": True, "dr": 1, "fCnt": 4, "fPort": 2, "confirmed": False,
    "data": "qg==", "object": {"level_cm": 81.5, "battery": 96},
    "rxInfo": [{"gatewayId": "0016c001f153a14c", "uplinkId": 4217106255, "rssi": -36, "snr": 10.5,
                "context": "E3OWOQ==", "metadata": {"region_common_name": "CN470"}}],
    "txInfo": {"frequency": 486300000, "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7,
                                                               "codeRate": "CR_4_5"}}},
}


STATUS = {"deduplicationId": "9b1c0f0e-1111-4b8d-9386-a5c902f9202d", "time": "2026-11-21T09:40:00+00:00",
          "deviceInfo": UPLINK["deviceInfo"], "margin": 6, "externalPowerSource": False,
          "batteryLevelUnavailable": False, "batteryLevel": 12.5}


DEV_EUI = "a84041000181c8f1"


class FakeClock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def bridge_config(url: str, prefix: str, tmp_path) -> dict:
    return {
        "edge_id": "edge-sensors-t", "mqtt": {"url": url, "prefix": prefix},
        "spool": str(tmp_path / "spool.db"), "state": str(tmp_path / "state.db"),
        "client_id": f"{prefix}-bridge",
        "zigbee2mqtt_topic": f"{prefix}-z2m", "chirpstack_topic": f"{prefix}-cs",
        "sensors": [
            {"id": "smoke-b3-201", "kind": "smoke", "grid": "G-03-07", "source": {"zigbee2mqtt": "b3-201-smoke"},
             "offline_after_s": 300, "offline_debounce_s": 60,
             "rules": [{"field": "smoke", "equals": True, "type": "sensor.alarm", "severity": "critical"},
                       {"field": "battery", "below": 15, "type": "sensor.battery_low", "severity": "minor"}]},
            {"id": "water-ch-01", "kind": "water_level", "location": {"lat": 36.7221, "lon": 104.8302},
             "source": {"chirpstack": {"dev_eui": DEV_EUI}},
             "rules": [{"field": "level_cm", "above": 80, "for_s": 60, "clear_below": 70,
                        "type": "sensor.threshold", "severity": "major"},
                       {"field": "battery", "below": 15, "clear_above": 30, "type": "sensor.battery_low"}]},
        ]}


def uplink(prefix: str, dedup: str, at: datetime, level: float) -> tuple[str, bytes]:
    """A ChirpStack v4 `up` event for the water gauge (the documented shape, our values)."""
    body = {**UPLINK, "deduplicationId": dedup, "time": at.isoformat(),
            "object": {"level_cm": level, "battery": 96}}
    body["deviceInfo"] = {**UPLINK["deviceInfo"], "devEui": DEV_EUI}
    return f"{prefix}-cs/17c82e96-be03-4f38-aef3-f83d48582d97/device/{DEV_EUI}/event/up", json.dumps(body).encode()


class Sender:
    """A plain MQTT client standing in for Zigbee2MQTT / ChirpStack."""

    def __init__(self, url: str):
        host, port = url.removeprefix("mqtt://").split(":")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.connect(host, int(port))
        self.client.loop_start()

    def send(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Running(BridgeApp):
    """The bridge in-process with a fake clock, the real publisher and subscriber."""

    def __init__(self, cfg_dict: dict, clock: FakeClock):
        super().__init__(config_from_dict(cfg_dict), clock=clock)
        assert self.start(ready_timeout=10), "the bridge did not subscribe"

    def deliver(self, sender: "Sender", topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Send and wait until the bridge has handled it (the fake clock must not move before)."""
        n = self.bridge.stats["messages"]
        sender.send(topic, payload, retain)
        wait_until(lambda: self.bridge.stats["messages"] > n, f"the bridge to handle {topic}")

    def close(self) -> None:
        self.stop()


def wait_until(cond, what: str, timeout: float = 15) -> None:
    wait_for(cond, timeout=timeout, what=what, interval=0.02)


class BridgeProcess:
    def __init__(self, config: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "edge", "sensors", "--config", str(config)],
                                     cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ready.wait(30), "bridge did not start listening:\n" + "".join(self.log)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line)
            if "listening on" in line:
                self.ready.set()

    def stop(self, sig: int = signal.SIGTERM) -> str:
        self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=30)
        if sig == signal.SIGTERM:
            assert self.proc.returncode == 0, "".join(self.log)
        return out
