"""ONVIF as a camera source, against a real ONVIF device on loopback (ipycam's ONVIF service)
whose stream URIs point at a real RTSP server."""
from __future__ import annotations

import random

import pytest

from camera_profiles.loader import profile_from_dict
from camera_profiles.schema import OnvifSource
from common.backoff import Backoff
from edge.camera.capture import CameraStream
from edge.camera.frames import Frame
from edge.onvif.client import (
    OnvifError,
    StreamProfile,
    pick_profile,
    resolve_media,
    with_credentials,
)
from tests.support.onvif_camera import OnvifCamera
from tests.support.rtsp_server import RtspCamera
from tests.support.services import free_port
from tests.support.waiting import next_item as wait_for


@pytest.fixture
def rtsp(vtest_path):
    with RtspCamera(vtest_path, path="/video_main", extra_paths=("/video_sub",)) as cam:
        yield cam


@pytest.fixture
def device(rtsp):
    with OnvifCamera(rtsp.port, username="admin", password="s3cret") as dev:
        yield dev


def onvif_profile(port, password="s3cret", profile="sub", cam_id="cam-onvif"):
    return profile_from_dict({"id": cam_id, "source": {"onvif": {
        "host": "127.0.0.1", "port": port, "username": "admin", "password": password, "profile": profile}},
        "detect": {"fps": 5, "warmup_s": 0.5}})


PROFILES = [StreamProfile("tok_hd", "MainStream", 1920, 1080, "H264"),
            StreamProfile("tok_sd", "SubStream", 640, 360, "H264"),
            StreamProfile("tok_third", "Third", 320, 180, "H264")]


def test_pick_profile_by_role_token_name_and_resolution():
    assert pick_profile(PROFILES, "main").token == "tok_hd"
    assert pick_profile(PROFILES, "sub").token == "tok_sd"
    assert pick_profile(PROFILES, "tok_third").token == "tok_third"
    assert pick_profile(PROFILES, "substream").token == "tok_sd"
    assert pick_profile(PROFILES, "320x180").token == "tok_third"
    with pytest.raises(OnvifError) as e:
        pick_profile(PROFILES, "4k")
    assert e.value.kind == "profile" and "tok_hd (MainStream, 1920x1080" in str(e.value)
    with pytest.raises(OnvifError, match="one profile"):
        pick_profile(PROFILES[:1], "sub")


def test_with_credentials_quotes_and_keeps_existing():
    assert with_credentials("rtsp://10.0.0.2:554/s1", "admin", "p@ss:w/rd") == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.2:554/s1"
    assert with_credentials("rtsp://u:p@10.0.0.2/s1", "admin", "x") == "rtsp://u:p@10.0.0.2/s1"
    assert with_credentials("rtsp://10.0.0.2/s1", None, None) == "rtsp://10.0.0.2/s1"


def test_resolve_media_from_real_device(device, rtsp):
    src = OnvifSource(host="127.0.0.1", port=device.port, username="admin", password="s3cret", profile="sub")
    media = resolve_media(src)
    assert media.stream_uri == f"rtsp://admin:s3cret@127.0.0.1:{rtsp.port}/video_sub"
    assert media.snapshot_uri.endswith(f"127.0.0.1:{device.port}/snapshot.jpg")
    assert media.profile.token == "Profile_Sub" and media.profile.resolution == "384x288"
    assert media.device["manufacturer"] == "Gridwatch Test" and media.device["model"] == "LoopCam-1"
    assert media.device["serial"] == "GW-0001" and media.device["firmware"] == "1.3.0-test"
    assert media.device["snapshot_uri"] == f"http://127.0.0.1:{device.port}/snapshot.jpg"
    assert "s3cret" not in str(media.device)
    main = resolve_media(src.model_copy(update={"profile": "768x576"}))
    assert main.stream_uri.endswith("/video_main") and main.profile.token == "Profile_Main"


@pytest.mark.parametrize("change, kind, words", [
    ({"password": "wrong"}, "auth", "wrong user name or password"),
    ({"profile": "Profile_Night"}, "profile", "no profile 'Profile_Night'"),
    ({"port": None}, "unreachable", "unreachable"),
])
def test_resolve_media_errors_are_clear(device, change, kind, words):
    fields = {"host": "127.0.0.1", "port": device.port, "username": "admin", "password": "s3cret", "profile": "sub"}
    fields.update({k: (free_port() if v is None else v) for k, v in change.items()})
    with pytest.raises(OnvifError) as e:
        resolve_media(OnvifSource(**fields), timeout_s=3)
    assert e.value.kind == kind and words in str(e.value)


def test_onvif_camera_streams_and_reports_device_info(device):
    statuses = []
    s = CameraStream(onvif_profile(device.port), on_status=statuses.append)
    s.start()
    try:
        frame = wait_for(s, Frame, 20)
        st = s.status
    finally:
        s.stop()
    assert frame.image.shape == (288, 384, 3)  # the sub profile
    assert st["state"] == "streaming"
    assert st["device"]["manufacturer"] == "Gridwatch Test" and st["device"]["profile"] == "Profile_Sub"
    assert st["source"].endswith("/video_sub") and "s3cret" not in str(statuses)


def test_bad_onvif_cameras_report_clearly_and_others_keep_running(device, rtsp):
    """Wrong password, unknown profile, unreachable host, and a device whose stream fails:
    each its own clear status; the good camera streams on."""
    broken_stream_dev = OnvifCamera(free_port(), username="admin", password="s3cret").start()  # URIs lead nowhere
    def backoff():
        return Backoff(0.5, 5, rng=random.Random(3))

    streams = {
        "wrong-password": CameraStream(onvif_profile(device.port, password="nope", cam_id="a"), backoff=backoff()),
        "unknown-profile": CameraStream(onvif_profile(device.port, profile="Profile_Night", cam_id="b"),
                                        backoff=backoff()),
        "unreachable": CameraStream(onvif_profile(free_port(), cam_id="c"), open_timeout_s=2, backoff=backoff()),
        "stream-fails": CameraStream(onvif_profile(broken_stream_dev.port, cam_id="d"), open_timeout_s=2,
                                     backoff=backoff()),
    }
    good = CameraStream(onvif_profile(device.port, cam_id="good"))
    try:
        for s in [*streams.values(), good]:
            s.start()
        lost = {name: wait_for(s, "lost", 20) for name, s in streams.items()}
        frames = [wait_for(good, Frame, 20) for _ in range(5)]
        states = {name: s.status for name, s in streams.items()}
    finally:
        for s in [*streams.values(), good]:
            s.stop()
        broken_stream_dev.stop()
    assert "wrong user name or password" in lost["wrong-password"].details["reason"]
    assert "no profile 'Profile_Night'" in lost["unknown-profile"].details["reason"]
    assert "unreachable" in lost["unreachable"].details["reason"]
    assert "cannot" in lost["stream-fails"].details["reason"]
    assert states["stream-fails"]["device"]["model"] == "LoopCam-1", "the device answered: its info is known"
    assert all(st["state"] == "lost" and st["error"] for st in states.values())
    assert len(frames) == 5 and good.status["state"] == "streaming"


def test_camera_rebooting_with_a_new_stream_uri_is_followed(vtest_path):
    """After a reboot (firmware update, new credentials) the device may give another URI:
    the stream asks the device again at every reconnect."""
    with RtspCamera(vtest_path, path="/video_sub", extra_paths=("/v2_sub",)) as rtsp:
        port = free_port()
        dev = OnvifCamera(rtsp.port, port=port, username="admin", password="s3cret").start()
        s = CameraStream(onvif_profile(port), backoff=Backoff(0.2, 1.0), open_timeout_s=3, read_timeout_s=3)
        s.start()
        try:
            wait_for(s, Frame, 20)
            assert s.status["source"].endswith("/video_sub")
            dev.stop()
            rtsp.kill()
            wait_for(s, "lost", 10)
            dev = OnvifCamera(rtsp.port, port=port, username="admin", password="s3cret", sub_path="v2_sub").start()
            rtsp.start()
            restored = wait_for(s, "restored", 30)
            frame = wait_for(s, Frame, 10)
            st = s.status
        finally:
            s.stop()
            dev.stop()
    assert restored.details["outage_s"] > 0 and frame.fresh
    assert st["source"].endswith("/v2_sub") and st["state"] == "streaming"


def test_device_behind_nat_advertising_an_unreachable_address(rtsp):
    """The camera names its LAN address (192.0.2.10, unreachable from here) in every URL it
    gives; we use the address we reached it by, and the device's RTSP port."""
    with OnvifCamera(rtsp.port, username="admin", password="s3cret", advertised_ip="192.0.2.10") as dev:
        media = resolve_media(OnvifSource(host="127.0.0.1", port=dev.port, username="admin", password="s3cret",
                                          profile="sub"), timeout_s=3)
        s = CameraStream(onvif_profile(dev.port))
        s.start()
        try:
            frame = wait_for(s, Frame, 20)
        finally:
            s.stop()
    assert media.stream_uri == f"rtsp://admin:s3cret@127.0.0.1:{rtsp.port}/video_sub"
    assert media.snapshot_uri.endswith(f"@127.0.0.1:{dev.port}/snapshot.jpg")
    assert frame.image.shape == (288, 384, 3)
