"""Sensors to incidents: the real bridge and the real gateway (MQTT ingest, PostgreSQL, REST API)
on the real Mosquitto. A Zigbee2MQTT smoke alarm opens an incident in its configured grid; a
ChirpStack water gauge's threshold opens one in the grid its location lies in; a duplicate
uplink adds nothing; a recovery notice marks the open incident's condition as ended (no new
incident, no status change); the sensor shows up in the gateway's register."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn

from alerts import topics
from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database
from gateway.db.grids import import_grids
from gateway.incidents.service import IncidentService
from gateway.mqtt.intake import Ingestor
from tests.support.alert_stream import Collector
from tests.support.sensors import (
    T0,
    FakeClock,
    Running,
    Sender,
    bridge_config,
    uplink,
    wait_until,
)
from tests.support.services import REPO, free_port, wait_port

TOKEN = "sensors-admin-token"


class Gateway:
    def __init__(self, pg_url: str, mqtt_url: str, prefix: str, tmp_path):
        self.settings = Settings(db_url=pg_url, mqtt_url=mqtt_url, mqtt_prefix=prefix,
                                 mqtt_client_id=f"{prefix}-gateway", admin_token=TOKEN, media_dir=tmp_path / "media")
        self.db = Database(pg_url)
        self.db.upgrade()
        with self.db.session() as s:
            import_grids(s, json.loads((REPO / "gateway/examples/grids.geojson").read_text()),
                         datetime.now(UTC))
        self.service = IncidentService.from_settings(self.settings, self.db)
        self.ingestor = Ingestor(self.settings, self.db, self.service).start()
        assert self.ingestor.wait_connected(15)
        self.port = free_port()
        app = create_app(self.settings, self.db, service=self.service, ingestor=self.ingestor)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_port(self.port, timeout=20)

    def get(self, path: str, **params) -> dict:
        r = httpx.get(f"http://127.0.0.1:{self.port}/api{path}", params=params,
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=15)
        assert r.status_code == 200, r.text
        return r.json()

    def duplicates(self) -> float:
        """Alerts the gateway dropped as repeats so far, from its Prometheus /metrics."""
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=15).text
        line = next((ln for ln in text.splitlines()
                     if ln.startswith('gridwatch_gateway_alerts_total{disposition="duplicate"}')), None)
        return float(line.split()[-1]) if line else 0.0

    def post(self, path: str, body: dict) -> dict:
        r = httpx.post(f"http://127.0.0.1:{self.port}/api{path}", json=body,
                       headers={"Authorization": f"Bearer {TOKEN}"}, timeout=15)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.ingestor.stop()
        self.db.dispose()


@pytest.fixture
def system(broker, prefix, pg_url, tmp_path):
    gw = Gateway(pg_url, broker.url, prefix, tmp_path)
    sender = Sender(broker.url)
    bridge = Running(bridge_config(broker.url, prefix, tmp_path), FakeClock(T0.timestamp()))
    wire = Collector(broker.url, topics.alerts_filter(prefix))   # what the bridge put on the wire
    yield gw, bridge, sender, wire
    wire.close()
    bridge.close()
    sender.close()
    gw.stop()


def test_sensor_alarms_become_incidents_routed_by_grid_and_location(system, prefix):
    gw, bridge, sender, wire = system
    bridge.deliver(sender, f"{prefix}-z2m/b3-201-smoke", '{"smoke": true, "battery": 87, "linkquality": 120}')
    for dedup, at, level in [("w1", 0, 85), ("w2", 70, 90), ("w2", 70, 90)]:   # 70 s above 80; w2 twice
        sender.send(*uplink(prefix, dedup, T0 + timedelta(seconds=at), level))

    def incidents() -> dict:
        return {i["source_id"]: i for i in gw.get("/incidents")["items"]}

    wait_until(lambda: {"smoke-b3-201", "water-ch-01"} <= set(incidents()), "two incidents", timeout=30)
    smoke, water = incidents()["smoke-b3-201"], incidents()["water-ch-01"]
    assert (smoke["type"], smoke["grid_id"], smoke["alert_count"]) == ("sensor.alarm", "G-03-07", 1)
    assert smoke["status"] in ("open", "dispatched") and smoke["opened_at"]
    assert (water["type"], water["grid_id"], water["alert_count"]) == ("sensor.threshold", "G-04-01", 1)
    assert {s["id"]: s for s in gw.get("/sensors")["items"]}["smoke-b3-201"]["kind"] == "smoke"

    # MQTT redelivers the smoke alert (at least once): the gateway keeps one alert, one incident
    assert wire.wait_for(2, 10)
    before = gw.duplicates()
    smoke_msg = next(m for m in wire.messages if m.topic.endswith("/smoke-b3-201"))
    sender.send(smoke_msg.topic, smoke_msg.payload)
    wait_until(lambda: gw.duplicates() == before + 1, "the gateway to drop the repeat", timeout=20)
    assert gw.get("/alerts")["total"] == 2
    assert incidents()["smoke-b3-201"]["alert_count"] == 1


def test_recovery_notices_end_the_condition_without_opening_incidents(system, prefix):
    gw, bridge, sender, wire = system
    smoke = f"{prefix}-z2m/b3-201-smoke"

    def incidents() -> list[dict]:
        return gw.get("/incidents", type="sensor.alarm")["items"] + gw.get("/incidents", type="sensor.offline")["items"]

    def sensor() -> dict:
        return {s["id"]: s for s in gw.get("/sensors")["items"]}["smoke-b3-201"]

    # the smoke alarm goes off, then the smoke is gone: the bridge's recovery notice
    bridge.deliver(sender, smoke, '{"smoke": true, "battery": 87}')
    wait_until(lambda: len(incidents()) == 1, "the smoke incident")
    bridge.bridge.clock.t += 60
    bridge.deliver(sender, smoke, '{"smoke": false, "battery": 87}')
    wait_until(lambda: gw.get("/alerts")["total"] == 2, "the recovery notice to be stored")
    [inc] = incidents()
    detail = gw.get(f"/incidents/{inc['id']}")
    raised, cleared = sorted(detail["alerts"], key=lambda a: a["ts"])
    assert cleared["details"]["cleared"] is True and cleared["details"]["raised_id"] == raised["id"]
    assert (cleared["disposition"], cleared["incident_id"], cleared["severity"]) == ("cleared", inc["id"], "info")
    assert (detail["alert_count"], detail["severity"], detail["status"]) == (1, "critical", inc["status"])
    last = detail["timeline"][-1]
    assert (last["event"], last["from_status"], last["to_status"]) == ("cleared", inc["status"], inc["status"])
    assert last["data"]["raised_id"] == raised["id"] and last["data"]["alert_id"] == cleared["id"]

    # the detector falls silent: offline incident and register; an operator dismisses the incident
    bridge.bridge.clock.t += 301
    bridge.bridge.tick()
    wait_until(lambda: len(incidents()) == 2 and sensor()["state"] == "offline", "the offline incident")
    offline = next(i for i in incidents() if i["type"] == "sensor.offline")
    gw.post(f"/incidents/{offline['id']}/dismiss", {"reason": "battery swapped, detector rebooting"})
    # it speaks again: the notice is stored with nothing to attach to, and the register says online
    bridge.bridge.clock.t += 10
    bridge.deliver(sender, smoke, '{"smoke": false, "battery": 99}')
    wait_until(lambda: gw.get("/alerts")["total"] == 4, "the offline recovery notice")
    back = gw.get("/alerts", type="sensor.offline", disposition="cleared")["items"]
    assert len(back) == 1 and back[0]["incident_id"] is None and "no open" in back[0]["reason"]
    assert len(incidents()) == 2 and sensor()["state"] == "online"
    assert gw.get(f"/incidents/{offline['id']}")["status"] == "dismissed"


@pytest.mark.slow   # ~20 s: three gateway commands start from scratch; the in-process test above is the default
def test_the_commands_end_to_end_zigbee2mqtt_smoke_to_an_incident(broker, pg_url, tmp_path):
    """`python -m gateway serve` and `python -m edge sensors` as real processes, a
    Zigbee2MQTT-shaped smoke alarm in, the incident read back through the API."""
    import uuid

    import yaml

    from tests.browser.gateway_proc import Gateway as GatewayProcess
    from tests.support.sensors import BridgeProcess

    gw_prefix = f"gwe{uuid.uuid4().hex[:8]}"
    gw = GatewayProcess(pg_url, broker.url, prefix=gw_prefix).start()
    cfg = bridge_config(broker.url, gw_prefix, tmp_path)
    path = tmp_path / "sensors.yaml"
    path.write_text(yaml.safe_dump(cfg))
    bridge = BridgeProcess(path)
    sender = Sender(broker.url)
    try:
        sender.send(f"{gw_prefix}-z2m/b3-201-smoke", '{"smoke": true, "battery": 87, "linkquality": 120}')
        incident = gw.wait_incident("smoke-b3-201", timeout=30)
        assert (incident["type"], incident["grid_id"], incident["alert_count"]) == ("sensor.alarm", "G-03-07", 1)
        detail = gw.api("GET", f"/api/incidents/{incident['id']}").json()
        assert detail["id"] == incident["id"] and detail["source_id"] == "smoke-b3-201"
    finally:
        sender.close()
        bridge.stop()
        gw.stop()
