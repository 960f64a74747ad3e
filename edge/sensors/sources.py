"""Parse the sensor ecosystems' MQTT messages into `Reading`s, with clear errors.

Accepted shapes (as those projects document them):
- Zigbee2MQTT: `<base>/<friendly_name>` with a JSON object of the device state, e.g.
  `{"smoke": true, "battery": 87, "linkquality": 120}`; `last_seen` (ISO 8601 or epoch ms,
  when Zigbee2MQTT's `advanced.last_seen` is on) is taken as the sensor's time.
  `<base>/<friendly_name>/availability` with `{"state": "online"|"offline"}` (or the legacy
  plain `online`/`offline`). `<base>/bridge/...`, `/set` and `/get` are ignored.
- ChirpStack v4: `<base>/<application_id>/device/<dev_eui>/event/up` with `deduplicationId`
  (the idempotency key), `time`, `deviceInfo.devEui` and the decoded `object` (fields are
  its keys); `.../event/status` with `batteryLevel` (read as the field `battery`),
  `batteryLevelUnavailable`, `externalPowerSource`. Other events (join, ack, log, ...) are ignored.
- generic: any configured `topic`, or `<prefix>/sensors/<anything>`, with a JSON object whose
  keys are fields, except three reserved ones: `ts` (ISO 8601 with zone, or epoch seconds;
  default: arrival time), `msg_id` (idempotency key, optional) and `availability`
  (`"online"`/`"offline"`). Example: `{"ts": "2026-11-21T08:15:02Z", "msg_id": "42", "level_cm": 81.5}`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from edge.sensors.config import BridgeConfig, SensorConfig

MAX_PAYLOAD = 64 * 1024  # sensor messages are small; anything larger is a mistake or an attack


class SourceError(ValueError):
    """A message that cannot be used. `reason` is a short counter name (not_json, not_object,
    missing_field, wrong_type, unknown_device, too_large, bad_time)."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Reading:
    sensor_id: str
    ts: float                          # the sensor's own time (epoch s), else arrival time
    received: float                    # arrival time on the bridge's clock (epoch s)
    values: dict[str, Any] = field(default_factory=dict)
    key: str | None = None             # idempotency key (ChirpStack deduplicationId, generic msg_id)
    availability: Literal["online", "offline"] | None = None
    origin: str = "generic"


def _json_object(payload: bytes, what: str) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise SourceError("too_large", f"{what}: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError("not_json", f"{what}: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise SourceError("not_object", f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def parse_time(value: Any, what: str, epoch_unit: float = 1.0) -> float:
    """ISO 8601 with a zone, or a number of epoch units (1 = seconds, 0.001 = milliseconds)."""
    if isinstance(value, bool):
        raise SourceError("wrong_type", f"{what}: a time, not a boolean")
    if isinstance(value, (int, float)):
        return float(value) * epoch_unit
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise SourceError("bad_time", f"{what}: {value!r} is not an ISO 8601 time") from None
        if dt.tzinfo is None:
            raise SourceError("bad_time", f"{what}: {value!r} has no time zone")
        return dt.timestamp()
    raise SourceError("wrong_type", f"{what}: a time is a string or a number, got {type(value).__name__}")


class SourceRouter:
    """Maps topics to configured sensors and parses their payloads."""

    def __init__(self, cfg: BridgeConfig):
        self.cfg = cfg
        self.z2m_base = cfg.zigbee2mqtt_topic.rstrip("/")
        self.cs_base = cfg.chirpstack_topic.rstrip("/")
        self.generic_base = f"{cfg.prefix}/sensors"
        self.by_z2m: dict[str, SensorConfig] = {}
        self.by_eui: dict[str, SensorConfig] = {}
        self.by_topic: dict[str, SensorConfig] = {}
        for s in cfg.sensors:
            if s.source.zigbee2mqtt:
                self.by_z2m[s.source.zigbee2mqtt] = s
            elif s.source.chirpstack:
                self.by_eui[s.source.chirpstack.dev_eui] = s
            else:
                self.by_topic[s.source.topic] = s

    def subscriptions(self) -> list[str]:
        subs = [f"{self.generic_base}/+"]
        for name in self.by_z2m:   # per device, so the rest of a Zigbee network is not our traffic
            subs += [f"{self.z2m_base}/{name}", f"{self.z2m_base}/{name}/availability"]
        if self.by_eui:            # application ids are not in the config: one wildcard
            subs += [f"{self.cs_base}/+/device/+/event/up", f"{self.cs_base}/+/device/+/event/status"]
        depth = self.generic_base.count("/") + 1
        subs += [t for t in self.by_topic if not (t.startswith(self.generic_base + "/") and t.count("/") == depth)]
        return subs

    def parse(self, topic: str, payload: bytes, received: float) -> Reading | None:
        """A reading, or None for a message that is not ours to read (ignored, not an error)."""
        if topic in self.by_topic:
            return self._generic(self.by_topic[topic], topic, payload, received)
        if topic.startswith(self.z2m_base + "/"):
            return self._zigbee2mqtt(topic[len(self.z2m_base) + 1:], topic, payload, received)
        if topic.startswith(self.cs_base + "/"):
            return self._chirpstack(topic, payload, received)
        if topic.startswith(self.generic_base + "/"):
            raise SourceError("unknown_device", f"{topic}: no sensor is configured with this topic")
        return None

    # --- Zigbee2MQTT ------------------------------------------------------------------
    def _zigbee2mqtt(self, rest: str, topic: str, payload: bytes, received: float) -> Reading | None:
        if rest.startswith("bridge/") or rest.endswith(("/set", "/get")):
            return None
        if not payload:          # a retained message being cleared
            return None
        if rest.endswith("/availability") and rest[: -len("/availability")] in self.by_z2m:
            sensor = self.by_z2m[rest[: -len("/availability")]]
            text = payload.strip()
            if text in (b"online", b"offline"):          # legacy plain payload
                state: Any = text.decode()
            else:
                state = _json_object(payload, topic).get("state")
            if state not in ("online", "offline"):
                raise SourceError("wrong_type", f"{topic}: availability state must be 'online' or 'offline', got {state!r}")
            return Reading(sensor.id, received, received, availability=state, origin="zigbee2mqtt")
        sensor = self.by_z2m.get(rest)
        if sensor is None:
            raise SourceError("unknown_device", f"{topic}: no sensor is configured with zigbee2mqtt name {rest!r}")
        data = _json_object(payload, topic)
        ts = received
        if "last_seen" in data:
            # epoch form is milliseconds in Zigbee2MQTT
            ts = parse_time(data.pop("last_seen"), f"{topic}: last_seen", epoch_unit=0.001)
        return Reading(sensor.id, ts, received, values=data, origin="zigbee2mqtt")

    # --- ChirpStack v4 ----------------------------------------------------------------
    def _chirpstack(self, topic: str, payload: bytes, received: float) -> Reading | None:
        parts = topic[len(self.cs_base) + 1:].split("/")
        # <application_id>/device/<dev_eui>/event/<event>
        if len(parts) != 5 or parts[1] != "device" or parts[3] != "event":
            return None
        event = parts[4]
        if event not in ("up", "status"):
            return None
        data = _json_object(payload, topic)
        info = data.get("deviceInfo")
        if not isinstance(info, dict):
            raise SourceError("missing_field", f"{topic}: deviceInfo is missing or not an object")
        eui = info.get("devEui", parts[2])
        if not isinstance(eui, str):
            raise SourceError("wrong_type", f"{topic}: deviceInfo.devEui must be a string")
        sensor = self.by_eui.get(eui.lower())
        if sensor is None:
            raise SourceError("unknown_device", f"{topic}: no sensor is configured with dev_eui {eui!r}")
        key = data.get("deduplicationId")
        if not isinstance(key, str) or not key:
            raise SourceError("missing_field", f"{topic}: deduplicationId is missing or not a string")
        ts = parse_time(data["time"], f"{topic}: time") if data.get("time") is not None else received
        if event == "status":
            values: dict[str, Any] = {}
            if not data.get("batteryLevelUnavailable") and not data.get("externalPowerSource"):
                if "batteryLevel" not in data:
                    raise SourceError("missing_field", f"{topic}: batteryLevel is missing")
                values["battery"] = data["batteryLevel"]
            return Reading(sensor.id, ts, received, values=values, key=f"status:{key}", origin="chirpstack")
        obj = data.get("object")
        if obj is None:
            raise SourceError("missing_field", f"{topic}: no decoded 'object' (is a codec set in the device profile?)")
        if not isinstance(obj, dict):
            raise SourceError("wrong_type", f"{topic}: 'object' must be a JSON object, got {type(obj).__name__}")
        return Reading(sensor.id, ts, received, values=dict(obj), key=key, origin="chirpstack")

    # --- generic ------------------------------------------------------------------------
    def _generic(self, sensor: SensorConfig, topic: str, payload: bytes, received: float) -> Reading:
        data = _json_object(payload, topic)
        ts = parse_time(data.pop("ts"), f"{topic}: ts") if data.get("ts") is not None else received
        data.pop("ts", None)
        key = data.pop("msg_id", None)
        if key is not None and not isinstance(key, (str, int)):
            raise SourceError("wrong_type", f"{topic}: msg_id must be a string or an integer")
        avail = data.pop("availability", None)
        if avail not in (None, "online", "offline"):
            raise SourceError("wrong_type", f"{topic}: availability must be 'online' or 'offline', got {avail!r}")
        return Reading(sensor.id, ts, received, values=data, key=None if key is None else str(key),
                       availability=avail, origin="generic")
