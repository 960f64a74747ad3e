"""The incident page and the board as an operator and a grid worker use them, in Debian's
Chromium against a real gateway: media with photos, the dismiss reasons, keyboard dialogs and
which actions each role sees highlighted."""
from __future__ import annotations

import hashlib
import re
import time
import uuid

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from alerts import topics
from tests.browser.gateway_proc import OPERATOR, PASSWORD, WORKER, camera_alert, jpeg, publish
from tests.browser.shots import screenshot

pytestmark = pytest.mark.browser



JPEG = jpeg()


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def new_incident(gateway, grid: str = "G-03-07") -> int:
    camera = unique("cam-page")
    alert = camera_alert(camera, grid=grid)
    publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera, prefix=gateway.prefix), alert)
    return gateway.wait_incident(camera)["id"]


def token(gateway, username: str) -> str:
    r = httpx.post(gateway.url + "/api/auth/login", json={"username": username, "password": PASSWORD}, timeout=15)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_figures_leave_open_incidents_not_yet_due_out_of_on_time_closure(gateway, new_page):
    """First in this module: its gateway holds nothing but this open incident, due hours from now."""
    new_incident(gateway)
    page = new_page(OPERATOR)
    page.goto("/console/figures")
    kpi = page.locator(".kpi", has_text="Closed on time")
    expect(kpi).to_contain_text("0 of 0 due")
    expect(kpi).to_contain_text("—")
    expect(page.locator("#on-time")).to_contain_text("no cases")
    screenshot(page, "figures-not-yet-due")


def test_incident_with_a_photo_of_the_old_layout_shows_its_clips_and_photos(gateway, new_page):
    inc = new_incident(gateway)
    r = httpx.post(f"{gateway.url}/api/incidents/{inc}/resolve", data={"note": "done"},
                   files={"photo": ("fix.jpg", JPEG, "image/jpeg")},
                   headers={"Authorization": f"Bearer {token(gateway, WORKER)}"}, timeout=15)
    assert r.status_code == 200, r.text
    # the photo as a gateway before the one media store kept it: named by its SHA-256
    sha = hashlib.sha256(JPEG).hexdigest()
    legacy = gateway.dir / "media" / "photos" / sha[:2] / f"{sha}.jpg"
    legacy.parent.mkdir(parents=True)
    engine = create_engine(gateway.env["GRIDWATCH_DB_URL"])
    with engine.begin() as c:
        mid, path = c.execute(text("SELECT id, path FROM media WHERE incident_id = :i AND kind = 'photo'"),
                              {"i": inc}).one()
        (gateway.dir / "media" / path).rename(legacy)
        c.execute(text("UPDATE media SET path = :p WHERE id = :id"), {"p": str(legacy), "id": mid})
    engine.dispose()

    page = new_page(OPERATOR)
    page.goto(f"/console/incidents/{inc}")
    expect(page.locator("#clips")).to_contain_text("No clips for this incident")
    expect(page.locator("#clips")).not_to_contain_text("unavailable")
    photo = page.locator(".photos img")
    expect(photo).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=photo.element_handle())
    screenshot(page, "incident-photo")
    assert page.js_errors == []


def test_d_and_x_on_the_board_open_their_dialogs_and_dismiss_takes_a_kind(gateway, new_page):
    inc = new_incident(gateway, grid="G-04-03")
    timeline_before = len(gateway.api("GET", f"/api/incidents/{inc}").json()["timeline"])
    page = new_page(OPERATOR)
    row = page.locator(f"#board tbody tr[data-id='{inc}']")
    row.click()
    expect(row).to_have_class(re.compile(r"selected"))

    page.keyboard.press("d")          # a dialog, not a dispatch at once
    dialog = page.locator(".dialog")
    expect(dialog).to_contain_text(f"Dispatch incident #{inc}")
    expect(dialog.locator("select[name=assignee]")).to_contain_text("worker.g0403")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert len(gateway.api("GET", f"/api/incidents/{inc}").json()["timeline"]) == timeline_before

    page.keyboard.press("x")
    expect(dialog).to_contain_text(f"Dismiss incident #{inc}")
    kinds = dialog.locator("select[name=kind] option")
    assert kinds.evaluate_all("os => os.map(o => o.value)") == ["", "false_alarm", "duplicate", "test", "other"]
    dialog.locator("button.primary").click()             # no kind chosen: the dialog says so
    expect(dialog.locator(".form-error")).to_contain_text("please choose")
    dialog.locator("select[name=kind]").select_option("duplicate")
    dialog.locator("textarea").fill("same as the phone report")
    screenshot(page, "board-dismiss-dialog")
    dialog.locator("button.primary").click()
    expect(page.locator(".toast")).to_contain_text("Dismiss: done")
    detail = gateway.api("GET", f"/api/incidents/{inc}").json()
    assert (detail["status"], detail["dismiss_kind"], detail["false_alarm"]) == ("dismissed", "duplicate", False)
    assert detail["dismiss_reason"] == "same as the phone report"
    assert page.js_errors == []


def test_incident_page_highlights_the_actions_of_the_users_role(gateway, new_page):
    inc = new_incident(gateway)
    op = new_page(OPERATOR)
    op.goto(f"/console/incidents/{inc}")
    expect(op.locator("#actions button[data-action=dispatch]")).to_have_class(re.compile(r"primary"))
    for action in ("acknowledge", "resolve"):
        button = op.locator(f"#actions button[data-action={action}]")
        if button.count():
            expect(button).not_to_have_class(re.compile(r"primary"))
    screenshot(op, "incident-operator-actions")

    worker = new_page(WORKER)
    worker.goto(f"/console/incidents/{inc}")
    for action in ("acknowledge", "resolve"):
        expect(worker.locator(f"#actions button[data-action={action}]")).to_have_class(re.compile(r"primary"))
    assert op.js_errors == [] and worker.js_errors == []


def test_devices_page_shows_uploaded_snapshots_and_an_edge_seen_while_it_streams(gateway, new_page, vtest_path,
                                                                                  tmp_path):
    from tests.browser.test_clips import record_clip, upload

    edge, camera = unique("edge-live"), unique("cam-uploaded")
    publish(gateway.mqtt_url, topics.edge_status(edge, prefix=gateway.prefix),
            {"state": "online", "ts": "2026-11-21T08:00:00.000Z"}, retain=True)
    engine = create_engine(gateway.env["GRIDWATCH_DB_URL"])
    try:
        for _ in range(100):   # the edge connected ten minutes ago, and said nothing about itself since
            with engine.begin() as c:
                if c.execute(text("UPDATE edges SET last_seen = now() - interval '10 minutes' WHERE id = :e"),
                             {"e": edge}).rowcount:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"edge {edge} never stored")
    finally:
        engine.dispose()
    page = new_page(OPERATOR)
    page.goto("/console/devices")
    expect(page.locator(f"#edges tr[data-id='{edge}']")).to_contain_text(re.compile(r"10m \d+s ago"))

    # it streams: an alert whose clip and snapshot the edge uploads (the default), no inline picture
    alert, finished = record_clip(vtest_path, tmp_path / "edge-media", camera)
    alert["edge_id"] = edge
    assert not str(alert["snapshot"]).startswith("data:")
    publish(gateway.mqtt_url, topics.alert(edge, camera, prefix=gateway.prefix), alert)
    gateway.wait_incident(camera)
    upload(gateway, finished, tmp_path / "uploads.db")

    page.reload()
    expect(page.locator(f"#edges tr[data-id='{edge}'] td").last).to_have_text(re.compile(r"^(just now|\d{1,2}s ago)$"))
    thumb = page.locator(f"#cameras tr[data-id='{camera}'] img.thumb")
    expect(thumb).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    screenshot(page, "devices-uploaded-snapshot")
    assert page.js_errors == []


def test_a_community_leader_sees_the_active_incidents_of_the_community_first(gateway, new_page):
    inc = new_incident(gateway, grid="G-03-06")    # dispatched to that grid's worker, in community C-03
    leader = new_page("leader.c03", phone=True)
    expect(leader).to_have_url(re.compile(r"/m/"))
    area = leader.locator("#area")
    expect(area).to_contain_text("Active in your area")
    card = area.locator(f".card.tap[data-id='{inc}']")
    expect(card).to_contain_text("网格员 李娜")              # the person by name, not by user id
    expect(leader.locator(".phone-body")).not_to_contain_text("Nothing to do")
    # nothing of their own is said first, above the area's list, not after a screenful of it
    expect(leader.locator("#none-mine + #area")).to_have_count(1)
    screenshot(leader, "phone-leader")
    card.click()
    expect(leader.locator(".phone-body")).to_contain_text("西关第6网格")
    # a grid worker with work of their own still sees it first, and nothing of other grids
    worker = new_page("worker.g0306", phone=True)
    expect(worker.locator(f".phone-body > .card.tap[data-id='{inc}']")).to_be_visible()
    expect(worker.locator("#area")).to_have_count(0)
    assert leader.js_errors == [] and worker.js_errors == []
