"""Every screen at the monitoring room's 1440x900 and the phone's 390x844, in Debian's Chromium
against a real gateway: nothing wider than the window, no script errors, a screenshot of each
(artifacts/screenshots/screen-*.png); and the map as a room reads it: the legend beside the
grids, never over one, each camera's marker visible next to the incident it raised."""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from alerts import topics
from tests.browser.gateway_proc import OPERATOR, WORKER, camera_alert, location_in, publish
from tests.browser.shots import screenshot

pytestmark = pytest.mark.browser

SIZES = {"desk": False, "phone": True}
# what each role opens: the operator's desk pages, the grid worker's phone view and report form
SCREENS = {OPERATOR: ["/console/", "/console/incidents/{inc}", "/console/map", "/console/devices", "/console/figures"],
           WORKER: ["/m/", "/console/incidents/{inc}", "/m/#/report"]}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture(scope="module")
def scene(gateway):
    """A streaming camera in G-03-07 that raised an open incident at its own position."""
    camera, edge = f"cam-screens-{uuid.uuid4().hex[:6]}", "edge-screens"
    where = location_in("G-03-07")
    publish(gateway.mqtt_url, topics.camera_status(edge, camera, prefix=gateway.prefix),
            {"state": "streaming", "fps": 10.0, "ts": _now(), "location": where, "grid": "G-03-07"}, retain=True)
    alert = {**camera_alert(camera, edge_id=edge), "location": where}
    publish(gateway.mqtt_url, topics.alert(edge, camera, prefix=gateway.prefix), alert)
    inc = gateway.wait_incident(camera)["id"]
    deadline = time.monotonic() + 20
    def located() -> bool:
        cameras = gateway.api("GET", "/api/cameras", params={"limit": 500}).json()["items"]
        return any(c["id"] == camera and c.get("location") for c in cameras)

    while not located():
        assert time.monotonic() < deadline, "the camera's status never reached the gateway"
        time.sleep(0.3)
    return {"camera": camera, "incident": inc}


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


@pytest.mark.parametrize("size", SIZES)
def test_map_legend_covers_no_grid_and_a_camera_shows_beside_its_incident(gateway, new_page, scene, size):
    page = new_page(OPERATOR, phone=SIZES[size])
    page.goto("/console/map")
    camera = page.locator(f"#map [data-kind=camera][data-id='{scene['camera']}']")
    pin = page.locator(f"#map [data-kind=incident][data-id='{scene['incident']}']")
    expect(camera).to_be_visible()
    expect(pin).to_be_visible()
    legend = page.locator(".map-legend").bounding_box()
    for cell in page.locator("#map path.grid-shape.level-grid").all():
        assert not _overlap(legend, cell.bounding_box()), f"the legend covers {cell.get_attribute('data-grid')}"
    # the camera's own marker answers at its centre: neither the incident's pin nor anything else covers it
    box = camera.bounding_box()
    on_top = page.evaluate("([x, y]) => { const e = document.elementFromPoint(x, y); return e && e.dataset.kind; }",
                           [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert on_top == "camera"
    assert "streaming" in camera.locator("title").text_content()
    screenshot(page, f"map-legend-{size}")
    assert page.js_errors == []


@pytest.mark.parametrize("size", SIZES)
def test_incident_minimap_shows_the_whole_grid(gateway, new_page, scene, size):
    page = new_page(OPERATOR, phone=SIZES[size])
    page.goto(f"/console/incidents/{scene['incident']}")
    cell = page.locator("#minimap path.highlight")
    expect(cell).to_have_attribute("data-grid", "G-03-07")
    cell.scroll_into_view_if_needed()
    frame, grid = page.locator("#minimap").bounding_box(), cell.bounding_box()
    assert frame["x"] <= grid["x"] and grid["x"] + grid["width"] <= frame["x"] + frame["width"]
    assert frame["y"] <= grid["y"] and grid["y"] + grid["height"] <= frame["y"] + frame["height"]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("user", SCREENS)
def test_every_screen_fits_the_window(gateway, new_page, scene, user, size):
    page = new_page(user, phone=SIZES[size], locale="zh-CN")
    too_wide = []
    for path in SCREENS[user]:
        page.goto(path.format(inc=scene["incident"]))
        expect(page.locator("#app > *").first).to_be_visible()
        page.wait_for_timeout(800)   # the live stream stays open: no network-idle moment to wait for
        # a phone's layout viewport grows with what overflows: compare with the screen's own width
        wide, window = page.evaluate("document.documentElement.scrollWidth"), page.viewport_size["width"]
        if wide > window + 1:
            too_wide.append(f"{path} is {wide} px wide in a {window} px window")
        name = path.strip("/").replace("/#/", "-").replace("/", "-").replace("{inc}", "N")
        screenshot(page, f"screen-{user}-{name}-{size}")
    assert not too_wide, "; ".join(too_wide)
    assert page.js_errors == []
