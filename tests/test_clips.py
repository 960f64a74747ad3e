"""Event clips on real footage: ring buffer, MP4 encoding with masks burned in, one clip per event."""
from __future__ import annotations

import json
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from alerts import Alert, AlertSource, AlertType, new_alert_id
from camera_profiles.schema import CameraProfile
from edge.camera.clips import ClipRecorder, clip_size, file_sha256
from edge.camera.frames import Frame
from edge.masks import PRIVACY_FILL, apply_privacy_masks, polygon_mask

T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
MASK = [[0.0, 0.0], [0.25, 0.0], [0.25, 0.08], [0.0, 0.08]]
MASK2 = [[0.55, 0.55], [0.85, 0.55], [0.85, 0.85], [0.55, 0.85]]  # over the walkway, where people pass


def profile(**clips) -> CameraProfile:
    return CameraProfile.model_validate({
        "id": "cam-walkway", "source": "/dev/null", "detect": {"fps": 10, "width": 640},
        "privacy_masks": [MASK, MASK2], "clips": clips or {},
    })


def read_frames(path, n: int, fps: float = 10.0) -> list[Frame]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    for i in range(n):
        ok, img = cap.read()
        assert ok, f"could not read frame {i} of {path}"
        frames.append(Frame(i, img, T0 + timedelta(seconds=i / fps), i / fps))
    cap.release()
    return frames


def alert_at(frame: Frame, kind: AlertType = AlertType.intrusion) -> Alert:
    return Alert(id=new_alert_id(), edge_id="edge-t", source=AlertSource(kind="camera", id="cam-walkway"),
                 camera_id="cam-walkway", type=kind, ts=frame.ts, frame=frame.index,
                 bbox=[0.4, 0.5, 0.1, 0.3],
                 details={"pos_s": frame.pos_s, "track": [[0.42, 0.85], [0.44, 0.82], [0.45, 0.8]]})


def read_clip(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,pix_fmt", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)["streams"][0]


def masked_pixels(img: np.ndarray) -> np.ndarray:
    """The pixels inside the privacy masks, one H.264 macroblock (16 px) away from their border
    (a block straddling the border mixes both sides)."""
    m = polygon_mask([MASK, MASK2], img.shape[1], img.shape[0])
    m = cv2.erode(m, np.ones((17, 17), np.uint8))
    return img[m > 0]


@pytest.fixture(scope="module")
def frames(vtest_path):
    return read_frames(vtest_path, 220)


def test_alert_yields_browser_mp4_around_the_alert_frame_with_masks(frames, tmp_path):
    rec = ClipRecorder(profile(), tmp_path, pre_s=2, post_s=3, fps=10)
    ref = None
    for f in frames[:200]:
        rec.push(f)
        if f.index == 100:
            ref = rec.on_alert(alert_at(f))
    done = {c.kind: c for c in rec.close()}

    assert ref["clip"]["status"] == "pending" and ref["clip"]["url"] == f"/api/media/{ref['clip']['id']}"
    clip = done["clip"]
    assert clip.media_id == ref["clip"]["id"] and clip.path.suffix == ".mp4"
    assert (clip.sha256, clip.size) == file_sha256(clip.path)
    # 2 s before at 10 fps, the alert frame, 3 s after
    assert (clip.first_frame, clip.last_frame, clip.alert_frame_offset, clip.frames) == (80, 130, 20, 51)

    decoded = read_clip(clip.path)
    assert len(decoded) == 51
    w, h = clip_size(768, 576, 640)
    assert decoded[0].shape == (h, w, 3)
    # browser-playable: H.264 in yuv420p, the MP4 index (moov) before the data (faststart)
    assert probe(clip.path) == {"codec_name": "h264", "pix_fmt": "yuv420p"}
    data = clip.path.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")

    # the masked regions are one flat colour in every frame, though people walk under MASK2
    flat = np.median(masked_pixels(decoded[0]), axis=0)
    assert abs(flat - PRIVACY_FILL).max() <= 5  # grey, after the YUV round trip
    for img in decoded:
        assert abs(masked_pixels(img).astype(int) - flat).max() <= 3
    raw = masked_pixels(cv2.resize(frames[100].image, (w, h), interpolation=cv2.INTER_LINEAR)).astype(int)
    assert raw.std() > 10  # ... where the unmasked footage is far from flat

    # the alert's box is drawn on its own frame (red, BGR), not before it
    x0, y0, x1 = round(0.4 * w), round(0.5 * h), round(0.5 * w)

    def edge(img):
        return img[y0 - 1:y0 + 2, x0 + 4:x1 - 4].reshape(-1, 3).astype(int).mean(axis=0)

    b, g, r = edge(decoded[20])
    assert r > 150 and r - max(b, g) > 80
    b, g, r = edge(decoded[0])
    assert r - max(b, g) < 40

    # each decoded frame is the source frame it claims to be: it matches it better than its neighbours
    refs = [apply_privacy_masks(cv2.resize(f.image, (w, h), interpolation=cv2.INTER_LINEAR), [MASK, MASK2])
            for f in frames[70:141]]
    for i in (0, 20, 50):
        errs = [np.abs(decoded[i].astype(int) - r.astype(int)).mean() for r in refs]
        assert int(np.argmin(errs)) + 70 == clip.first_frame + i

    snap = done["snapshot"]
    assert snap.media_id == ref["snapshot"]["id"] and snap.first_frame == 100
    img = cv2.imread(str(snap.path))
    assert img.shape == (h, w, 3)
    assert abs(masked_pixels(img).astype(int) - PRIVACY_FILL).max() <= 6  # JPEG chroma rounding
    assert snap.media_ref["sha256"] == file_sha256(snap.path)[0]


def test_alerts_of_one_ongoing_event_share_one_clip(frames, tmp_path):
    rec = ClipRecorder(profile(), tmp_path, pre_s=1, post_s=2, fps=10)
    refs = {}
    for f in frames[:220]:
        rec.push(f)
        if f.index in (50, 60, 65, 150):
            refs[f.index] = rec.on_alert(alert_at(f))["clip"]
    clips = sorted((c for c in rec.close() if c.kind == "clip"), key=lambda c: c.first_frame)

    assert refs[50]["id"] == refs[60]["id"] == refs[65]["id"] != refs[150]["id"]
    assert [c.media_id for c in clips] == [refs[50]["id"], refs[150]["id"]]
    first, second = clips
    # extended to 2 s after the last alert of the event: frames 40..85
    assert (first.first_frame, first.last_frame, first.frames) == (40, 85, 46)
    assert len(first.alert_ids) == 3 and len(read_clip(first.path)) == 46
    assert (second.first_frame, second.last_frame) == (140, 170)


def test_clip_is_capped_at_max_length(frames, tmp_path):
    rec = ClipRecorder(profile(), tmp_path, pre_s=1, post_s=2, fps=10, max_s=5)
    ids = set()
    for f in frames[:200]:
        rec.push(f)
        if 20 <= f.index <= 150 and f.index % 10 == 0:
            ids.add(rec.on_alert(alert_at(f))["clip"]["id"])
    clips = [c for c in rec.close() if c.kind == "clip"]
    assert all(c.frames <= 51 for c in clips)
    assert len(clips) == len(ids) >= 3


def test_slow_encoder_never_stalls_detection(frames, tmp_path):
    gate = threading.Event()

    def slow_mask(img, polys):
        gate.wait(60)  # the encoder thread is stuck until the test lets it go
        return apply_privacy_masks(img, polys)

    rec = ClipRecorder(profile(), tmp_path, pre_s=1, post_s=1, fps=10, mask_fn=slow_mask)
    for f in frames[:60]:
        rec.push(f)
        if f.index == 20:
            assert "clip" in rec.on_alert(alert_at(f))
    assert not rec.recording and rec.poll() == []  # detection went on; nothing is finished yet
    gate.set()
    done = rec.close()
    assert sorted(c.kind for c in done) == ["clip", "snapshot"]
    assert len(read_clip(next(c.path for c in done if c.kind == "clip"))) == 21


def test_stream_alerts_and_disabled_clips(frames, tmp_path):
    rec = ClipRecorder(profile(enabled=False), tmp_path, fps=10)
    assert rec.on_alert(alert_at(frames[0])) == {}  # nothing buffered yet
    for f in frames[:30]:
        rec.push(f)
    assert rec.on_alert(alert_at(frames[29], AlertType.stream_lost)) == {}
    ref = rec.on_alert(alert_at(frames[29]))
    assert set(ref) == {"snapshot"}
    assert [c.kind for c in rec.close()] == ["snapshot"]
    assert rec.pre_s == 5 and rec.post_s == 10  # the profile's defaults


def test_clip_plays_in_real_time_when_the_camera_delivers_fewer_frames(frames, tmp_path):
    rec = ClipRecorder(profile(), tmp_path, pre_s=2, post_s=3, fps=10)
    for f in frames[:200:2]:  # a 5 fps delivery into a 10 fps clip
        rec.push(f)
        if f.index == 100:
            rec.on_alert(alert_at(f))
    clip = next(c for c in rec.close() if c.kind == "clip")
    decoded = read_clip(clip.path)
    assert clip.frames == len(decoded) == 51  # 5 s at 10 fps: each frame held for two
    assert (clip.first_frame, clip.last_frame) == (80, 130)
    same = [np.abs(decoded[i].astype(int) - decoded[i + 1].astype(int)).mean() for i in range(0, 50, 2)]
    moved = [np.abs(decoded[i].astype(int) - decoded[i + 1].astype(int)).mean() for i in range(1, 49, 2)]
    assert max(same) < min(moved)


def test_a_stream_gap_is_cut_short_in_the_clip(frames, tmp_path):
    rec = ClipRecorder(profile(), tmp_path, pre_s=1, post_s=8, fps=10)
    for f in frames[:40] + frames[100:160]:  # 6 s without frames (stream lost) after the alert
        rec.push(f)
        if f.index == 30:
            rec.on_alert(alert_at(f))
    clip = next(c for c in rec.close() if c.kind == "clip")
    # frames 20..39 (20), the gap shown for at most 2 s (20), then 100..110 (11)
    assert clip.frames == len(read_clip(clip.path)) == 20 + 20 + 11


def test_bad_frames_are_refused_and_counted_grey_frames_kept(frames, tmp_path):
    rec = ClipRecorder(profile(), tmp_path, pre_s=1, post_s=1, fps=10)
    bad = [None, np.zeros((4, 4, 3), np.uint8), np.zeros((480, 640, 3), np.float32), np.zeros((480, 640, 4), np.uint8)]
    for i, f in enumerate(frames[:40]):
        if i % 10 == 5:
            rec.push(Frame(f.index, bad[i // 10], f.ts, f.pos_s))
            continue
        image = cv2.cvtColor(f.image, cv2.COLOR_BGR2GRAY) if i >= 20 else f.image
        rec.push(Frame(f.index, image, f.ts, f.pos_s))
        if i == 26:
            rec.on_alert(alert_at(f))
    clip = next(c for c in rec.close() if c.kind == "clip")
    assert rec.bad_frames == 4 and rec.errors == 0
    assert len(read_clip(clip.path)) == clip.frames == 21  # the refused frames are held over


def test_a_scene_that_stays_busy_is_one_clip_not_one_per_alert(vtest_path, tmp_path):
    """vtest's walkway is never empty: the intrusion rule fires again after each cooldown, and
    with the detector's live tracks keeping the clip going (as the edge worker does) all those
    alerts share one event clip; without them each alert past post_s starts a clip of its own."""
    from edge.camera.pipeline import CameraPipeline

    prof = CameraProfile.model_validate({
        "id": "cam-walkway", "source": "/dev/null", "detect": {"fps": 10, "width": 640, "warmup_s": 1},
        "zones": [{"name": "walkway", "polygon": [[0, 0.3], [1, 0.3], [1, 1], [0, 1]],
                   "intrusion": {"min_seconds": 0.5, "cooldown_s": 3}}],
    })
    frames = read_frames(vtest_path, 300)

    def record(keep_alive: bool) -> tuple[list, list]:
        pipeline = CameraPipeline(prof, "edge-t", snapshots=False)
        rec = ClipRecorder(prof, tmp_path / str(keep_alive), pre_s=1, post_s=2, fps=10, snapshots=False)
        refs = []
        for f in frames:
            rec.push(f)
            refs += [rec.on_alert(a)["clip"]["id"] for a in pipeline.process(f)]
            if keep_alive and pipeline.moving:
                rec.keep_alive(f.ts)
        return refs, [c for c in rec.close() if c.kind == "clip"]

    refs, clips = record(keep_alive=True)
    alone_refs, alone_clips = record(keep_alive=False)
    assert len(refs) == len(alone_refs) >= 4            # the same alerts either way
    assert len(set(refs)) == len(clips) == 1            # one event, one clip, every alert on it
    assert clips[0].last_frame == frames[-1].index      # still recording when the footage ended
    assert len(alone_clips) == len(set(alone_refs)) >= 4
