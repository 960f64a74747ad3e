"""Event clips in the browser: a real clip recorded from vtest.avi by the edge's ClipRecorder,
referenced by an alert published over MQTT, uploaded by the edge's MediaUploader to a real
gateway, then played in Debian's Chromium on the incident page and the phone view, and the
evidence package downloaded. Also: the figures page does not follow live updates."""
from __future__ import annotations

import hashlib
import json
import re
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import cv2
import pytest
from playwright.sync_api import expect

from alerts import parse_alert, topics
from camera_profiles.schema import CameraProfile
from common.backoff import Backoff
from edge.camera.clips import ClipRecorder
from edge.camera.frames import Frame
from edge.delivery.media_upload import MediaUploader
from tests.browser.gateway_proc import ADMIN_TOKEN, OPERATOR, WORKER, camera_alert, publish
from tests.browser.shots import screenshot

pytestmark = pytest.mark.browser

FPS, PRE_S, POST_S, ALERT_FRAME = 10, 1.0, 2.0, 20
PEDESTRIAN_BOX = [0.48, 0.40, 0.075, 0.175]
MASK = [[0.80, 0.0], [1.0, 0.0], [1.0, 0.25], [0.80, 0.25]]   # a window of the building, say

VIDEO_LOADED = "v => v.readyState >= 1 && v.duration > 0 && v.videoWidth > 0"


def record_clip(vtest_path, out_dir, camera: str):
    """Run the edge's clip recorder over vtest.avi with an intrusion alert on frame 20: the
    alert as the edge publishes it (media references, snapshot URL) and the finished files."""
    profile = CameraProfile.model_validate({"id": camera, "grid": "G-03-07", "source": str(vtest_path),
                                            "detect": {"fps": FPS}, "privacy_masks": [MASK]})
    rec = ClipRecorder(profile, out_dir, pre_s=PRE_S, post_s=POST_S, fps=FPS)
    t0 = datetime.now(UTC) - timedelta(seconds=10)
    cap = cv2.VideoCapture(str(vtest_path))
    payload = None
    try:
        for i in range(ALERT_FRAME + int(POST_S * FPS) + 5):
            ok, image = cap.read()
            assert ok, f"vtest.avi ended at frame {i}"
            frame = Frame(i, image, t0 + timedelta(seconds=i / FPS), i / FPS)
            rec.push(frame)
            if i == ALERT_FRAME:
                payload = camera_alert(camera, severity="major", bbox=PEDESTRIAN_BOX)
                payload.update(ts=frame.ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"), frame=i)
                ref = rec.on_alert(parse_alert(json.dumps(payload)))
                payload["details"]["media"] = ref
                payload["snapshot"] = ref["snapshot"]["url"]   # as edge/worker.py does with clips on
    finally:
        cap.release()
    finished = rec.close()
    assert {f.kind for f in finished} == {"clip", "snapshot"}, finished
    return payload, finished


def upload(gateway, finished, queue_path) -> None:
    uploader = MediaUploader(gateway.url, ADMIN_TOKEN, queue_path, chunk_size=64 * 1024, backoff=Backoff(0.2, 1.0),
                             keep_files=True)
    try:
        for f in finished:
            uploader.enqueue(f.path, f.media_ref)
        uploader.run_once()
        assert uploader.stats.uploaded == len(finished), uploader.stats
    finally:
        uploader.stop()


def seek(video, t: float) -> None:
    video.evaluate("(v, t) => new Promise(r => { v.addEventListener('seeked', r, { once: true }); v.currentTime = t; })", t)


def frame_spread(page, video) -> float:
    """Standard deviation of the grey levels of the frame the <video> shows: a decoded
    picture of the walkway varies, a black or missing one does not."""
    return page.evaluate("""v => {
        const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
        const g = c.getContext('2d'); g.drawImage(v, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data; let s = 0, s2 = 0, n = 0;
        for (let i = 0; i < d.length; i += 16) { const y = (d[i] + d[i+1] + d[i+2]) / 3; s += y; s2 += y * y; n++; }
        return Math.sqrt(s2 / n - (s / n) ** 2);
    }""", video)


def test_incident_page_plays_the_uploaded_clip_and_downloads_the_evidence(gateway, new_page, vtest_path, tmp_path):
    camera = f"cam-walkway-{uuid.uuid4().hex[:6]}"
    alert, finished = record_clip(vtest_path, tmp_path / "edge-media", camera)
    clip = next(f for f in finished if f.kind == "clip")
    clip_bytes = clip.path.read_bytes()
    publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera, prefix=gateway.prefix), alert)
    inc_id = gateway.wait_incident(camera)["id"]

    # the alert is in, the clip not yet: the page says it is on its way
    page = new_page(OPERATOR)
    page.goto(f"/console/incidents/{inc_id}")
    pending = page.locator(f"#clips figure.clip[data-media='{clip.media_id}']")
    expect(pending).to_have_attribute("data-status", "pending")
    expect(pending).to_contain_text("Recording / uploading")
    page.evaluate("window.__sameDocument = true")

    # the edge uploads it; the open page picks it up by itself and the video loads its metadata
    upload(gateway, finished, tmp_path / "uploads.db")
    video = page.locator(f"#clips video[data-media='{clip.media_id}']")
    expect(video).to_be_visible()
    assert video.get_attribute("preload") == "metadata" and video.get_attribute("src") == f"/api/media/{clip.media_id}"
    page.wait_for_function(VIDEO_LOADED, arg=video.element_handle())
    duration, width, height = video.evaluate("v => [v.duration, v.videoWidth, v.videoHeight]")
    # 1 s before the alert frame, the frame itself, 2 s after; 768x576 scaled to the 640-wide clip size
    assert 2.5 <= duration <= 4.0, duration
    assert (width, height) == (640, 480)
    expect(page.locator("#clips .clip-duration")).to_have_text(re.compile(r"0:0[34]"))
    # Debian's Chromium decodes the H.264 picture itself, not only the container's metadata
    seek(video, 1.5)
    assert frame_spread(page, video.element_handle()) > 10
    # the snapshot that came with the clip replaces the placeholder, still without a reload
    snap = page.locator(".snap img")
    expect(snap).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=snap.element_handle())
    assert page.evaluate("window.__sameDocument") is True

    # the evidence package is a ZIP whose manifest holds the very clip, hash checked
    with page.expect_download() as download:
        page.click("#evidence-link")
    assert download.value.suggested_filename == f"incident-{inc_id}-evidence.zip"
    with zipfile.ZipFile(download.value.path()) as z:
        manifest = json.loads(z.read("manifest.json"))
        entry = next(f for f in manifest["files"] if f["path"] == f"media/{clip.media_id}.mp4")
        assert z.read(entry["path"]) == clip_bytes
        assert entry["sha256"] == hashlib.sha256(clip_bytes).hexdigest()
    page.evaluate("scrollTo(0, 0)")
    page.wait_for_timeout(300)
    screenshot(page, "incident-clip")
    assert page.js_errors == []

    # the grid worker's phone shows the same clip, compact, and the same evidence link
    phone = new_page(WORKER, phone=True)
    phone.goto(f"/m/#/i/{inc_id}")
    small = phone.locator(f"#clips video[data-media='{clip.media_id}']")
    expect(small).to_be_visible()
    phone.wait_for_function(VIDEO_LOADED, arg=small.element_handle())
    expect(phone.locator("#evidence-link")).to_have_attribute("href", f"/api/incidents/{inc_id}/evidence")
    seek(small, 1.5)
    assert frame_spread(phone, small.element_handle()) > 10
    screenshot(phone, "phone-clip")
    assert phone.js_errors == []


def test_a_playing_clip_survives_live_refreshes_of_the_page(gateway, new_page, vtest_path, tmp_path):
    camera = f"cam-lawn-{uuid.uuid4().hex[:6]}"
    alert, finished = record_clip(vtest_path, tmp_path / "edge-media", camera)
    publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera, prefix=gateway.prefix), alert)
    inc_id = gateway.wait_incident(camera)["id"]
    upload(gateway, finished, tmp_path / "uploads.db")

    page = new_page(OPERATOR)
    page.goto(f"/console/incidents/{inc_id}")
    video = page.locator("#clips video")
    expect(video).to_have_count(1)
    page.wait_for_function(VIDEO_LOADED, arg=video.element_handle())
    video.evaluate("v => { v.__mark = 'same element'; v.currentTime = 2; }")
    # someone acts on the incident: the page redraws from the live event
    r = gateway.api("POST", f"/api/incidents/{inc_id}/dispatch", json={"note": "please look", "assignee": WORKER})
    assert r.status_code == 200, r.text
    expect(page.locator("#timeline li[data-action=dispatched]")).to_have_count(1)
    assert video.evaluate("v => v.__mark") == "same element"
    assert video.evaluate("v => v.currentTime") == pytest.approx(2, abs=0.3)


def test_figures_page_does_not_follow_live_updates(gateway, new_page):
    """One request for the period and one per day when the page opens (the API has no per-day
    buckets), and none when incidents come in: figures are for looking back, not live."""
    camera = f"cam-figures-{uuid.uuid4().hex[:6]}"          # at least one incident to chart
    alert = camera_alert(camera, grid="G-04-03")
    publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera, prefix=gateway.prefix), alert)
    gateway.wait_incident(camera)
    figures = new_page(OPERATOR)
    calls = []
    figures.on("request", lambda r: calls.append(r.url) if "/api/figures" in r.url else None)
    figures.goto("/console/figures")
    expect(figures.locator("#per-day svg rect").first).to_be_visible()
    figures.wait_for_load_state("networkidle")
    assert len(calls) == 14 + 1, calls

    board = new_page(OPERATOR)
    expect(board.locator("#live.on")).to_be_visible()
    for n in range(3):
        camera = f"cam-busy-{n}-{uuid.uuid4().hex[:6]}"
        alert = camera_alert(camera, grid="G-04-03")
        publish(gateway.mqtt_url, topics.alert(alert["edge_id"], camera, prefix=gateway.prefix), alert)
        expect(board.locator("#board tbody tr", has_text=camera)).to_be_visible()   # the events flowed
    figures.wait_for_timeout(1500)
    assert len(calls) == 15, calls[15:]
