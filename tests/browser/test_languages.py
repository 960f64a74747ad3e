"""The console in Simplified Chinese first: the login page, the board and the devices page in
zh-CN for a browser that asks for it, a visible switch to English that becomes the user's own
setting (it wins over the browser's language from then on), and Chinese text drawn with a font
of the system's (no web fonts), screenshots kept."""
from __future__ import annotations

import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser.gateway_proc import OPERATOR, PASSWORD
from tests.browser.shots import screenshot

pytestmark = pytest.mark.browser


def cjk_fonts() -> list[str]:
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_a_chinese_browser_gets_the_console_in_chinese_and_a_switch_makes_english_the_users_choice(
        chromium, gateway, new_page):
    assert cjk_fonts(), "a system font with Chinese glyphs (Debian: fonts-noto-cjk or fonts-droid-fallback)"
    ctx = chromium.new_context(viewport={"width": 1440, "height": 900}, base_url=gateway.url, locale="zh-CN")
    try:
        login = ctx.new_page()
        login.goto("/login")
        expect(login.locator("button[type=submit]")).to_have_text("登录")
        expect(login.locator("html")).to_have_attribute("lang", "zh-CN")
        assert "用户名" in login.locator("form").inner_text()
        screenshot(login, "zh-login")
        login.fill("input[name=username]", OPERATOR)
        login.fill("input[name=password]", PASSWORD)
        login.click("button[type=submit]")
        login.wait_for_url("**/console/")
        board = login
        expect(board.locator("h1")).to_have_text("事件看板")
        expect(board.locator("nav.nav")).to_contain_text("统计")
        expect(board.locator(".kpis")).to_contain_text("待签收")
        expect(board.locator("#board thead")).to_contain_text("责任人")
        assert board.title().startswith("事件看板")
        # drawn in a real font: a CJK glyph is as wide as the em, not a narrow fallback box
        width = board.evaluate("""() => { const c = document.createElement('canvas').getContext('2d');
            c.font = '40px ' + getComputedStyle(document.body).fontFamily; return c.measureText('事件').width; }""")
        assert 70 <= width <= 90, width
        screenshot(board, "zh-board")
        board.goto("/console/devices")
        expect(board.locator("h1")).to_have_text("摄像机与边缘设备")
        screenshot(board, "zh-devices")

        board.select_option("select.lang-switch", "en")  # the visible switch: stored as the user's setting
        board.wait_for_load_state()
        expect(board.locator("h1")).to_have_text("Cameras and edges")
        expect(board.locator("html")).to_have_attribute("lang", "en")
    finally:
        ctx.close()
    again = new_page(OPERATOR, locale="zh-CN")  # another browser asking for Chinese: the user chose English
    again.goto("/console/")
    expect(again.locator("h1")).to_have_text("Incident board")
    again.select_option("select.lang-switch", "zh-CN")
    again.wait_for_load_state()
    expect(again.locator("h1")).to_have_text("事件看板")
    assert again.js_errors == []
