"""The operator console and the grid worker's phone view in Debian's Chromium, against a real
gateway (PostgreSQL, Mosquitto) fed by alerts published over MQTT. Screenshots of every page
land in artifacts/screenshots/."""
from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from alerts import topics
from tests.browser.gateway_proc import (
    ADMIN_TOKEN,
    OPERATOR,
    PASSWORD,
    WORKER,
    camera_alert,
    publish,
    sensor_alert,
    vtest_snapshot,
)
from tests.browser.shots import screenshot

pytestmark = pytest.mark.browser

OTHER_WORKER = "worker.g0401"  # grid worker of G-04-01

# A pedestrian on the walkway in frame 250 of vtest.avi, and the ground points he walked.
PEDESTRIAN_BOX = [0.48, 0.40, 0.075, 0.175]
PEDESTRIAN_TRACK = [[0.36, 0.50], [0.40, 0.52], [0.44, 0.545], [0.48, 0.56], [0.515, 0.575]]


def send_alert(gateway, camera_id: str, **kw) -> dict:
    alert = camera_alert(camera_id, **kw)
    publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera_id, prefix=gateway.prefix), alert)
    return alert


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def test_alert_published_over_mqtt_appears_on_open_board_without_reload(gateway, new_page, vtest_path):
    # a board that already has work on it
    background = [unique(c) for c in ("cam-b3-stair", "cam-market", "cam-gate", "cam-riverside")]
    for camera, (type_, severity, grid) in zip(background, [("loitering", "minor", "G-03-06"),
                                                            ("tamper.covered", "major", "G-04-03"),
                                                            ("line_crossing", "minor", "G-04-01"),
                                                            ("intrusion", "major", "G-04-02")]):
        send_alert(gateway, camera, type_=type_, severity=severity, grid=grid)
    level = sensor_alert(unique("water-ch"), type_="sensor.threshold", severity="major", grid="G-04-01",
                         details={"level_cm": 84})
    publish(gateway.mqtt_url, topics.alert(level["edge_id"], level["source"]["id"], prefix=gateway.prefix), level)
    for camera in background:
        gateway.wait_incident(camera)

    page = new_page(OPERATOR)
    expect(page).to_have_url(re.compile(r"/console/$"))       # an operator lands on the board
    expect(page.locator("#live.on")).to_be_visible()           # the event stream is connected
    page.evaluate("window.__sameDocument = true")              # gone if the page reloads

    camera = unique("cam-lawn")
    snapshot = vtest_snapshot(vtest_path, PEDESTRIAN_BOX, PEDESTRIAN_TRACK)
    send_alert(gateway, camera, severity="critical", snapshot=snapshot, bbox=PEDESTRIAN_BOX, track=PEDESTRIAN_TRACK)

    row = page.locator("#board tbody tr", has_text=camera)
    expect(row).to_be_visible()
    expect(row).to_contain_text("critical")
    expect(row).to_contain_text("西关第7网格")             # the grid by name, not by id
    expect(row.locator(".countdown")).to_have_text(re.compile(r"\d+[smh]"))
    # the cue for a new critical incident, and still the same document
    expect(page.locator(".alarm-banner.show")).to_contain_text(camera)
    assert page.evaluate("window.__sameDocument") is True
    page.wait_for_timeout(400)  # let the highlight settle before the picture
    screenshot(page, "board")

    # the type filter narrows the list, live
    page.select_option("select[name=type]", "loitering")
    expect(row).to_have_count(0)
    page.select_option("select[name=type]", "")
    expect(row).to_be_visible()

    # keyboard: select the row, "d" asks whom to dispatch it to (nothing happens before), Enter opens it
    row.click()
    expect(row).to_have_class(re.compile(r"selected"))
    page.keyboard.press("d")
    expect(page.locator(".dialog")).to_contain_text("Dispatch incident")
    page.locator(".dialog button.primary").click()
    expect(page.locator(".toast")).to_contain_text("Dispatch: done")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/incidents/\d+$"))
    expect(page.locator("#timeline li[data-action=dispatched]").last).to_contain_text(OPERATOR)
    assert page.js_errors == []


def test_board_keeps_up_across_stream_renewals(gateway, new_page):
    """The server ends each stream after MAX_AGE_S; the browser resumes it by Last-Event-ID."""
    from gateway.console.routes import MAX_AGE_S

    page = new_page(OPERATOR)
    expect(page.locator("#live.on")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    page.wait_for_timeout((MAX_AGE_S + 2) * 1000)   # at least one renewal has happened
    camera = unique("cam-late")
    send_alert(gateway, camera, grid="G-04-03")
    expect(page.locator("#board tbody tr", has_text=camera)).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True


def test_dispatch_acknowledge_resolve_with_photo_verify_close_and_audit_trail(gateway, new_page, vtest_path, tmp_path):
    camera = unique("cam-walkway")
    snapshot = vtest_snapshot(vtest_path, PEDESTRIAN_BOX, PEDESTRIAN_TRACK)
    send_alert(gateway, camera, severity="major", snapshot=snapshot, bbox=PEDESTRIAN_BOX, track=PEDESTRIAN_TRACK)
    incident = gateway.wait_incident(camera)
    inc_id = incident["id"]

    # the operator opens the incident from the board and dispatches it to the grid worker, with a note
    op = new_page(OPERATOR)
    op.locator("#board tbody tr", has_text=camera).locator("a.inc-title").click()
    expect(op).to_have_url(re.compile(rf"/console/incidents/{inc_id}$"))
    expect(op.locator(".snap img")).to_have_count(1)
    expect(op.locator(".snap svg.overlay polyline")).to_have_count(1)   # the track drawn on the snapshot
    op.locator("#actions button[data-action=dispatch]").click()
    op.locator(".dialog textarea").fill("Person on the lawn after hours, please check")
    op.locator(".dialog button.primary").click()
    expect(op.locator("#timeline")).to_contain_text("Person on the lawn after hours")

    # the grid worker sees it on the phone, acknowledges, resolves with a note and a photo
    phone = new_page(WORKER, phone=True)
    expect(phone).to_have_url(re.compile(r"/m/"))
    card = phone.locator(f".card.tap[data-id='{inc_id}']")
    expect(card).to_be_visible()
    screenshot(phone, "phone-list")
    card.click()
    phone.locator("#ack").click()
    expect(phone.locator(".badge.st-acknowledged")).to_be_visible()
    expect(phone.locator("#ack")).to_have_count(0)
    expect(phone.locator("#resolve-form")).to_be_visible()
    photo = tmp_path / "lawn-checked.jpg"
    import base64
    photo.write_bytes(base64.b64decode(vtest_snapshot(vtest_path, None, None, frame_index=400).split(",", 1)[1]))
    phone.locator("#resolve-form textarea").fill("Checked the lawn: a student taking a shortcut, asked him to use the path.")
    phone.locator("#resolve-form input[type=file]").set_input_files(str(photo))
    expect(phone.locator(".photo-pick img")).to_be_visible()
    screenshot(phone, "phone-resolve")
    phone.locator("#resolve-form button[type=submit]").click()
    expect(phone.locator(f".card.tap[data-id='{inc_id}']")).to_have_count(0)   # off my to-do list
    phone.locator(".tabs button", has_text="History").click()
    # the state 'resolved', as the phone names it
    expect(phone.locator(f".card.tap[data-id='{inc_id}']")).to_contain_text("Handled")
    screenshot(phone, "phone-history")

    # the operator's open page follows live; verify, then close
    expect(op.locator(".badge.st-resolved")).to_be_visible()
    expect(op.locator(".photos img")).to_have_count(1)
    op.locator("#actions button[data-action=verify]").click()
    op.locator(".dialog textarea").fill("Confirmed on camera")
    op.locator(".dialog button.primary").click()
    expect(op.locator(".badge.st-verified")).to_be_visible()
    op.locator("#actions button[data-action=close]").click()
    op.locator(".dialog button.primary").click()
    expect(op.locator(".badge.st-closed")).to_be_visible()

    # the audit trail shows every step, with who did it
    steps = op.locator("#timeline li")
    actions = list(steps.evaluate_all("els => els.map(e => e.dataset.action)"))
    for step in ("opened", "dispatched", "acknowledged", "resolved", "verified", "closed"):
        assert step in actions, f"{step} missing from the timeline {actions}"
    assert actions.index("acknowledged") < actions.index("resolved") < actions.index("verified") < actions.index("closed")
    timeline = op.locator("#timeline").inner_text()
    assert WORKER in timeline and OPERATOR in timeline
    assert "a student taking a shortcut" in timeline
    # the photo really is the one uploaded
    photo_src = op.locator(".photos img").first.get_attribute("src")
    assert op.request.get(gateway.url + photo_src).body()[:2] == b"\xff\xd8"
    op.wait_for_timeout(300)
    screenshot(op, "incident")

    detail = gateway.api("GET", f"/api/incidents/{inc_id}").json()
    assert detail["status"] == "closed"
    assert op.js_errors == [] and phone.js_errors == []


def test_grid_worker_cannot_open_another_grids_incident(gateway, new_page):
    camera = unique("cam-riverside")
    send_alert(gateway, camera, grid="G-04-01")
    inc_id = gateway.wait_incident(camera)["id"]

    phone = new_page(WORKER, phone=True)
    phone.goto(f"/m/#/i/{inc_id}")
    expect(phone.locator(".empty")).to_contain_text("Not found")
    with phone.expect_response(lambda r: r.url.endswith(f"/api/incidents/{inc_id}")) as resp:
        phone.goto(f"/console/incidents/{inc_id}")
    assert resp.value.status == 404
    expect(phone.locator(".empty")).to_contain_text(f"Incident #{inc_id} not found")
    expect(phone.locator("body")).not_to_contain_text(camera)
    phone.goto("/m/")
    expect(phone.locator(".phone-body")).to_be_visible()
    expect(phone.locator(f".card.tap[data-id='{inc_id}']")).to_have_count(0)

    # nor see it on the board: a grid worker's console shows only their own grid
    mine = unique("cam-lawn")
    send_alert(gateway, mine, grid="G-03-07")
    gateway.wait_incident(mine)
    phone.goto("/console/")
    expect(phone.locator("#board tbody tr", has_text=mine)).to_be_visible()
    expect(phone.locator("#board tbody tr", has_text=camera)).to_have_count(0)

    # while that grid's own worker sees it
    owner = new_page(OTHER_WORKER, phone=True)
    expect(owner.locator(f".card.tap[data-id='{inc_id}']")).to_be_visible()


def test_map_draws_the_grids_and_highlights_the_incident_grid(gateway, new_page):
    camera = unique("cam-dongkou")
    send_alert(gateway, camera, grid="G-04-02", severity="major")
    inc_id = gateway.wait_incident(camera)["id"]

    page = new_page(OPERATOR)
    page.goto("/console/map")
    cells = page.locator("#map path.grid-shape.level-grid")
    expect(cells).to_have_count(5)
    for grid in ("G-03-06", "G-03-07", "G-04-01", "G-04-02", "G-04-03"):
        expect(page.locator(f"#map path[data-grid='{grid}']")).to_have_count(1)
    cell = page.locator("#map path[data-grid='G-04-02']")
    expect(cell).to_have_class(re.compile(r"has-open"))
    # drawn where it lies: G-04-02 is south of G-03-07 and east of G-04-01
    box = {g: page.locator(f"#map path[data-grid='{g}']").bounding_box() for g in ("G-04-01", "G-04-02", "G-03-07")}
    assert box["G-04-02"]["y"] > box["G-03-07"]["y"]
    assert box["G-04-02"]["x"] > box["G-04-01"]["x"]

    # off the centre: the cell's incident markers sit there and take their own clicks
    cell.click(position={"x": 12, "y": 12})
    expect(cell).to_have_class(re.compile(r"highlight"))
    expect(page.locator("#grid-panel")).to_contain_text(camera)
    page.wait_for_timeout(300)
    screenshot(page, "map")

    page.locator(f"#grid-panel a[href='/console/incidents/{inc_id}']").click()
    expect(page).to_have_url(re.compile(rf"/console/incidents/{inc_id}$"))
    expect(page.locator("#minimap path[data-grid='G-04-02']")).to_have_class(re.compile(r"highlight"))
    # names, not ids: the grid and its worker by name, the worker's phone one tap away
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("东口第2网格")
    expect(facts).to_contain_text("网格员 张伟")
    expect(facts.locator("a.tel")).to_have_attribute("href", "tel:+8613931000402")
    assert page.js_errors == []


def test_devices_and_figures_pages(gateway, new_page, vtest_path):
    edge = unique("edge-test")
    camera = unique("cam-gate")
    sensor = unique("smoke-b3")
    watched = unique("cam-walkway")
    send_alert(gateway, watched, snapshot=vtest_snapshot(vtest_path, PEDESTRIAN_BOX, PEDESTRIAN_TRACK))
    low = sensor_alert(sensor, details={"battery": 12})
    publish(gateway.mqtt_url, topics.alert(low["edge_id"], sensor, prefix=gateway.prefix), low)
    gateway.wait_incident(watched)
    gateway.wait_incident(sensor)
    publish(gateway.mqtt_url, topics.edge_status(edge, prefix=gateway.prefix),
            {"state": "online", "ts": "2026-11-21T08:00:00.000Z"}, retain=True)
    publish(gateway.mqtt_url, topics.camera_status(edge, camera, prefix=gateway.prefix),
            {"state": "streaming", "fps": 9.8, "ts": "2026-11-21T08:00:00.000Z"}, retain=True)

    page = new_page(OPERATOR)
    page.goto("/console/devices")
    expect(page.locator(f"#edges tr[data-id='{edge}']")).to_contain_text("online")
    expect(page.locator(f"#cameras tr[data-id='{camera}']")).to_contain_text("streaming")
    expect(page.locator(f"#cameras tr[data-id='{camera}']")).to_contain_text("9.8")
    thumb = page.locator(f"#cameras tr[data-id='{watched}'] img.thumb")
    expect(thumb).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    expect(page.locator(f"#sensors tr[data-id='{sensor}']")).to_contain_text("12%")
    screenshot(page, "devices")

    page.goto("/console/figures")
    expect(page.locator("#per-day svg rect").first).to_be_visible()
    expect(page.locator("#on-time")).to_be_visible()
    screenshot(page, "figures")
    assert page.js_errors == []


def test_root_sends_each_role_to_its_view_and_unknown_users_to_login(gateway, new_page, chromium):
    op = new_page(OPERATOR)
    op.goto("/")
    expect(op).to_have_url(re.compile(r"/console/$"))
    worker = new_page(WORKER, phone=True)
    worker.goto("/")
    expect(worker).to_have_url(re.compile(r"/m/$"))
    # signing out revokes the session: the pages send the user back to the login
    op.click("text=Sign out")
    expect(op).to_have_url(re.compile(r"/login$"))
    assert op.request.get(gateway.url + "/api/me").status == 401
    op.goto("/console/")
    expect(op).to_have_url(re.compile(r"/login\?next="))

    ctx = chromium.new_context(base_url=gateway.url)
    try:
        anon = ctx.new_page()
        anon.goto("/console/map")
        expect(anon).to_have_url(re.compile(r"/login\?next="))
        anon.fill("input[name=username]", OPERATOR)
        anon.fill("input[name=password]", "wrong password")
        anon.click("button[type=submit]")
        expect(anon.locator("#error")).to_contain_text("Wrong username or password")
        screenshot(anon, "login")
    finally:
        ctx.close()


def test_pages_fetch_nothing_from_the_internet(gateway, new_page):
    page = new_page(OPERATOR)
    outside = []
    page.on("request", lambda r: None if r.url.startswith(gateway.url) else outside.append(r.url))
    for path in ("/console/", "/console/map", "/console/devices", "/console/figures", "/m/", "/login"):
        page.goto(path)
        expect(page.locator("main, .login-card").first).not_to_be_empty()
        page.wait_for_timeout(300)
    assert outside == [], f"the console reached outside the gateway: {outside}"
    assert page.js_errors == []
    # static files come from the console's folder and nowhere else
    assert httpx.get(gateway.url + "/console/static/console.css", timeout=15).status_code == 200
    for escape in ("..%2Froutes.py", "js/..%2F..%2Froutes.py", "..%2F..%2F..%2Fpyproject.toml"):
        assert httpx.get(gateway.url + "/console/static/" + escape, timeout=15).status_code == 404, escape


def read_events(resp, n: int) -> list[dict]:
    """The next `n` server-sent events of a streaming response, as {id, event, data}."""
    events, current = [], {}
    for line in resp.iter_lines():
        if not line:
            if "data" in current:
                events.append(current)
                if len(events) == n:
                    return events
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            current[key] = value.strip() if key != "data" else json.loads(value)
    raise AssertionError(f"the stream ended after {len(events)} of {n} events")


def test_event_stream_resumes_after_last_event_id_and_keeps_to_the_callers_grids(gateway):
    for grid in ("G-03-07", "G-04-03"):
        camera = unique("cam-stream")
        send_alert(gateway, camera, grid=grid)
        gateway.wait_incident(camera)
    timeout = httpx.Timeout(15.0)
    url = gateway.url + "/api/stream"
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Last-Event-ID": "0"},
                      timeout=timeout) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        first = read_events(resp, 3)
    ids = [int(e["id"]) for e in first]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert all(e["event"] == "incident" and e["data"]["incident"]["id"] for e in first)
    # a reconnect with Last-Event-ID continues right after it
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Last-Event-ID": str(ids[1])},
                      timeout=timeout) as resp:
        assert int(read_events(resp, 1)[0]["id"]) == ids[2]

    # a stream says where it starts; resuming from there catches what happened while away
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=timeout) as resp:
        position = next(line for line in resp.iter_lines() if line.startswith("id:")).split(":", 1)[1].strip()
    assert int(position) >= ids[2]
    away = unique("cam-away")
    send_alert(gateway, away, grid="G-03-06")
    gateway.wait_incident(away)
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Last-Event-ID": position},
                      timeout=timeout) as resp:
        assert read_events(resp, 1)[0]["data"]["incident"]["source_id"] == away

    # a grid worker's stream carries only their grid's incidents, and starts from now
    login = httpx.post(gateway.url + "/api/auth/login", json={"username": WORKER, "password": PASSWORD}, timeout=15)
    token = login.json()["token"]
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as resp:
        assert resp.status_code == 200
        other, mine = unique("cam-other"), unique("cam-mine")
        send_alert(gateway, other, grid="G-04-03")
        send_alert(gateway, mine, grid="G-03-07")
        got = read_events(resp, 1)[0]["data"]["incident"]
    assert got["source_id"] == mine and got["grid_id"] == "G-03-07"

    # no credentials: refused, as the API would
    assert httpx.get(url, timeout=15).status_code == 401
