"""Home Assistant MQTT discovery for gridwatch's sensors and cameras.

Sensors: one `binary_sensor` per rule (ON while the rule's alert is raised) and one
`connectivity` binary_sensor (ON while the sensor is online), all reading one retained JSON
state per sensor on `<prefix>/sensor_state/<edge_id>/<sensor_id>`, e.g.
`{"sensor.alarm/smoke/equals=True": "ON", "online": "ON"}`, published after every alert.
Cameras (profiles listed under `hass.cameras`): a `sensor` with the stream status from
`<prefix>/status/<camera_edge_id>/<camera_id>` and a `sensor` with the last alert's type
(attributes: id, severity, ts, zone) from `<prefix>/alerts/<camera_edge_id>/<camera_id>`.
Every entity is unavailable while the publishing edge's status is not `online`.
Discovery configs are retained and re-sent by the publisher on every reconnect.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from alerts import topics
from alerts.schema import AlertType
from edge.sensors.config import BridgeConfig, Rule, SensorConfig
from edge.sensors.rules import OFFLINE

ORIGIN = {"name": "gridwatch", "url": "https://github.com/gridwatch"}
_KIND_CLASS = {"smoke": "smoke", "water_leak": "moisture", "leak": "moisture", "flood": "moisture",
               "door": "door", "gas": "gas", "manhole": "tamper", "co": "carbon_monoxide"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", text).strip("_").lower()


def state_topic(cfg: BridgeConfig, sensor_id: str) -> str:
    # sensor ids cannot hold / + # (config.py); edge ids are cleaned as alerts.topics does
    edge = re.sub(r"[/+#]", "_", cfg.edge_id)
    return f"{cfg.prefix}/sensor_state/{edge}/{sensor_id}"


def _availability(prefix: str, edge_id: str) -> list[dict[str, str]]:
    return [{"topic": topics.edge_status(edge_id, prefix), "value_template": "{{ value_json.state }}",
             "payload_available": "online", "payload_not_available": "offline"}]


def _device_class(sensor: SensorConfig, rule: Rule) -> str:
    if rule.type == AlertType.sensor_battery_low:
        return "battery"
    if rule.type == AlertType.sensor_alarm:
        return _KIND_CLASS.get(sensor.kind, "problem")
    return "problem"


def sensor_configs(cfg: BridgeConfig) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for s in cfg.sensors:
        device = {"identifiers": [f"gridwatch_sensor_{_slug(s.id)}"], "name": s.name or s.id,
                  "manufacturer": "gridwatch", "model": f"{s.kind} sensor",
                  **({"suggested_area": s.grid} if s.grid else {})}
        entities = [(rule.rule_id, rule.name or f"{rule.field} {rule.type.value.split('.')[1]}", _device_class(s, rule))
                    for rule in s.rules] + [("online", "online", "connectivity")]
        for key, name, dclass in entities:
            uid = f"gridwatch_{_slug(cfg.edge_id)}_{_slug(s.id)}_{_slug(key)}"
            out.append((f"{cfg.hass.discovery_prefix}/binary_sensor/{uid}/config", {
                "name": name, "unique_id": uid, "object_id": uid, "device_class": dclass,
                "state_topic": state_topic(cfg, s.id),
                "value_template": "{{ value_json[%s] }}" % json.dumps(key),
                "payload_on": "ON", "payload_off": "OFF",
                "availability": _availability(cfg.prefix, cfg.edge_id), "device": device, "origin": ORIGIN}))
    return out


def camera_configs(cfg: BridgeConfig, base: Path | None = None) -> list[tuple[str, dict[str, Any]]]:
    from camera_profiles import load_profiles

    edge_id = cfg.hass.camera_edge_id or cfg.edge_id
    out = []
    for cam in load_profiles(list(cfg.hass.cameras), base):
        device = {"identifiers": [f"gridwatch_camera_{_slug(cam.id)}"], "name": getattr(cam, "name", None) or cam.id,
                  "manufacturer": "gridwatch", "model": "camera"}
        status = topics.camera_status(edge_id, cam.id, cfg.prefix)
        last = topics.alert(edge_id, cam.id, cfg.prefix)
        for key, name, topic, template, attrs in (
                ("status", "stream status", status, "{{ value_json.state }}", None),
                ("last_alert", "last alert", last, "{{ value_json.type }}",
                 "{{ {'id': value_json.id, 'severity': value_json.severity, 'ts': value_json.ts, "
                 "'zone': value_json.zone} | tojson }}")):
            uid = f"gridwatch_{_slug(edge_id)}_{_slug(cam.id)}_{key}"
            body = {"name": name, "unique_id": uid, "object_id": uid, "state_topic": topic,
                    "value_template": template, "json_attributes_topic": topic,
                    "availability": _availability(cfg.prefix, edge_id), "device": device, "origin": ORIGIN}
            if attrs:
                body["json_attributes_template"] = attrs
            out.append((f"{cfg.hass.discovery_prefix}/sensor/{uid}/config", body))
    return out


def state_payloads(cfg: BridgeConfig, alarm_states: dict[str, dict[str, bool]]) -> list[tuple[str, dict[str, str]]]:
    out = []
    for sid, st in alarm_states.items():
        body = {rid: "ON" if on else "OFF" for rid, on in st.items() if rid != OFFLINE}
        body["online"] = "OFF" if st.get(OFFLINE) else "ON"
        out.append((state_topic(cfg, sid), body))
    return out


class StatePublisher:
    """Publishes discovery once (retained) and the sensors' alarm states after each change."""

    def __init__(self, cfg: BridgeConfig, publisher: Any, base: Path | None = None):
        """`base`: the folder relative camera globs are resolved against. Raises ProfileError
        for a bad camera profile, so the bridge refuses to start rather than announce half."""
        self.cfg, self.publisher = cfg, publisher
        self.configs = sensor_configs(cfg) + camera_configs(cfg, base)

    def announce(self) -> int:
        for topic, body in self.configs:
            self.publisher.publish_raw(topic, json.dumps(body), qos=1, retain=True)
        return len(self.configs)

    def publish(self, alarm_states: dict[str, dict[str, bool]]) -> None:
        for topic, body in state_payloads(self.cfg, alarm_states):
            self.publisher.publish_raw(topic, json.dumps(body), qos=1, retain=True)
