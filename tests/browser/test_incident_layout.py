"""Issue 19: an incident that absorbed dozens of alerts, as the grid worker's phone and the
operator's board show it, in Debian's Chromium against a real gateway: the summary and the
Acknowledge button stay on screen, repeats fold into one row, one newest snapshot, the board's
thumbnail, and people and grids by name with a tel: link."""
from __future__ import annotations

import base64
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from alerts import topics
from tests.browser.gateway_proc import OPERATOR, WORKER, camera_alert, jpeg, publish
from tests.browser.shots import SCREENSHOTS, screenshot

pytestmark = pytest.mark.browser

N_ALERTS = 32
SNAPSHOT = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
GRID_NAME = "西关第7网格"             # G-03-07 in gateway/examples/grids.geojson
WORKER_NAME, WORKER_TEL = "网格员 王芳", "tel:+8613931000307"


@pytest.fixture(scope="module")
def busy_incident(gateway):
    """One open incident in G-03-07 with N_ALERTS attached alerts, each with a snapshot."""
    camera = f"cam-busy-{uuid.uuid4().hex[:6]}"
    for _ in range(N_ALERTS):
        alert = camera_alert(camera, snapshot=SNAPSHOT, bbox=[0.4, 0.3, 0.1, 0.3])
        publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera, prefix=gateway.prefix), alert)
        time.sleep(0.02)   # distinct timestamps: "newest" is well defined
    inc = gateway.wait_incident(camera)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        inc = gateway.api("GET", f"/api/incidents/{inc['id']}").json()
        if inc["alert_count"] >= N_ALERTS and all(a.get("snapshot_url") for a in inc["alerts"]):
            return {"id": inc["id"], "camera": camera}
        time.sleep(0.3)
    raise AssertionError(f"only {inc['alert_count']} alerts attached")


def in_viewport(page, selector: str) -> bool:
    return page.locator(selector).evaluate(
        "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && r.height > 0; }")


def test_the_phone_keeps_acknowledge_and_the_summary_on_screen(gateway, new_page, busy_incident):
    inc = busy_incident["id"]
    for path, button in ((f"/console/incidents/{inc}", "#actions button[data-action=acknowledge]"), (f"/m/#/i/{inc}", "#ack")):
        page = new_page(WORKER, phone=True)
        page.goto(path)
        expect(page.locator(button)).to_be_visible()
        expect(page.locator("#summary")).to_contain_text(GRID_NAME)
        expect(page.locator("#summary a.tel")).to_have_attribute("href", WORKER_TEL)
        assert in_viewport(page, button), f"{path}: Acknowledge below the first screen"
        name = "incident-busy-phone-" + ("console" if path.startswith("/console") else "m")
        screenshot(page, name)
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < 6000, f"{path}: the page is {height} px long with {N_ALERTS} alerts"
        page.evaluate("scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_timeout(200)
        assert page.evaluate("scrollY") > 300, f"{path}: nothing to scroll, the test proves nothing"
        assert in_viewport(page, button), f"{path}: Acknowledge scrolled away"
        assert in_viewport(page, "#summary")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-scrolled.png"))   # the screen as the worker sees it
        assert page.js_errors == []


def test_repeats_fold_into_one_row_and_one_newest_snapshot(gateway, new_page, busy_incident):
    page = new_page(OPERATOR)
    page.goto(f"/console/incidents/{busy_incident['id']}")
    fold = page.locator("#timeline li.fold")
    expect(fold).to_have_count(1)
    expect(fold).to_contain_text(re.compile(rf"\+{N_ALERTS - 1} alerts, last \d\d:\d\d"))
    attached = page.locator("#timeline li[data-action=attached]")
    expect(attached).to_have_count(N_ALERTS - 1)
    expect(attached.first).to_be_hidden()
    expect(page.locator("#timeline li[data-action=opened]")).to_be_visible()    # other rows stay
    fold.click()
    expect(attached.nth(N_ALERTS - 2)).to_be_visible()
    fold.click()
    expect(attached.first).to_be_hidden()

    shots = page.locator("#snapshots .snap img")
    expect(shots).to_have_count(1)
    expect(shots).to_be_visible()
    assert shots.evaluate("i => i.complete && i.naturalWidth") > 0
    toggle = page.locator("#snapshots button.show-all")
    expect(toggle).to_have_text(f"Show all {N_ALERTS} snapshots")
    toggle.click()
    expect(shots).to_have_count(N_ALERTS)
    toggle.click()
    expect(page.locator("#snapshots .snap img:visible")).to_have_count(1)
    screenshot(page, "incident-busy-desk")
    assert page.js_errors == []


def test_board_row_has_the_newest_snapshot_and_names(gateway, new_page, busy_incident):
    page = new_page(OPERATOR)
    row = page.locator(f"#board tbody tr[data-id='{busy_incident['id']}']")
    expect(row).to_be_visible()
    thumb = row.locator("img.snapthumb")
    expect(thumb).to_be_visible()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=thumb.element_handle())
    expect(row).to_contain_text(GRID_NAME)
    expect(row).to_contain_text(WORKER_NAME)
    expect(row).not_to_contain_text(WORKER)                 # the name, not the user id
    expect(row.locator("a.tel")).to_have_attribute("href", WORKER_TEL)
    screenshot(page, "board-thumbnails")

    phone = new_page("leader.c03", phone=True)               # someone else's work: the card says whose
    card = phone.locator(f"#area .card.tap[data-id='{busy_incident['id']}']")
    expect(card).to_contain_text(GRID_NAME)
    expect(card).to_contain_text(WORKER_NAME)
    expect(card.locator("a.tel")).to_have_attribute("href", WORKER_TEL)
    screenshot(phone, "phone-area-names")
    assert page.js_errors == [] and phone.js_errors == []
