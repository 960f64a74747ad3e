"""The batched ingest: many messages per transaction, yet one failing alert costs only itself.

The poison is real, not mocked: an alert carrying an inline snapshot while the gateway's
media directory cannot be created (a regular file stands where the directory should be),
so storing its picture raises inside the incident logic, after its alert row was inserted
with the rest of the batch."""
from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select

from alerts import topics
from gateway.db.models import (
    AlertRow,
    DeadLetter,
    Incident,
    IncidentEvent,
    OutboxMessage,
    Timer,
)
from gateway.mqtt.intake import Ingestor, Message
from tests.support.gateway import Publisher, alert, count, make_db, make_settings
from tests.support.waiting import wait_for

SNAPSHOT = base64.b64encode(b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9").decode()


def poisoned_settings(tmp_path, broker_url, prefix, db_url):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the media directory should be")
    return make_settings(tmp_path, broker_url, prefix, db_url).model_copy(update={"media_dir": blocker / "media"})


def batch_of(prefix: str, n: int) -> tuple[list[Message], dict]:
    """n alerts of n/2 sources (2 each), one with the poisoned snapshot, plus a malformed
    payload and a redelivered duplicate: one batch as the worker would take it."""
    msgs, alerts = [], []
    for i in range(n):
        a = alert(source=f"cam-b{i // 2}")
        alerts.append(a)
    poison = alerts[7]
    poison["snapshot"] = SNAPSHOT
    for a in alerts:
        msgs.append(Message(topics.alert("edge-test", a["source"]["id"], prefix), json.dumps(a).encode()))
    msgs.insert(20, Message(topics.alert("edge-test", "cam-x", prefix), b"{not json"))
    msgs.append(msgs[3])  # the same message twice in one batch
    return msgs, poison


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_one_poisoned_alert_in_a_batch_costs_only_itself(tmp_path, prefix, pg_url, backend):
    url = f"sqlite:///{tmp_path}/gw.db" if backend == "sqlite" else pg_url
    db = make_db(url)
    ing = Ingestor(poisoned_settings(tmp_path, "mqtt://127.0.0.1:1", prefix, url), db)  # never connected
    try:
        msgs, poison = batch_of(prefix, 40)
        out = ing.process(msgs)

        assert len(out) == len(msgs)
        assert out[7] == "dead_letter"  # the poisoned alert
        assert out[20] == "dead_letter"  # the malformed payload
        assert out[-1] == "duplicate"
        assert out.count("opened") == 20 and out.count("attached") == 19  # cam-b3 lost its 2nd (the poisoned) alert
        with db.session() as s:
            ids = set(s.scalars(select(AlertRow.id)))
            assert len(ids) == 39 and poison["id"] not in ids  # the poisoned row was rolled back with it
            assert set(s.scalars(select(AlertRow.disposition))) == {"opened", "attached"}
            assert s.scalar(select(Incident.alert_count).where(Incident.source_id == "cam-b3")) == 1
            assert count(db, Incident) == 20
            assert count(db, Timer) > 0 and count(db, OutboxMessage) > 0
            letters = s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
            assert [d.reason_code for d in letters] == ["not_json", "internal"]
            assert json.loads(letters[1].payload)["id"] == poison["id"]
            assert "not-a-directory" in letters[1].reason

        # replaying the whole batch (a redelivery after a crash before the ack) changes nothing
        # but the poisoned one, which fails again and is dead-lettered again
        again = ing.process(msgs)
        assert again.count("duplicate") == 40 and again.count("dead_letter") == 2
        assert count(db, AlertRow) == 39 and count(db, Incident) == 20
    finally:
        db.dispose()


def test_a_batch_over_mqtt_is_acknowledged_after_its_commit(broker, prefix, tmp_path, pg_url):
    """Through the real broker: every good alert stored, the poisoned one dead-lettered, and all
    of them acknowledged (a restarted gateway with the same persistent session gets nothing back
    but what is published after)."""
    db = make_db(pg_url)
    settings = poisoned_settings(tmp_path, broker.url, prefix, pg_url)
    pub = Publisher(broker.url)
    ing = Ingestor(settings, db).start()
    try:
        assert ing.wait_connected(10)
        msgs, poison = batch_of(prefix, 60)
        for m in msgs[:-1]:
            pub.send(m.topic, m.payload)
        wait_for(lambda: count(db, AlertRow) == 59 and count(db, DeadLetter) == 2, timeout=30, what="59 alerts, 2 dead")
        ing.stop()

        ing = Ingestor(settings, db).start()  # same client id: the persistent session resumes
        assert ing.wait_connected(10)
        sentinel = alert(source="cam-sentinel")
        pub.send(topics.alert("edge-test", "cam-sentinel", prefix), sentinel)
        wait_for(lambda: count(db, AlertRow) == 60, timeout=30, what="the sentinel alert")
        assert count(db, DeadLetter) == 2  # nothing was redelivered: the batch had been acknowledged
        assert count(db, Incident) == 31
    finally:
        pub.close()
        ing.stop()
        db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batch_with_known_alerts_and_incidents_opened_by_another_replica(tmp_path, prefix, pg_url, backend):
    """The batch's bulk inserts meet rows that already exist: redelivered alerts (known ids)
    and open incidents that another replica opened (it shares the database, not this one's
    memory). Each known alert is a duplicate, each such source attaches, the rest open."""
    url = f"sqlite:///{tmp_path}/gw.db" if backend == "sqlite" else pg_url
    db = make_db(url)
    settings = make_settings(tmp_path, "mqtt://127.0.0.1:1", prefix, url)
    first, other = Ingestor(settings, db), Ingestor(settings, db)  # two replicas, never connected

    def msg(a: dict) -> Message:
        return Message(topics.alert("edge-test", a["source"]["id"], prefix), json.dumps(a).encode())

    try:
        earlier = [alert(source=f"cam-r{i}") for i in range(10)]
        assert first.process([msg(a) for a in earlier]) == ["opened"] * 10

        again = [alert(source=f"cam-r{i}") for i in range(10)]  # the same sources, new alerts
        fresh = [alert(source=f"cam-n{i}") for i in range(5)]  # sources nobody has seen
        out = other.process([msg(a) for a in earlier[:5] + again + fresh])

        assert out == ["duplicate"] * 5 + ["attached"] * 10 + ["opened"] * 5
        assert count(db, AlertRow) == 25 and count(db, Incident) == 15
        with db.session() as s:
            counts = dict(s.execute(select(Incident.source_id, Incident.alert_count)).all())
            assert counts == {**{f"cam-r{i}": 2 for i in range(10)}, **{f"cam-n{i}": 1 for i in range(5)}}
            assert set(s.scalars(select(AlertRow.disposition))) == {"opened", "attached"}
            # every incident opened by the batch has its timers and outbox rows
            opened = set(s.scalars(select(Incident.id).where(Incident.source_id.like("cam-n%"))))
            assert opened <= set(s.scalars(select(Timer.incident_id)))
            assert len(opened) == 5
        assert count(db, DeadLetter) == 0 and count(db, OutboxMessage) > 0
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_repeated_alerts_of_a_batch_attach_together_in_order(tmp_path, prefix, pg_url, backend):
    """The fast path attaches a batch's repeated alerts together (one locking query, each
    incident written once). It must still give every alert its incident, count each alert
    once, raise the severity, leave the deadlines alone, open a new incident when the one it
    remembered was dismissed meanwhile, and write the attaches before a recovery notice
    that follows them in the batch."""
    from gateway.api.auth import Principal

    url = f"sqlite:///{tmp_path}/gw.db" if backend == "sqlite" else pg_url
    db = make_db(url)
    ing = Ingestor(make_settings(tmp_path, "mqtt://127.0.0.1:1", prefix, url), db)  # never connected

    def msgs(alerts: list[dict]) -> list[Message]:
        return [Message(topics.alert("edge-test", a["source"]["id"], prefix), json.dumps(a).encode())
                for i, a in enumerate(alerts)]

    try:
        assert ing.process(msgs([alert(source=f"cam-k{i}") for i in range(4)])) == ["opened"] * 4
        with db.session() as s:
            ids = dict(s.execute(select(Incident.source_id, Incident.id)).all())
            timers_before = sorted(s.execute(select(Timer.incident_id, Timer.kind, Timer.due_at)).all())
        admin = Principal("ops", "admin", None)
        ing.service.act(ids["cam-k3"], "dismiss", admin, {"reason": "a test"})  # this gateway still remembers it open

        raised = alert(source="cam-k2")
        batch = [alert(source="cam-k0"), alert(source="cam-k1"), alert(source="cam-k0", severity="critical"),
                 alert(source="cam-k3"), alert(source="cam-k0"), alert(source="cam-k1"), raised,
                 alert(source="cam-k2", details={"cleared": True, "raised_id": raised["id"]}),  # it ended
                 alert(source="cam-k2")]
        out = ing.process(msgs(batch))

        assert out == ["attached", "attached", "attached", "opened", "attached", "attached", "attached", "cleared",
                       "attached"]
        with db.session() as s:
            rows = {r.id: r for r in s.scalars(select(AlertRow))}
            got = [rows[a["id"]].incident_id for a in batch]
            assert got[:3] == [ids["cam-k0"], ids["cam-k1"], ids["cam-k0"]] and got[4:6] == [ids["cam-k0"], ids["cam-k1"]]
            assert got[3] not in ids.values()  # a new incident: the dismissed one takes no alerts
            assert got[6:] == [ids["cam-k2"]] * 3  # the notice found the incident its raised alert attached to
            incs = {i.source_id: i for i in s.scalars(select(Incident).where(Incident.status != "dismissed"))}
            assert {k: i.alert_count for k, i in incs.items()} == {"cam-k0": 4, "cam-k1": 3, "cam-k2": 3, "cam-k3": 1}
            assert incs["cam-k0"].severity == "critical" and incs["cam-k1"].severity == "major"
            assert "alert_count" not in incs["cam-k0"].engine_state  # a column: only those without are in the JSON
            attached = s.scalars(select(IncidentEvent.data).where(IncidentEvent.incident_id == ids["cam-k0"],
                                                                    IncidentEvent.event == "attached")
                                 .order_by(IncidentEvent.id)).all()
            assert [d["alert_count"] for d in attached] == [2, 3, 4]  # one entry per alert, in order
            assert [d["alert_id"] for d in attached] == [batch[0]["id"], batch[2]["id"], batch[4]["id"]]
            cleared = s.scalars(select(IncidentEvent.event).where(IncidentEvent.incident_id == ids["cam-k2"])
                                .order_by(IncidentEvent.id)).all()
            assert cleared[-3:] == ["attached", "cleared", "attached"]
            timers_after = sorted(s.execute(select(Timer.incident_id, Timer.kind, Timer.due_at)
                                            .where(Timer.incident_id != got[3])).all())
            assert timers_after == timers_before  # attaching moves no deadline, cancels none
            assert s.scalar(select(func.count()).select_from(Timer).where(Timer.incident_id == got[3])) == 2
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_sources_alerts_in_one_batch_update_its_row_as_if_one_by_one(tmp_path, prefix, pg_url, backend):
    """The batch merges a source's upserts into one row: the last value wins, and a value an
    alert does not carry keeps the one an earlier alert of the batch gave."""
    from gateway.db.models import Sensor

    url = f"sqlite:///{tmp_path}/gw.db" if backend == "sqlite" else pg_url
    db = make_db(url)
    ing = Ingestor(make_settings(tmp_path, "mqtt://127.0.0.1:1", prefix, url), db)

    def sensor_alert(type_: str, **details) -> dict:
        a = alert(type_=type_, details={"sensor_kind": "smoke", **details})
        a.update(source={"kind": "sensor", "id": "smoke-7"}, camera_id=None)
        return a

    try:
        batch = [sensor_alert("sensor.alarm", battery=81.0), sensor_alert("sensor.offline"),
                 sensor_alert("sensor.alarm")]
        msgs = [Message(topics.alert("edge-test", "smoke-7", prefix), json.dumps(a).encode())
                for i, a in enumerate(batch)]
        assert ing.process(msgs) == ["opened", "opened", "attached"]
        with db.session() as s:
            row = s.get(Sensor, "smoke-7")
            assert (row.state, row.battery, row.kind, row.last_alert_type) == ("online", 81.0, "smoke", "sensor.alarm")
            assert row.grid_id == "G-03-07"
    finally:
        db.dispose()


def test_a_redelivered_alert_racing_another_replica_is_stored_once(tmp_path, prefix, pg_url):
    """Replica A holds alert X uncommitted while replica B stores a batch with X (and another
    alert of the same source): B's insert of the alert rows waits for A, then finds X taken,
    rolls back everything it did for the batch and says so; stored again, X is a duplicate and
    the other alert attaches to A's incident. Nothing is counted twice."""
    import threading

    from alerts import parse_alert
    from gateway.incidents.errors import AlertsRaced

    db = make_db(pg_url)
    settings = make_settings(tmp_path, "mqtt://127.0.0.1:1", prefix, pg_url)
    a, b = Ingestor(settings, db), Ingestor(settings, db)
    x, y = alert(source="cam-race"), alert(source="cam-race")
    msgs = [Message(topics.alert("edge-test", "cam-race", prefix), json.dumps(m).encode())
            for i, m in enumerate((x, y))]
    outcome: dict = {}

    def replica_b():
        try:
            outcome["first"] = b.process(msgs)
        except AlertsRaced as e:
            outcome["raced"] = e
            outcome["again"] = b.process(msgs)

    try:
        with db.session() as s:  # replica A, mid-transaction
            assert a.service.ingest_many(s, [parse_alert(json.dumps(x))], isolate=False)[0].disposition == "opened"
            t = threading.Thread(target=replica_b)
            t.start()
            t.join(1.5)
            assert t.is_alive(), "replica B should wait for A's uncommitted alert row"
        t.join(30)
        assert x["id"] in outcome["raced"].ids and "stored again" in str(outcome["raced"])
        assert outcome["again"] == ["duplicate", "attached"]
        assert count(db, AlertRow) == 2 and count(db, Incident) == 1
        with db.session() as s:
            assert s.scalar(select(Incident.alert_count)) == 2
            assert s.scalar(select(func.count()).select_from(IncidentEvent).where(IncidentEvent.event == "opened")) == 1
    finally:
        db.dispose()
