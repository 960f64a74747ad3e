"""MQTT ingest: alerts and edge/camera status in, rows out.

Delivery (DESIGN.md, issue 5): a persistent MQTT 5 session (stable client id, clean start
off, session expiry) so the broker queues alerts while the gateway is down; every message
is acknowledged only after its transaction committed (paho manual acks), so a crash
between receive and commit means a redelivery, which the unique alert id makes harmless.
Bad payloads are committed to the dead-letter table (and counted per reason) and then
acknowledged: they are kept, never retried forever, never crash the process."""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from alerts import parse_alert, topics
from gateway import metrics
from gateway.config import Settings
from gateway.db import Database
from gateway.db.models import Camera, DeadLetter, Edge
from gateway.incidents import IncidentService, _insert_ignore, utcnow

log = logging.getLogger("gridwatch.ingest")
MAX_STATUS_BYTES = 64 * 1024
MAX_DEAD_LETTER_BYTES = 256 * 1024


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
        self.connected = False
        self._stopping = threading.Event()
        self.v5 = settings.mqtt_protocol == "5"
        # MQTT 3.1.1: clean_session=False is its persistent session (no expiry interval)
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=settings.mqtt_client_id,
                                  protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311, manual_ack=True,
                                  **({} if self.v5 else {"clean_session": False}))
        if settings.mqtt_username:
            self.client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- connection ---------------------------------------------------------------------
    def start(self) -> "Ingestor":
        url = urlparse(self.settings.mqtt_url)
        if url.scheme == "mqtts":
            self.client.tls_set()
        v5_args = {}
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.settings.mqtt_session_expiry_s
            v5_args = {"clean_start": False, "properties": props}
        self.client.connect_async(url.hostname or "127.0.0.1", url.port or (8883 if url.scheme == "mqtts" else 1883),
                                  keepalive=30, **v5_args)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
            self.connected = False
            metrics.MQTT_CONNECTED.set(0)

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

    def _on_connect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log.error("MQTT connection refused: %s", reason_code)
            return
        # Status stays a plain subscription: retained messages are not sent to shared ones.
        qos = SubscribeOptions(qos=1) if self.v5 else 1
        client.subscribe([(self.alert_filter, qos), (topics.status_filter(self.prefix), qos)])
        self.connected = True
        metrics.MQTT_CONNECTED.set(1)
        log.info("MQTT connected to %s as %s", self.settings.mqtt_url, self.settings.mqtt_client_id)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        self.connected = False
        metrics.MQTT_CONNECTED.set(0)
        if not self._stopping.is_set():
            log.warning("MQTT disconnected (%s); reconnecting", reason_code)

    # -- messages -----------------------------------------------------------------------
    def _on_message(self, client, _userdata, msg) -> None:
        try:
            done = self._commit_with_retry(lambda: self.handle(msg.topic, msg.payload))
        except Exception:  # never let an exception kill paho's network thread
            log.exception("message on %s not processed; left unacknowledged for redelivery", msg.topic)
            return
        if done:
            client.ack(msg.mid, msg.qos)

    def _commit_with_retry(self, work) -> bool:
        """Run `work` until its transaction commits. A database outage holds the message
        (unacknowledged, so the broker redelivers it after a restart) instead of losing it."""
        delay = 0.2
        while not self._stopping.is_set():
            try:
                work()
                return True
            except OperationalError as e:
                log.warning("database unavailable, message held (retry in %.1fs): %s", delay, e.orig)
                self._stopping.wait(delay)
                delay = min(delay * 2, 5.0)
        return False

    def handle(self, topic: str, payload: bytes) -> str:
        """Process one message; returns what became of it (for tests and metrics)."""
        if topic.startswith(f"{self.prefix}/status/"):
            return self.handle_status(topic, payload)
        try:
            alert = parse_alert(payload)
        except ValueError as e:
            code, reason = classify(e)
            return self.dead_letter(topic, payload, code, reason)
        started = time.perf_counter()
        try:
            outcome = self.service.ingest(alert, topic=topic)
        except OperationalError:
            raise  # the database is away: held and retried by the caller
        except Exception as e:  # a bug must not lose the message nor stop the ingest
            log.exception("alert %s could not be processed", alert.id)
            return self.dead_letter(topic, payload, "internal", f"internal error: {type(e).__name__}: {e}")
        metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
        metrics.ALERTS.labels(outcome.disposition).inc()
        return outcome.disposition

    def dead_letter(self, topic: str, payload: bytes, code: str, reason: str) -> str:
        payload = bytes(payload)
        if len(payload) > MAX_DEAD_LETTER_BYTES:  # keep the evidence, not a flood
            reason = f"{reason} (payload of {len(payload)} bytes truncated to {MAX_DEAD_LETTER_BYTES})"
            payload = payload[:MAX_DEAD_LETTER_BYTES]
        with self.db.session() as s:
            s.add(DeadLetter(topic=topic[:512], payload=payload, reason=reason, reason_code=code, received_at=utcnow()))
        metrics.DEAD_LETTERS.labels(code).inc()
        log.warning("dead letter on %s (%s): %s", topic, code, reason)
        return "dead_letter"

    def handle_status(self, topic: str, payload: bytes) -> str:
        parts = topic[len(self.prefix) + 1:].split("/")  # status/<edge>[/<camera>]
        if not payload:
            return "ignored"  # a cleared retained message
        if len(payload) > MAX_STATUS_BYTES:
            return self.dead_letter(topic, payload, "too_large", f"status payload of {len(payload)} bytes")
        try:
            data = json.loads(payload)
            if not isinstance(data, dict) or not isinstance(data.get("state"), str):
                raise ValueError("a status needs a JSON object with a 'state' string")
            ts = _parse_ts(data.get("ts"))
        except (ValueError, UnicodeDecodeError) as e:
            return self.dead_letter(topic, payload, "bad_status", f"bad status: {e}")
        try:
            return self._store_status(topic, parts, data, ts)
        except OperationalError:
            raise
        except Exception as e:  # e.g. a value of the wrong type in a field we keep
            log.exception("status on %s could not be stored", topic)
            return self.dead_letter(topic, payload, "bad_status", f"bad status: {type(e).__name__}: {e}")

    def _store_status(self, topic: str, parts: list[str], data: dict, ts: datetime | None) -> str:
        now = utcnow()
        if len(parts) == 2:
            self._upsert_edge(parts[1], data, ts, now)
            metrics.STATUS_MESSAGES.labels("edge").inc()
            return "edge_status"
        if len(parts) == 3:
            self._upsert_camera(parts[1], parts[2], data, ts, now)
            metrics.STATUS_MESSAGES.labels("camera").inc()
            return "camera_status"
        return self.dead_letter(topic, json.dumps(data).encode(), "bad_topic",
                                "status topic must be status/<edge>[/<camera>]")

    def _upsert_edge(self, edge_id: str, data: dict, ts: datetime | None, now: datetime) -> None:
        details = {k: v for k, v in data.items() if k not in ("state", "ts")}
        with self.db.session() as s:
            s.execute(_insert_ignore(s, Edge).values(id=edge_id, state=data["state"], ts=ts, last_seen=now, details=details))
            row = s.get(Edge, edge_id, with_for_update=True)
            if row.ts is None or ts is None or ts >= row.ts:  # a stale retained status never wins
                row.state, row.ts, row.last_seen, row.details = data["state"], ts, now, details

    def _upsert_camera(self, edge_id: str, camera_id: str, data: dict, ts: datetime | None, now: datetime) -> None:
        device = {k: v for k, v in data.items() if k not in ("state", "ts", "fps")}
        with self.db.session() as s:
            s.execute(_insert_ignore(s, Camera).values(id=camera_id, edge_id=edge_id, state=data["state"], last_seen=now,
                                                       device=device))
            row = s.get(Camera, camera_id, with_for_update=True)
            last = _parse_ts((row.device or {}).get("_status_ts"))
            if last is not None and ts is not None and ts < last:
                return
            row.edge_id, row.state, row.last_seen = edge_id, data["state"], now
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
        return datetime.fromtimestamp(value, timezone.utc)
    if not isinstance(value, str):
        raise ValueError(f"ts {value!r} is not a time")
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
