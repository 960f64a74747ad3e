"""The spine end to end: alerts over the real Mosquitto become incidents for the right grid's
worker, in SQLite (the default) and PostgreSQL."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from alerts import topics
from gateway.db import Database
from gateway.db.models import AlertRow, Camera, DeadLetter, Edge, Incident, Sensor
from gateway.mqtt.intake import Ingestor
from tests.support.gateway import Publisher, alert, count, make_db, make_settings
from tests.support.waiting import wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/gw.db"
    else:
        yield request.getfixturevalue("pg_url")


def test_alerts_become_incidents_end_to_end(broker, prefix, tmp_path, db_url):
    db = make_db(db_url)
    ingest = Ingestor(make_settings(tmp_path, broker.url, prefix, db_url), db).start()
    pub = Publisher(broker.url)
    try:
        assert ingest.wait_connected(10)
        first = alert()
        topic = topics.alert("edge-test", "cam-lawn-01", prefix)
        pub.send(topic, first)
        wait_for(lambda: count(db, AlertRow) == 1, what="the first alert")
        with db.session() as s:
            inc = s.scalars(select(Incident)).one()
            assert (inc.grid_id, inc.assignee, inc.status, inc.alert_count) == ("G-03-07", "worker.g0307", "dispatched", 1)

        pub.send(topic, first)  # the same alert id again (a redelivery): nothing new
        second = alert()  # same source and type: attaches
        pub.send(topic, second)
        wait_for(lambda: count(db, AlertRow) == 2, what="the second alert")
        pub.send(topic, b"{not json")
        pub.send(topic, json.dumps({**alert(), "type": "teleport"}))
        unknown = alert(source="cam-nowhere", location=None)
        pub.send(topics.alert("edge-test", "cam-nowhere", prefix), unknown)
        wait_for(lambda: count(db, AlertRow) == 3 and count(db, DeadLetter) == 2, what="dead letters and unrouted")

        with db.session() as s:
            incidents = s.scalars(select(Incident).order_by(Incident.id)).all()
            assert len(incidents) == 2
            assert incidents[0].alert_count == 2
            assert s.get(AlertRow, second["id"]).incident_id == incidents[0].id
            assert s.get(AlertRow, second["id"]).disposition == "attached"
            unrouted = incidents[1]
            assert unrouted.grid_id is None and unrouted.level == "street" and unrouted.assignee is None
            assert "cam-nowhere" in unrouted.unrouted_reason and "no grid_hint and no location" in unrouted.unrouted_reason
            letters = {d.reason_code: d for d in s.scalars(select(DeadLetter))}
            assert letters["not_json"].payload == b"{not json" and letters["not_json"].topic == topic
            assert "type" in letters["invalid"].reason
        # the same, as operators see it through the API and monitoring through /metrics
        from fastapi.testclient import TestClient

        from gateway.app import create_app

        api = TestClient(create_app(make_settings(tmp_path, broker.url, prefix, db_url), db))
        admin = {"Authorization": "Bearer test-admin-token"}
        dead = api.get("/api/dead-letters", headers=admin).json()
        assert dead["total"] == 2 and {d["reason_code"] for d in dead["items"]} == {"not_json", "invalid"}
        assert any(d["payload"] == "{not json" for d in dead["items"])
        metrics = api.get("/metrics").text
        assert 'gridwatch_gateway_dead_letters_total{reason="not_json"}' in metrics
        assert 'gridwatch_gateway_alerts_total{disposition="unrouted"}' in metrics
        listed = api.get("/api/incidents", headers=admin, params={"status": "dispatched"}).json()["items"]
        assert [(i["grid_id"], i["alert_count"], i["assignee"]) for i in listed] == [("G-03-07", 2, "worker.g0307")]
    finally:
        pub.close()
        ingest.stop()
        db.dispose()


def test_status_topics_and_sensors_are_tracked(broker, prefix, tmp_path):
    url = f"sqlite:///{tmp_path}/gw.db"
    db = make_db(url)
    ingest = Ingestor(make_settings(tmp_path, broker.url, prefix, url), db)
    pub = Publisher(broker.url)
    try:
        # retained before the gateway starts: it must still learn them
        pub.send(topics.edge_status("edge-a", prefix), {"state": "online", "ts": "2026-11-21T08:00:00Z"}, retain=True)
        pub.send(topics.camera_status("edge-a", "cam-lawn-01", prefix),
                 {"state": "streaming", "fps": 9.5, "ts": "2026-11-21T08:00:01Z", "grid": "G-03-07"}, retain=True)
        ingest.start()
        wait_for(lambda: count(db, Camera) == 1 and count(db, Edge) == 1, what="status rows")
        pub.send(topics.camera_status("edge-a", "cam-lawn-01", prefix),
                 {"state": "lost", "ts": "2026-11-21T08:00:05Z"}, retain=True)
        sensor = alert(source="smoke-b3-201", type_="sensor.alarm", camera_id=None, grid_hint="G-03-07", location=None,
                       details={"battery": 71, "sensor_kind": "smoke"})
        sensor["source"] = {"kind": "sensor", "id": "smoke-b3-201"}
        pub.send(topics.alert("edge-a", "smoke-b3-201", prefix), sensor)
        pub.send(topics.edge_status("edge-a", prefix), b"[1,2]")
        wait_for(lambda: count(db, Sensor) == 1 and count(db, DeadLetter) == 1, what="sensor and bad status")
        wait_for(lambda: _camera(db).state == "lost", what="camera lost")
        cam = _camera(db)
        assert cam.edge_id == "edge-a" and cam.grid_id == "G-03-07" and cam.fps == 9.5
        with db.session() as s:
            sen = s.get(Sensor, "smoke-b3-201")
            assert (sen.state, sen.battery, sen.grid_id, sen.kind) == ("online", 71.0, "G-03-07", "smoke")
            assert s.get(Edge, "edge-a").state == "online"
    finally:
        for t in (topics.edge_status("edge-a", prefix), topics.camera_status("edge-a", "cam-lawn-01", prefix)):
            pub.send(t, b"", retain=True)  # clear the retained messages
        pub.close()
        ingest.stop()
        db.dispose()


def _camera(db: Database) -> Camera:
    with db.session() as s:
        return s.get(Camera, "cam-lawn-01")
