"""The console in Simplified Chinese first: the login page, the board and the devices page in
zh-CN for a browser that asks for it, a visible switch to English that becomes the user's own
setting (it wins over the browser's language from then on), and Chinese text drawn with a font
of the system's (no web fonts), screenshots kept."""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from alerts import topics
from tests.browser.gateway_proc import OPERATOR, PASSWORD, WORKER, camera_alert, publish
from tests.browser.shots import screenshot

pytestmark = pytest.mark.browser


def cjk_fonts() -> list[str]:
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    return [line for line in out.splitlines() if line.strip()]


# Each character drawn alone with the page's font stack: real glyphs differ from each other and
# from what the font draws for a code point nobody has (the "tofu" box).
GLYPHS = """() => { const draw = (ch) => { const c = document.createElement('canvas'); c.width = c.height = 48;
  const x = c.getContext('2d'); x.font = '40px ' + getComputedStyle(document.body).fontFamily;
  x.fillText(ch, 4, 40); return x.getImageData(0, 0, 48, 48).data.join(','); };
  const box = draw('\\uE000'), a = draw('事'), b = draw('件');
  return a !== b && a !== box && b !== box && /[1-9]/.test(a); }"""


def real_glyphs(page) -> bool:
    return page.evaluate(GLYPHS)


def test_without_noto_chinese_falls_back_to_the_systems_fonts_never_boxes(tmp_path, gateway, chromium):
    from tests.browser.conftest import CHROMIUM_ARGS
    dirs = [d for d in ("/usr/share/fonts/truetype/droid", "/usr/share/fonts/truetype/dejavu") if Path(d).is_dir()]
    conf = tmp_path / "fonts.conf"  # the system's fonts without Noto CJK
    conf.write_text("<?xml version='1.0'?><!DOCTYPE fontconfig SYSTEM 'fonts.dtd'><fontconfig>"
                    + "".join(f"<dir>{d}</dir>" for d in dirs) + f"<cachedir>{tmp_path}/fc-cache</cachedir></fontconfig>")
    # a second Chromium of the session's Playwright, with its own fontconfig
    browser = chromium.browser_type.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS,
                                           env={**os.environ, "FONTCONFIG_FILE": str(conf)})
    try:
        page = browser.new_context(base_url=gateway.url, locale="zh-CN").new_page()
        page.goto("/login")
        expect(page.locator("button[type=submit]")).to_have_text("登录")
        families = page.evaluate("() => document.fonts.check('16px \"Noto Sans CJK SC\"')")
        assert real_glyphs(page), f"boxes instead of Chinese (Noto available: {families})"
        screenshot(page, "zh-login-without-noto")
    finally:
        browser.close()


def test_a_chinese_browser_gets_the_console_in_chinese_and_a_switch_makes_english_the_users_choice(
        chromium, gateway, new_page):
    assert any("Noto Sans CJK SC" in f for f in cjk_fonts()), "Debian's fonts-noto-cjk (make system-deps)"
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
        assert real_glyphs(board)
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


def test_the_incident_page_and_the_phone_view_in_chinese(chromium, gateway):
    camera = f"cam-zh-{uuid.uuid4().hex[:6]}"
    alert = camera_alert(camera)
    publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera, prefix=gateway.prefix), alert)
    inc = gateway.wait_incident(camera)
    for user, phone in ((OPERATOR, False), (WORKER, True)):
        size = {"width": 390, "height": 844} if phone else {"width": 1440, "height": 900}
        ctx = chromium.new_context(viewport=size, is_mobile=phone, has_touch=phone, base_url=gateway.url, locale="zh-CN")
        try:
            page = ctx.new_page()
            errors = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto("/login")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/login" not in url)
            if phone:
                expect(page.locator("nav.tabs")).to_contain_text("待办")
                screenshot(page, "zh-phone-tasks")
                page.goto(f"/m/#/i/{inc['id']}")
                expect(page.locator("#ack")).to_have_text("签收 — 我来处理")
                expect(page.locator(".phone-body")).to_contain_text("流转记录")
                assert real_glyphs(page)
                screenshot(page, "zh-phone-incident")
            else:
                page.goto(f"/console/incidents/{inc['id']}")
                expect(page.locator("h1")).to_contain_text("区域入侵")
                expect(page.locator("#actions")).to_contain_text("派遣")
                expect(page.locator("#timeline")).to_contain_text("立案")
                screenshot(page, "zh-incident")
            assert errors == []
        finally:
            ctx.close()
