"""A PullPoint event responder speaking the ONVIF events WSDL (ver10/events, WS-BaseNotification),
for tests: ipycam has no event service, so `OnvifCamera(pullpoint=PullPointResponder())`
forwards its events endpoints here.

Implements CreatePullPointSubscription, PullMessages (long-polling up to the requested
Timeout), Renew, Unsubscribe and GetEventProperties. `emit()` queues a notification for every
live subscription; `reboot()` forgets all subscriptions, as a camera does when it restarts,
so later requests on an old subscription get a SOAP fault.
"""
from __future__ import annotations

import itertools
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
NS = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
      'xmlns:wsa5="http://www.w3.org/2005/08/addressing" '
      'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
      'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" '
      'xmlns:tt="http://www.onvif.org/ver10/schema" '
      'xmlns:tns1="http://www.onvif.org/ver10/topics"')


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _duration_s(text: str | None, default: float) -> float:
    """Seconds of an xs:duration like PT10S / PT1M30S (the subset cameras use)."""
    if not text:
        return default
    m = re.fullmatch(r"P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", text.strip())
    if not m:
        return default
    h, mi, sec = m.groups()
    return int(h or 0) * 3600 + int(mi or 0) * 60 + float(sec or 0)


def _tag(body: str, name: str) -> str | None:
    m = re.search(rf"<(?:[\w-]+:)?{name}\b[^>]*>([^<]*)</(?:[\w-]+:)?{name}>", body)
    return m.group(1) if m else None


class PullPointResponder:
    def __init__(self, default_termination_s: float = 60.0):
        self.base_url = "http://127.0.0.1:0"  # set by the device that forwards to us
        self.default_termination_s = default_termination_s
        self._cond = threading.Condition()
        self._subs: dict[str, dict] = {}  # id -> {"expires": monotonic, "queue": [xml]}
        self._ids = itertools.count(1)
        self.requests: list[str] = []     # actions seen, in order (tests read it)

    # ---- test controls ---------------------------------------------------------------
    def emit(self, topic: str, data: dict[str, str], source: dict[str, str] | None = None,
             operation: str = "Changed", utc: datetime | None = None) -> None:
        utc = utc or datetime.now(UTC)
        def items(d: dict[str, str]) -> str:
            return "".join(f"<tt:SimpleItem Name={quoteattr(k)} Value={quoteattr(str(v))}/>" for k, v in d.items())

        msg = ('<wsnt:NotificationMessage>'
               f'<wsnt:Topic Dialect="{DIALECT}">{escape(topic)}</wsnt:Topic>'
               f'<wsnt:Message><tt:Message UtcTime="{_iso(utc)}" PropertyOperation="{operation}">'
               f'<tt:Source>{items(source or {})}</tt:Source><tt:Data>{items(data)}</tt:Data>'
               '</tt:Message></wsnt:Message></wsnt:NotificationMessage>')
        with self._cond:
            for sub in self._subs.values():
                sub["queue"].append(msg)
            self._cond.notify_all()

    def reboot(self) -> None:
        with self._cond:
            self._subs.clear()
            self._cond.notify_all()

    @property
    def subscriptions(self) -> int:
        with self._cond:
            self._expire()
            return len(self._subs)

    def termination_left(self) -> list[float]:
        with self._cond:
            return [s["expires"] - time.monotonic() for s in self._subs.values()]

    # ---- the SOAP side -----------------------------------------------------------------
    def handle(self, path: str, body: str) -> tuple[int, str]:
        action = next((a for a in ("CreatePullPointSubscription", "PullMessages", "Renew", "Unsubscribe",
                                   "GetEventProperties", "GetServiceCapabilities")
                       if re.search(rf"<(?:[\w-]+:)?{a}[\s/>]", body)), None)
        with self._cond:
            self.requests.append(action or "?")
        if action == "CreatePullPointSubscription":
            return 200, self._create(body)
        if action == "GetEventProperties":
            return 200, self._envelope(
                "<tev:GetEventPropertiesResponse>"
                "<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml"
                "</tev:TopicNamespaceLocation><wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>"
                '<wstop:TopicSet xmlns:wstop="http://docs.oasis-open.org/wsn/t-1"/>'
                f"<wsnt:TopicExpressionDialect>{DIALECT}</wsnt:TopicExpressionDialect>"
                "<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"
                "</tev:MessageContentFilterDialect>"
                "<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd"
                "</tev:MessageContentSchemaLocation></tev:GetEventPropertiesResponse>")
        sub_id = path.rstrip("/").rsplit("/", 1)[-1]
        with self._cond:
            self._expire()
            known = sub_id in self._subs
        if action in ("PullMessages", "Renew", "Unsubscribe") and not known:
            return 400, self._fault("wsrf-rw:ResourceUnknownFault", f"no subscription {sub_id}")
        if action == "PullMessages":
            return self._pull(sub_id, body)
        if action == "Renew":
            left = _duration_s(_tag(body, "TerminationTime"), self.default_termination_s)
            with self._cond:
                self._subs[sub_id]["expires"] = time.monotonic() + left
            now = datetime.now(UTC)
            return 200, self._envelope(f'<wsnt:RenewResponse><wsnt:TerminationTime>{_iso(now + timedelta(seconds=left))}'
                                       f'</wsnt:TerminationTime><wsnt:CurrentTime>{_iso(now)}</wsnt:CurrentTime>'
                                       '</wsnt:RenewResponse>')
        if action == "Unsubscribe":
            with self._cond:
                self._subs.pop(sub_id, None)
            return 200, self._envelope("<wsnt:UnsubscribeResponse/>")
        return 400, self._fault("s:Sender", f"action not supported: {action}")

    def _create(self, body: str) -> str:
        left = _duration_s(_tag(body, "InitialTerminationTime"), self.default_termination_s)
        with self._cond:
            sub_id = str(next(self._ids))
            # a new subscription first receives the current state (PropertyOperation=Initialized)
            self._subs[sub_id] = {"expires": time.monotonic() + left, "queue": [], "initial": True}
        now = datetime.now(UTC)
        return self._envelope(
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa5:Address>{self.base_url}/onvif/pullpoint/{sub_id}</wsa5:Address>"
            f"</tev:SubscriptionReference><wsnt:CurrentTime>{_iso(now)}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{_iso(now + timedelta(seconds=left))}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>")

    def _pull(self, sub_id: str, body: str) -> tuple[int, str]:
        timeout = min(_duration_s(_tag(body, "Timeout"), 10.0), 60.0)
        limit = int(_tag(body, "MessageLimit") or 100)
        deadline = time.monotonic() + timeout
        with self._cond:
            sub = self._subs.get(sub_id)
            if sub is not None and sub.pop("initial", False):
                # the state of the motion detector when the subscription starts
                sub["queue"].insert(0, None)
            while sub is not None and not sub["queue"] and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
                sub = self._subs.get(sub_id)
            msgs = []
            if sub is not None:
                msgs, sub["queue"] = sub["queue"][:limit], sub["queue"][limit:]
        if sub is None:  # the camera "rebooted" while we waited
            return 400, self._fault("wsrf-rw:ResourceUnknownFault", f"no subscription {sub_id}")
        now = datetime.now(UTC)
        initial = (f'<wsnt:NotificationMessage><wsnt:Topic Dialect="{DIALECT}">'
                   'tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic><wsnt:Message>'
                   f'<tt:Message UtcTime="{_iso(now)}" PropertyOperation="Initialized"><tt:Source>'
                   '<tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VSC_1"/></tt:Source>'
                   '<tt:Data><tt:SimpleItem Name="IsMotion" Value="false"/></tt:Data></tt:Message>'
                   '</wsnt:Message></wsnt:NotificationMessage>')
        return 200, self._envelope(
            f"<tev:PullMessagesResponse><tev:CurrentTime>{_iso(now)}</tev:CurrentTime>"
            f"<tev:TerminationTime>{_iso(now + timedelta(seconds=60))}</tev:TerminationTime>"
            + "".join(initial if m is None else m for m in msgs) + "</tev:PullMessagesResponse>")

    def _expire(self) -> None:
        now = time.monotonic()
        for k in [k for k, s in self._subs.items() if s["expires"] < now]:
            del self._subs[k]

    @staticmethod
    def _envelope(body: str) -> str:
        return f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {NS}><s:Body>{body}</s:Body></s:Envelope>'

    def _fault(self, subcode: str, reason: str) -> str:
        return self._envelope(
            '<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>'
            f'<s:Value xmlns:wsrf-rw="http://docs.oasis-open.org/wsrf/rw-2">{subcode}</s:Value></s:Subcode></s:Code>'
            f'<s:Reason><s:Text xml:lang="en">{escape(reason)}</s:Text></s:Reason></s:Fault>')
