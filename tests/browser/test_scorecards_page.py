"""The figures page's scorecards in the real browser: rows per grid worker from the gateway's
incidents, the kind switch, sorting by a column head, the CSV and printable links."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from alerts import topics
from tests.browser.gateway_proc import OPERATOR, camera_alert, publish
from tests.browser.shots import screenshot

pytestmark = pytest.mark.browser


def test_scorecards_list_sort_and_switch_kind(gateway, new_page):
    for grid in ("G-03-07", "G-03-07", "G-04-01"):
        camera = f"cam-score-{uuid.uuid4().hex[:6]}"
        alert = camera_alert(camera, grid=grid)
        publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera, prefix=gateway.prefix), alert)
        gateway.wait_incident(camera)
    page = new_page(OPERATOR)
    page.goto("/console/figures")
    table = page.locator("#scorecards-table")
    expect(table.locator("tbody tr[data-id='worker.g0307']")).to_be_visible()
    received = table.locator("thead th", has_text="Received")
    received.click()  # most received first
    expect(table.locator("tbody tr").first).to_have_attribute("data-id", "worker.g0307")
    expect(table.locator("tbody tr[data-id='worker.g0307'] td").nth(2)).to_have_text("2")
    received.click()  # and the other way round
    expect(table.locator("tbody tr").first).not_to_have_attribute("data-id", "worker.g0307")
    page.locator("#scorecards select").select_option("grid")
    expect(table.locator("tbody tr[data-id='G-04-01']")).to_be_visible()
    assert "format=csv" in page.locator("#scorecards a", has_text="CSV").get_attribute("href")
    screenshot(page, "figures-scorecards")
    assert page.js_errors == []
