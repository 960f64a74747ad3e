"""Signed webhooks through the outbox: a real HTTP receiver on loopback checks the signature,
fails on purpose, and sees the same delivery retried with backoff until it answers 2xx."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.db import Database
from gateway.db.models import OutboxMessage
from gateway.outbox.relay import OutboxRelay
from gateway.outbox.webhooks import Webhook, load_webhooks, sign, verify_signature
from tests.support.http_receiver import Receiver
from tests.support.services import free_port

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
SECRET = "s3cret-for-tests-only"


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


def add_event(db: Database, topic: str, payload: dict) -> int:
    with db.session() as s:
        row = OutboxMessage(topic=topic, payload=payload, created_at=T0, attempts=0, next_attempt_at=T0)
        s.add(row)
    return row.id


def webhook_rows(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.topic.startswith("webhook:"))
                              .order_by(OutboxMessage.id)))


def test_signature_round_trip_and_tampering():
    body = b'{"event":"opened"}'
    sig = sign(SECRET, body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify_signature(SECRET, body, sig)
    assert not verify_signature(SECRET, body + b" ", sig)
    assert not verify_signature("another-secret-entirely", body, sig)
    assert not verify_signature(SECRET, body, "")


def test_webhook_config_is_validated_with_clear_errors(tmp_path):
    f = tmp_path / "hooks.yaml"
    f.write_text("webhooks:\n  - {name: ops, url: 'https://ops.example/hook', secret: 0123456789abcdef, "
                 "topics: ['gridwatch/incidents/G-03-*', 'gridwatch/incidents/P-+']}\n")
    (hook,) = load_webhooks(f)
    assert hook.wants("gridwatch/incidents/G-03-07") and not hook.wants("gridwatch/incidents/G-04-01")
    assert not hook.wants("gridwatch/incidents/P-FIRE-01")  # "+" is a whole level in MQTT
    assert Webhook(name="all", url="http://127.0.0.1/x", secret=SECRET).wants("gridwatch/incidents/P-FIRE-01")
    with pytest.raises(ValueError, match="secret"):
        Webhook(name="x", url="https://a.example", secret="short")
    with pytest.raises(ValueError, match="url"):
        Webhook(name="x", url="ftp://a.example", secret=SECRET)


def test_a_failing_webhook_is_retried_with_backoff_and_the_same_signed_delivery(db, broker, prefix):
    rx = Receiver(statuses=[500, 503])
    now = [T0]
    hook = {"name": "ops", "url": rx.url, "secret": SECRET, "topics": [f"{prefix}/incidents/#"]}
    relay = OutboxRelay(db, broker.url, prefix=prefix, webhooks=[hook], backoff_base_s=10, clock=lambda: now[0])
    event = {"event": "opened", "incident": {"id": 7, "grid_id": "G-03-07"}}
    try:
        assert relay.wait_connected(10)
        add_event(db, f"{prefix}/incidents/G-03-07", event)
        assert relay.run_once() == 1  # the MQTT publish; it enqueues the webhook delivery
        assert relay.run_once() == 0  # HTTP 500
        (row,) = webhook_rows(db)
        assert row.attempts == 1 and row.sent_at is None and "HTTP 500" in row.last_error
        assert T0 + timedelta(seconds=8) <= row.next_attempt_at <= T0 + timedelta(seconds=12)
        assert relay.run_once() == 0 and len(rx.requests) == 1  # not due yet: no request
        now[0] = T0 + timedelta(seconds=13)
        assert relay.run_once() == 0  # HTTP 503; the next wait doubles
        (row,) = webhook_rows(db)
        assert row.attempts == 2 and now[0] + timedelta(seconds=16) <= row.next_attempt_at <= now[0] + timedelta(seconds=24)
        now[0] += timedelta(seconds=25)
        assert relay.run_once() == 1  # 200
        (row,) = webhook_rows(db)
        assert row.sent_at == now[0] and row.attempts == 3
        assert relay.run_once() == 0 and len(rx.requests) == 3
    finally:
        relay.stop()
        rx.close()
    deliveries = {h["x-gridwatch-delivery"] for h, _ in rx.requests}
    assert deliveries == {str(row.id)}, "a retry is the same delivery: receivers dedupe on its id"
    for headers, body in rx.requests:
        assert verify_signature(SECRET, body, headers["x-gridwatch-signature"])
        data = json.loads(body)
        assert data["event"] == "opened" and data["incident"] == event["incident"]
        assert data["topic"] == f"{prefix}/incidents/G-03-07" and str(data["ts"]) == headers["x-gridwatch-timestamp"]


def test_only_matching_events_go_to_a_webhook_and_an_unreachable_one_holds_nothing_else_up(db, broker, prefix):
    rx = Receiver()
    hooks = [Webhook(name="g03", url=rx.url, secret=SECRET, topics=[f"{prefix}/incidents/G-03-*"]),
             Webhook(name="down", url=f"http://127.0.0.1:{free_port()}/nobody-listens", secret=SECRET,
                     timeout_s=2)]
    relay = OutboxRelay(db, broker.url, prefix=prefix, webhooks=hooks, clock=lambda: T0)
    try:
        assert relay.wait_connected(10)
        add_event(db, f"{prefix}/incidents/G-03-07", {"event": "opened", "incident": {"id": 1}})
        add_event(db, f"{prefix}/incidents/G-04-01", {"event": "opened", "incident": {"id": 2}})
        assert relay.run_once() == 2
        assert relay.run_once() == 1  # g03 got its one event; "down" failed twice
        rows = webhook_rows(db)
        by_hook = {}
        for r in rows:
            by_hook.setdefault(r.topic, []).append(r)
        assert len(by_hook["webhook:g03"]) == 1 and by_hook["webhook:g03"][0].sent_at is not None
        assert len(by_hook["webhook:down"]) == 2
        assert all(r.sent_at is None and "ConnectError" in r.last_error for r in by_hook["webhook:down"])
        assert [json.loads(b)["incident"]["id"] for _, b in rx.requests] == [1]
    finally:
        relay.stop()
        rx.close()
