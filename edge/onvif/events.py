"""The camera's own events over ONVIF PullPoint: subscribe, pull, renew, unsubscribe, and
recover when the camera reboots (its subscriptions vanish: we subscribe again).

`PullPointListener` runs in its own thread and hands each `OnvifEvent` to `on_event`;
`to_alert` turns one into a `camera_event` alert. Parsing and classification are pure.

zeep drops the text of the mixed-content wsnt:Topic element, so PullMessages replies are
read raw and parsed here with lxml.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree

from alerts import Alert
from alerts.ids import new_alert_id
from alerts.schema import Severity
from camera_profiles import CameraProfile
from camera_profiles.schema import OnvifSource
from common.backoff import Backoff
from common.times import parse_iso
from edge.onvif.client import OnvifDevice, OnvifError

log = logging.getLogger("gridwatch.edge.onvif.events")

WSNT = "http://docs.oasis-open.org/wsn/b-2"
TT = "http://www.onvif.org/ver10/schema"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"

# Data items that carry the on/off state of a rule, by vendor habit.
_STATE_KEYS = ("IsMotion", "IsTamper", "State", "IsInside", "Value", "Active")


@dataclass(frozen=True)
class OnvifEvent:
    topic: str                       # e.g. "tns1:RuleEngine/CellMotionDetector/Motion"
    kind: str                        # motion | tamper | line_crossing | other
    utc_time: datetime
    operation: str | None = None     # Initialized | Changed | Deleted
    source: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool | None:
        """True/False for state events (motion started/ended), None for pulses (a crossing)."""
        for k in _STATE_KEYS:
            if k in self.data:
                return self.data[k].strip().lower() in ("true", "1", "on")
        return None


def classify(topic: str) -> str:
    t = topic.lower()
    if "linedetector" in t or "linecrossing" in t or "crossed" in t:
        return "line_crossing"
    if "tamper" in t or "globalscenechange" in t or "imagetooblurry" in t or "imagetoodark" in t \
            or "imagetoobright" in t or "signalloss" in t:
        return "tamper"
    if "motion" in t:
        return "motion"
    return "other"


def _items(el: etree._Element | None) -> dict[str, str]:
    if el is None:
        return {}
    return {i.get("Name"): i.get("Value", "") for i in el.iter(f"{{{TT}}}SimpleItem") if i.get("Name")}


def _utc(text: str | None) -> datetime:
    if text:
        try:
            return parse_iso(text)
        except ValueError:
            pass
    return datetime.now(UTC)  # a camera without a usable time: when we received it


def parse_pull_response(xml: bytes) -> list[OnvifEvent]:
    """The events in a PullMessagesResponse envelope; malformed messages are skipped."""
    root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    events = []
    for nm in root.iter(f"{{{WSNT}}}NotificationMessage"):
        topic_el = nm.find(f"{{{WSNT}}}Topic")
        msg = nm.find(f"{{{WSNT}}}Message/{{{TT}}}Message")
        if topic_el is None or msg is None or not (topic_el.text or "").strip():
            continue
        topic = topic_el.text.strip()
        events.append(OnvifEvent(topic=topic, kind=classify(topic), utc_time=_utc(msg.get("UtcTime")),
                                 operation=msg.get("PropertyOperation"),
                                 source=_items(msg.find(f"{{{TT}}}Source")), data=_items(msg.find(f"{{{TT}}}Data"))))
    return events


def _fault_reason(xml: bytes) -> str:
    try:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        text = root.find(f".//{{{SOAP12}}}Reason/{{{SOAP12}}}Text")
        sub = root.find(f".//{{{SOAP12}}}Subcode/{{{SOAP12}}}Value")
        return " ".join(x.text.strip() for x in (sub, text) if x is not None and x.text)
    except etree.XMLSyntaxError:
        return xml[:200].decode("utf-8", "replace")


_SEVERITY = {"tamper": Severity.major, "motion": Severity.minor, "line_crossing": Severity.minor, "other": Severity.info}


def to_alert(event: OnvifEvent, profile: CameraProfile, edge_id: str) -> Alert:
    """A `camera_event` alert for an event the camera itself reported."""
    ts = event.utc_time
    return Alert(
        id=new_alert_id(int(ts.timestamp() * 1000)), edge_id=edge_id,
        source={"kind": "camera", "id": profile.id}, camera_id=profile.id,
        type="camera_event", severity=_SEVERITY.get(event.kind, Severity.info), ts=ts,
        details={"onvif_topic": event.topic, "kind": event.kind, "operation": event.operation,
                 "source": dict(event.source), "data": dict(event.data), "active": event.active},
        location=profile.location, grid_hint=profile.grid)


class PullPointListener:
    """Keeps one PullPoint subscription alive on a camera and reports its events.

    Initial state dumps (PropertyOperation=Initialized) are not events, and a rule turning
    off (IsMotion=false) is not an alert: both are dropped unless `only_active=False`.
    """

    def __init__(self, source: OnvifSource, on_event: Callable[[OnvifEvent], None], *,
                 clock: Callable[[], float] = time.monotonic, timeout_s: float = 5.0,
                 pull_timeout_s: float = 5.0, termination_s: float = 60.0,
                 backoff: Backoff | None = None, only_active: bool = True):
        self.source, self.on_event, self.clock = source, on_event, clock
        self.timeout_s, self.pull_timeout_s, self.termination_s = timeout_s, pull_timeout_s, termination_s
        self.backoff = backoff or Backoff(initial_s=1.0, max_s=60.0)
        self.only_active = only_active
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {"state": "connecting", "error": None, "events": 0, "dropped": 0,
                                        "renewals": 0, "subscriptions": 0, "bad_messages": 0}

    @property
    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    def _set(self, **kw: Any) -> None:
        with self._lock:
            for k, v in kw.items():
                self._status[k] = self._status[k] + v if k in ("events", "dropped", "renewals", "subscriptions",
                                                               "bad_messages") else v

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"onvif-events-{self.source.host}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Unsubscribe and end the thread; safe to call twice."""
        self._stop.set()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(self.pull_timeout_s + 2 * self.timeout_s + 5)
        self._set(state="stopped")

    # ---- the thread --------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except OnvifError as e:
                self._set(state="lost", error=str(e))
                log.warning("ONVIF events of %s:%s: %s", self.source.host, self.source.port, e)
            except Exception as e:  # noqa: BLE001 - never let the listener die
                log.exception("ONVIF events of %s:%s failed", self.source.host, self.source.port)
                self._set(state="lost", error=f"internal error: {e}")
            if not self._stop.is_set():
                self._stop.wait(self.backoff.next())

    def _session(self) -> None:
        from zeep.transports import Transport
        from zeep.wsa import WsAddressingPlugin

        dev = OnvifDevice.from_source(self.source, self.timeout_s)
        xaddr = dev.events_xaddr()
        if not xaddr:
            raise OnvifError("protocol", f"ONVIF device {dev.where} has no event service")
        events = dev.service("events", xaddr)
        resp = dev.call(events.CreatePullPointSubscription, {"InitialTerminationTime": f"PT{int(self.termination_s)}S"})
        address = dev.reachable(resp.SubscriptionReference.Address._value_1)
        # a pull waits up to pull_timeout_s on the camera: the HTTP read must wait longer
        long_transport = Transport(timeout=self.timeout_s, operation_timeout=self.pull_timeout_s + self.timeout_s)
        pull = dev.service("pullpoint", address, transport=long_transport)
        manager = dev.service("events", address, binding="SubscriptionManagerBinding")
        for svc in (pull, manager):  # many cameras route by the wsa:To header, not the URL
            svc.zeep_client.plugins.append(WsAddressingPlugin())
        self._set(state="subscribed", error=None, subscriptions=1)
        self.backoff.reset()
        renew_at = self.clock() + self.termination_s / 2
        try:
            while not self._stop.is_set():
                if self.clock() >= renew_at:
                    dev.call(manager.Renew, {"TerminationTime": f"PT{int(self.termination_s)}S"})
                    renew_at = self.clock() + self.termination_s / 2
                    self._set(renewals=1)
                self._deliver(self._pull(dev, pull))
        finally:
            if self._stop.is_set():
                try:
                    manager.Unsubscribe()
                except Exception as e:  # noqa: BLE001 - the camera may be gone already
                    log.info("ONVIF unsubscribe from %s failed: %s", dev.where, e)

    def _pull(self, dev: OnvifDevice, pull) -> list[OnvifEvent]:
        req = {"Timeout": timedelta(seconds=self.pull_timeout_s), "MessageLimit": 100}
        try:
            with pull.zeep_client.settings(raw_response=True):
                reply = pull.ws_client.PullMessages(**req)
        except Exception as e:  # noqa: BLE001
            raise OnvifError("unreachable", f"ONVIF device {dev.where}: PullMessages failed: {e}") from None
        if reply.status_code != 200:
            raise OnvifError("protocol", f"ONVIF device {dev.where} refused PullMessages "
                                         f"(HTTP {reply.status_code}: {_fault_reason(reply.content)}); subscribing again")
        try:
            return parse_pull_response(reply.content)
        except etree.XMLSyntaxError as e:
            self._set(bad_messages=1)
            log.warning("ONVIF device %s sent a malformed PullMessages reply: %s", dev.where, e)
            return []

    def _deliver(self, events: list[OnvifEvent]) -> None:
        for ev in events:
            if self.only_active and (ev.operation == "Initialized" or ev.active is False):
                self._set(dropped=1)
                continue
            self._set(events=1)
            try:
                self.on_event(ev)
            except Exception:  # noqa: BLE001 - a consumer bug must not stop the subscription
                log.exception("on_event failed for %s", ev.topic)


def camera_event_listener(profile: CameraProfile, edge_id: str, emit: Callable[[Alert], None],
                          **kwargs: Any) -> PullPointListener | None:
    """The listener an edge worker runs beside a camera's stream: each camera event becomes a
    `camera_event` alert handed to `emit`. None when the camera is no ONVIF device or its
    profile switched events off (`source.onvif.events: false`). Call start()/stop()."""
    src = profile.onvif
    if src is None or not src.events or not profile.enabled:
        return None
    return PullPointListener(src, lambda ev: emit(to_alert(ev, profile, edge_id)), **kwargs)
