"""EdgePublisher against a real Mosquitto: QoS 1 via the spool, status and last will,
outages, bounds, expiry, restart; TLS with a password or a client certificate (certificates
made by openssl for the test), and MQTT 3.1.1."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from alerts import topics
from edge.delivery.publisher import EdgePublisher, MqttSettings
from tests.faults.netcut import NetCut
from tests.support.alert_stream import (
    Collector,
    StreamProcess,
    durable,
    stream_alert,
    stream_alert_id,
)
from tests.support.pki import make_pki
from tests.support.services import MosquittoBroker, free_port, wait_port
from tests.support.waiting import wait_for


@pytest.fixture
def own_broker(own_broker):
    """These tests stop and restart the broker: it must keep the collector's session."""
    return durable(own_broker)


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


def test_an_alert_unacknowledged_when_the_line_drops_still_goes_out_before_newer_ones(broker, prefix, tmp_path):
    """Regression: after a reconnection paho re-sends what it still held (alert 0) only once
    on_connect has returned; newer alerts must not overtake it in that gap. A loaded machine
    can deschedule paho's thread right there: the test holds it there on purpose."""
    col = Collector(broker.url, topics.alerts_filter(prefix))
    link = NetCut(broker.port)
    pub = EdgePublisher(MqttSettings(url=link.url, prefix=prefix, reconnect_min_s=0.2, reconnect_max_s=1),
                        "edge-g", tmp_path / "spool.db")
    connects, spooled, released = [], threading.Event(), threading.Event()
    on_connect = pub._client.on_connect

    def stalled_after_reconnecting(*args):
        on_connect(*args)
        connects.append(1)
        if len(connects) == 2:  # paho's thread is descheduled before its own re-sends
            spooled.wait(10)
            released.wait(10)

    pub._client.on_connect = stalled_after_reconnecting
    try:
        pub.start()
        wait_for(lambda: pub.stats["connected"], 10, "connection")
        link.cut()  # alert 0 is handed to paho and vanishes: no PUBACK
        pub.publish_alert(stream_alert("edge-g", 0))
        wait_for(lambda: pub.stats["inflight"] == 1, 10, "alert 0 in flight")
        link.restore()  # the line resets; paho keeps alert 0 to re-send
        wait_for(lambda: len(connects) == 2 or not pub.stats["connected"], 10, "the disconnection")
        for i in range(1, 30):
            pub.publish_alert(stream_alert("edge-g", i))
        spooled.set()
        # Room for a wrong sender to hand newer alerts to paho during the stall (bounded).
        deadline = time.monotonic() + 2
        while pub.stats["inflight"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        released.set()
        assert pub.flush(30), pub.stats
        assert col.wait_for(30, 30)
        time.sleep(0.3)  # a late duplicate would arrive by now
        ids = _ids(col)
        assert ids[0] == stream_alert_id("edge-g", 0), ids[:5]
        assert sorted(set(ids)) == [stream_alert_id("edge-g", i) for i in range(30)]
        assert ids == sorted(ids), "out of order"
    finally:
        released.set()
        pub.stop()
        link.close()
        col.close()


def test_status_is_retained_online_then_stopped_and_camera_status_survives(broker, prefix, tmp_path):
    live = Collector(broker.url, f"{prefix}/status/#")
    pub = EdgePublisher(MqttSettings(url=broker.url, prefix=prefix), "edge-s", tmp_path / "spool.db")
    pub.start()
    wait_for(lambda: pub.stats["connected"], 10, "connection")
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
        wait_for(lambda: any(json.loads(m.payload)["state"] == "online" for m in col.messages), 30, "online status")
        stream.kill()  # SIGKILL: no goodbye, the broker speaks for the edge
        wait_for(lambda: json.loads(col.messages[-1].payload)["state"] == "offline", 30, "the last will")
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
        wait_for(lambda: pub.stats["connected"], 30, "reconnection")
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
        wait_for(lambda: pub.stats["connected"], 30, "reconnection")
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


def test_a_raw_message_published_while_offline_goes_out_after_reconnecting(own_broker, prefix, tmp_path):
    col = Collector(own_broker.url, f"{prefix}/raw/#", session=f"col-{prefix}")
    own_broker.stop()
    pub = EdgePublisher(MqttSettings(url=own_broker.url, prefix=prefix, reconnect_max_s=1), "edge-w", None)
    try:
        pub.start()
        pub.publish_raw(f"{prefix}/raw/discovery", '{"n": 1}')
        own_broker.start()
        assert col.wait_for(1, 30)
        assert col.payloads() == [{"n": 1}]
    finally:
        pub.stop()
        col.close()


def test_an_unpublishable_message_is_refused_with_a_reason_and_alerts_still_flow(broker, prefix, tmp_path, caplog):
    col = Collector(broker.url, topics.alerts_filter(prefix))
    pub = EdgePublisher(MqttSettings(url=broker.url, prefix=prefix), "edge-b", tmp_path / "spool.db")
    try:
        pub.start()
        wait_for(lambda: pub.stats["connected"], 10, "connection")
        pub.publish_raw(f"{prefix}/bad/#/topic", "x")  # a wildcard cannot be published to
        assert any("cannot publish" in r.getMessage() for r in caplog.records)
        pub.publish_alert(stream_alert("edge-b", 0))
        assert pub.flush(30) and col.wait_for(1, 30)
    finally:
        pub.stop()
        col.close()


@pytest.fixture
def tls_broker(tmp_path):
    """Mosquitto with a plain listener (for the test's own subscriber), a TLS + password
    listener and a TLS + client-certificate listener."""
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pki / "passwd"), "edge-user", "edge-pass"], check=True,
                   capture_output=True, timeout=30)
    b = MosquittoBroker()
    os.chmod(b.dir, 0o777)
    for f in pki.iterdir():  # Mosquitto drops to its own user: it must read these
        shutil.copy(f, b.dir / f.name)
        os.chmod(b.dir / f.name, 0o644)
    b.pw_port, b.cert_port = free_port(), free_port()
    b.conf.write_text(
        "per_listener_settings true\n"
        f"listener {b.port} 127.0.0.1\nallow_anonymous true\n"
        f"listener {b.pw_port} 127.0.0.1\nallow_anonymous false\npassword_file {b.dir}/passwd\n"
        f"cafile {b.dir}/ca.crt\ncertfile {b.dir}/server.crt\nkeyfile {b.dir}/server.key\n"
        f"listener {b.cert_port} 127.0.0.1\nallow_anonymous false\nrequire_certificate true\n"
        "use_identity_as_username true\n"
        f"cafile {b.dir}/ca.crt\ncertfile {b.dir}/server.crt\nkeyfile {b.dir}/server.key\n")
    b.start()
    wait_port(b.pw_port)
    wait_port(b.cert_port)
    b.pki = pki
    yield b
    b.close()


def _delivers(settings: MqttSettings, plain_url: str, edge: str, n: int = 20) -> EdgePublisher:
    col = Collector(plain_url, topics.alerts_filter(settings.prefix))
    pub = EdgePublisher(settings, edge, None)
    try:
        pub.start()
        wait_for(lambda: pub.stats["connected"], 15, f"connection over {settings.url}")
        for i in range(n):
            pub.publish_alert(stream_alert(edge, i))
        assert pub.flush(30), f"not delivered: {pub.stats}"
        assert col.wait_for(n, 15)
        assert [p["id"] for p in col.payloads()] == [stream_alert_id(edge, i) for i in range(n)]
    finally:
        pub.stop()
        col.close()
    return pub


def test_tls_with_username_and_password(tls_broker, prefix):
    s = MqttSettings(url=f"mqtts://127.0.0.1:{tls_broker.pw_port}", prefix=prefix,
                     ca_certs=str(tls_broker.pki / "ca.crt"), username="edge-user", password="edge-pass")
    _delivers(s, tls_broker.url, "edge-pw")


def test_tls_with_a_client_certificate(tls_broker, prefix):
    s = MqttSettings(url=f"mqtts://127.0.0.1:{tls_broker.cert_port}", prefix=prefix,
                     ca_certs=str(tls_broker.pki / "ca.crt"), certfile=str(tls_broker.pki / "client.crt"),
                     keyfile=str(tls_broker.pki / "client.key"))
    _delivers(s, tls_broker.url, "edge-cert")


def test_a_wrong_password_keeps_alerts_spooled_and_says_why(tls_broker, prefix, caplog):
    s = MqttSettings(url=f"mqtts://127.0.0.1:{tls_broker.pw_port}", prefix=prefix,
                     ca_certs=str(tls_broker.pki / "ca.crt"), username="edge-user", password="wrong")
    pub = EdgePublisher(s, "edge-bad", None)
    try:
        pub.start()
        pub.publish_alert(stream_alert("edge-bad", 0))
        deadline = time.monotonic() + 15
        while not any("refused" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("refused" in r.getMessage() for r in caplog.records)
        assert pub.stats["spooled"] == 1 and pub.stats["sent"] == 0
    finally:
        pub.stop()


def test_mqtt_3_1_1_works_without_properties(broker, prefix):
    _delivers(MqttSettings(url=broker.url, prefix=prefix, protocol="3.1.1"), broker.url, "edge-v311")
