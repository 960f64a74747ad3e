"""The transactional outbox relay: incident events written to the `outbox` table in the
incident's own transaction are published from here, so a crash between the commit and the
publish loses nothing (the row is still unsent and is simply published again).

One pass (`run_once`):
  1. claim due, unsent rows in id order (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
     gateway replicas never publish the same row at the same time);
  2. MQTT rows: publish QoS 1, wait for the PUBACKs; webhook rows (topic `webhook:<name>`): POST;
     notification rows (`notify:<channel>`, gateway.outbox.notify): send, within the channel's
     rate (the overflow waits and goes as one digest);
  3. in the same transaction mark delivered rows sent (an MQTT row that a webhook or a channel
     wants also enqueues one `webhook:<name>` / `notify:<channel>` row for each, so each retries
     on its own and a failing one holds back no other) and give failed rows `attempts + 1` and a
     `next_attempt_at` with exponential backoff.
Delivered rows are kept `keep_sent_s` (a week by default: what went out, and when, stays
inspectable) and then deleted (`prune`, once per `prune_interval_s`), so the table stays small.
Delivery is at-least-once: an MQTT message carries `"outbox_id": <row id>` as the first member
of its JSON object, a webhook the header `X-Gridwatch-Delivery`, for consumers to drop repeats.
(In the payload rather than an MQTT 5 user property: a payload field reaches MQTT 3.1.1
consumers too, and the stored JSON text goes out as is.) MQTT: gateway.mqtt.link.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ARRAY, BigInteger, Text, any_, bindparam, cast, delete, select, update
from sqlalchemy.exc import OperationalError

from common.backoff import Backoff
from common.mqtt import MqttSettings
from common.times import utcnow
from gateway.db.models import OutboxMessage
from gateway.mqtt.link import MqttLink
from gateway.outbox.deliveries import Notifier
from gateway.outbox.notify import NOTIFY_PREFIX
from gateway.outbox.webhooks import WEBHOOK_TOPIC_PREFIX, Webhook, WebhookError, WebhookSender

log = logging.getLogger(__name__)


def _id_in(s, column, ids: list[int]):
    """`column IN ids`; on PostgreSQL `= ANY(array)`: one parameter, so the statement text is the
    same for every pass (a list of hundreds of placeholders is parsed anew each time)."""
    if s.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    return column.in_(ids)


def with_outbox_id(body: str, outbox_id: int) -> str:
    """The stored JSON object text with `outbox_id` put first (spliced, not decoded and encoded)."""
    rest = body.strip()[1:].lstrip()
    return f'{{"outbox_id":{outbox_id}' + ("" if rest.startswith("}") else ",") + rest


class OutboxRelay:
    """Claims outbox rows, publishes them (QoS 1) and webhooks, marks them sent, retries with backoff."""

    def __init__(self, db, mqtt_url: str, *, prefix: str = "gridwatch", client_id: str | None = None,
                 webhooks: list | None = None, mqtt: MqttSettings | None = None,
                 notifier: Notifier | None = None,
                 poll_interval_s: float = 0.5, ack_timeout_s: float = 10.0,
                 backoff_base_s: float = 1.0, backoff_max_s: float = 3600.0,
                 keep_sent_s: float = 7 * 86400.0, prune_interval_s: float = 600.0,
                 clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.prefix = prefix
        self.settings = mqtt or MqttSettings(url=mqtt_url, prefix=prefix)
        if mqtt is not None and mqtt_url:
            self.settings = self.settings.model_copy(update={"url": mqtt_url})
        self.client_id = client_id or f"gridwatch-outbox-{uuid.uuid4().hex[:10]}"
        self.webhooks: dict[str, Webhook] = {h.name: h for h in
                                             (Webhook.model_validate(w) if isinstance(w, dict) else w
                                              for w in (webhooks or []))}
        self.poll_interval_s = poll_interval_s
        self.ack_timeout_s = ack_timeout_s
        # a failed delivery of a row is retried doubling from backoff_base_s, capped, with jitter so
        # that many rows failing together do not all retry in the same instant
        self.retry = Backoff(initial_s=backoff_base_s, max_s=backoff_max_s, jitter=0.2)
        self.keep_sent_s, self.prune_interval_s = keep_sent_s, prune_interval_s
        self._next_prune = 0.0  # monotonic
        self._clock = clock
        # No subscriptions and no session state: each replica simply has its own id.
        self._link = MqttLink(self.settings, self.client_id, name="outbox")
        self._sender = WebhookSender()
        self.notifier = notifier or Notifier([])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self.sent = self.failed = self.pruned = 0

    @classmethod
    def from_settings(cls, settings, db) -> "OutboxRelay":
        """The relay `serve` runs (or `gateway relay` runs on its own)."""
        return cls(db, settings.mqtt_url, prefix=settings.mqtt_prefix, webhooks=settings.webhooks,
                   poll_interval_s=settings.outbox_interval_s, keep_sent_s=settings.outbox_keep_days * 86400.0,
                   notifier=Notifier.from_settings(settings),
                   mqtt=MqttSettings(url=settings.mqtt_url, username=settings.mqtt_username,
                                     password=settings.mqtt_password, prefix=settings.mqtt_prefix,
                                     protocol=settings.mqtt_protocol))

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._connect()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(self.ack_timeout_s + 5)
        if self._started:
            self._link.stop()
        self._sender.close()
        self.notifier.close()

    def wait_connected(self, timeout: float) -> bool:
        """Connect (if not yet) and wait for the broker; True when connected."""
        self._connect()
        deadline = time.monotonic() + timeout
        while not self._link.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        return self._link.connected

    def _connect(self) -> None:
        if not self._started:
            self._link.start()
            self._started = True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + self.prune_interval_s
                    self.prune()
                done = self.run_once()
            except OperationalError as e:  # the database may be restarting: the rows wait
                log.warning("outbox relay: database unavailable (%s); retrying", str(e.orig).strip()[:200])
                self._stop.wait(max(2.0, self.poll_interval_s))
                continue
            except Exception:
                log.exception("outbox relay: pass failed; retrying")
                done = 0
            if not done:
                self._stop.wait(self.poll_interval_s)

    def prune(self, batch: int = 5000) -> int:
        """Delete rows delivered more than `keep_sent_s` ago, `batch` at a time (short
        transactions beside the ingest's); returns how many. Unsent rows are never deleted."""
        t = OutboxMessage.__table__
        cutoff = self._clock() - timedelta(seconds=self.keep_sent_s)
        total = 0
        while not self._stop.is_set():
            with self.db.session() as s:
                ids = select(t.c.id).where(t.c.sent_at < cutoff).limit(batch).scalar_subquery()
                n = s.execute(delete(t).where(t.c.id.in_(ids))).rowcount
            total += n
            if n < batch:
                break
        if total:
            log.info("outbox relay: deleted %d rows delivered before %s", total, cutoff.isoformat())
        self.pruned += total
        return total

    # -- one pass ----------------------------------------------------------------------------
    def run_once(self, limit: int = 500) -> int:
        """Deliver up to `limit` due rows; returns how many were delivered. Rows are read as
        plain tuples with the payload's stored JSON text, which is what goes out: nothing is
        decoded and encoded again (the relay runs beside the ingest and shares its CPU)."""
        connected = self.wait_connected(min(self.ack_timeout_s, 5.0))
        now = self._clock()
        t = OutboxMessage.__table__
        with self.db.session() as s:
            q = (select(t.c.id, t.c.topic, cast(t.c.payload, Text).label("body"), t.c.attempts)
                 .where(t.c.sent_at.is_(None), t.c.next_attempt_at <= now)
                 .order_by(t.c.id).limit(limit)
                 .with_for_update(skip_locked=True))
            if not connected:
                # No broker: only webhooks and notifications can go out now; MQTT rows keep their schedule.
                q = q.where(t.c.topic.startswith(WEBHOOK_TOPIC_PREFIX) | t.c.topic.startswith(NOTIFY_PREFIX))
            rows = s.execute(q).all()
            if not rows:
                return 0
            mqtt_rows = [r for r in rows if not r.topic.startswith((WEBHOOK_TOPIC_PREFIX, NOTIFY_PREFIX))]
            hook_rows = [r for r in rows if r.topic.startswith(WEBHOOK_TOPIC_PREFIX)]
            note_rows = [r for r in rows if r.topic.startswith(NOTIFY_PREFIX)]
            results: dict[int, str | None | datetime] = dict(self._publish_mqtt(mqtt_rows))
            results.update(self._post_webhooks(hook_rows, now))
            note_rows = self.notifier.skip_acknowledged(s, note_rows, now)
            results.update(self.notifier.send(note_rows, now, self._stop, self.notifier.snapshots(s, note_rows)))
            done_at = self._clock()
            # rows a channel's rate or quiet hours hold back: later, and no attempt counted
            for row_id, until in [(k, v) for k, v in results.items() if isinstance(v, datetime)]:
                s.execute(update(t).where(t.c.id == row_id).values(next_attempt_at=until))
                del results[row_id]
            rows = [r for r in rows if r.id in results]
            delivered = [r.id for r in rows if results.get(r.id, "not attempted") is None]
            if delivered:  # one statement for the whole pass
                s.execute(update(t).where(_id_in(s, t.c.id, delivered))
                          .values(sent_at=done_at, attempts=t.c.attempts + 1, last_error=None))
            for row in mqtt_rows:
                if results.get(row.id, "not attempted") is None:
                    self._enqueue_webhooks(s, row, done_at)
                    self.notifier.enqueue(s, row, done_at)
            for row in rows:
                error = results.get(row.id, "not attempted")
                if error is not None:
                    attempts = row.attempts + 1
                    assert isinstance(error, str)
                    s.execute(update(t).where(t.c.id == row.id).values(
                        attempts=attempts, last_error=error[:2000], next_attempt_at=done_at + timedelta(
                            seconds=self.retry.delay(attempts))))
                    log.warning("outbox %d (%s): attempt %d failed: %s", row.id, row.topic, attempts, error)
        self.sent += len(delivered)
        self.failed += len(rows) - len(delivered)
        return len(delivered)

    def _publish_mqtt(self, rows) -> dict[int, str | None]:
        """Publish the rows QoS 1, in order; None for each the broker acknowledged, else why not."""
        acked = self._link.publish_batch([(row.topic, with_outbox_id(row.body, row.id)) for row in rows],
                                         self.ack_timeout_s)
        return {row.id: None if ok else "no PUBACK from the broker in time" for row, ok in zip(rows, acked)}

    def _post_webhooks(self, rows, now: datetime) -> dict[int, str | None]:
        results: dict[int, str | None] = {}
        for row in rows:
            name = row.topic[len(WEBHOOK_TOPIC_PREFIX):]
            hook = self.webhooks.get(name)
            if hook is None:
                results[row.id] = f"no webhook named {name!r} is configured"
                continue
            payload = json.loads(row.body) if row.body else {}
            try:
                self._sender.deliver(hook, delivery_id=str(row.id), ts=int(now.timestamp()),
                                     topic=payload.get("topic", ""), payload=payload.get("body", {}))
                results[row.id] = None
            except WebhookError as e:
                results[row.id] = str(e)
        return results

    def _enqueue_webhooks(self, s, row, now: datetime) -> None:
        body = None
        for hook in self.webhooks.values():
            if hook.wants(row.topic):
                body = json.loads(row.body) if body is None else body
                s.add(OutboxMessage(topic=WEBHOOK_TOPIC_PREFIX + hook.name,
                                    payload={"topic": row.topic, "body": body, "outbox_id": row.id},
                                    created_at=now, attempts=0, next_attempt_at=now))
