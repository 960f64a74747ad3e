"""Browser-test fixtures: one real gateway per module (its own PostgreSQL database, port and
MQTT prefix on the session's Mosquitto) and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import uuid

import pytest

from tests.browser.gateway_proc import PASSWORD, Gateway
from tests.support.services import create_database, drop_database

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def gateway(broker):
    db_url = create_database()
    gw = Gateway(db_url, broker.url, prefix=f"gwc{uuid.uuid4().hex[:8]}")
    try:
        yield gw.start()
    finally:
        gw.stop()
        drop_database(db_url)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium, gateway):
    """new_page(username, phone=False, locale="en-US"): a fresh browser context signed in as
    `username`, its Accept-Language from `locale` (the console follows it unless the user chose)."""
    contexts = []

    def make(username: str, phone: bool = False, locale: str = "en-US"):
        if phone:
            ctx = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                       is_mobile=True, has_touch=True, base_url=gateway.url, locale=locale)
        else:
            ctx = chromium.new_context(viewport={"width": 1440, "height": 900}, base_url=gateway.url, locale=locale)
        ctx.set_default_timeout(TIMEOUT_MS)
        contexts.append(ctx)
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.js_errors = errors
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield make
    for ctx in contexts:
        ctx.close()
