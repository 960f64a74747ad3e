"""`python -m edge discover` against a real ONVIF device on loopback (ipycam's ONVIF service,
answering unicast WS-Discovery Probes on a loopback UDP port; no multicast leaves the box)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from camera_profiles import load_profile
from edge.commands.discover import (
    Found,
    expand_range,
    parse_probe_match,
    profile_id,
    starter_profile,
)
from edge.onvif.client import resolve_media
from tests.support.onvif_camera import OnvifCamera
from tests.support.rtsp_server import RtspCamera
from tests.support.services import free_port

REPO = Path(__file__).resolve().parents[1]


def discover(*args, env=None):
    return subprocess.run([sys.executable, "-m", "edge", "discover", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_expand_range_forms_and_limits():
    assert expand_range("10.0.0.5") == ["10.0.0.5"]
    assert expand_range("10.0.0.5-7") == ["10.0.0.5", "10.0.0.6", "10.0.0.7"]
    assert expand_range("10.0.0.254-10.0.1.1") == ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]
    assert expand_range("192.168.1.0/30") == ["192.168.1.1", "192.168.1.2"]
    for bad in ("10.0.0.0/8", "10.0.0.9-3", "cameras"):
        with pytest.raises(ValueError, match="bad address range"):
            expand_range(bad)


def test_parse_probe_match_ignores_garbage():
    assert parse_probe_match(b"\x00\xffnot xml") == []
    assert parse_probe_match(b"<a>no match</a>") == []


def test_starter_profile_keeps_the_password_out():
    f = Found(xaddr="http://10.0.0.31:8080/onvif/device_service", via="http", model="DS-2CD2T47")
    prof = starter_profile(f, "admin")
    assert prof["id"] == profile_id(f) == "cam-ds-2cd2t47-10.0.0.31"
    assert prof["source"]["onvif"] == {"host": "10.0.0.31", "port": 8080, "username": "admin",
                                       "password": "${CAM_DS_2CD2T47_10_0_0_31_PASS}"}   # no profiles seen: the edge picks
    f.profiles = ["main 1920x1080", "sub 640x360"]
    assert starter_profile(f, "admin")["source"]["onvif"]["profile"] == "sub"
    assert starter_profile(f, "admin")["source"]["onvif"]["record_profile"] == "main"


@pytest.fixture
def cameras(vtest_path):
    with RtspCamera(vtest_path, path="/video_main", extra_paths=("/video_sub",)) as rtsp, \
            OnvifCamera(rtsp.port, username="admin", password="s3cret", model="LoopCam-1",
                        advertised_ip="192.0.2.10") as a, \
            OnvifCamera(rtsp.port, username="admin", password="s3cret", model="LoopCam-2", serial="GW-0002") as b:
        yield rtsp, a, b


def test_discover_by_ws_discovery_and_by_http_then_write_profiles(cameras, tmp_path):
    rtsp, a, b = cameras
    # a answers WS-Discovery (naming an unreachable LAN address, as behind NAT); b only HTTP
    wsd_port = a.start_discovery()
    out_dir = tmp_path / "profiles"
    proc = discover("--no-multicast", "--range", "127.0.0.1", "--wsd-port", str(wsd_port),
                    "--ports", f"{a.port},{b.port},{free_port()}", "--username", "admin", "--password", "s3cret",
                    "--timeout", "2", "--write-profiles", str(out_dir))
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout
    for text in ("Gridwatch Test", "LoopCam-1", "LoopCam-2", f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}",
                 "Profile_Main 768x576", "Profile_Sub 384x288", "ws-discovery", "http"):
        assert text in table, f"{text!r} missing from\n{table}"
    written = sorted(out_dir.glob("*.yaml"))
    assert len(written) == 2
    for path in written:
        text = path.read_text()
        assert "s3cret" not in text
        env_name = text.split("${", 1)[1].split("}", 1)[0]
        os.environ[env_name] = "s3cret"
        try:
            prof = load_profile(path)  # valid, and it works: the device gives the sub stream
            media = resolve_media(prof.onvif)
        finally:
            del os.environ[env_name]
        assert media.stream_uri == f"rtsp://admin:s3cret@127.0.0.1:{rtsp.port}/video_sub"
        os.environ[env_name] = "s3cret"
        try:
            record = resolve_media(load_profile(path).record_stream.onvif)   # clips: the main stream
        finally:
            del os.environ[env_name]
        assert record.stream_uri == f"rtsp://admin:s3cret@127.0.0.1:{rtsp.port}/video_main"


def test_discover_json_and_wrong_password_are_reported(cameras):
    _rtsp, a, _b = cameras
    proc = discover("--no-multicast", "--range", "127.0.0.1", "--ports", str(a.port), "--json",
                    "--username", "admin", "--timeout", "2", env={"GRIDWATCH_ONVIF_PASSWORD": "wrong"})
    assert proc.returncode == 0, proc.stderr
    [dev] = json.loads(proc.stdout)
    assert dev["port"] == a.port and dev["via"] == "http"
    assert "wrong user name or password" in dev["error"]


def test_bad_datagrams_do_not_stop_discovery(cameras):
    _rtsp, a, _b = cameras
    # a noisy neighbour answering every probe with junk, on another port
    junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk.bind(("127.0.0.1", 0))
    junk.settimeout(5)

    def answer_junk():
        try:
            _, addr = junk.recvfrom(65536)
            junk.sendto(b"<garbage", addr)
        except OSError:
            pass

    t = threading.Thread(target=answer_junk, daemon=True)
    t.start()
    # the WS-Discovery probe reaches only the junk answerer; the device is found over HTTP
    proc = discover("--no-multicast", "--range", "127.0.0.1", "--wsd-port", str(junk.getsockname()[1]),
                    "--ports", str(a.port), "--timeout", "2", "--username", "admin", "--password", "s3cret")
    t.join(5)
    junk.close()
    assert proc.returncode == 0, proc.stderr
    assert "1 answer(s) were not WS-Discovery ProbeMatches" in proc.stderr
    assert "LoopCam-1" in proc.stdout, "the device is still found over HTTP"


def test_nothing_to_probe_is_an_error():
    proc = discover("--no-multicast")
    assert proc.returncode == 2 and "nothing to probe" in proc.stderr
    proc = discover("--range", "10.0.0.0/8", "--no-multicast")
    assert proc.returncode == 2 and "more than 4096" in proc.stderr


def test_interface_by_name_or_address():
    from edge.commands.discover import interface_address

    assert interface_address("lo") == "127.0.0.1"
    assert interface_address("127.0.0.1") == "127.0.0.1"
    with pytest.raises(ValueError, match="interface 'nosuch0'"):
        interface_address("nosuch0")
