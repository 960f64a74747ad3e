"""Cameras by name in Debian's Chromium against a real gateway: a camera's status (as
edge/camera/worker.py publishes it: the profile's name, grid and location beside the capture's
state) names it, and the board, the incident page, the phone's list and the devices page show
that name where they showed the camera's id (the id stays, as a title or under the name)."""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from alerts import topics
from tests.browser.gateway_proc import OPERATOR, WORKER, camera_alert, publish

pytestmark = pytest.mark.browser

NAME = "东门 2号（北侧）"


@pytest.fixture(scope="module")
def named(gateway):
    cam = f"cam-name-{uuid.uuid4().hex[:6]}"
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    publish(gateway.mqtt_url, topics.camera_status("edge-names", cam, prefix=gateway.prefix),
            {"name": NAME, "grid": "G-03-07", "location": {"lat": 36.7255, "lon": 104.8405},
             "state": "streaming", "fps": 5.0, "ts": ts}, retain=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = {c["id"]: c for c in gateway.api("GET", "/api/cameras", params={"limit": 500}).json()["items"]}
        if cam in got:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the camera status did not arrive")
    assert got[cam]["name"] == NAME and got[cam]["grid_id"] == "G-03-07", got[cam]
    alert = {**camera_alert(cam), "zone": None}   # titled "intrusion at <camera id>"
    publish(gateway.mqtt_url, topics.alert("edge-names", cam, prefix=gateway.prefix), alert)
    return cam, gateway.wait_incident(cam)


def test_the_board_and_the_incident_page_name_the_camera(named, new_page):
    cam, inc = named
    page = new_page(OPERATOR, locale="zh-CN")
    page.goto("/console/")
    row = page.locator(f"tbody tr[data-id='{inc['id']}']")
    expect(row).to_contain_text(NAME)
    expect(row).not_to_contain_text(cam)
    page.goto(f"/console/incidents/{inc['id']}")
    expect(page.locator("span.what")).to_contain_text(NAME)
    expect(page.locator(f"span.what [title='{cam}']")).to_have_count(1)   # the id, on hover
    expect(page.locator("#app")).to_contain_text(cam)                 # and beside the name among the facts
    assert page.js_errors == []


def test_the_devices_page_puts_the_name_first(named, new_page):
    cam, _ = named
    page = new_page(OPERATOR, locale="zh-CN")
    page.goto("/console/devices")
    cell = page.locator(f"#cameras tr[data-id='{cam}'] td").nth(1)
    expect(cell.locator("b")).to_have_text(NAME)
    expect(cell.locator(".inc-sub")).to_have_text(cam)
    assert page.js_errors == []


def test_the_phone_list_names_the_camera(named, new_page):
    cam, inc = named
    page = new_page(WORKER, phone=True, locale="zh-CN")
    page.goto("/m/")
    card = page.locator(f".card[data-id='{inc['id']}']")
    expect(card).to_contain_text(NAME)
    expect(card).not_to_contain_text(cam)
    assert page.js_errors == []
