"""EdgePublisher against a real Mosquitto: QoS 1 via the spool, status and last will,
outages, bounds, expiry, restart."""
from __future__ import annotations

import json
import time

from alerts import topics
from edge.mqtt import EdgePublisher, MqttSettings
import pytest

from tests.support.alert_stream import Collector, StreamProcess, durable, stream_alert, stream_alert_id


@pytest.fixture
def own_broker(own_broker):
    """These tests stop and restart the broker: it must keep the collector's session."""
    return durable(own_broker)


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _ids(collector: Collector) -> list[str]:
    return [p["id"] for p in collector.payloads()]


def test_alerts_arrive_in_order_once_with_mqtt5_properties_and_leave_the_spool(broker, prefix, tmp_path):
    col = Collector(broker.url, topics.alerts_filter(prefix))
    pub = EdgePublisher(MqttSettings(url=broker.url, prefix=prefix), "edge-a", tmp_path / "spool.db")
    try:
        pub.start()
        for i in range(300):
            pub.publish_alert(stream_alert("edge-a", i, repeat=10))
        assert pub.flush(60)
        assert col.wait_for(300, 30)
        time.sleep(0.3)  # anything extra (a duplicate) would arrive by now
        assert _ids(col) == [stream_alert_id("edge-a", i) for i in range(300)]
        first = col.messages[0]
        assert first.topic == f"{prefix}/alerts/edge-a/edge-a-s0" and first.qos == 1
        assert ("schema", "gridwatch.alert/1") in first.properties.UserProperty
        assert 0 < first.properties.MessageExpiryInterval <= 86400
        assert pub.stats["sent"] == 300 and pub.stats["spooled"] == 0 and pub.stats["dropped"] == 0
    finally:
        pub.stop()
        col.close()


def test_status_is_retained_online_then_stopped_and_camera_status_survives(broker, prefix, tmp_path):
    live = Collector(broker.url, f"{prefix}/status/#")
    pub = EdgePublisher(MqttSettings(url=broker.url, prefix=prefix), "edge-s", tmp_path / "spool.db")
    pub.start()
    _wait(lambda: pub.stats["connected"], 10, "connection")
    pub.publish_status("cam-1", {"state": "streaming", "fps": 5.0})
    assert live.wait_for(2, 10)  # the broker has both now
    live.close()
    # A subscriber arriving later sees the retained state.
    late = Collector(broker.url, f"{prefix}/status/#")
    assert late.wait_for(2, 10)
    states = {m.topic: json.loads(m.payload)["state"] for m in late.messages}
    assert states == {f"{prefix}/status/edge-s": "online", f"{prefix}/status/edge-s/cam-1": "streaming"}
    assert all(m.retain for m in late.messages)
    pub.stop()
    late.wait_for(3, 10)
    assert json.loads(late.messages[-1].payload)["state"] == "stopped"
    late.close()


def test_a_killed_edge_is_reported_offline_by_its_last_will(broker, prefix, tmp_path):
    col = Collector(broker.url, topics.edge_status("edge-k", prefix))
    stream = StreamProcess(broker.url, prefix, "edge-k", tmp_path / "spool.db", count=100_000, seconds=600).start()
    try:
        _wait(lambda: any(json.loads(m.payload)["state"] == "online" for m in col.messages), 30, "online status")
        stream.kill()  # SIGKILL: no goodbye, the broker speaks for the edge
        _wait(lambda: json.loads(col.messages[-1].payload)["state"] == "offline", 30, "the last will")
    finally:
        stream.kill()
        col.close()


def test_alerts_spooled_while_the_broker_is_away_arrive_when_it_returns(own_broker, prefix, tmp_path):
    col = Collector(own_broker.url, topics.alerts_filter(prefix), session=f"col-{prefix}")
    own_broker.stop()
    pub = EdgePublisher(MqttSettings(url=own_broker.url, prefix=prefix, reconnect_max_s=1), "edge-o",
                        tmp_path / "spool.db")
    try:
        pub.start()
        for i in range(200):
            pub.publish_alert(stream_alert("edge-o", i))  # returns at once: the network is not involved
        assert pub.stats["spooled"] == 200 and not pub.stats["connected"]
        own_broker.start()
        assert pub.flush(60)
        assert col.wait_for(200, 30)
        time.sleep(0.3)
        assert _ids(col) == [stream_alert_id("edge-o", i) for i in range(200)]
    finally:
        pub.stop()
        col.close()


def test_live_alerts_overtake_the_backlog_which_drains_in_order(own_broker, prefix, tmp_path):
    col = Collector(own_broker.url, topics.alerts_filter(prefix), session=f"col-{prefix}")
    own_broker.stop()
    pub = EdgePublisher(MqttSettings(url=own_broker.url, prefix=prefix, reconnect_max_s=1), "edge-l",
                        tmp_path / "spool.db")
    backlog = 4000
    try:
        pub.start()
        for i in range(backlog):
            pub.publish_alert(stream_alert("edge-l", i))
        own_broker.start()
        _wait(lambda: pub.stats["connected"], 30, "reconnection")
        pub.publish_alert(stream_alert("edge-live", 0))
        assert pub.flush(120)
        assert col.wait_for(backlog + 1, 60)
        ids = _ids(col)
        live_at = ids.index(stream_alert_id("edge-live", 0))
        assert live_at < backlog, "the live alert waited behind the whole backlog"
        assert [x for x in ids if x.startswith("edge-l-")] == [stream_alert_id("edge-l", i) for i in range(backlog)]
    finally:
        pub.stop()
        col.close()


def test_a_full_spool_drops_the_oldest_counts_them_and_delivers_the_rest_in_order(own_broker, prefix, tmp_path):
    col = Collector(own_broker.url, topics.alerts_filter(prefix), session=f"col-{prefix}")
    own_broker.stop()
    size = len(stream_alert("edge-f", 0).to_json())
    pub = EdgePublisher(MqttSettings(url=own_broker.url, prefix=prefix, reconnect_max_s=1), "edge-f",
                        tmp_path / "spool.db", max_spool_bytes=50 * size + size // 2)
    try:
        pub.start()
        for i in range(120):
            pub.publish_alert(stream_alert("edge-f", i))
        assert pub.stats["spooled"] == 50 and pub.stats["dropped"] == 70
        own_broker.start()
        assert pub.flush(60)
        assert col.wait_for(50, 30)
        time.sleep(0.3)
        assert _ids(col) == [stream_alert_id("edge-f", i) for i in range(70, 120)]
    finally:
        pub.stop()
        col.close()


def test_alerts_older_than_the_message_expiry_are_dropped_and_counted(own_broker, prefix, tmp_path):
    col = Collector(own_broker.url, topics.alerts_filter(prefix), session=f"col-{prefix}")
    own_broker.stop()
    pub = EdgePublisher(MqttSettings(url=own_broker.url, prefix=prefix, message_expiry_s=1, reconnect_max_s=1),
                        "edge-x", tmp_path / "spool.db")
    try:
        pub.start()
        for i in range(5):
            pub.publish_alert(stream_alert("edge-x", i))
        time.sleep(1.2)
        own_broker.start()
        _wait(lambda: pub.stats["connected"], 30, "reconnection")
        pub.publish_alert(stream_alert("edge-fresh", 0))
        assert pub.flush(30)
        assert col.wait_for(1, 30)
        time.sleep(0.3)
        assert _ids(col) == [stream_alert_id("edge-fresh", 0)]
        assert pub.stats["expired"] == 5 and pub.stats["dropped"] == 5
    finally:
        pub.stop()
        col.close()


def test_a_restarted_edge_resumes_its_spool(own_broker, prefix, tmp_path):
    col = Collector(own_broker.url, topics.alerts_filter(prefix), session=f"col-{prefix}")
    own_broker.stop()
    spool = tmp_path / "spool.db"
    first = EdgePublisher(MqttSettings(url=own_broker.url, prefix=prefix), "edge-r", spool)
    first.start()
    for i in range(50):
        first.publish_alert(stream_alert("edge-r", i))
    first.stop()  # the broker is away: nothing was sent, all 50 stay spooled
    own_broker.start()
    second = EdgePublisher(MqttSettings(url=own_broker.url, prefix=prefix), "edge-r", spool)
    try:
        second.start()
        assert second.stats["spooled"] == 50
        assert second.flush(60)
        assert col.wait_for(50, 30)
        assert _ids(col) == [stream_alert_id("edge-r", i) for i in range(50)]
    finally:
        second.stop()
        col.close()


def test_an_unpublishable_message_is_refused_with_a_reason_and_alerts_still_flow(broker, prefix, tmp_path, caplog):
    col = Collector(broker.url, topics.alerts_filter(prefix))
    pub = EdgePublisher(MqttSettings(url=broker.url, prefix=prefix), "edge-b", tmp_path / "spool.db")
    try:
        pub.start()
        _wait(lambda: pub.stats["connected"], 10, "connection")
        pub.publish_raw(f"{prefix}/bad/#/topic", "x")  # a wildcard cannot be published to
        assert any("cannot publish" in r.getMessage() for r in caplog.records)
        pub.publish_alert(stream_alert("edge-b", 0))
        assert pub.flush(30) and col.wait_for(1, 30)
    finally:
        pub.stop()
        col.close()
