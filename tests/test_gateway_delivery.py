"""Delivery guarantees of the ingest: a persistent session queues alerts while the gateway is
down, replicas on a shared subscription split the load over one PostgreSQL without doubles,
and concurrent alerts of one source and type correlate into exactly one incident."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select

from alerts import parse_alert, topics
from gateway.db.models import AlertRow, Incident
from gateway.incidents.service import IncidentService
from gateway.mqtt.intake import Ingestor
from tests.support.gateway import Publisher, alert, count, make_db, make_settings
from tests.support.waiting import wait_for


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_alerts_sent_while_the_gateway_is_down_arrive_after_restart(broker, prefix, tmp_path, protocol):
    url = f"sqlite:///{tmp_path}/gw.db"
    db = make_db(url)
    settings = make_settings(tmp_path, broker.url, prefix, url, mqtt_protocol=protocol)
    first = Ingestor(settings, db).start()
    assert first.wait_connected(10)
    first.stop()  # the session stays on the broker
    pub = Publisher(broker.url)
    try:
        for n in range(5):
            pub.send(topics.alert("edge-t", f"cam-d{n}", prefix), alert(source=f"cam-d{n}"))
        second = Ingestor(settings, db).start()  # same client id: resumes the session
        try:
            wait_for(lambda: count(db, AlertRow) == 5, what="queued alerts delivered after restart")
            assert count(db, Incident) == 5
        finally:
            second.stop()
    finally:
        pub.close()
        db.dispose()


def test_replicas_share_the_load_without_doubles(broker, prefix, tmp_path, pg_url):
    db = make_db(pg_url)
    replicas = [Ingestor(make_settings(tmp_path, broker.url, prefix, pg_url, mqtt_shared_group=f"g-{prefix}")
                         .model_copy(update={"mqtt_client_id": f"gw-{prefix}-{i}"}), db) for i in range(2)]
    for r in replicas:
        r.start()
        assert r.wait_connected(10)
    pub = Publisher(broker.url)
    seen = [0, 0]
    for i, r in enumerate(replicas):  # count who handled what, through the real handler
        def counting(topic, payload, _h=r.handle, _i=i):
            seen[_i] += 1
            return _h(topic, payload)
        r.handle = counting
    try:
        sources = [f"cam-r{n % 10}" for n in range(40)]  # 10 sources, 4 alerts each
        for src in sources:
            pub.send(topics.alert("edge-t", src, prefix), alert(source=src))
        wait_for(lambda: count(db, AlertRow) == 40, timeout=30, what="40 alerts over two replicas")
        assert count(db, Incident) == 10
        with db.session() as s:
            assert set(s.scalars(select(Incident.alert_count))) == {4}
        assert sum(seen) == 40 and min(seen) > 0, seen  # both replicas took a share
    finally:
        pub.close()
        for r in replicas:
            r.stop()
        db.dispose()


def test_concurrent_alerts_of_one_source_open_exactly_one_incident(pg_url, tmp_path):
    db = make_db(pg_url)
    alerts = [parse_alert(json.dumps(alert(source="cam-race"))) for _ in range(24)]
    services = [IncidentService(db, media_dir=tmp_path) for _ in range(6)]
    outcomes = []
    barrier = threading.Barrier(len(services))

    def worker(i: int) -> None:
        barrier.wait(10)
        for a in alerts[i::len(services)]:
            try:
                outcomes.append(services[i].ingest(a).disposition)
            except Exception as e:  # shown by the assertion below instead of lost in a thread
                outcomes.append(f"error: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(services))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 24 and sorted(set(outcomes)) == ["attached", "opened"], outcomes
    assert outcomes.count("opened") == 1
    with db.session() as s:
        inc = s.scalars(select(Incident)).one()
        assert inc.alert_count == 24
        assert s.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.incident_id == inc.id)) == 24
    db.dispose()
