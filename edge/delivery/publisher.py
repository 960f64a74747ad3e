"""The edge's MQTT side: alerts go through the durable spool and leave it only on PUBACK.

    publish_alert -> Spool.put (durable) -> sender thread -> paho publish (QoS 1)
                                                     PUBACK -> Spool.remove

Ordering: strict spool order, except after an outage that left more than
LIVE_FIRST_BACKLOG alerts waiting: then alerts spooled since the reconnection go out first
("live") and the backlog drains behind them in its own order, so a long backlog never holds
back a fresh alert for long. Across a reconnection, alerts paho still held unacknowledged
are re-sent by paho itself, but only after on_connect has returned: until every one of
them is acknowledged the sender hands paho nothing newer, so none can overtake them.
Status messages are retained and re-published on every
(re)connect, so a broker that lost its retained store learns the current state again.
"""
from __future__ import annotations

import collections
import json
import logging
import math
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alerts import SCHEMA_ID, Alert, topics
from common.mqtt import MqttSettings, credentials, host_port, uses_tls
from common.times import iso, utcnow
from edge.delivery.spool import Spool, SpoolEntry

log = logging.getLogger(__name__)

REJECTED_RETRY_S = 5.0  # a PUBACK with an error reason (e.g. quota) is retried after this
# A backlog larger than this at (re)connection drains behind live alerts; a smaller one
# (about a second of sending) simply goes first, keeping strict order.
LIVE_FIRST_BACKLOG = 1000


def make_client(settings: MqttSettings, client_id: str) -> mqtt.Client:
    """A paho 2.x client configured from `settings` (protocol, credentials, TLS, inflight window)."""
    protocol = mqtt.MQTTv5 if settings.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                         **({} if protocol == mqtt.MQTTv5 else {"clean_session": True}))
    username, password = credentials(settings)
    if username:
        client.username_pw_set(username, password)
    if uses_tls(settings):
        client.tls_set(ca_certs=settings.ca_certs, certfile=settings.certfile, keyfile=settings.keyfile,
                       cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.max_inflight_messages_set(settings.max_inflight)
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
    return client


class EdgePublisher:
    """Publishes an edge's alerts at least once, in order, surviving broker outages and restarts."""

    def __init__(self, settings: MqttSettings, edge_id: str, spool_path: str | Path | None, *,
                 max_spool_bytes: int = 256 * 2**20, max_spool_age_s: float = 7 * 86400):
        self.settings = settings
        self.edge_id = edge_id
        self.spool = Spool(spool_path, max_bytes=max_spool_bytes, max_age_s=max_spool_age_s)
        self._v5 = settings.protocol == "5"
        self._client = make_client(settings, settings.client_id or f"gridwatch-edge-{edge_id}")
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._status_topic = topics.edge_status(edge_id, settings.prefix)

        self._lock = threading.Lock()           # guards the maps and cursors below
        # Held by the sender from its connection check through paho's publish(), and by
        # on_connect to count a new connection: so a hand-over belongs to exactly one
        # connection. (Not self._lock: paho calls on_publish holding its own message lock.)
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._by_mid: dict[int, int | None] = {}  # paho mid -> spool seq (None: not spooled)
        self._early_acks: dict[int, bool] = {}    # PUBACKs that beat the mid's registration
        self._inflight: dict[int, int] = {}       # spool seq handed to paho, not yet acked -> its connection
        self._connection = 0                      # counts successful connections (see _pump)
        self._retry: collections.deque[tuple[float, int]] = collections.deque()
        self._live_from = 0  # seqs below this are the backlog (see _on_connect)
        self._live_cursor = 0
        self._backlog_cursor = 0
        self._retained: dict[str, tuple[bytes, int]] = {}  # topic -> last retained payload, qos
        self._connected = False
        self._stopping = False
        self._subscriptions: dict[str, Callable[[str, bytes], None]] = {}  # filter -> handler (QoS 0)
        self._thread: threading.Thread | None = None
        self._sent = self._expired = self._rejected = self._invalid = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; the broker publishes `offline` for us if we vanish."""
        offline = json.dumps({"state": "offline", "ts": iso(utcnow())})
        self._client.will_set(self._status_topic, offline, qos=1, retain=True)
        host, port = host_port(self.settings)
        kwargs = {}
        if self._v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0  # the spool, not the broker, keeps what we owe
            kwargs = {"clean_start": True, "properties": props}
        self._client.connect_async(host, port, keepalive=self.settings.keepalive_s, **kwargs)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name=f"spool-sender-{self.edge_id}", daemon=True)
        self._thread.start()

    def stop(self, state: str = "stopped") -> None:
        """Publish the final status, give it a moment to be acknowledged, disconnect.
        Unacknowledged alerts stay in the spool for the next start."""
        self._stopping = True
        self._wake.set()
        if self._thread:
            self._thread.join(5)
        info = None
        if self._connected:
            payload = json.dumps({"state": state, "ts": iso(utcnow())})
            info = self._client.publish(self._status_topic, payload, qos=1, retain=True)
        if info is not None:
            try:
                info.wait_for_publish(3)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
        self.spool.close()

    # -- what producers call --------------------------------------------------------------------
    def publish_alert(self, alert: Alert) -> None:
        """Returns once the alert is durably in the spool; never waits for the network."""
        source_id = alert.source.id
        self.spool.put(topics.alert(self.edge_id, source_id, self.settings.prefix), alert.to_json(), qos=1)
        self._wake.set()

    def publish_status(self, camera_id: str | None, payload: dict) -> None:
        """Retained status of the edge (camera_id None) or of one camera."""
        topic = (self._status_topic if camera_id is None
                 else topics.camera_status(self.edge_id, camera_id, self.settings.prefix))
        body = dict(payload)
        body.setdefault("ts", iso(utcnow()))
        self.publish_raw(topic, json.dumps(body), qos=1, retain=True)

    def publish_raw(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> None:
        """Publish outside the spool (e.g. Home Assistant discovery). Retained ones are
        re-published after every reconnect; others, while offline, wait in paho's memory."""
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        if retain:
            with self._lock:
                self._retained[topic] = (data, qos)
        if self._connected or not retain:
            self._publish(topic, data, qos, retain, None, None)

    def subscribe(self, topic_filter: str, handler: Callable[[str, bytes], None]) -> None:
        """Call `handler(topic, payload)` (paho's thread: keep it short) for each message on
        `topic_filter`, subscribed at QoS 0 now and again on every reconnect."""
        with self._lock:
            self._subscriptions[topic_filter] = handler
        if self._connected:
            self._client.subscribe(topic_filter, qos=0)

    @property
    def connected(self) -> bool:
        return self._connected

    def flush(self, timeout: float) -> bool:
        """Wait until every spooled alert is acknowledged; True when the spool is empty."""
        deadline = time.monotonic() + timeout
        while len(self.spool) and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)
        return len(self.spool) == 0

    @property
    def stats(self) -> dict:
        return {"spooled": len(self.spool), "spool_bytes": self.spool.size_bytes, "sent": self._sent,
                "dropped": self.spool.dropped + self._expired, "expired": self._expired,
                "rejected": self._rejected, "invalid": self._invalid, "connected": self._connected,
                "inflight": len(self._inflight)}

    # -- paho callbacks (paho's network thread) -----------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("edge %s: broker refused the connection: %s", self.edge_id, reason_code)
            return
        with self._send_lock, self._lock:
            if len(self.spool) > LIVE_FIRST_BACKLOG:
                # Everything spooled before now is backlog: it drains behind live alerts.
                self._live_from = self.spool.last_seq() + 1
            retained = dict(self._retained)
            subscriptions = list(self._subscriptions)
            self._connection += 1
            self._connected = True
        # The edge itself is online again; camera statuses and other retained state are
        # re-sent as last known.
        retained[self._status_topic] = (json.dumps({"state": "online", "ts": iso(utcnow())}).encode(), 1)
        for topic, (data, qos) in retained.items():
            self._publish(topic, data, qos, True, None, None)
        for topic_filter in subscriptions:
            client.subscribe(topic_filter, qos=0)
        log.info("edge %s: connected to %s, %d alert(s) spooled", self.edge_id, self.settings.url, len(self.spool))
        self._wake.set()

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            handlers = [h for f, h in self._subscriptions.items() if topics.matches(f, message.topic)]
        for handler in handlers:
            try:
                handler(message.topic, message.payload)
            except Exception:  # a bad handler must not take paho's network thread down
                log.exception("edge %s: handling %s failed", self.edge_id, message.topic)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected = False
        if not self._stopping:
            log.warning("edge %s: lost the broker (%s); alerts keep spooling", self.edge_id, reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        failed = bool(getattr(reason_code, "is_failure", False))
        with self._lock:
            if mid not in self._by_mid:
                self._early_acks[mid] = failed
                return
            seq = self._by_mid.pop(mid)
        self._acked(seq, failed, reason_code)

    def _acked(self, seq: int | None, failed: bool, reason_code=None) -> None:
        if seq is None:
            return
        if failed:
            log.warning("edge %s: broker rejected spooled alert %d (%s); retrying in %.0f s",
                        self.edge_id, seq, reason_code, REJECTED_RETRY_S)
            with self._lock:
                self._rejected += 1
                self._inflight.pop(seq, None)
                self._retry.append((time.monotonic() + REJECTED_RETRY_S, seq))
        else:
            self.spool.remove(seq)
            with self._lock:
                self._inflight.pop(seq, None)
                self._sent += 1
        self._wake.set()

    # -- the sender thread -----------------------------------------------------------------
    def _run(self) -> None:
        last_bounds = time.monotonic()
        while not self._stopping:
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                if time.monotonic() - last_bounds > 10:
                    last_bounds = time.monotonic()
                    self.spool.enforce_bounds()
                if self._connected:
                    self._pump()
            except Exception:  # never let the sender die: the spool keeps everything
                log.exception("edge %s: spool sender error", self.edge_id)
                time.sleep(0.5)

    def _pump(self) -> None:
        while self._connected and not self._stopping:
            with self._lock:
                connection = self._connection
                # Alerts handed to paho before the last reconnection are re-sent by paho only
                # after on_connect has returned, behind anything published now (and the
                # sender runs as soon as on_connect sets _connected): wait for their PUBACKs.
                if any(conn < connection for conn in self._inflight.values()):
                    return
            room = self.settings.max_inflight - len(self._inflight)
            if room <= 0:
                return
            batch, backlog_end = self._next_batch(room)
            if not batch:
                return
            for i, (kind, entry) in enumerate(batch):
                if not self._send(entry, connection):
                    # The connection changed under us: the rest stays spooled for the next one.
                    with self._lock:
                        self._retry.extendleft((0.0, e.seq) for k, e in reversed(batch[i:]) if k == "retry")
                    return
                # A cursor passes an alert only once paho has it (or it was dropped).
                if kind == "live":
                    self._live_cursor = max(self._live_cursor, entry.seq)
                elif kind == "backlog":
                    self._backlog_cursor = max(self._backlog_cursor, entry.seq)
            self._backlog_cursor = max(self._backlog_cursor, backlog_end)

    def _next_batch(self, room: int) -> tuple[list[tuple[str, SpoolEntry]], int]:
        """Up to `room` entries as (kind, entry), kind retry / live / backlog; and where the
        backlog cursor may go once all of them are sent."""
        now = time.monotonic()
        batch: list[tuple[str, SpoolEntry]] = []
        with self._lock:
            while self._retry and self._retry[0][0] <= now and len(batch) < room:
                entry = self.spool.get(self._retry.popleft()[1])
                if entry is not None:
                    batch.append(("retry", entry))
            live_from, inflight = self._live_from, set(self._inflight)
            live_after = max(self._live_cursor, live_from - 1)
            backlog_after = self._backlog_cursor
        # Live alerts first ...
        if len(batch) < room:
            batch += [("live", e) for e in self.spool.peek(after=live_after, limit=room - len(batch))]
        # ... then the backlog, in its own order, in whatever room is left.
        cursor = backlog_after
        if len(batch) < room and backlog_after < live_from - 1:
            want = room - len(batch)
            rows = self.spool.peek(after=backlog_after, before=live_from, limit=want + len(inflight))
            taken = 0
            for entry in rows:
                cursor = entry.seq
                if entry.seq in inflight:
                    continue
                batch.append(("backlog", entry))
                taken += 1
                if taken == want:
                    break
            else:
                if len(rows) < want + len(inflight):
                    cursor = live_from - 1  # the backlog is drained
        return batch, cursor

    def _send(self, entry: SpoolEntry, connection: int) -> bool:
        """Hand one alert to paho on `connection`; False (nothing done) when that connection
        is gone or was replaced."""
        props = None
        if self._v5:
            props = Properties(PacketTypes.PUBLISH)
            props.PayloadFormatIndicator = 1
            props.ContentType = "application/json"
            props.UserProperty = [("schema", SCHEMA_ID)]
            if self.settings.message_expiry_s:
                age = time.time() - entry.created
                if age >= self.settings.message_expiry_s:
                    # Stale: the broker would discard it anyway; say so instead of sending.
                    log.warning("edge %s: spooled alert %d expired after %d s, dropped",
                                self.edge_id, entry.seq, self.settings.message_expiry_s)
                    self.spool.remove(entry.seq)
                    self._expired += 1
                    return True
                props.MessageExpiryInterval = max(1, math.ceil(self.settings.message_expiry_s - age))
        with self._send_lock:
            with self._lock:
                if self._connection != connection or not self._connected:
                    return False
                self._inflight[entry.seq] = connection
            self._publish(entry.topic, entry.payload, entry.qos, entry.retain, props, entry.seq)
        return True

    def _publish(self, topic: str, data: bytes, qos: int, retain: bool,
                 props: Properties | None, seq: int | None) -> None:
        try:
            info = self._client.publish(topic, data, qos=qos, retain=retain, properties=props)
        except (ValueError, TypeError) as e:
            # e.g. an oversized payload or a bad topic: it can never be sent, so it must not
            # block the queue; dropped with a reason and counted.
            log.error("edge %s: cannot publish to %r: %s; dropped", self.edge_id, topic, e)
            if seq is not None:
                self.spool.remove(seq)
                with self._lock:
                    self._inflight.pop(seq, None)
                    self._invalid += 1
            return
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            # paho refused to hold it (its packet id still taken): it will never be acked
            # nor re-sent by paho, so it must not count as in flight; retried like a rejection.
            self._acked(seq, True, "paho queue full")
            return
        with self._lock:
            if info.mid in self._early_acks:
                failed = self._early_acks.pop(info.mid)
            else:
                self._by_mid[info.mid] = seq
                return
        self._acked(seq, failed)
