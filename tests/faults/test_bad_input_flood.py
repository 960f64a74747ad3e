"""10,000 bad payloads (malformed, oversized, wrong schema, wrong types) interleaved with valid
alerts: the gateway stays up, every bad one is in the dead-letter table with its reason, and
every valid one becomes exactly what it should."""
from __future__ import annotations

import json
import time

import httpx
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import create_engine, select

from alerts import topics
from gateway.db.models import DeadLetter
from tests.faults.harness import GRID, GatewayProcess, assert_exact, wait_stored
from tests.support.alert_stream import stream_alert

EDGE = "edge-good"
REPEAT = 2
TOO_LARGE = 2 * 1024 * 1024 + 1


def _valid_dict(i: int) -> dict:
    return stream_alert(EDGE, i, REPEAT, GRID).to_dict()


def bad_payload(n: int) -> tuple[bytes, str]:
    """The n-th bad payload and the reason code the gateway must give it."""
    good = _valid_dict(0)
    kind = n % 12
    if kind == 0:
        return b"{not json", "not_json"
    if kind == 1:
        return bytes([0xFF, 0xFE, 0x00, n % 256]), "not_json"  # not even UTF-8
    if kind == 2:
        return b"", "not_json"
    if kind == 3:
        return json.dumps([good]).encode(), "not_json"  # an array, not an object
    if kind == 4:
        return json.dumps({**good, "schema": "gridwatch.alert/9"}).encode(), "unknown_schema"
    if kind == 5:
        return json.dumps({k: v for k, v in good.items() if k != "schema"}).encode(), "unknown_schema"
    if kind == 6:
        return json.dumps({**good, "id": f"bad{n:07d}", "severity": 5}).encode(), "invalid"
    if kind == 7:
        return json.dumps({**good, "id": f"bad{n:07d}", "ts": "yesterday"}).encode(), "invalid"
    if kind == 8:
        return json.dumps({**good, "id": f"bad{n:07d}", "bbox": [0.1, "x"]}).encode(), "invalid"
    if kind == 9:
        return json.dumps({**good, "id": "short"}).encode(), "invalid"
    if kind == 10:
        return json.dumps({**good, "id": f"bad{n:07d}", "colour": "red"}).encode(), "invalid"
    if n % 1000 == 11:  # a few oversized ones (2 MB each) among cheap ones
        return b'{"schema": "gridwatch.alert/1", "pad": "' + b"x" * TOO_LARGE + b'"}', "too_large"
    return json.dumps({**good, "id": f"bad{n:07d}", "source": "cam-1"}).encode(), "invalid"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_ten_thousand_bad_payloads_among_valid_alerts(fault_broker, fault_db, prefix, tmp_path):
    bad_total, every = 10_000, 10  # one valid alert after every 10 bad ones
    gw = GatewayProcess(tmp_path, fault_broker.url, prefix, fault_db).start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"flood-{prefix}", protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(100)
    pub.connect("127.0.0.1", fault_broker.port)
    pub.loop_start()
    expected: dict[str, str] = {}
    valid = 0
    try:
        infos = []
        for n in range(bad_total):
            payload, code = bad_payload(n)
            topic = f"{prefix}/alerts/edge-bad/m{n:05d}"  # one topic each: the dead letter names it
            expected[topic] = code
            infos.append(pub.publish(topic, payload, qos=1))
            if n % every == every - 1:
                infos.append(pub.publish(topics.alert(EDGE, f"{EDGE}-s{valid // REPEAT}", prefix),
                                         json.dumps(_valid_dict(valid)), qos=1))
                valid += 1
        for info in infos:
            info.wait_for_publish(120)
        wait_stored(fault_db, valid, 1200, [gw])
        deadline = time.monotonic() + 1200
        eng = create_engine(fault_db)
        while time.monotonic() < deadline:
            with eng.connect() as c:
                letters = c.execute(select(DeadLetter.topic, DeadLetter.reason_code, DeadLetter.reason)).all()
            if len(letters) >= bad_total:
                break
            time.sleep(1)
        eng.dispose()
        assert gw.alive(), gw.tail()
        assert httpx.get(f"http://127.0.0.1:{gw.port}/healthz", timeout=10).json()["status"] == "ok"
        got = {t: code for t, code, _ in letters}
        assert len(letters) == bad_total and len(got) == bad_total, "each bad payload exactly once"
        wrong = {t: (got.get(t), want) for t, want in expected.items() if got.get(t) != want}
        assert not wrong, f"{len(wrong)} with the wrong reason, e.g. {list(wrong.items())[:5]}"
        assert all(reason for _, _, reason in letters)
        assert_exact(fault_db, {EDGE: valid}, REPEAT, dead_letters=bad_total)
    finally:
        pub.loop_stop()
        pub.disconnect()
        gw.stop()
