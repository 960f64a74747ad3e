"""The pure parts of the detector, one at a time, on real footage where images are involved."""
from __future__ import annotations

import math

import cv2
import numpy as np

from camera_profiles.schema import FallingObject, Line, Tamper
from edge.detect.background import BackgroundModel
from edge.detect.blobs import Blob
from edge.detect.events import Scale
from edge.detect.falling import FallingRule
from edge.detect.lines import LineRule
from edge.detect.tamper import TamperRule
from edge.detect.tracker import Tracker
from edge.masks import polygon_mask
from tests import scenarios as S

W, H = 320, 240


def _grey(img):
    return cv2.cvtColor(cv2.resize(img, (W, H), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2GRAY)


def test_background_ignores_a_global_brightness_step_but_sees_an_object(vtest_path):
    frames = [_grey(f) for f in S.footage(str(vtest_path), 0.0, 4.0, 5.0)]
    bg = BackgroundModel((H, W))
    for i, g in enumerate(frames[:-1]):
        bg.apply(g, i * 0.2, warmup=i < 10)
    dim = cv2.convertScaleAbs(frames[-1], alpha=0.6)
    fg = bg.apply(dim, len(frames) * 0.2)
    assert 0.55 < bg.gain < 0.65 and not bg.relearned
    assert np.count_nonzero(fg[150:, :120]) == 0        # the empty lawn stays background
    thing = dim.copy()
    cv2.rectangle(thing, (40, 170), (60, 215), 250, -1)  # a bright object on the lawn
    fg = bg.apply(thing, len(frames) * 0.2 + 0.2)
    assert np.count_nonzero(fg[170:216, 40:61]) > 0.6 * 21 * 46


def test_background_relearns_on_a_whole_frame_change(vtest_path):
    frames = [_grey(f) for f in S.footage(str(vtest_path), 0.0, 2.0, 5.0)]
    bg = BackgroundModel((H, W))
    for i, g in enumerate(frames):
        bg.apply(g, i * 0.2)
    fg = bg.apply(255 - frames[-1], 3.0)  # e.g. the day/night switch: everything differs
    assert bg.relearned and not fg.any()


def test_tracker_keeps_ids_through_a_short_occlusion_and_drops_them_later():
    tr = Tracker()
    t = 0.0
    for i in range(5):
        tr.update([Blob(10 + 5 * i, 50, 10, 20, 150), Blob(200, 100 - 4 * i, 12, 24, 200)], t)
        t += 0.2
    ids = sorted(x.id for x in tr.tracks)
    tr.update([], t)  # both hidden for a frame
    t += 0.2
    tr.update([Blob(10 + 5 * 6, 50, 10, 20, 150), Blob(200, 100 - 4 * 6, 12, 24, 200)], t)
    assert sorted(x.id for x in tr.tracks) == ids and all(x.missed == 0 for x in tr.tracks)
    for _ in range(10):
        t += 0.2
        tr.update([], t)
    assert tr.tracks == []


def test_line_counts_a_crossing_once_despite_jitter():
    scale = Scale(W, H)
    rule = LineRule(Line(name="gate", points=[[0.5, 0.1], [0.5, 0.9]]), scale)
    tr = Tracker()
    xs = [100, 110, 120, 130, 140, 150, 158, 162, 158, 162, 158, 163, 170, 180, 190]
    events, t = [], 0.0
    for x in xs:
        tracks = tr.update([Blob(x - 6, 80, 12, 40, 400)], t)
        events += rule.update(tracks, t)
        t += 0.2
    assert len(events) == 1 and events[0].line == "gate"
    assert events[0].details["at"][0] == 0.5


def _fall(rule, tracker, path, dt=0.2):
    events = []
    for i, (x, y) in enumerate(path):
        tracks = tracker.update([Blob(x - 3, y - 3, 6, 6, 30)], i * dt)
        events += rule.update(tracks, tracker.ended, i * dt)
    return events


def test_falling_fit_accepts_gravity_and_rejects_gliding_and_fluttering():
    scale = Scale(W, H)
    cfg = FallingObject(region=[[0.2, 0.0], [0.8, 0.0], [0.8, 0.4], [0.2, 0.4]])
    mask = polygon_mask([cfg.region], W, H)
    g = 0.5 * H  # px/s^2
    drop = [(150 + 10 * i * 0.2, 20 + 0.5 * g * (i * 0.2) ** 2) for i in range(9)]
    (ev,) = _fall(FallingRule(cfg, mask, scale), Tracker(), drop)
    assert ev.type == "falling_object" and 0.4 < ev.details["accel_fh_s2"] < 0.6
    sx, sy = ev.details["start_point"]
    assert abs(sx - 150 / W) < 0.02 and abs(sy - 20 / H) < 0.02
    glide = [(100 + 25 * i, 30 + 6 * i) for i in range(9)]           # a bird: straight, steady
    flutter = [(150 + 15 * math.sin(i * 1.3), 20 + 5 * i) for i in range(12)]  # a leaf: sways, sinks slowly
    assert _fall(FallingRule(cfg, mask, scale), Tracker(), glide) == []
    assert _fall(FallingRule(cfg, mask, scale), Tracker(), flutter) == []
    outside = [(20, 20 + 0.5 * g * (i * 0.2) ** 2) for i in range(9)]  # starts outside the region
    assert _fall(FallingRule(cfg, mask, scale), Tracker(), outside) == []


def test_tamper_never_takes_a_half_decoded_first_frame_as_its_reference(vtest_path):
    """After a reconnect the first frame can be half-decoded (the rows below the first lost
    packet repeat one row): a reference learned from it would call the real view "moved"."""
    frames = [_grey(f) for f in S.footage(str(vtest_path), 0.0, 8.0, 5.0)]
    smear = frames[0].copy()
    smear[H // 3:, :] = smear[H // 3 - 1]
    rule = TamperRule(Tamper(min_seconds=0), Scale(W, H))
    events = []
    for i, g in enumerate([smear, *frames[1:]]):
        events += rule.update(g, i * 0.2, learn_only=i < 5)
    assert events == [] and rule.ref_steady
    moved = np.roll(frames[-1], W // 8, axis=1)  # and a camera that really turns is still seen
    events = rule.update(moved, len(frames) * 0.2 + 1.0, learn_only=False)
    assert [e.type for e in events] == ["tamper.moved"]


def test_work_frame_width_is_the_nearest_to_the_target_as_a_ratio():
    from edge.camera.pipeline import work_step

    # common stream widths: the work frame stays within ~25% of 320 px either way
    widths = {w: w // work_step(w, 640) for w in (480, 640, 704, 768, 960, 1280, 1440, 1920, 2560, 2688, 3840)}
    assert widths == {480: 240, 640: 320, 704: 352, 768: 384, 960: 320, 1280: 320, 1440: 288, 1920: 320,
                      2560: 320, 2688: 336, 3840: 320}
    assert work_step(320, 640) == 1 and work_step(200, 640) == 1      # never upsampled
    assert work_step(1920, 160) == 12                                  # detect.width caps the work width
