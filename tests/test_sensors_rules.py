"""Sensor rules: pure evaluation with time passed in (no broker needed)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.schema import AlertType
from edge.sensors import rules
from edge.sensors.config import ConfigError, SensorConfig, config_from_dict
from edge.sensors.sources import Reading

pytestmark = pytest.mark.quick  # no service: `make test-quick`

UTC = ZoneInfo("UTC")
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC).timestamp()


def sensor(rule: dict, **kw) -> SensorConfig:
    return SensorConfig.model_validate({"id": "s1", "kind": "water_level", "grid": "G-1",
                                        "source": {"topic": "x/y"}, "rules": [rule], **kw})


def feed(s: SensorConfig, state: dict, values: list[tuple[float, object]], field: str = "v", key=None):
    """Apply readings (sensor time offset from T0, value); returns (state, list of (raised|cleared, t))."""
    seen = []
    for dt, v in values:
        out = rules.apply_reading(s, state, Reading("s1", T0 + dt, T0 + dt, {field: v}, key=key), UTC)
        state = out.state
        seen += [("cleared" if e.cleared else "raised", e.ts - T0) for e in out.events]
    return state, seen


def test_threshold_with_hysteresis_raises_once_and_clears_below_the_lower_bound():
    s = sensor({"field": "v", "above": 80, "clear_below": 70, "type": "sensor.threshold"})
    _, seen = feed(s, rules.new_state(), [(0, 75), (10, 81), (20, 90), (30, 75), (40, 85), (50, 69), (60, 82)])
    # 75 inside the band keeps it raised; 69 clears; 82 raises again
    assert seen == [("raised", 10), ("cleared", 50), ("raised", 60)]


def test_threshold_needs_the_value_above_for_the_whole_duration():
    s = sensor({"field": "v", "above": 80, "for_s": 60, "type": "sensor.threshold"})
    _, seen = feed(s, rules.new_state(), [(0, 85), (30, 79), (40, 85), (90, 86), (100, 90)])
    # the dip at 30 s restarts the clock: 40 + 60 = 100
    assert seen == [("raised", 100)]


def test_duration_completes_on_a_tick_without_new_messages():
    s = sensor({"field": "v", "above": 80, "for_s": 60, "type": "sensor.threshold"})
    state, seen = feed(s, rules.new_state(), [(0, 85)])
    assert seen == []
    assert rules.tick(s, state, T0 + 59, UTC).events == []
    out = rules.tick(s, state, T0 + 61, UTC)
    assert [(e.type, e.cleared) for e in out.events] == [(AlertType.sensor_threshold, False)]
    assert rules.tick(s, out.state, T0 + 120, UTC).events == []      # raised once only


def test_boolean_alarm_and_battery_below_with_numeric_strings():
    s = sensor({"field": "smoke", "equals": True, "type": "sensor.alarm"})
    _, seen = feed(s, rules.new_state(), [(0, False), (1, True), (2, True), (3, False)], field="smoke")
    assert seen == [("raised", 1), ("cleared", 3)]
    b = sensor({"field": "battery", "below": 15, "clear_above": 25, "type": "sensor.battery_low"})
    _, seen = feed(b, rules.new_state(), [(0, "40.00"), (1, "14.00"), (2, 20), (3, 30)], field="battery")
    assert seen == [("raised", 1), ("cleared", 3)]


def test_rate_of_change_over_a_window():
    s = sensor({"field": "v", "rises_by": 20, "within_s": 600, "type": "sensor.threshold"})
    _, seen = feed(s, rules.new_state(), [(0, 10), (300, 20), (900, 35), (1000, 41), (1100, 42), (2000, 42)])
    # a slow rise: never more than +15 inside any 600 s window
    assert seen == []
    _, seen = feed(s, rules.new_state(), [(0, 10), (300, 31), (400, 32), (1200, 32)])
    assert seen == [("raised", 300), ("cleared", 1200)]
    f = sensor({"field": "v", "falls_by": 5, "within_s": 60, "type": "sensor.threshold"})
    state, seen = feed(f, rules.new_state(), [(0, 50), (10, 52), (20, 49), (30, 47), (40, 46.5), (100, 46)])
    assert seen == [("raised", 30), ("cleared", 100)]     # 52 -> 47 in 20 s; 60 s on, only 46.5 -> 46
    assert len(state["rules"][f.rules[0].rule_id]["samples"]) <= 2   # only candidates for the maximum are kept


def test_active_hours_door_open_at_night_only():
    tz = ZoneInfo("Asia/Shanghai")    # T0 = 16:00 local
    s = sensor({"field": "contact", "equals": False, "active_hours": "22:00-06:00", "type": "sensor.alarm"})
    out = rules.apply_reading(s, rules.new_state(), Reading("s1", T0, T0, {"contact": False}), tz)
    assert out.events == []                                           # open at 16:00: allowed
    assert rules.tick(s, out.state, T0 + 5.9 * 3600, tz).events == []  # 21:54
    night = rules.tick(s, out.state, T0 + 6.1 * 3600, tz)              # 22:06, still open
    assert [e.type for e in night.events] == [AlertType.sensor_alarm]


def test_offline_after_silence_and_clear_on_next_message():
    s = sensor({"field": "v", "above": 1, "type": "sensor.threshold"}, offline_after_s=300)
    state = rules.start_watch(rules.new_state(), T0)
    state, _ = feed(s, state, [(10, 0)])
    assert rules.tick(s, state, T0 + 300, UTC).events == []
    out = rules.tick(s, state, T0 + 311, UTC)
    assert [(e.type, e.cleared) for e in out.events] == [(AlertType.sensor_offline, False)]
    assert rules.tick(s, out.state, T0 + 900, UTC).events == []       # once
    back = rules.apply_reading(s, out.state, Reading("s1", T0 + 950, T0 + 950, {"v": 0}), UTC)
    assert [(e.type, e.cleared) for e in back.events] == [(AlertType.sensor_offline, True)]


def test_reported_offline_is_debounced():
    s = sensor({"field": "v", "above": 1, "type": "sensor.threshold"}, offline_debounce_s=60, offline_after_s=3600)
    state = rules.start_watch(rules.new_state(), T0)
    off = rules.apply_reading(s, state, Reading("s1", T0, T0, availability="offline"), UTC).state
    flap = rules.apply_reading(s, off, Reading("s1", T0 + 30, T0 + 30, availability="online"), UTC)
    assert flap.events == [] and rules.tick(s, flap.state, T0 + 90, UTC).events == []
    assert [e.type for e in rules.tick(s, off, T0 + 61, UTC).events] == [AlertType.sensor_offline]


def test_duplicate_key_and_out_of_order_readings_change_nothing():
    s = sensor({"field": "v", "above": 80, "type": "sensor.threshold"})
    first = rules.apply_reading(s, rules.new_state(), Reading("s1", T0 + 10, T0, {"v": 90}, key="dedup-1"), UTC)
    assert len(first.events) == 1
    again = rules.apply_reading(s, first.state, Reading("s1", T0 + 10, T0 + 1, {"v": 90}, key="dedup-1"), UTC)
    assert again.duplicate and again.events == []
    old = rules.apply_reading(s, first.state, Reading("s1", T0 + 5, T0 + 2, {"v": 10}, key="dedup-0"), UTC)
    assert old.stale and old.events == []


def test_wrong_type_is_reported_and_other_rules_still_run():
    s = SensorConfig.model_validate({"id": "s1", "kind": "smoke", "grid": "G", "source": {"topic": "a/b"}, "rules": [
        {"field": "smoke", "equals": True, "type": "sensor.alarm"},
        {"field": "battery", "below": 15, "type": "sensor.battery_low"}]})
    out = rules.apply_reading(s, rules.new_state(), Reading("s1", T0, T0, {"smoke": True, "battery": "low"}), UTC)
    assert [e.type for e in out.events] == [AlertType.sensor_alarm]
    assert out.problems == ["battery: expected a number, got 'low'"]


@pytest.mark.parametrize("bad, field", [
    ({"sensors": [{"id": "a", "kind": "smoke", "source": {"topic": "t"}}]}, "sensors[0]"),
    ({"sensors": [{"id": "a", "kind": "x", "grid": "G", "source": {"topic": "t"},
                   "rules": [{"field": "v", "above": 1, "clear_below": 5, "type": "sensor.threshold"}]}]}, "rules[0]"),
    ({"sensors": [{"id": "a", "kind": "x", "grid": "G", "source": {"zigbee2mqtt": "n", "topic": "t"}}]}, "source"),
])
def test_bad_config_names_the_field(bad, field):
    with pytest.raises(ConfigError) as e:
        config_from_dict({"edge_id": "e1", **bad}, "S.yaml")
    assert "S.yaml" in str(e.value) and field in str(e.value)


def test_environment_wins_over_the_file_and_unset_variables_are_named(monkeypatch):
    base = {"edge_id": "e1", "mqtt": {"url": "mqtt://10.0.0.1:1883", "password": "${Z2M_PASS}"},
            "sensors": [{"id": "a", "kind": "smoke", "grid": "G", "source": {"zigbee2mqtt": "a"}}]}
    with pytest.raises(ConfigError, match="Z2M_PASS"):
        config_from_dict(base, "S.yaml")
    monkeypatch.setenv("Z2M_PASS", "s3cret")
    monkeypatch.setenv("GRIDWATCH_MQTT_URL", "mqtt://127.0.0.1:1884")
    monkeypatch.setenv("GRIDWATCH_SENSORS_STATE", "/tmp/x/state.db")
    cfg = config_from_dict(base, "S.yaml")
    assert (cfg.mqtt.url, cfg.mqtt.password, cfg.state) == ("mqtt://127.0.0.1:1884", "s3cret", "/tmp/x/state.db")
    assert cfg.sensors[0].offline_s == 90000   # a battery device: Zigbee2MQTT's 25 h


def test_the_shipped_example_is_valid():
    from pathlib import Path

    from edge.sensors.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "edge/sensors/examples/sensors.yaml")
    kinds = {s.kind for s in cfg.sensors}
    assert {"smoke", "door", "water_level", "gas", "manhole"} <= kinds and cfg.hass.enabled


def test_the_design_example_configuration_loads():
    import re

    import yaml

    from tests.support.services import REPO

    design = (REPO / "docs" / "design.md").read_text()
    block = re.search(r"### Sensor bridge configuration.*?```yaml\n(.*?)```", design, re.S).group(1)
    cfg = config_from_dict(yaml.safe_load(block), "docs/design.md")
    water = cfg.sensors[1]
    assert (water.source.chirpstack.dev_eui, water.rules[0].for_s, water.rules[0].clear_below) == \
        ("a84041000181c8f1", 60, 70)
