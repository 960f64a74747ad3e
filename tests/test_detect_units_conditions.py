"""Issue 16's rules one at a time: the 5 s dwell rule, a line's margin, night mode, the
classifier's shape rule and its HOG person on a real pedestrian of vtest."""
from __future__ import annotations

import numpy as np

from camera_profiles.schema import Line, Zone
from edge.camera.pipeline import sample_grey
from edge.detect.background import BackgroundModel
from edge.detect.blobs import Blob
from edge.detect.classify import ObjectClassifier
from edge.detect.events import Scale
from edge.detect.lines import LineRule
from edge.detect.tracker import Tracker
from edge.detect.zones import ZoneRules
from edge.masks import polygon_mask
from tests import scenarios as S

W, H = 320, 240


def _loiter(out_s: float) -> list[float]:
    """A person walks into the left half, steps out (into the right half) for `out_s` and
    comes back: the times loitering (seconds 8) is raised. (Steps of a walker: one that
    jumps 30 px a frame is a new track, and a new track standing still never arrived.)"""
    zone = Zone(name="z", polygon=[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]], loitering={"seconds": 8})
    scale = Scale(W, H)
    rule, tr = ZoneRules(zone, polygon_mask([zone.polygon], W, H), scale), Tracker()
    path = [(2.0, 140.0), (1.0, 200.0), (out_s, 205.0), (1.4, 130.0), (12.0, 120.0)]  # (for how long, to x)
    out, t, x = [], 0.0, 10.0
    for span, target in path:
        n = max(1, int(span / 0.2))
        for i in range(n):
            x += (target - x) / (n - i)
            tracks = tr.update([Blob(x - 6, 100, 12, 40, 400)], t)
            out += [e.t for e in rule.update([k for k in tracks if k.hits >= 3], tr.ended, t)]
            t += 0.2
    return out


def test_a_short_absence_keeps_the_dwell_a_long_one_resets_it():
    short = _loiter(3.0)  # in at 0.4 s, out about 2.2-6.6 s, back inside by 8 s
    assert len(short) == 1 and 8.4 <= short[0] <= 9.5, short    # 8 s after the first entry
    long = _loiter(7.0)   # out about 2.2-10.6 s: the dwell starts again at re-entry
    assert len(long) == 1 and long[0] >= 18.0, long


def test_walking_along_a_line_with_feet_jitter_crosses_nothing():
    rule, tr = LineRule(Line(name="l", points=[[0.1, 0.5], [0.9, 0.5]]), Scale(W, H)), Tracker()
    events = []
    for i in range(60):
        foot = 120 + 3 * (-1) ** i  # the box's bottom hops 3 px either side of the line
        tracks = tr.update([Blob(20 + 4 * i, foot - 40, 12, 40, 400)], i * 0.2)
        events += rule.update(tracks, i * 0.2)
    assert events == []


def _night_flag(effect) -> bool:
    rng = np.random.default_rng(1)
    bg = None
    for i, img in enumerate(S.footage(str(S.VTEST), 0.0, 10.0, 5.0)):
        g = sample_grey(effect(img.copy(), i * 0.2, rng), 2)  # as the pipeline makes the work frame
        bg = bg or BackgroundModel(g.shape)
        bg.apply(g, i * 0.2)
    return bg is not None and bg.night


def test_night_mode_for_sensor_noise_not_for_a_shaking_view(vtest_path):
    from tests.scenarios_conditions import night, shake

    assert _night_flag(night(0.3, 5.0))
    assert not _night_flag(lambda img, t, rng: img)
    assert not _night_flag(shake(0.0, 10.0))


def test_the_noise_probes_median_is_numpys():
    # the probe's own median (np.partition) must give np.median's value, odd and even sizes
    from edge.detect.background import _median

    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 3600, 3601):
        x = rng.integers(0, 40, n).astype(np.int16)
        assert _median(x) == float(np.median(x)), n
    assert _median(np.array([1, 2], np.int16)) == 1.5


def test_classifier_shape_rule_and_hog_person(vtest_path):
    c = ObjectClassifier()
    frame = next(img for i, img in enumerate(S.footage(str(S.VTEST), 0.0, 4.0, 5.0)) if i == 16)  # 3.2 s
    h, w = frame.shape[:2]
    assert c.label(frame, (0.492 * w, 0.309 * h, 0.081 * w, 0.201 * h))[0] == "person"  # a real pedestrian
    assert c.label(frame, (0.05 * w, 0.7 * h, 0.2 * w, 0.1 * h))[0] == "vehicle"      # wide and big
    assert c.label(frame, (0.05 * w, 0.7 * h, 0.05 * w, 0.03 * h))[0] == "animal"     # wide and small
    assert c.label(frame, (0.1 * w, 0.75 * h, 0.03 * w, 0.1 * h))[0] == "unknown"     # upright lawn: no person
