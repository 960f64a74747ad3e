"""`python -m edge sensors --config S.yaml`: the sensor bridge.

    Zigbee2MQTT / ChirpStack / generic MQTT --> SourceRouter.parse -> rules.apply_reading
        -> alerts -> EdgePublisher (spool, QoS 1) -> gridwatch/alerts/<edge_id>/<sensor_id>
        -> StateStore.save (after the alerts are spooled)

Delivery: the subscriber keeps a persistent MQTT session (QoS 1), so messages sent while the
bridge is down wait in the broker. A message's alerts are spooled before its new rule state is
committed; a crash in between replays the message, which yields the same alert ids (they are
derived from the sensor, rule and episode, see `alert_id`), and the gateway drops the repeat.

Bad messages (not JSON, missing fields, wrong types, unknown devices) are counted by reason in
`SensorBridge.stats`, logged (the first few of each reason, then every 100th), reported in the
bridge's retained status and in the summary at exit; they never stop the bridge.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ulid import ULID

from alerts.schema import Alert, AlertSource
from edge.sensors import rules
from edge.sensors.config import BridgeConfig, SensorConfig
from edge.sensors.sources import SourceError, SourceRouter
from edge.sensors.state import StateStore

log = logging.getLogger("edge.sensors")
LOG_FIRST = 5  # bad messages logged per reason before only every 100th is


class Publisher(Protocol):   # edge.delivery.publisher.EdgePublisher
    def publish_alert(self, alert: Alert) -> None: ...
    def publish_raw(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> None: ...


def alert_id(event: rules.Event, cleared: bool) -> str:
    """Deterministic ULID: time part = start of the episode, random part = a hash of what the
    episode is. The same uplink (deduplicationId) or the same persisted episode always gives the
    same id, even after a restart, so the gateway's idempotency drops repeats."""
    ms = max(0, int(round(event.start_ts * 1000)))
    seed = f"{event.sensor_id}|{event.rule_id}|{event.episode}|{'clear' if cleared else 'raise'}"
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + hashlib.blake2b(seed.encode(), digest_size=10).digest()))


def to_alert(event: rules.Event, sensor: SensorConfig, edge_id: str) -> Alert:
    details: dict[str, Any] = {"sensor_kind": sensor.kind, **event.details, "cleared": event.cleared}
    if sensor.name:
        details["sensor_name"] = sensor.name
    if event.cleared:
        details["raised_id"] = alert_id(event, cleared=False)
    return Alert(id=alert_id(event, event.cleared), edge_id=edge_id,
                 source=AlertSource(kind="sensor", id=sensor.id), type=event.type, severity=event.severity,
                 ts=datetime.fromtimestamp(event.ts, UTC), details=details,
                 location=sensor.location, grid_hint=sensor.grid)


class SensorBridge:
    """Messages and clock ticks in, alerts out. Thread-safe: paho's thread calls `handle`,
    the main loop calls `tick`. The clock is injected (tests drive it by hand)."""

    def __init__(self, cfg: BridgeConfig, publisher: Publisher, store: StateStore,
                 clock: Callable[[], float] = time.time, on_alert: Callable[[Alert], None] | None = None):
        self.cfg = cfg
        self.publisher = publisher
        self.store = store
        self.clock = clock
        self.on_alert = on_alert
        self.router = SourceRouter(cfg)
        self.tz = ZoneInfo(cfg.timezone)
        self.sensors = {s.id: s for s in cfg.sensors}
        self.stats: Counter[str] = Counter()
        self._lock = threading.RLock()   # re-entrant: on_alert may read alarm_states()
        saved = store.load_all()
        now = clock()
        self.states = {sid: rules.start_watch(saved.get(sid) or rules.new_state(), now) for sid in self.sensors}

    # -- messages ----------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes, retained: bool = False) -> list[Alert]:
        """One MQTT message. Never raises: a bad message is counted and reported."""
        with self._lock:
            self.stats["messages"] += 1
            try:
                return self._handle(topic, payload, retained)
            except SourceError as e:
                self._reject(e.reason, str(e))
            except Exception as e:  # a bug must not stop the bridge either
                log.exception("sensor message on %s failed", topic)
                self._reject("internal", f"{topic}: {type(e).__name__}: {e}")
            return []

    def _handle(self, topic: str, payload: bytes, retained: bool) -> list[Alert]:
        reading = self.router.parse(topic, payload, self.clock())
        if reading is None:
            self.stats["ignored"] += 1
            return []
        sensor = self.sensors[reading.sensor_id]
        state = self.states[sensor.id]
        if retained and reading.availability is None and state["last_ts"] is not None:
            # a retained state replayed on (re)subscribe is old news, not a new reading
            self.stats["replayed"] += 1
            return []
        out = rules.apply_reading(sensor, state, reading, self.tz)
        self.stats["readings"] += 1
        self.stats["duplicates"] += out.duplicate
        self.stats["stale"] += out.stale
        for why in out.problems:
            self._reject("wrong_type", f"{topic}: {why} (other fields were used)")
        return self._commit({sensor.id: out.state}, [(sensor, e) for e in out.events])

    # -- time --------------------------------------------------------------------------------
    def restart_watch(self, now: float | None = None) -> None:
        """After a time we could not hear (start, broker outage): restart every offline clock."""
        now = self.clock() if now is None else now
        with self._lock:
            self.states = {sid: rules.start_watch(st, now) for sid, st in self.states.items()}

    def tick(self, now: float | None = None) -> list[Alert]:
        """Offline detection and durations that complete between messages."""
        now = self.clock() if now is None else now
        with self._lock:
            try:
                changed, events = {}, []
                for sid, sensor in self.sensors.items():
                    out = rules.tick(sensor, self.states[sid], now, self.tz)
                    if out.state != self.states[sid]:
                        changed[sid] = out.state
                    events += [(sensor, e) for e in out.events]
                return self._commit(changed, events)
            except Exception as e:  # e.g. the spool's disk is full: try again next tick
                log.exception("sensor tick failed")
                self._reject("internal", f"tick: {type(e).__name__}: {e}")
                return []

    # -- output ------------------------------------------------------------------------------
    def _commit(self, changed: dict[str, dict], events: list[tuple[SensorConfig, rules.Event]]) -> list[Alert]:
        alerts = [to_alert(e, s, self.cfg.edge_id) for s, e in events
                  if self.cfg.publish_clear or not e.cleared]
        for a in alerts:              # spooled (durable) before the state that says "raised"
            self.publisher.publish_alert(a)
            self.stats["alerts"] += 1
            log.info("sensor %s: %s%s (%s)", a.source.id, a.type.value,
                     " cleared" if a.details.get("cleared") else "", a.id)
        self.store.save(changed, self.clock())
        self.states.update(changed)
        for a in alerts:
            if self.on_alert:
                self.on_alert(a)
        return alerts

    def _reject(self, reason: str, message: str) -> None:
        self.stats[f"rejected.{reason}"] += 1
        n = self.stats[f"rejected.{reason}"]
        if n <= LOG_FIRST or n % 100 == 0:
            log.warning("rejected sensor message (%s, #%d): %s", reason, n, message)

    def summary(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.stats.items()))

    def alarm_states(self, sensor_id: str | None = None) -> dict[str, dict[str, bool]]:
        """Per sensor (or just `sensor_id`): rule id -> raised, plus `offline` (for Home Assistant)."""
        with self._lock:
            return {sid: {**{r.rule_id: st["rules"].get(r.rule_id, {}).get("active", False)
                             for r in self.sensors[sid].rules},
                          rules.OFFLINE: st["offline"]["raised"]}
                    for sid, st in self.states.items() if sensor_id in (None, sid)}


class SensorSubscriber:
    """The MQTT side that listens to the sensors' topics: persistent session, QoS 1, reconnects."""

    SESSION_EXPIRY_S = 7 * 86400   # how long the broker keeps our queue while we are down

    def __init__(self, cfg: BridgeConfig, handler: Callable[[str, bytes, bool], Any]):
        from edge.delivery.publisher import make_client

        self.cfg = cfg
        self.handler = handler
        self.topics = SourceRouter(cfg).subscriptions()
        self._stopping = False
        self.ready = threading.Event()   # set once the broker acknowledged our subscriptions
        self.client = make_client(cfg.mqtt, cfg.session_id)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, msg: self.handler(msg.topic, msg.payload, bool(msg.retain))

    def start(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from common.mqtt import host_port

        host, port = host_port(self.cfg.mqtt)
        kwargs: dict[str, Any] = {}
        if self.cfg.mqtt.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.SESSION_EXPIRY_S
            kwargs = {"clean_start": False, "properties": props}
        self.client.connect_async(host, port, keepalive=self.cfg.mqtt.keepalive_s, **kwargs)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("sensor bridge: broker refused the connection: %s", reason_code)
            return
        # Subscribing again on a resumed session is harmless and picks up config changes.
        client.subscribe([(t, 1) for t in self.topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [t for t, rc in zip(self.topics, reason_codes) if rc.is_failure]
        if refused:
            log.error("sensor bridge: the broker refused subscriptions to %s", refused)
        log.info("sensor bridge: connected to %s, listening on %d topic(s)", self.cfg.mqtt.url,
                 len(self.topics) - len(refused))
        self.ready.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.ready.clear()
        if not self._stopping:
                log.warning("sensor bridge: lost the broker (%s), reconnecting", reason_code)

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()


# -- the whole bridge --------------------------------------------------------------------------
class BridgeApp:
    """Publisher, state store, rules, subscriber and Home Assistant wired together; what the
    command runs (and what tests run in-process with a fake clock)."""

    REPORT_EVERY_S = 60.0
    SETTLE_S = 3.0

    def __init__(self, cfg: BridgeConfig, clock: Callable[[], float] = time.time, base: Path | None = None):
        """`base`: the folder of the config file (relative camera globs for Home Assistant)."""
        from edge.delivery.publisher import EdgePublisher
        from edge.sensors import hass

        self.cfg = cfg
        # The publisher's client id must differ from the edge worker's and from our subscriber's.
        pub_settings = cfg.mqtt.model_copy(update={"client_id": cfg.mqtt.client_id or f"{cfg.session_id}-pub"})
        self.publisher = EdgePublisher(pub_settings, cfg.edge_id, cfg.spool)
        self.store = StateStore(cfg.state)
        self.hass = hass.StatePublisher(cfg, self.publisher, base) if cfg.hass.enabled else None
        self.bridge = SensorBridge(cfg, self.publisher, self.store, clock=clock,
                                   on_alert=self._alarm_states_changed if self.hass else None)
        self.subscriber = SensorSubscriber(cfg, self.bridge.handle)
        self._last_report, self._reported = time.monotonic(), {}
        self._heard_since: float | None = None   # monotonic time the subscriptions were last acknowledged

    def _alarm_states_changed(self, alert: Alert) -> None:
        self.hass.publish(self.bridge.alarm_states(alert.source.id))

    def start(self, ready_timeout: float | None = None) -> bool:
        """Connect; with `ready_timeout`, wait that long for the subscriptions (False: not yet)."""
        self.publisher.start()
        if self.hass:
            self.hass.announce()
            self.hass.publish(self.bridge.alarm_states())
        self.subscriber.start()
        log.info("sensor bridge %s: %d sensor(s)", self.cfg.edge_id, len(self.cfg.sensors))
        return self.subscriber.ready.wait(ready_timeout) if ready_timeout is not None else True

    def step(self) -> None:
        """One turn of the main loop: advance time, and report the counters now and then.
        Time only advances while we hear the broker, and only `SETTLE_S` after (re)subscribing:
        what the broker queued for us while we were away comes first, and a silence we could
        not hear is not a sensor's fault (the offline clock restarts)."""
        if not self.subscriber.ready.is_set():
            self._heard_since = None
        elif self._heard_since is None:
            self._heard_since = time.monotonic()
            self.bridge.restart_watch()
        elif time.monotonic() - self._heard_since >= self.SETTLE_S:
            self.bridge.tick()
        summary = self.bridge.summary()
        if time.monotonic() - self._last_report >= self.REPORT_EVERY_S and summary != self._reported:
            self._last_report, self._reported = time.monotonic(), summary
            self.publisher.publish_status(None, {"state": "online", "sensors": len(self.cfg.sensors),
                                                 "counters": summary})
            log.info("sensor bridge counters: %s", summary)

    def stop(self) -> None:
        self.subscriber.stop()
        self.publisher.flush(5)
        self.publisher.stop()
        self.store.close()
