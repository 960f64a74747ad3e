"""The devices page in Debian's Chromium against a real gateway: camera statuses published over
the session's Mosquitto as an edge publishes them (the record stream's state beside the detect
stream's, the analysis counters) show as a translated record badge and the analysis errors, and
every grid by its name."""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from alerts import topics
from tests.browser.gateway_proc import OPERATOR, PASSWORD, WORKER, publish

pytestmark = pytest.mark.browser

GRID, GRID_NAME = "G-03-07", "西关第7网格（校园）"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def camera_status(state: str = "streaming", **extra) -> dict:
    # the keys edge/camera/capture.py and edge/camera/worker.py put in a camera's status
    return {"state": state, "fps": 5.0, "last_frame_ts": now(), "error": None, "device": None, "attempts": 0,
            "source": "rtsp://10.0.0.21:554/Streaming/Channels/102", "reconnects": 0, "role": "detect", "dropped": 0,
            "ts": now(), "grid": GRID, **extra}


@pytest.fixture(scope="module")
def cameras(gateway):
    edge = f"edge-dev-{uuid.uuid4().hex[:6]}"
    ids = {k: f"cam-{k}-{uuid.uuid4().hex[:6]}" for k in ("lost", "shared", "plain")}
    statuses = {
        # clips from the main stream, which is down; three frames failed analysis
        "lost": camera_status(record={"state": "lost", "error": "cannot reach 10.0.0.21:554", "fps": 0.0, "role": "record"},
                              analysis={"frames": 1200, "errors": 3, "last_error": "frame 7: not a BGR/grey uint8 image",
                                        "alerts": 2}),
        # an ONVIF camera whose detect and record profiles are the same: one stream does both
        "shared": camera_status(record={"state": "shared", "error": None, "role": "record"},
                                analysis={"frames": 900, "errors": 0, "last_error": None, "alerts": 0}),
        "plain": camera_status(),   # no record stream, no analysis yet
    }
    for key, status in statuses.items():
        publish(gateway.mqtt_url, topics.camera_status(edge, ids[key], prefix=gateway.prefix), status, retain=True)
    deadline = datetime.now(UTC).timestamp() + 30
    while datetime.now(UTC).timestamp() < deadline:
        got = {c["id"]: c for c in gateway.api("GET", "/api/cameras", params={"limit": 500}).json()["items"]}
        if all(i in got for i in ids.values()):
            return ids, got
        time.sleep(0.3)
    raise AssertionError("the camera statuses did not arrive")


def test_the_api_lifts_the_record_stream_and_analysis_counters_out_of_the_status(cameras):
    ids, got = cameras
    lost, shared, plain = got[ids["lost"]], got[ids["shared"]], got[ids["plain"]]
    assert lost["record"] == {"state": "lost", "error": "cannot reach 10.0.0.21:554"}
    assert lost["analysis"] == {"frames": 1200, "errors": 3, "last_error": "frame 7: not a BGR/grey uint8 image"}
    assert shared["record"] == {"state": "shared", "error": None} and shared["analysis"]["errors"] == 0
    assert plain["record"] is None and plain["analysis"] is None
    assert lost["grid_id"] == GRID


def test_a_grid_worker_gets_the_health_but_not_the_whole_device_status(cameras, gateway):
    ids, got = cameras
    assert got[ids["lost"]]["device"]["source"].startswith("rtsp://10.0.0.21")   # the monitoring room: all of it
    token = gateway.api("POST", "/api/auth/login", json={"username": WORKER, "password": PASSWORD}).json()["token"]
    mine = {c["id"]: c for c in gateway.api("GET", "/api/cameras", token=token, params={"limit": 500}).json()["items"]}
    lost = mine[ids["lost"]]
    assert lost["device"] is None   # no source address, serial or firmware for a grid worker
    assert lost["state"] == "streaming" and lost["record"]["state"] == "lost" and lost["analysis"]["errors"] == 3


def test_the_devices_page_shows_record_state_analysis_errors_and_grid_names(cameras, new_page):
    ids, _ = cameras
    page = new_page(OPERATOR)
    page.goto("/console/devices")
    lost = page.locator(f"#cameras tr[data-id='{ids['lost']}']")
    expect(lost.locator(".badge.record")).to_have_text("Record stream: lost")
    expect(lost.locator(".badge.record")).to_have_attribute("title", "cannot reach 10.0.0.21:554")
    expect(lost.locator(".analysis-errors")).to_contain_text("3 of 1200 frames not analysed")
    expect(lost.locator(".analysis-errors")).to_contain_text("frame 7: not a BGR/grey uint8 image")
    shared = page.locator(f"#cameras tr[data-id='{ids['shared']}']")
    expect(shared.locator(".badge.record")).to_have_text("Record stream: shared with detection")
    expect(shared.locator(".analysis-errors")).to_have_count(0)            # no errors: nothing said
    plain = page.locator(f"#cameras tr[data-id='{ids['plain']}']")
    expect(plain).to_contain_text("streaming")
    expect(plain.locator(".badge.record")).to_have_count(0)               # no record stream: no badge
    for row in (lost, shared, plain):
        expect(row).to_contain_text(GRID_NAME)                           # the grid by name, not G-03-07
        expect(row).not_to_contain_text(GRID)
    # the page ends with its panels: no stray "null" where a panel was left out
    assert "null" not in page.locator("#app").inner_text()
    assert page.js_errors == []


def test_the_devices_page_in_chinese_and_for_a_grid_worker(cameras, new_page):
    ids, _ = cameras
    refused = []
    page = new_page(WORKER, locale="zh-CN")
    # (these cameras send statuses but no live frames: their live.jpg is a 404 by design)
    page.on("response", lambda r: r.status >= 400 and "/live.jpg" not in r.url and refused.append(f"{r.status} {r.url}"))
    page.goto("/console/devices")
    lost = page.locator(f"#cameras tr[data-id='{ids['lost']}']")
    expect(lost.locator(".badge.record")).to_have_text("录制流：丢失")
    expect(lost.locator(".analysis-errors")).to_contain_text("1200 帧中 3 帧未能分析")
    expect(page.locator(f"#cameras tr[data-id='{ids['shared']}'] .badge.record")).to_have_text("录制流：与检测共用")
    expect(lost).to_contain_text(GRID_NAME)
    page.wait_for_timeout(500)
    # a grid worker may not read the notification channels: the page does not ask (a 403 before)
    assert refused == [], refused
    assert "null" not in page.locator("#app").inner_text()
    assert page.js_errors == []
