"""Home Assistant MQTT discovery from the running bridge, read back from the real Mosquitto as
Home Assistant would: retained configs under the discovery prefix, and a retained state per
sensor whose keys the configs' value templates name."""
from __future__ import annotations

import json
import re

from tests.support.alert_stream import Collector
from tests.support.sensors import (
    T0,
    FakeClock,
    Running,
    Sender,
    bridge_config,
    wait_until,
)


def test_discovery_configs_and_alarm_states(broker, prefix, tmp_path):
    cfg = bridge_config(broker.url, prefix, tmp_path)
    cfg["hass"] = {"enabled": True, "discovery_prefix": f"{prefix}-ha", "camera_edge_id": "edge-cams",
                   "cameras": ["camera_profiles/examples/lawn.yaml"]}
    sender = Sender(broker.url)
    states = Collector(broker.url, f"{prefix}/sensor_state/#")
    app = Running(cfg, FakeClock(T0.timestamp()))
    try:
        # smoke: 2 rules + online; water: 2 rules + online; the lawn camera: status + last alert
        first = Collector(broker.url, f"{prefix}-ha/#")
        assert first.wait_for(8, 15), [m.topic for m in first.messages]
        first.close()
        configs = Collector(broker.url, f"{prefix}-ha/#")     # arriving late: Home Assistant restarted
        assert configs.wait_for(8, 15), [m.topic for m in configs.messages]
        by_topic = {m.topic: json.loads(m.payload) for m in configs.messages}
        assert all(m.retain for m in configs.messages)
        smoke = next(c for c in by_topic.values() if c.get("device_class") == "smoke")
        assert smoke["state_topic"] == f"{prefix}/sensor_state/edge-sensors-t/smoke-b3-201"
        assert smoke["availability"][0]["topic"] == f"{prefix}/status/edge-sensors-t"
        assert (smoke["payload_on"], smoke["device"]["suggested_area"]) == ("ON", "G-03-07")
        assert len({c["unique_id"] for c in by_topic.values()}) == 8
        cams = [c for t, c in by_topic.items() if "/sensor/" in t]
        assert {c["state_topic"] for c in cams} == {f"{prefix}/status/edge-cams/cam-lawn-01",
                                                   f"{prefix}/alerts/edge-cams/cam-lawn-01"}

        app.deliver(sender, f"{prefix}-z2m/b3-201-smoke", '{"smoke": true, "battery": 80}')
        key = re.fullmatch(r'\{\{ value_json\[(".*")\] \}\}', smoke["value_template"]).group(1)
        wait_until(lambda: any(json.loads(m.payload).get(json.loads(key)) == "ON" for m in states.messages
                               if m.topic.endswith("/smoke-b3-201")), "the smoke alarm state ON")
        last = [json.loads(m.payload) for m in states.messages if m.topic.endswith("/smoke-b3-201")][-1]
        assert last["online"] == "ON" and list(last.values()).count("ON") == 2
        configs.close()
    finally:
        app.close()
        states.close()
        sender.close()
