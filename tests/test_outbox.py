"""The outbox relay against real PostgreSQL (and SQLite) and a real Mosquitto: order, exactly
one publish per row across relays, rows that wait while the broker is away, backoff, and a
relay killed mid-publish that loses nothing."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from gateway.db import Database
from gateway.db.models import OutboxMessage
from gateway.outbox.relay import OutboxRelay
from tests.faults.netcut import NetCut
from tests.support.alert_stream import Collector
from tests.support.services import REPO

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def pg_db(pg_url):
    db = Database(pg_url)
    db.upgrade()
    yield db
    db.dispose()


def add_rows(db: Database, n: int, topic: str, at: datetime = T0) -> list[int]:
    with db.session() as s:
        rows = [OutboxMessage(topic=topic, payload={"event": "opened", "incident": {"id": i}}, created_at=at,
                              attempts=0, next_attempt_at=at) for i in range(n)]
        s.add_all(rows)
    return [r.id for r in rows]


def unsent(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))


def outbox_ids(col: Collector) -> list[int]:
    return [json.loads(m.payload)["outbox_id"] for m in col.messages]


def test_the_outbox_id_is_spliced_into_the_stored_json_text():
    from gateway.outbox.relay import with_outbox_id

    for body in ('{"event":"opened","incident":{"id":1}}', '{ "a": [1, {"b": "}"}] }', "{}", " { } "):
        assert json.loads(with_outbox_id(body, 42)) == {"outbox_id": 42, **json.loads(body)}
        assert with_outbox_id(body, 42).startswith('{"outbox_id":42')


def _relay(db, url, prefix, **kw) -> OutboxRelay:
    kw.setdefault("clock", lambda: T0)
    return OutboxRelay(db, url, prefix=prefix, **kw)


def _publishes_in_order_once(db, broker, prefix):
    col = Collector(broker.url, f"{prefix}/incidents/#")
    ids = add_rows(db, 40, f"{prefix}/incidents/G-03-07")
    relay = _relay(db, broker.url, prefix)
    try:
        assert relay.wait_connected(10)
        assert relay.run_once(limit=25) == 25
        assert relay.run_once(limit=25) == 15
        assert relay.run_once() == 0
        assert col.wait_for(40, 15)
        time.sleep(0.3)
        assert outbox_ids(col) == ids
        assert [m.topic for m in col.messages] == [f"{prefix}/incidents/G-03-07"] * 40
        assert col.payloads()[3] == {"outbox_id": ids[3], "event": "opened", "incident": {"id": 3}}
        with db.session() as s:
            rows = list(s.scalars(select(OutboxMessage)))
        assert all(r.sent_at == T0 and r.attempts == 1 and r.last_error is None for r in rows)
    finally:
        relay.stop()
        col.close()


def test_rows_are_published_in_order_once_and_marked_sent_postgres(pg_db, broker, prefix):
    _publishes_in_order_once(pg_db, broker, prefix)


def test_rows_are_published_in_order_once_and_marked_sent_sqlite(tmp_path, broker, prefix):
    db = Database(f"sqlite:///{tmp_path}/gw.db")
    db.upgrade()
    _publishes_in_order_once(db, broker, prefix)
    db.dispose()


def test_a_broker_with_a_small_receive_maximum_gets_the_rows_within_it(pg_db, prefix):
    """Mosquitto with max_inflight_messages 5 tells MQTT 5 clients they may have 5 publishes
    unacknowledged: a pass of 60 rows goes out within that window, all of them, in order."""
    from tests.support.services import MosquittoBroker

    small = MosquittoBroker(max_inflight=5).start()
    col = Collector(small.url, f"{prefix}/incidents/#")
    ids = add_rows(pg_db, 60, f"{prefix}/incidents/G-03-07")
    relay = _relay(pg_db, small.url, prefix)
    try:
        assert relay.wait_connected(10)
        assert relay.run_once() == 60
        assert col.wait_for(60, 15)
        assert outbox_ids(col) == ids
    finally:
        relay.stop()
        col.close()
        small.close()


def test_two_relays_on_one_database_publish_every_row_exactly_once(pg_db, broker, prefix):
    col = Collector(broker.url, f"{prefix}/incidents/#")
    ids = add_rows(pg_db, 600, f"{prefix}/incidents/G-04-01")
    relays = [OutboxRelay(pg_db, broker.url, prefix=prefix, poll_interval_s=0.05) for _ in range(2)]
    try:
        for r in relays:
            r.start()
        deadline = time.monotonic() + 60
        while unsent(pg_db) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert unsent(pg_db) == 0
        assert col.wait_for(600, 30)
        time.sleep(0.5)
        got = outbox_ids(col)
        assert sorted(got) == ids, "every row once, none twice"
        assert all(r.sent > 0 for r in relays), "both relays took a share (SKIP LOCKED, not a global lock)"
    finally:
        for r in relays:
            r.stop()
        col.close()


def test_rows_wait_untouched_while_the_broker_is_away(pg_db, own_broker, prefix):
    own_broker.stop()
    add_rows(pg_db, 5, f"{prefix}/incidents/G-03-06")
    relay = _relay(pg_db, own_broker.url, prefix, ack_timeout_s=1)
    try:
        assert relay.run_once() == 0
        with pg_db.session() as s:
            assert all(r.attempts == 0 and r.sent_at is None for r in s.scalars(select(OutboxMessage)))
        own_broker.start()
        col = Collector(own_broker.url, f"{prefix}/incidents/#")
        assert relay.wait_connected(30)
        assert relay.run_once() == 5
        assert col.wait_for(5, 15)
        col.close()
    finally:
        relay.stop()


def test_no_puback_means_a_retry_later_with_backoff(pg_db, broker, prefix):
    link = NetCut(broker.port)
    now = [T0]
    col = Collector(broker.url, f"{prefix}/incidents/#")
    relay = OutboxRelay(pg_db, link.url, prefix=prefix, ack_timeout_s=1.0, backoff_base_s=30, clock=lambda: now[0])
    ids = add_rows(pg_db, 3, f"{prefix}/incidents/G-03-07")
    try:
        assert relay.wait_connected(10)
        link.cut()  # the publish leaves, the PUBACK never comes
        assert relay.run_once() == 0
        with pg_db.session() as s:
            rows = list(s.scalars(select(OutboxMessage)))
        assert all(r.attempts == 1 and r.sent_at is None and "PUBACK" in r.last_error for r in rows)
        assert all(T0 + timedelta(seconds=24) <= r.next_attempt_at <= T0 + timedelta(seconds=36) for r in rows)
        link.restore()
        assert relay.wait_connected(30) or relay.wait_connected(30)
        assert relay.run_once() == 0  # not due yet
        now[0] = T0 + timedelta(seconds=40)
        assert relay.run_once() == 3
        assert col.wait_for(3, 15)
        time.sleep(0.3)
        # At least once: paho may also have re-sent the first try after reconnecting;
        # the outbox id lets a consumer drop such a repeat.
        assert set(outbox_ids(col)) == set(ids)
    finally:
        relay.stop()
        link.close()
        col.close()


def test_a_rows_retry_doubles_and_is_capped():
    relay = OutboxRelay(None, "mqtt://127.0.0.1:1", backoff_base_s=1.0, backoff_max_s=300.0)
    assert 0.8 <= relay.retry.delay(1) <= 1.0
    assert 6.4 <= relay.retry.delay(4) <= 8.0
    assert 240 <= relay.retry.delay(40) <= 300


def test_delivered_rows_are_deleted_after_the_keep_period_and_unsent_ones_never(pg_db, broker, prefix):
    """The relay's own loop prunes: rows delivered more than `keep_sent_s` ago go, in batches;
    rows delivered since, and rows never delivered (however old), stay."""
    now = [T0]
    relay = _relay(pg_db, broker.url, prefix, clock=lambda: now[0], keep_sent_s=86400, prune_interval_s=0.2,
                   poll_interval_s=0.05)
    try:
        assert relay.wait_connected(10)
        old = add_rows(pg_db, 12, f"{prefix}/incidents/G-03-07")
        assert relay.run_once() == 12                    # delivered at T0
        now[0] = T0 + timedelta(hours=20)
        recent = add_rows(pg_db, 3, f"{prefix}/incidents/G-03-07", at=now[0])
        assert relay.run_once() == 3                     # delivered 20 h after T0
        with relay.db.session() as s:                    # an old row that never went out
            s.add(OutboxMessage(topic="webhook:down", payload={}, created_at=T0, attempts=9,
                                next_attempt_at=T0 + timedelta(days=30)))
        now[0] = T0 + timedelta(days=1, hours=1)
        assert relay.prune(batch=5) == 12                # three batches of 5, 5 and 2
        relay.start()                                    # the loop prunes on its own later on
        now[0] = T0 + timedelta(days=3)
        deadline = time.monotonic() + 10
        while relay.pruned < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert relay.pruned == 15
        with pg_db.session() as s:
            left = list(s.scalars(select(OutboxMessage)))
        assert [r.topic for r in left] == ["webhook:down"] and left[0].sent_at is None
        assert not set(old + recent) & {r.id for r in left}
    finally:
        relay.stop()


RELAY_PROCESS = textwrap.dedent("""
    import sys, time
    from gateway.db import Database
    from gateway.outbox.relay import OutboxRelay
    relay = OutboxRelay(Database(sys.argv[1]), sys.argv[2], ack_timeout_s=300)
    relay.wait_connected(30)
    print("connected", flush=True)
    sys.stdin.readline()
    relay.run_once()   # blocks waiting for PUBACKs that the cut line never brings
""")


def test_a_relay_killed_between_claim_and_acknowledgement_loses_nothing(pg_db, broker, prefix):
    link = NetCut(broker.port)
    col = Collector(broker.url, f"{prefix}/incidents/#")
    ids = add_rows(pg_db, 20, f"{prefix}/incidents/G-03-07")
    proc = subprocess.Popen([sys.executable, "-c", RELAY_PROCESS, pg_db.url, link.url], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "connected"
        link.cut()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(2.0)  # it has claimed the rows (locked) and published into the void
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert unsent(pg_db) == 20  # its transaction died with it: the rows are still owed
        link.restore()
        relay = OutboxRelay(pg_db, broker.url, prefix=prefix)
        try:
            assert relay.wait_connected(10)
            assert relay.run_once() == 20
        finally:
            relay.stop()
        assert col.wait_for(20, 15)
        assert set(outbox_ids(col)) == set(ids)
    finally:
        if proc.poll() is None:
            proc.kill()
        link.close()
        col.close()
