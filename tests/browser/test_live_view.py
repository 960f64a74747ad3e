"""The devices page's live view in Debian's Chromium against a real gateway process, a real edge
process (a looping file camera with a privacy mask) and the session's Mosquitto: the camera's
thumbnail becomes its live frame and keeps changing while the page is open."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.gateway_proc import OPERATOR
from tests.test_live_view import CAMERA, start_edge, stop_edge

pytestmark = pytest.mark.browser


def test_the_devices_page_shows_the_cameras_live_frame_and_refreshes_it(gateway, new_page, tmp_path, vtest_path):
    edge = start_edge(tmp_path, gateway.mqtt_url, gateway.prefix, vtest_path)
    try:
        page = new_page(OPERATOR)
        page.goto("/console/devices")
        live = page.locator(f'gw-live[data-camera="{CAMERA}"]')
        expect(live).to_have_attribute("data-state", "live", timeout=45_000)   # the edge starts, status, want, frame
        img = live.locator("img")
        # the src may just have moved on to a newer frame: wait for one to finish loading
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
        assert img.evaluate("i => i.naturalWidth") == 640
        first = img.get_attribute("src")
        expect(img).not_to_have_attribute("src", first, timeout=6_000)      # refreshed every ~1.5 s
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
        assert live.locator(".live-state").inner_text() == "live"

        # the incident page's panel (livePanel, one line there): the same frames at the panel's width
        page.evaluate("""async (camera) => { const m = await import("/console/static/js/live.js");
                                             document.querySelector("#app").prepend(m.livePanel(camera)); }""", CAMERA)
        panel = page.locator(".live-panel gw-live")
        expect(panel).to_have_attribute("data-state", "live", timeout=6_000)
        page.wait_for_function("i => i.complete && i.naturalWidth === 640", arg=panel.locator("img").element_handle())
        assert page.locator(".live-panel h2").inner_text() == "Live view"
        assert not page.js_errors, page.js_errors
    finally:
        stop_edge(edge)
