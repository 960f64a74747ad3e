"""A grid worker reports a problem found on patrol from the phone: category, words, a photo
from the camera input, the phone's position; it opens as an incident of their grid, with the
photo, and the phone shows it."""
from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS
from tests.browser.gateway_proc import ADMIN_TOKEN, PASSWORD, WORKER, jpeg
from tests.browser.shots import screenshot
from tests.support.gateway import LAWN

pytestmark = pytest.mark.browser


def test_a_patrol_report_from_the_phone_opens_an_incident_with_its_photo(chromium, gateway, tmp_path):
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                               has_touch=True, base_url=gateway.url, locale="zh-CN", permissions=["geolocation"],
                               geolocation={"latitude": LAWN["lat"], "longitude": LAWN["lon"]})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/login")
        page.fill("input[name=username]", WORKER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url, wait_until="commit")
        page.goto("/m/#/report")
        form = page.locator("#report-form")
        expect(form.locator("h2")).to_have_text("上报问题")
        expect(page.locator("#where")).to_contain_text("当前位置")
        form.locator("select[name=category]").select_option("manhole")
        form.locator("textarea[name=description]").fill("3 号楼东侧井盖缺失")
        shot = tmp_path / "manhole.jpg"
        shot.write_bytes(jpeg())
        form.locator("input[name=photo]").set_input_files(str(shot))
        screenshot(page, "phone-patrol-report")
        form.locator("button[type=submit]").click()
        page.wait_for_url(lambda url: "#/i/" in url, wait_until="commit")
        inc_id = page.url.rsplit("/", 1)[1]
        assert errors == []
    finally:
        ctx.close()
    inc = httpx.get(f"{gateway.url}/api/incidents/{inc_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert (inc["type"], inc["grid_id"], inc["assignee"], inc["title"]) == (
        "report.manhole", "G-03-07", WORKER, "3 号楼东侧井盖缺失")
    media = httpx.get(f"{gateway.url}/api/incidents/{inc_id}/media", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert [m["kind"] for m in media.json()["items"]].count("photo") == 1


def test_a_tap_on_the_grid_map_places_the_report_when_the_phone_gives_no_position(chromium, gateway):
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                               has_touch=True, base_url=gateway.url, locale="zh-CN")  # no geolocation granted
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/login")
        page.fill("input[name=username]", WORKER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url, wait_until="commit")
        page.goto("/m/#/report")
        form = page.locator("#report-form")
        form.locator("select[name=category]").select_option("streetlight")
        form.locator("textarea[name=description]").fill("路灯不亮")
        page.click("#pick-on-map")
        grid = page.locator('#pick-map path[data-grid="G-03-07"]')
        box = grid.bounding_box()
        assert box and box["width"] > 20, "the worker's grid is drawn on the map"
        x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6  # somewhere in the grid, not its centre
        page.mouse.click(x, y)
        expect(page.locator("#where")).to_contain_text("地图标注")
        expect(page.locator("#pick-map .pick-marker")).to_have_count(1)
        screenshot(page, "phone-patrol-report-map")
        form.locator("button[type=submit]").click()
        page.wait_for_url(lambda url: "#/i/" in url, wait_until="commit")
        inc_id = page.url.rsplit("/", 1)[1]
        assert errors == []
    finally:
        ctx.close()
    inc = httpx.get(f"{gateway.url}/api/incidents/{inc_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert (inc["type"], inc["grid_id"]) == ("report.streetlight", "G-03-07")
    geo = httpx.get(f"{gateway.url}/api/grids.geojson", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    from shapely.geometry import Point, shape
    cell = shape(next(f for f in geo["features"] if f["properties"]["id"] == "G-03-07")["geometry"])
    at = Point(inc["location"]["lon"], inc["location"]["lat"])
    assert cell.contains(at) and not at.equals(cell.centroid)  # where it was tapped, not the grid's centre
