"""ONVIF PullPoint events against a real ONVIF device on loopback (ipycam) whose event
service is the test PullPoint responder speaking the ONVIF events WSDL."""
from __future__ import annotations

import queue
import random
import time
from datetime import UTC, datetime

import pytest

from alerts import parse_alert
from camera_profiles.loader import profile_from_dict
from camera_profiles.schema import OnvifSource
from common.backoff import Backoff
from edge.onvif.events import (
    OnvifEvent,
    PullPointListener,
    camera_event_listener,
    classify,
    parse_pull_response,
    to_alert,
)
from tests.support.onvif_camera import OnvifCamera
from tests.support.pullpoint import PullPointResponder
from tests.support.services import free_port

pytestmark = pytest.mark.quick  # no service: `make test-quick`

MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"
TAMPER = "tns1:RuleEngine/TamperDetector/Tamper"
LINE = "tns1:RuleEngine/LineDetector/Crossed"


@pytest.fixture
def responder():
    return PullPointResponder()


@pytest.fixture
def device(responder):
    # the RTSP side is not used here: events only
    with OnvifCamera(free_port(), username="admin", password="s3cret", pullpoint=responder) as dev:
        yield dev


def source(dev, password="s3cret"):
    return OnvifSource(host="127.0.0.1", port=dev.port, username="admin", password=password)


def wait(cond, within, what):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not seen within {within} s")


def next_event(q: queue.Queue, within=10.0) -> OnvifEvent:
    return q.get(timeout=within)


def test_classify_topics_of_common_vendors():
    assert classify(MOTION) == "motion"
    assert classify("tns1:VideoSource/MotionAlarm") == "motion"
    assert classify(TAMPER) == "tamper"
    assert classify("tns1:VideoSource/GlobalSceneChange/ImagingService") == "tamper"
    assert classify(LINE) == "line_crossing"
    assert classify("tns1:Device/Trigger/DigitalInput") == "other"


def test_parse_skips_malformed_messages():
    xml = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
           b'xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body><PullMessagesResponse>'
           b'<wsnt:NotificationMessage><wsnt:Topic></wsnt:Topic></wsnt:NotificationMessage>'
           b'<wsnt:NotificationMessage><wsnt:Topic>tns1:RuleEngine/LineDetector/Crossed</wsnt:Topic><wsnt:Message>'
           b'<tt:Message UtcTime="not a time"><tt:Data><tt:SimpleItem Name="ObjectId" Value="7"/></tt:Data>'
           b'</tt:Message></wsnt:Message></wsnt:NotificationMessage></PullMessagesResponse></s:Body></s:Envelope>')
    [ev] = parse_pull_response(xml)
    assert ev.kind == "line_crossing" and ev.data == {"ObjectId": "7"} and ev.active is None
    assert ev.utc_time.tzinfo is not None


def test_motion_tamper_and_line_events_become_camera_event_alerts(device, responder):
    got: queue.Queue = queue.Queue()
    listener = PullPointListener(source(device), got.put, pull_timeout_s=2)
    listener.start()
    try:
        wait(lambda: listener.status["state"] == "subscribed", 15, "subscription")
        when = datetime(2026, 11, 21, 8, 15, 2, 340000, tzinfo=UTC)
        responder.emit(MOTION, {"IsMotion": "true"}, {"VideoSourceConfigurationToken": "VSC_1"}, utc=when)
        responder.emit(MOTION, {"IsMotion": "false"}, {"VideoSourceConfigurationToken": "VSC_1"})  # motion ended
        responder.emit(TAMPER, {"IsTamper": "true"}, {"VideoSourceConfigurationToken": "VSC_1"})
        responder.emit(LINE, {"ObjectId": "12"}, {"VideoSourceConfigurationToken": "VSC_1", "Rule": "gate"})
        events = [next_event(got) for _ in range(3)]
        time.sleep(0.5)
        assert got.empty(), "the initial state and 'motion ended' are not events"
    finally:
        listener.stop()
    assert [e.kind for e in events] == ["motion", "tamper", "line_crossing"]
    assert events[0].utc_time == when and events[0].source == {"VideoSourceConfigurationToken": "VSC_1"}
    assert listener.status["dropped"] >= 2  # Initialized + IsMotion=false

    profile = profile_from_dict({"id": "cam-b3-stair", "grid": "G-03-07", "location": {"lat": 36.7, "lon": 104.8},
                                 "source": {"onvif": {"host": "127.0.0.1", "port": device.port}}})
    alert = to_alert(events[2], profile, "edge-1")
    again = parse_alert(alert.to_json())
    assert again.type.value == "camera_event" and again.camera_id == "cam-b3-stair"
    assert again.details["kind"] == "line_crossing" and again.details["onvif_topic"] == LINE
    assert again.details["source"]["Rule"] == "gate" and again.details["data"] == {"ObjectId": "12"}
    assert again.grid_hint == "G-03-07" and again.location.lat == 36.7
    assert to_alert(events[1], profile, "edge-1").severity.value == "major"
    assert to_alert(events[0], profile, "edge-1").ts == when


def test_subscription_is_renewed_on_the_injected_clock_and_unsubscribed_on_stop(device, responder):
    now = [1000.0]
    listener = PullPointListener(source(device), lambda e: None, clock=lambda: now[0], pull_timeout_s=1,
                                 termination_s=20)
    listener.start()
    try:
        wait(lambda: listener.status["state"] == "subscribed", 15, "subscription")
        assert responder.subscriptions == 1
        assert "Renew" not in responder.requests
        now[0] += 11  # past half the termination time
        wait(lambda: listener.status["renewals"] == 1, 10, "renewal")
        assert responder.requests.count("Renew") == 1
        assert max(responder.termination_left()) > 15
    finally:
        listener.stop()
    assert responder.subscriptions == 0, "stop() unsubscribes: cameras have few subscription slots"
    assert responder.requests[-1] == "Unsubscribe"
    assert listener.status["state"] == "stopped"


def test_recovers_after_the_camera_reboots(device, responder):
    got: queue.Queue = queue.Queue()
    listener = PullPointListener(source(device), got.put, pull_timeout_s=1,
                                 backoff=Backoff(0.2, 1, rng=random.Random(2)))
    listener.start()
    try:
        wait(lambda: listener.status["subscriptions"] == 1 and listener.status["state"] == "subscribed", 15, "subscription")
        responder.reboot()  # the camera restarts: our subscription no longer exists
        wait(lambda: listener.status["subscriptions"] == 2 and listener.status["state"] == "subscribed", 20,
             "a new subscription")
        responder.emit(MOTION, {"IsMotion": "true"})
        ev = next_event(got)
    finally:
        listener.stop()
    assert ev.kind == "motion"
    assert responder.requests.count("CreatePullPointSubscription") == 2


def test_wrong_password_and_unreachable_device_are_reported(device):
    bad = PullPointListener(source(device, password="nope"), lambda e: None, backoff=Backoff(0.5, 2))
    gone = PullPointListener(OnvifSource(host="127.0.0.1", port=free_port()), lambda e: None, backoff=Backoff(0.5, 2))
    bad.start()
    gone.start()
    try:
        wait(lambda: bad.status["state"] == "lost" and gone.status["state"] == "lost", 15, "lost states")
    finally:
        bad.stop()
        gone.stop()
    assert "wrong user name or password" in bad.status["error"]
    assert "unreachable" in gone.status["error"]


def test_device_without_event_service_says_so(vtest_path):
    with OnvifCamera(free_port(), username="admin", password="s3cret") as plain:  # ipycam alone: no events
        listener = PullPointListener(source(plain), lambda e: None, backoff=Backoff(0.5, 2))
        listener.start()
        try:
            wait(lambda: listener.status["state"] == "lost", 15, "lost state")
        finally:
            listener.stop()
    assert "has no event service" in listener.status["error"]


def test_camera_event_listener_for_a_profile(device, responder):
    def prof(**onvif):
        return profile_from_dict({"id": "cam-b3", "source": {"onvif": {
            "host": "127.0.0.1", "port": device.port, "username": "admin", "password": "s3cret", **onvif}}})

    assert camera_event_listener(prof(events=False), "edge-1", print) is None
    assert camera_event_listener(profile_from_dict({"id": "c", "source": "/x.mp4"}), "edge-1", print) is None
    alerts: queue.Queue = queue.Queue()
    listener = camera_event_listener(prof(), "edge-1", alerts.put, pull_timeout_s=1)
    listener.start()
    try:
        wait(lambda: listener.status["state"] == "subscribed", 15, "subscription")
        responder.emit(TAMPER, {"IsTamper": "true"})
        alert = alerts.get(timeout=10)
    finally:
        listener.stop()
    assert alert.type.value == "camera_event" and alert.camera_id == "cam-b3" and alert.edge_id == "edge-1"
    assert alert.details["kind"] == "tamper"


def test_events_of_a_device_behind_nat(responder):
    with OnvifCamera(free_port(), username="admin", password="s3cret", pullpoint=responder,
                     advertised_ip="192.0.2.10") as dev:
        responder.base_url = "http://192.0.2.10:80"  # the subscription address names the LAN address too
        got: queue.Queue = queue.Queue()
        listener = PullPointListener(source(dev), got.put, pull_timeout_s=1)
        listener.start()
        try:
            wait(lambda: listener.status["state"] == "subscribed", 15, "subscription")
            responder.emit(MOTION, {"IsMotion": "true"})
            ev = next_event(got)
        finally:
            listener.stop()
    assert ev.kind == "motion" and responder.subscriptions == 0
