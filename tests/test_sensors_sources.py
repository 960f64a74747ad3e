"""Parsing the sensor ecosystems' messages, in the shapes their projects document."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from edge.sensors.config import config_from_dict
from edge.sensors.sources import SourceError, SourceRouter
from tests.support.sensors import STATUS, UPLINK

pytestmark = pytest.mark.quick  # no service: `make test-quick`

CFG = config_from_dict({
    "edge_id": "e1",
    "sensors": [
        {"id": "smoke-1", "kind": "smoke", "grid": "G-1", "source": {"zigbee2mqtt": "b3/201-smoke"}},
        {"id": "water-1", "kind": "water_level", "grid": "G-1",
         "source": {"chirpstack": {"dev_eui": "A84041000181C8F1"}}},
        {"id": "gas-1", "kind": "gas", "grid": "G-2", "source": {"topic": "gridwatch/sensors/gas-1"}},
    ]})
ROUTER = SourceRouter(CFG)

UP_TOPIC = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/a84041000181c8f1/event/up"


def test_subscriptions_cover_every_configured_sensor():
    assert set(ROUTER.subscriptions()) == {
        "gridwatch/sensors/+", "zigbee2mqtt/b3/201-smoke", "zigbee2mqtt/b3/201-smoke/availability",
        "application/+/device/+/event/up", "application/+/device/+/event/status"}


def test_zigbee2mqtt_state_availability_and_last_seen():
    r = ROUTER.parse("zigbee2mqtt/b3/201-smoke", b'{"smoke": true, "battery": 87, "linkquality": 120}', 1000.0)
    assert (r.sensor_id, r.values, r.ts, r.key) == ("smoke-1", {"smoke": True, "battery": 87, "linkquality": 120}, 1000.0, None)
    r = ROUTER.parse("zigbee2mqtt/b3/201-smoke", b'{"smoke": false, "last_seen": 1763717000000}', 2000.0)
    assert r.ts == 1763717000.0 and "last_seen" not in r.values
    r = ROUTER.parse("zigbee2mqtt/b3/201-smoke/availability", b'{"state": "offline"}', 3000.0)
    assert r.availability == "offline" and r.values == {}
    assert ROUTER.parse("zigbee2mqtt/b3/201-smoke/availability", b"online", 3001.0).availability == "online"
    assert ROUTER.parse("zigbee2mqtt/bridge/state", b'{"state": "online"}', 1.0) is None
    assert ROUTER.parse("zigbee2mqtt/b3/201-smoke/set", b'{"state": "ON"}', 1.0) is None


def test_chirpstack_uplink_and_status():
    r = ROUTER.parse(UP_TOPIC, json.dumps(UPLINK).encode(), 5000.0)
    assert r.sensor_id == "water-1" and r.values == {"level_cm": 81.5, "battery": 96}
    assert r.key == UPLINK["deduplicationId"]
    assert r.ts == datetime.fromisoformat("2026-11-21T09:33:28.823500+00:00").timestamp() and r.received == 5000.0
    s = ROUTER.parse(UP_TOPIC.replace("/up", "/status"), json.dumps(STATUS).encode(), 5001.0)
    assert s.values == {"battery": 12.5} and s.key == "status:" + STATUS["deduplicationId"]
    assert ROUTER.parse(UP_TOPIC.replace("/up", "/join"), b"{}", 1.0) is None


def test_generic_message():
    r = ROUTER.parse("gridwatch/sensors/gas-1", b'{"ts": "2026-11-21T08:15:02Z", "msg_id": 42, "ch4_ppm": 1200}', 9.0)
    assert (r.sensor_id, r.values, r.key) == ("gas-1", {"ch4_ppm": 1200}, "42")
    assert r.ts == datetime.fromisoformat("2026-11-21T08:15:02+00:00").timestamp()


@pytest.mark.parametrize("topic, payload, reason", [
    ("zigbee2mqtt/b3/201-smoke", b"smoke!", "not_json"),
    ("zigbee2mqtt/b3/201-smoke", b"[1, 2]", "not_object"),
    ("zigbee2mqtt/b3/201-smoke", b'{"smoke": true, "last_seen": "yesterday"}', "bad_time"),
    ("zigbee2mqtt/b3/201-smoke/availability", b'{"state": 1}', "wrong_type"),
    ("zigbee2mqtt/someone-elses-lamp", b'{"state": "ON"}', "unknown_device"),
    (UP_TOPIC, json.dumps({**UPLINK, "deviceInfo": {**UPLINK["deviceInfo"], "devEui": "0101010101010101"}}).encode(),
     "unknown_device"),
    (UP_TOPIC, json.dumps({k: v for k, v in UPLINK.items() if k != "object"}).encode(), "missing_field"),
    (UP_TOPIC, json.dumps({k: v for k, v in UPLINK.items() if k != "deduplicationId"}).encode(), "missing_field"),
    (UP_TOPIC, json.dumps({**UPLINK, "object": [81.5]}).encode(), "wrong_type"),
    (UP_TOPIC, json.dumps({**UPLINK, "deviceInfo": "water"}).encode(), "missing_field"),
    ("gridwatch/sensors/nobody", b'{"v": 1}', "unknown_device"),
    ("gridwatch/sensors/gas-1", b'{"ts": true, "ch4_ppm": 3}', "wrong_type"),
    ("gridwatch/sensors/gas-1", b"x" * 70000, "too_large"),
])
def test_malformed_messages_have_a_reason(topic, payload, reason):
    with pytest.raises(SourceError) as e:
        ROUTER.parse(topic, payload, 1.0)
    assert e.value.reason == reason and topic in str(e.value)
