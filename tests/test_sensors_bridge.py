"""The sensor bridge against the real Mosquitto: Zigbee2MQTT- and ChirpStack-shaped messages in,
gridwatch alerts out through the real EdgePublisher (spool + QoS 1). Time is a fake clock
driven by the test (ChirpStack uplinks carry their own `time`)."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from alerts import parse_alert, topics
from tests.support.alert_stream import Collector
from tests.support.sensors import (
    DEV_EUI,
    STATUS,
    FakeClock,
    Running,
    Sender,
    bridge_config,
    uplink,
    wait_until,
)

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)












@pytest.fixture
def setup(broker, prefix, tmp_path):
    clock = FakeClock(T0.timestamp())
    alerts = Collector(broker.url, topics.alerts_filter(prefix))
    sender = Sender(broker.url)
    running = Running(bridge_config(broker.url, prefix, tmp_path), clock)
    yield running, clock, sender, alerts
    running.close()
    sender.close()
    alerts.close()




def got(col: Collector, n: int, timeout: float = 15) -> list:
    assert col.wait_for(n, timeout), f"expected {n} alert(s), got {len(col.messages)}: {col.payloads()}"
    return [parse_alert(m.payload) for m in col.messages]


def test_zigbee2mqtt_smoke_alarm_becomes_one_alert_then_clears(setup, prefix):
    running, clock, sender, col = setup
    topic = f"{prefix}-z2m/b3-201-smoke"
    running.deliver(sender, topic, '{"smoke": false, "battery": 87, "linkquality": 120}')
    clock.t += 5
    running.deliver(sender, topic, '{"smoke": true, "battery": 87, "linkquality": 110}')
    running.deliver(sender, topic, '{"smoke": true, "battery": 86, "linkquality": 112}')  # still burning: no new alert
    clock.t += 60
    running.deliver(sender, topic, '{"smoke": false, "battery": 86, "linkquality": 115}')
    raised, cleared = got(col, 2)
    assert col.messages[0].topic == topics.alert("edge-sensors-t", "smoke-b3-201", prefix)
    assert (raised.type.value, raised.severity.value, raised.source.kind, raised.source.id, raised.grid_hint) == \
        ("sensor.alarm", "critical", "sensor", "smoke-b3-201", "G-03-07")
    assert raised.ts == T0 + timedelta(seconds=5) and raised.details["cleared"] is False
    assert raised.details["sensor_kind"] == "smoke" and raised.details["value"] is True
    assert cleared.type.value == "sensor.alarm" and cleared.details["cleared"] is True
    assert cleared.details["raised_id"] == raised.id and cleared.ts == T0 + timedelta(seconds=65)
    assert running.bridge.stats["alerts"] == 2


def test_chirpstack_threshold_with_hysteresis_duration_and_duplicate_uplinks(setup, prefix):
    running, clock, sender, col = setup
    t = lambda s: T0 + timedelta(seconds=s)  # noqa: E731  the uplinks' own times
    for dedup, at, level in [("u1", 0, 85), ("u2", 30, 78),      # 78: in the band, the 60 s restart
                             ("u3", 40, 86), ("u3", 40, 86),    # a duplicate uplink (two gateways)
                             ("u4", 100, 87), ("u4", 100, 87),  # 60 s above 80: raised, once
                             ("u5", 130, 75),                   # in the band: stays raised
                             ("u6", 160, 65)]:                  # below 70: cleared
        sender.send(*uplink(prefix, dedup, t(at), level))
    raised, cleared = got(col, 2)
    assert raised.type.value == "sensor.threshold" and raised.details["value"] == 87
    assert raised.ts == t(100) and raised.grid_hint is None and raised.location.lat == 36.7221
    # the id's time part is the start of the episode (uplink u3), its random part a hash of it
    assert ULID.from_str(raised.id).datetime == t(40)
    assert cleared.details["cleared"] is True and cleared.ts == t(160) and cleared.details["raised_id"] == raised.id
    sender.send(*uplink(prefix, "u7", t(200), 95))    # a new episode: a new alert (the marker)
    sender.send(*uplink(prefix, "u8", t(260), 96))
    third = got(col, 3)[2]
    assert third.id not in (raised.id, cleared.id)
    assert len(col.messages) == 3
    assert running.bridge.stats["duplicates"] == 2


def test_the_same_uplink_gives_the_same_alert_id_even_without_state(broker, prefix, tmp_path):
    """A bridge that lost its state (or crashed before saving it) re-raises with the same id,
    which the gateway drops as a repeat."""
    ids = []
    for run in ("a", "b"):
        col = Collector(broker.url, topics.alerts_filter(prefix))
        sender = Sender(broker.url)
        cfg = bridge_config(broker.url, prefix, tmp_path / run)
        cfg["sensors"][1]["rules"][0]["for_s"] = 0
        r = Running(cfg, FakeClock(T0.timestamp()))
        try:
            sender.send(*uplink(prefix, "dup-1", T0, 90))
            ids.append(got(col, 1)[0].id)
        finally:
            r.close()
            sender.close()
            col.close()
    assert ids[0] == ids[1]


def test_offline_after_silence_with_a_fake_clock_and_back_online(setup, prefix):
    running, clock, sender, col = setup
    running.deliver(sender, f"{prefix}-z2m/b3-201-smoke", '{"smoke": false, "battery": 80}')
    running.deliver(sender, *uplink(prefix, "w1", T0, 20))
    assert running.bridge.tick(clock.t + 299) == []
    clock.t += 301
    offline = running.bridge.tick()
    # the smoke detector (300 s) is offline; the gauge has the battery default (25 h)
    assert [(a.type.value, a.source.id) for a in offline] == [("sensor.offline", "smoke-b3-201")]
    assert running.bridge.tick(clock.t + 1000) == []             # raised once
    clock.t += 10
    sender.send(f"{prefix}-z2m/b3-201-smoke", '{"smoke": false, "battery": 80}')
    alerts = got(col, 2)
    assert [(a.type.value, a.details["cleared"]) for a in alerts] == [("sensor.offline", False), ("sensor.offline", True)]
    assert alerts[0].severity.value == "major" and alerts[1].details["raised_id"] == alerts[0].id


def test_zigbee2mqtt_availability_offline_is_debounced(setup, prefix):
    running, clock, sender, col = setup
    avail = f"{prefix}-z2m/b3-201-smoke/availability"
    running.deliver(sender, avail, '{"state": "offline"}', retain=True)
    running.deliver(sender, avail, '{"state": "online"}', retain=True)      # a flap: nothing
    running.deliver(sender, avail, '{"state": "offline"}', retain=True)
    assert running.bridge.tick(clock.t + 30) == []
    assert [a.type.value for a in running.bridge.tick(clock.t + 61)] == ["sensor.offline"]
    assert got(col, 1)[0].details["reason"] == "reported offline"
    sender.send(avail, "", retain=True)                          # clean up the retained message


def test_malformed_messages_are_counted_and_the_bridge_keeps_going(setup, prefix):
    running, clock, sender, col = setup
    z2m = f"{prefix}-z2m/b3-201-smoke"
    up_topic, good = uplink(prefix, "ok-1", T0, 50)
    bad = json.loads(good)
    sender.send(z2m, b"\xff not json")
    sender.send(z2m, '["smoke", true]')
    sender.send(z2m, '{"smoke": true, "battery": "empty"}')                  # alarm used, battery refused
    sender.send(up_topic, json.dumps({k: v for k, v in bad.items() if k != "object"}))
    sender.send(up_topic, json.dumps({**bad, "deduplicationId": 7}))
    sender.send(up_topic.replace(DEV_EUI, "0101010101010101"),
                json.dumps({**bad, "deviceInfo": {**bad["deviceInfo"], "devEui": "0101010101010101"}}))
    sender.send(f"{prefix}/sensors/no-such-sensor", '{"v": 1}')
    sender.send(f"{prefix}-cs/app/device/{DEV_EUI}/event/up", good)          # and a good one still works
    sender.send(*uplink(prefix, "ok-2", T0 + timedelta(seconds=1), 90))
    sender.send(*uplink(prefix, "ok-3", T0 + timedelta(seconds=70), 91))
    alerts = got(col, 2)
    assert {(a.source.id, a.type.value) for a in alerts} == {("smoke-b3-201", "sensor.alarm"),
                                                             ("water-ch-01", "sensor.threshold")}
    s = running.bridge.stats
    assert (s["rejected.not_json"], s["rejected.not_object"], s["rejected.wrong_type"],
            s["rejected.missing_field"], s["rejected.unknown_device"]) == (1, 1, 1, 2, 2)


def test_rejections_are_reported_in_the_bridge_status(setup, broker, prefix):
    running, clock, sender, col = setup
    running.deliver(sender, f"{prefix}-z2m/b3-201-smoke", "{oops")
    running.deliver(sender, f"{prefix}/sensors/ghost", '{"v": 1}')
    status = Collector(broker.url, topics.edge_status("edge-sensors-t", prefix))
    running.REPORT_EVERY_S = 0
    running.step()
    wait_until(lambda: any("counters" in json.loads(m.payload) for m in status.messages), "a status with counters")
    body = next(json.loads(m.payload) for m in status.messages if "counters" in json.loads(m.payload))
    status.close()
    assert body["state"] == "online" and body["sensors"] == 2
    assert body["counters"]["rejected.not_json"] == 1 and body["counters"]["rejected.unknown_device"] == 1


def test_the_bridge_rides_out_a_broker_restart(own_broker, prefix, tmp_path):
    cfg = bridge_config(own_broker.url, prefix, tmp_path)
    cfg["mqtt"]["reconnect_max_s"] = 1
    app = Running(cfg, FakeClock(T0.timestamp()))
    col = Collector(own_broker.url, topics.alerts_filter(prefix), session=f"{prefix}-col")
    sender = None
    try:
        own_broker.restart()
        wait_until(lambda: app.subscriber.ready.is_set(), "the bridge to resubscribe", timeout=30)
        sender = Sender(own_broker.url)
        sender.send(f"{prefix}-z2m/b3-201-smoke", '{"smoke": true}')
        alert = got(col, 1, timeout=30)[0]
        assert (alert.source.id, alert.type.value) == ("smoke-b3-201", "sensor.alarm")
    finally:
        app.close()
        col.close()
        if sender:
            sender.close()


def test_chirpstack_status_event_reports_a_low_battery_once(setup, prefix):
    running, clock, sender, col = setup
    topic = uplink(prefix, "x", T0, 0)[0].replace("/event/up", "/event/status")
    for dedup, level in [("s1", 40.0), ("s2", 12.5), ("s2", 12.5), ("s3", 11.0)]:
        body = {**STATUS, "deduplicationId": dedup, "batteryLevel": level,
                "deviceInfo": {**STATUS["deviceInfo"], "devEui": DEV_EUI}}
        sender.send(topic, json.dumps(body))
    sender.send(topic, json.dumps({**STATUS, "deduplicationId": "s4", "batteryLevel": 95.0,
                                   "deviceInfo": {**STATUS["deviceInfo"], "devEui": DEV_EUI}}))  # replaced
    low, back = got(col, 2)
    assert (low.type.value, low.severity.value, low.details["value"]) == ("sensor.battery_low", "minor", 12.5)
    assert back.details["cleared"] is True and back.details["value"] == 95.0
    assert running.bridge.stats["duplicates"] == 1


def test_time_stands_still_while_the_broker_is_unheard(own_broker, prefix, tmp_path):
    clock = FakeClock(T0.timestamp())
    cfg = bridge_config(own_broker.url, prefix, tmp_path)
    cfg["mqtt"]["reconnect_max_s"] = 1
    app = Running(cfg, clock)
    try:
        app.SETTLE_S = 0
        app.step()                                   # heard: the watch restarts now
        own_broker.stop()
        wait_until(lambda: not app.subscriber.ready.is_set(), "the bridge to notice the outage")
        clock.t += 3600                              # an hour without the broker
        app.step()
        assert app.bridge.stats["alerts"] == 0       # nobody was heard, nobody is blamed
        own_broker.start()
        wait_until(lambda: app.subscriber.ready.is_set(), "the bridge to resubscribe", timeout=30)
        app.step()                                   # the offline clock restarts at reconnect
        clock.t += 299
        app.step()
        assert app.bridge.stats["alerts"] == 0
        clock.t += 2
        app.step()                                   # 301 s of silence we could hear
        assert app.bridge.stats["alerts"] == 1
    finally:
        app.close()
