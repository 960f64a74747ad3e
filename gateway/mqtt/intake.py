"""MQTT ingest: alerts and edge/camera status in, rows out.

Delivery (docs/design.md, issue 5): a persistent MQTT 5 session (stable client id, clean start
off, session expiry) so the broker queues alerts while the gateway is down; every message
is acknowledged only after its transaction committed (gateway.mqtt.link), so a crash
between receive and commit means a redelivery, which the unique alert id makes harmless.
Bad payloads are committed to the dead-letter table (and counted per reason) and then
acknowledged: they are kept, never retried forever, never crash the process.

Throughput: the MQTT link's thread only queues messages. A database worker takes, as soon as it is
free, everything queued (up to BATCH_MAX messages) as one batch: no waiting for a batch to fill, so
a quiet stream commits each alert at once and a burst batches itself (what arrives during one
commit is the next batch). It stores a batch in one transaction, commits, and only then
acknowledges every message of the batch. Should an
alert fail, the batch is rolled back and stored again with a SAVEPOINT per alert, so only
that alert is dead-lettered. A database outage rolls the batch back, acknowledges nothing
and retries it with backoff (and the broker redelivers whatever a crash left unacknowledged)."""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerts import Alert, parse_alert, topics
from common.backoff import Backoff
from common.mqtt import MqttSettings
from common.times import parse_iso, utcnow
from gateway import metrics
from gateway.config import Settings
from gateway.db import Database
from gateway.db.dialect import insert_ignore
from gateway.db.models import Camera, DeadLetter, Edge
from gateway.incidents.errors import AlertsRaced
from gateway.incidents.service import IncidentService
from gateway.incidents.sources import touch_edges
from gateway.mqtt.link import MqttLink

log = logging.getLogger("gridwatch.ingest")
MAX_STATUS_BYTES = 64 * 1024
MAX_DEAD_LETTER_BYTES = 256 * 1024
BATCH_MAX = 500  # messages per transaction
WARM_TABLES = ("alerts", "incidents", "incident_events", "timers", "outbox", "silences", "cameras", "sensors", "edges")
RECEIVE_MAXIMUM = 10 * BATCH_MAX  # MQTT 5: unacknowledged alerts the broker may send ahead (memory bound)


@dataclass
class _Batch:
    """The batch being stored: its transaction and the alerts parsed so far."""
    session: Session
    alerts: list = field(default_factory=list)  # (topic, payload, Alert)


class Message(NamedTuple):  # a tuple: one is made for every message received
    topic: str
    payload: bytes
    qos: int = 1
    done: Any = None  # resolved once stored: the link then acknowledges it (None: nothing to acknowledge)


class BadMessage(ValueError):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def classify(error: ValueError) -> tuple[str, str]:
    """(reason code for the metric, readable reason) of a refused alert payload."""
    if isinstance(error, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in error.errors()[:5]]
        return "invalid", "invalid alert: " + "; ".join(parts)
    text = str(error)
    for prefix, code in (("payload too large", "too_large"), ("not JSON", "not_json"),
                         ("not a JSON object", "not_json"), ("unknown schema", "unknown_schema")):
        if text.startswith(prefix):
            return code, text
    return "invalid", text


class Ingestor:
    """Subscribes to `<prefix>/alerts/+/+` (shared when GRIDWATCH_MQTT_SHARED_GROUP is set) and
    `<prefix>/status/#`; `start()` connects in a background thread, `stop()` disconnects."""

    def __init__(self, settings: Settings, db: Database, service: IncidentService | None = None):
        self.settings = settings
        self.db = db
        self.service = service or IncidentService.from_settings(settings, db)
        self.prefix = settings.mqtt_prefix
        self._stopping = threading.Event()
        # One queue and database worker per partition; a source's messages always land in the
        # same one, so they are stored in the order they came and never wait on each other.
        workers = settings.ingest_workers or (1 if db.is_sqlite else 2)
        self._queues: list[queue.Queue[Message]] = [queue.Queue() for _ in range(workers)]
        self._workers: list[threading.Thread] = []
        self._local = threading.local()  # the batch a thread is storing (see `handle`)
        # A persistent session: clean start off, a stable client id and (MQTT 5) a session
        # expiry; MQTT 3.1.1 keeps a clean_session=False session until the broker drops it.
        self.link = MqttLink(
            MqttSettings(url=settings.mqtt_url, username=settings.mqtt_username, password=settings.mqtt_password,
                         prefix=self.prefix, protocol=settings.mqtt_protocol),
            settings.mqtt_client_id, name="ingest", persistent=True, session_expiry_s=settings.mqtt_session_expiry_s,
            receive_maximum=RECEIVE_MAXIMUM, subscriptions=(self.alert_filter, topics.status_filter(self.prefix)),
            on_message=self._on_message, on_state=lambda up: metrics.MQTT_CONNECTED.set(int(up)))

    # -- connection ---------------------------------------------------------------------
    def start(self) -> "Ingestor":
        for n, q in enumerate(self._queues):
            t = threading.Thread(target=self._work, args=(q,), name=f"gridwatch-ingest-db-{n}", daemon=True)
            t.start()
            self._workers.append(t)
        self.link.start()
        return self

    def stop(self) -> None:
        """Disconnect; the batch in progress finishes (and is acknowledged if the connection
        still stands), queued messages not yet taken stay unacknowledged: the broker keeps them."""
        self._stopping.set()
        for t in self._workers:
            t.join(timeout=30)
        self.link.stop()
        metrics.MQTT_CONNECTED.set(0)

    @property
    def connected(self) -> bool:
        return self.link.connected

    def wait_connected(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.connected

    @property
    def alert_filter(self) -> str:
        f = topics.alerts_filter(self.prefix)
        group = self.settings.mqtt_shared_group
        return topics.shared(group, f) if group else f

    # -- per thread: the batch being stored, and its metrics (counted after the commit, so a
    # retried batch counts once) -----------------------------------------------------------
    @property
    def _batch(self) -> _Batch | None:
        return getattr(self._local, "batch", None)

    @_batch.setter
    def _batch(self, batch: _Batch | None) -> None:
        self._local.batch = batch

    @property
    def _pending_metrics(self) -> list:
        if not hasattr(self._local, "metrics"):
            self._local.metrics = []
        return self._local.metrics

    # -- messages -----------------------------------------------------------------------
    def _on_message(self, _link, topic: str, payload: bytes, qos: int, done) -> None:
        # the link's thread only queues: the database work is the workers'. The topic names
        # the edge and the source (alerts) or the edge (status): one source, one partition.
        self._queues[zlib.crc32(topic.encode()) % len(self._queues)].put(Message(topic, payload, qos, done))

    def _work(self, q: queue.Queue) -> None:
        self._warm_up()
        while not self._stopping.is_set():
            batch = self._next_batch(q)
            if not batch:
                continue
            if self._commit_with_retry(lambda batch=batch: self.process(batch)):
                self._ack(batch)

    def _warm_up(self) -> None:
        """Open this worker's database connection and read the tables an alert touches before the
        first alert comes, so it does not pay for the connection and the server's catalog caches."""
        try:
            with self.db.session() as s:
                for table in WARM_TABLES:
                    s.execute(text(f"SELECT 1 FROM {table} LIMIT 1"))
                self.service.grids(s)
        except Exception as e:  # the database may be away at start: the retry loop will report it
            log.debug("warm-up skipped: %s", e)

    @staticmethod
    def _next_batch(q: queue.Queue) -> list[Message]:
        """The first message (waiting for it), then whatever else is already queued."""
        try:
            batch = [q.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < BATCH_MAX:
            try:
                batch.append(q.get_nowait())
            except queue.Empty:
                break
        return batch

    def _ack(self, batch: list[Message]) -> None:
        """Acknowledge after the commit. A message that came over an earlier connection is not
        acknowledged (see gateway.mqtt.link): the broker redelivers it and the alert id dedups it."""
        self.link.ack([m.done for m in batch if m.done is not None])

    def _commit_with_retry(self, work) -> bool:
        """Run `work` until its transaction commits. A database outage holds the messages
        (unacknowledged, so the broker redelivers them after a restart) instead of losing them."""
        backoff = Backoff(initial_s=0.2, max_s=5.0, jitter=0.0)
        while True:
            try:
                work()
                return True
            except AlertsRaced as e:  # rolled back; stored again, those alerts are duplicates now
                log.info("%s", e)
            except OperationalError as e:
                if self._stopping.is_set():
                    return False
                delay = backoff.next()
                log.warning("database unavailable, messages held (retry in %.1fs): %s", delay, e.orig)
                self._stopping.wait(delay)
            except Exception:  # never let a bug stop the worker; the messages stay unacknowledged
                log.exception("batch not processed; left unacknowledged for redelivery")
                return False

    def process(self, batch: list[Message]) -> list[str]:
        """Store a batch in one transaction; returns what became of each message (in order).
        First the fast way (no savepoints); should that fail for a reason other than the
        database being away, the batch is rolled back and stored again with a SAVEPOINT per
        alert, so only the alert that fails is dead-lettered. Should even that fail (a bug
        outside the per-alert savepoints), each message is stored on its own."""
        try:
            try:
                out = self._process_batch(batch, isolate=False)
            except (OperationalError, AlertsRaced):
                raise
            except Exception:
                log.warning("batch of %d failed; storing it again alert by alert", len(batch), exc_info=True)
                self._pending_metrics.clear()
                out = self._process_batch(batch, isolate=True)
        except (OperationalError, AlertsRaced):
            self._pending_metrics.clear()
            raise
        except Exception as e:
            self._pending_metrics.clear()
            if len(batch) > 1:
                log.exception("batch of %d failed; storing its messages one by one", len(batch))
                return [d for m in batch for d in self.process([m])]
            log.exception("message on %s could not be processed", batch[0].topic)
            with self.db.session() as s:
                out = [self.dead_letter(s, batch[0].topic, batch[0].payload, "internal",
                                        f"internal error: {type(e).__name__}: {e}")]
        for count in self._pending_metrics:
            count()
        self._pending_metrics.clear()
        return out

    def _process_batch(self, batch: list[Message], isolate: bool) -> list[str]:
        with self.db.session() as s:
            self._batch = _Batch(s)
            try:
                out = [self.handle(m.topic, m.payload) for m in batch]
                return self._store_alerts(s, self._batch.alerts, out, isolate)
            finally:
                self._batch = None

    def handle(self, topic: str, payload: bytes) -> str:
        """One message: a status is stored, a bad payload dead-lettered, an alert parsed and
        kept for the batch's bulk ingest ("accepted"). Outside a batch (tests, tools) it is a
        batch of its own, and returns what became of the message."""
        if self._batch is None:
            return self.process([Message(topic, bytes(payload))])[0]
        s = self._batch.session
        if topic.startswith(f"{self.prefix}/status/"):
            return self.handle_status(s, topic, payload)
        try:
            alert = parse_alert(payload)
        except ValueError as e:
            code, reason = classify(e)
            return self.dead_letter(s, topic, payload, code, reason)
        self._batch.alerts.append((topic, payload, alert))
        return "accepted"

    def _store_alerts(self, s: Session, alerts: list[tuple[str, bytes, Alert]], out: list[str],
                      isolate: bool) -> list[str]:
        """Ingest the batch's alerts at once; each "accepted" in `out` (in the same order as
        `alerts`) becomes its alert's disposition."""
        if not alerts:
            return out
        started = time.perf_counter()
        results = self.service.ingest_many(s, [a for _, _, a in alerts], isolate=isolate)
        per_alert = (time.perf_counter() - started) / len(alerts)
        stored = iter(zip(alerts, results))
        for i, disposition in enumerate(out):
            if disposition != "accepted":
                continue
            (topic, payload, alert), result = next(stored)
            if isinstance(result, Exception):  # rolled back alone by the service: keep it as a dead letter
                log.error("alert %s could not be processed: %s: %s", alert.id, type(result).__name__, result)
                out[i] = self.dead_letter(s, topic, payload, "internal", f"internal error: {type(result).__name__}: {result}")
            else:
                out[i] = result.disposition
        stored = Counter(r.disposition for r in results if not isinstance(r, Exception))
        for disposition, n in stored.items():  # counted per batch: a labels() lookup per alert costs
            self._count(metrics.ALERTS.labels(disposition).inc, n)
        for _ in alerts:  # the histogram stays per alert: the batch's time shared out
            self._count(metrics.INGEST_SECONDS.observe, per_alert)
        return out

    def _count(self, fn, *args) -> None:
        self._pending_metrics.append(lambda: fn(*args))

    def dead_letter(self, s: Session, topic: str, payload: bytes, code: str, reason: str) -> str:
        """Keep a refused message in the dead-letter table (in the batch's transaction)."""
        payload = bytes(payload)
        if len(payload) > MAX_DEAD_LETTER_BYTES:  # keep the evidence, not a flood
            reason = f"{reason} (payload of {len(payload)} bytes truncated to {MAX_DEAD_LETTER_BYTES})"
            payload = payload[:MAX_DEAD_LETTER_BYTES]
        s.add(DeadLetter(topic=topic[:512], payload=payload, reason=reason, reason_code=code, received_at=utcnow()))
        self._count(metrics.DEAD_LETTERS.labels(code).inc)
        log.warning("dead letter on %s (%s): %s", topic, code, reason)
        return "dead_letter"

    def handle_status(self, s: Session, topic: str, payload: bytes) -> str:
        parts = topic[len(self.prefix) + 1:].split("/")  # status/<edge>[/<camera>]
        if not payload:
            return "ignored"  # a cleared retained message
        if len(payload) > MAX_STATUS_BYTES:
            return self.dead_letter(s, topic, payload, "too_large", f"status payload of {len(payload)} bytes")
        try:
            data = json.loads(payload)
            if not isinstance(data, dict) or not isinstance(data.get("state"), str):
                raise ValueError("a status needs a JSON object with a 'state' string")
            ts = _parse_ts(data.get("ts"))
        except (ValueError, UnicodeDecodeError) as e:
            return self.dead_letter(s, topic, payload, "bad_status", f"bad status: {e}")
        try:
            with s.begin_nested():
                return self._store_status(s, topic, parts, data, ts)
        except OperationalError:
            raise
        except Exception as e:  # e.g. a value of the wrong type in a field we keep
            log.exception("status on %s could not be stored", topic)
            return self.dead_letter(s, topic, payload, "bad_status", f"bad status: {type(e).__name__}: {e}")

    def _store_status(self, s: Session, topic: str, parts: list[str], data: dict, ts: datetime | None) -> str:
        now = utcnow()
        if len(parts) == 2:
            self._upsert_edge(s, parts[1], data, ts, now)
            self._count(metrics.STATUS_MESSAGES.labels("edge").inc)
            return "edge_status"
        if len(parts) == 3:
            self._upsert_camera(s, parts[1], parts[2], data, ts, now)
            self._count(metrics.STATUS_MESSAGES.labels("camera").inc)
            return "camera_status"
        return self.dead_letter(s, topic, json.dumps(data).encode(), "bad_topic",
                                "status topic must be status/<edge>[/<camera>]")

    def _upsert_edge(self, s: Session, edge_id: str, data: dict, ts: datetime | None, now: datetime) -> None:
        details = {k: v for k, v in data.items() if k not in ("state", "ts")}
        s.execute(insert_ignore(s, Edge).values(id=edge_id, state=data["state"], ts=ts, last_seen=now, details=details))
        row = s.get(Edge, edge_id, with_for_update=True)
        if row.ts is None or ts is None or ts >= row.ts:  # a stale retained status never wins
            row.state, row.ts, row.last_seen, row.details = data["state"], ts, now, details

    def _upsert_camera(self, s: Session, edge_id: str, camera_id: str, data: dict, ts: datetime | None,
                       now: datetime) -> None:
        device = {k: v for k, v in data.items() if k not in ("state", "ts", "fps", "name", "grid", "location")}
        s.execute(insert_ignore(s, Camera).values(id=camera_id, edge_id=edge_id, state=data["state"], last_seen=now,
                                                   device=device))
        row = s.get(Camera, camera_id, with_for_update=True)
        last = _parse_ts((row.device or {}).get("_status_ts"))
        if last is not None and ts is not None and ts < last:
            return
        row.edge_id, row.state, row.last_seen = edge_id, data["state"], now
        if isinstance(data.get("name"), str) and data["name"].strip():
            row.name = data["name"].strip()[:200]
        touch_edges(s, [edge_id], now)  # a camera's status is the edge's heartbeat too
        fps = data.get("fps")
        row.fps = float(fps) if isinstance(fps, (int, float)) else row.fps
        last_frame = _parse_ts(data.get("last_frame")) if isinstance(data.get("last_frame"), str) else None
        row.last_frame_at = last_frame or (ts if data["state"] == "streaming" else row.last_frame_at)
        row.device = {**(row.device or {}), **device, "_status_ts": data.get("ts")}
        grid_hint = data.get("grid") or device.get("grid_hint")
        loc = data.get("location")
        if isinstance(loc, dict) and isinstance(loc.get("lat"), (int, float)) and isinstance(loc.get("lon"), (int, float)):
            row.location = {"lat": float(loc["lat"]), "lon": float(loc["lon"])}
        grids = self.service.grids(s)
        g = grids.resolve_camera(grid_hint if isinstance(grid_hint, str) else None,
                                 (row.location or {}).get("lat"), (row.location or {}).get("lon"))
        if g is not None:
            row.grid_id = g.id


def _parse_ts(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise ValueError(f"ts {value!r} is not a time")
    return parse_iso(value)
