"""Issue 19: an incident that absorbed dozens of alerts and clips, as the grid worker's phone and
the operator's board show it, in Debian's Chromium against a real gateway: the summary and the
Acknowledge button stay on screen, repeats fold into one row, one newest snapshot, the newest
three clips (the rest behind "show N more"), the board's thumbnail, and people and grids by name
with a tel: link."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import time
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from alerts import new_alert_id, topics
from tests.browser.gateway_proc import ADMIN_TOKEN, OPERATOR, WORKER, camera_alert, jpeg, publish
from tests.browser.shots import SCREENSHOTS, screenshot

pytestmark = pytest.mark.browser

N_ALERTS = 32
N_CLIPS = 22                          # the first N_CLIPS alerts each come with a clip of their own
SNAPSHOT = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
GRID_NAME = "西关第7网格"             # G-03-07 in gateway/examples/grids.geojson
WORKER_NAME, WORKER_TEL = "网格员 王芳", "tel:+8613931000307"


def h264_clip(path) -> bytes:
    """A one-second H.264 MP4 as the edge's clips are (ffmpeg's test pattern), for the browser to load."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=10",
                    "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-movflags", "+faststart", str(path)],
                   check=True, timeout=60)
    return path.read_bytes()


def upload_clip(gateway, media_id: str, data: bytes, meta: dict) -> None:
    """Through the media API, as an edge's MediaUploader sends a finished clip (whole, one request)."""
    r = httpx.put(f"{gateway.url}/api/media/{media_id}", content=data, timeout=15,
                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Media-Sha256": hashlib.sha256(data).hexdigest(),
                           "X-Media-Meta": json.dumps(meta), "Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.json()["complete"], r.text


@pytest.fixture(scope="module")
def busy_incident(gateway, tmp_path_factory):
    """One open incident in G-03-07 with N_ALERTS attached alerts, each with a snapshot, the
    first N_CLIPS each with a clip referenced in the alert and uploaded afterwards."""
    camera = f"cam-busy-{uuid.uuid4().hex[:6]}"
    clip = h264_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")
    uploads = []
    for i in range(N_ALERTS):
        alert = camera_alert(camera, snapshot=SNAPSHOT, bbox=[0.4, 0.3, 0.1, 0.3])
        if i < N_CLIPS:
            media_id = new_alert_id()
            ref = {"id": media_id, "url": f"/api/media/{media_id}", "kind": "clip", "content_type": "video/mp4",
                   "status": "pending", "camera_id": camera}
            alert["details"]["media"] = {"clip": ref}
            uploads.append((media_id, {**{k: v for k, v in ref.items() if k not in ("url", "status")},
                                       "alert_ids": [alert["id"]], "start": alert["ts"], "edge_id": alert["edge_id"]}))
        publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera, prefix=gateway.prefix), alert)
        time.sleep(0.02)   # distinct timestamps: "newest" is well defined
    inc = gateway.wait_incident(camera)
    for media_id, meta in uploads:
        upload_clip(gateway, media_id, clip, meta)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        inc = gateway.api("GET", f"/api/incidents/{inc['id']}").json()
        media = gateway.api("GET", f"/api/incidents/{inc['id']}/media").json()["items"]
        ready = [m for m in media if m["kind"] == "clip" and m["status"] == "ready"]
        if inc["alert_count"] >= N_ALERTS and all(a.get("snapshot_url") for a in inc["alerts"]) and len(ready) == N_CLIPS:
            return {"id": inc["id"], "camera": camera}
        time.sleep(0.3)
    raise AssertionError(f"only {inc['alert_count']} alerts attached, {len(ready)} clips ready")


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
        # the newest three clips; the other N_CLIPS - 3 wait behind one control
        clips = page.locator("#clips figure.clip")
        expect(clips).to_have_count(N_CLIPS)
        expect(page.locator("#clips figure.clip:visible")).to_have_count(3)
        more = page.locator("#clips button.show-more")
        expect(more).to_be_visible()
        expect(more).to_have_text(f"Show {N_CLIPS - 3} more clips")
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
        more.click()
        expect(page.locator("#clips figure.clip:visible")).to_have_count(N_CLIPS)
        assert in_viewport(page, button), f"{path}: Acknowledge lost under {N_CLIPS} clips"
        more.click()
        expect(page.locator("#clips figure.clip:visible")).to_have_count(3)
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
