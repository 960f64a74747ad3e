"""Labelled scenarios on real footage: known objects and distractors drawn over vtest.avi /
tree.avi, with the alerts they must (and must not) raise.

A scenario = a segment of real footage at the detect fps + effects drawn on each frame
(a walker on a known path, an object falling under gravity, a hand over the lens, blur,
a shifted view, brightness steps, rain, noise...) + the expected events with a time
window. `run()` feeds the frames to the real `CameraPipeline`; `score()` matches alerts
to expectations: each expected event must get exactly one alert of its type in its
window, and nothing else of the scored types may appear.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from alerts import Alert
from camera_profiles import CameraProfile
from edge.camera.filesource import iter_file_frames
from edge.camera.frames import Frame
from edge.camera.pipeline import CameraPipeline

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VTEST = DATA / "vtest.avi"
TREE = DATA / "tree.avi"
EPOCH = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
RULE_TYPES = ("intrusion", "loitering", "line_crossing", "falling_object",
              "tamper.covered", "tamper.defocus", "tamper.moved", "motion")

Effect = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


# ---------------------------------------------------------------- footage

@lru_cache(maxsize=3)
def footage(path: str, start_s: float, duration_s: float, fps: float) -> tuple[np.ndarray, ...]:
    """Frames of a real clip segment, at `fps` (read-only, cached)."""
    out = []
    for f in iter_file_frames(path, fps, EPOCH):
        if f.pos_s < start_s - 1e-6:
            continue
        if f.pos_s >= start_s + duration_s - 1e-6:
            break
        f.image.setflags(write=False)
        out.append(f.image)
    return tuple(out)


@lru_cache(maxsize=1)
def foliage_loop(duration_s: float) -> tuple[np.ndarray, ...]:
    """tree.avi's foliage (before the hand comes in), played back and forth at its 15 fps."""
    cap = cv2.VideoCapture(str(TREE))
    frames = []
    while len(frames) < 46:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    cycle = frames + frames[-2:0:-1]
    n = int(duration_s * 15)
    return tuple(cycle[i % len(cycle)] for i in range(n))


# ---------------------------------------------------------------- objects

def _interp(keys: list[tuple[float, float, float]], t: float) -> tuple[float, float] | None:
    if t < keys[0][0] or t > keys[-1][0]:
        return None
    for (t0, x0, y0), (t1, x1, y1) in zip(keys, keys[1:]):
        if t0 <= t <= t1:
            k = 0 if t1 == t0 else (t - t0) / (t1 - t0)
            return x0 + k * (x1 - x0), y0 + k * (y1 - y0)
    return keys[-1][1], keys[-1][2]


def walker(keys: list[tuple[float, float, float]], height: float = 0.16,
           colours: tuple = ((40, 40, 190), (90, 50, 30)), hidden: tuple[float, float] | None = None) -> Effect:
    """A person-like figure whose feet follow `keys` [(t, x, y)] (normalised), `height` of the frame;
    `hidden`: a time span during which it is occluded (not drawn)."""
    def draw(img, t, rng):
        p = _interp(keys, t)
        if p is None or (hidden and hidden[0] <= t < hidden[1]):
            return img
        h, w = img.shape[:2]
        fx, fy = p[0] * w, p[1] * h
        ph = height * h
        bw = ph * 0.28
        phase = math.sin(t * 6.0) * bw * 0.25  # legs swing
        legs_top = fy - ph * 0.45
        leg_w = max(2, int(bw * 0.35))
        cv2.line(img, (int(fx - bw * 0.2), int(legs_top)), (int(fx - bw * 0.2 + phase), int(fy)), colours[1], leg_w)
        cv2.line(img, (int(fx + bw * 0.2), int(legs_top)), (int(fx + bw * 0.2 - phase), int(fy)), colours[1], leg_w)
        cv2.ellipse(img, (int(fx), int(fy - ph * 0.62)), (int(bw / 2), int(ph * 0.2)), 0, 0, 360, colours[0], -1)
        cv2.circle(img, (int(fx), int(fy - ph * 0.9)), max(2, int(ph * 0.09)), (120, 150, 190), -1)
        return img
    return draw


def falling(t0: float, x0: float, y0: float, accel: float, vx: float = 0.0, size: float = 0.018,
            y_end: float = 0.95, colour=(30, 30, 30)) -> Effect:
    """An object let go at (x0, y0) at t0, accelerating down at `accel` frame heights/s^2."""
    def draw(img, t, rng):
        tau = t - t0
        if tau < 0:
            return img
        y = y0 + 0.5 * accel * tau * tau
        if y > y_end:
            return img
        h, w = img.shape[:2]
        x = x0 + vx * tau
        r = max(2, int(size * w / 2))
        cv2.rectangle(img, (int(x * w) - r, int(y * h) - r), (int(x * w) + r, int(y * h) + int(r * 1.5)), colour, -1)
        return img
    return draw


def bird(t0: float, t1: float, start: tuple[float, float], end: tuple[float, float], size: float = 0.02,
         bob: float = 0.01) -> Effect:
    """A small dark shape flying straight from `start` to `end`, bobbing as it flaps."""
    def draw(img, t, rng):
        if not t0 <= t <= t1:
            return img
        k = (t - t0) / (t1 - t0)
        h, w = img.shape[:2]
        x = start[0] + k * (end[0] - start[0])
        y = start[1] + k * (end[1] - start[1]) + bob * math.sin(t * 9)
        s = max(2, int(size * w / 2))
        flap = int(s * (0.5 + 0.5 * abs(math.sin(t * 9))))
        pts = np.array([[x * w - 2 * s, y * h - flap], [x * w, y * h], [x * w + 2 * s, y * h - flap],
                        [x * w, y * h + s * 0.6]], np.int32)
        cv2.fillPoly(img, [pts], (25, 25, 25))
        return img
    return draw


def leaf(t0: float, x0: float, y0: float, sink: float = 0.06, sway: float = 0.04, size: float = 0.016) -> Effect:
    """A leaf sinking slowly at `sink` frame heights/s while swaying side to side."""
    def draw(img, t, rng):
        tau = t - t0
        if tau < 0 or y0 + sink * tau > 0.95:
            return img
        h, w = img.shape[:2]
        x = x0 + sway * math.sin(tau * 2.5)
        y = y0 + sink * tau + 0.01 * math.sin(tau * 5)
        cv2.ellipse(img, (int(x * w), int(y * h)), (max(2, int(size * w)), max(2, int(size * w * 0.5))),
                    math.degrees(math.sin(tau * 2.5)), 0, 360, (30, 90, 120), -1)
        return img
    return draw


# ---------------------------------------------------------------- whole-frame effects

def brightness_step(t0: float, factor: float) -> Effect:
    def apply(img, t, rng):
        return cv2.convertScaleAbs(img, alpha=factor) if t >= t0 else img
    return apply


def brightness_ramp(t0: float, t1: float, f0: float, f1: float) -> Effect:
    def apply(img, t, rng):
        k = min(max((t - t0) / (t1 - t0), 0.0), 1.0)
        return cv2.convertScaleAbs(img, alpha=f0 + k * (f1 - f0))
    return apply


def ir_switch(t0: float) -> Effect:
    """Day/night switch: colour goes, the IR illuminator lifts and flattens the picture."""
    def apply(img, t, rng):
        if t < t0:
            return img
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        return cv2.cvtColor(cv2.convertScaleAbs(grey, alpha=0.8, beta=40), cv2.COLOR_GRAY2BGR)
    return apply


def rain(density: int = 300, length: float = 0.05, t0: float = 0.0) -> Effect:
    """Thin bright streaks, new ones every frame."""
    def apply(img, t, rng):
        if t < t0:
            return img
        h, w = img.shape[:2]
        xs = rng.integers(0, w, density)
        ys = rng.integers(0, h, density)
        ln = int(length * h)
        overlay = img.copy()
        for x, y in zip(xs, ys):
            cv2.line(overlay, (int(x), int(y)), (int(x) + 2, int(y) + ln), (225, 225, 225), 1)
        return cv2.addWeighted(img, 0.45, overlay, 0.55, 0)
    return apply


def noise(sigma: float = 8.0) -> Effect:
    def apply(img, t, rng):
        n = rng.normal(0, sigma, img.shape).astype(np.float32)
        return np.clip(img.astype(np.float32) + n, 0, 255).astype(np.uint8)
    return apply


def cover(t0: float, t1: float, level: int = 35, share: float = 1.0) -> Effect:
    """A hand over the lens: dark, nearly uniform, a soft gradient; `share` of the frame from the top."""
    def apply(img, t, rng):
        if not t0 <= t < t1:
            return img
        h, w = img.shape[:2]
        ch = int(h * share)
        grad = np.linspace(0, 12, ch, dtype=np.float32)[:, None, None]
        hand = np.clip(level + grad + rng.normal(0, 1.5, (ch, w, 1)), 0, 255).astype(np.uint8)
        out = img.copy()
        out[:ch] = np.repeat(hand, 3, axis=2)
        return out
    return apply


def blur(t0: float, t1: float, sigma: float) -> Effect:
    def apply(img, t, rng):
        return cv2.GaussianBlur(img, (0, 0), sigma) if t0 <= t < t1 else img
    return apply


def shift(t0: float, t1: float | None, dx: float, dy: float) -> Effect:
    """The camera turned: the view moves by (dx, dy) of the frame."""
    def apply(img, t, rng):
        if t < t0 or (t1 is not None and t >= t1):
            return img
        h, w = img.shape[:2]
        m = np.float32([[1, 0, dx * w], [0, 1, dy * h]])
        return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    return apply


# ---------------------------------------------------------------- scenarios

@dataclass
class Expect:
    type: str
    t_min: float           # the alert must come at pos_s in [t_min, t_max]
    t_max: float
    zone: str | None = None
    line: str | None = None
    state: str | None = None  # tamper: "raised" / "restored"


@dataclass
class Scenario:
    name: str
    profile: dict[str, Any]
    effects: list[Effect] = field(default_factory=list)
    expected: list[Expect] = field(default_factory=list)
    footage: str = "vtest"        # "vtest" or "tree"
    start_s: float = 0.0
    duration_s: float = 15.0
    fps: float = 5.0
    scored: tuple[str, ...] = RULE_TYPES  # alert types where anything unexpected is a false alarm
    seed: int = 7


def make_profile(scn: Scenario) -> CameraProfile:
    data = {"id": f"scn-{scn.name}", "source": str(VTEST), "detect": {"fps": scn.fps, "width": 640, "warmup_s": 2.0}}
    data.update(scn.profile)
    return CameraProfile.model_validate(data)


def frames(scn: Scenario):
    if scn.footage == "tree":
        base = foliage_loop(scn.duration_s)
        step = max(1, round(15 / scn.fps))
        base, fps = base[::step], 15 / step
    elif scn.duration_s > 20:  # long runs stream the footage instead of caching it in memory
        base = (f.image for f in iter_file_frames(VTEST, scn.fps, EPOCH)
                if scn.start_s - 1e-6 <= f.pos_s < scn.start_s + scn.duration_s - 1e-6)
        fps = scn.fps
    else:
        base, fps = footage(str(VTEST), scn.start_s, scn.duration_s, scn.fps), scn.fps
    rng = np.random.default_rng(scn.seed)
    for i, img in enumerate(base):
        t = i / fps
        out = img.copy()
        for eff in scn.effects:
            out = eff(out, t, rng)
        yield Frame(index=i, image=out, ts=EPOCH + timedelta(seconds=t), pos_s=t)


def run(scn: Scenario, snapshots: bool = False) -> list[Alert]:
    pipe = CameraPipeline(make_profile(scn), "edge-test", snapshots=snapshots)
    alerts = []
    for f in frames(scn):
        alerts.extend(pipe.process(f))
    return alerts


@dataclass
class Score:
    hits: list[tuple[Expect, Alert]]
    missed: list[Expect]
    doubled: list[Alert]    # a second alert for an event already matched
    false: list[Alert]

    @property
    def ok(self) -> bool:
        return not (self.missed or self.doubled or self.false)

    def explain(self, alerts: list[Alert]) -> str:
        got = [(a.type.value, a.details.get("pos_s"), a.zone or a.line, a.details.get("state")) for a in alerts]
        return f"missed={[(e.type, e.t_min, e.t_max) for e in self.missed]} doubled={len(self.doubled)} " \
               f"false={[(a.type.value, a.details.get('pos_s')) for a in self.false]} all={got}"


def _fits(e: Expect, a: Alert) -> bool:
    return (a.type.value == e.type and e.t_min <= a.details["pos_s"] <= e.t_max
            and (e.zone is None or a.zone == e.zone) and (e.line is None or a.line == e.line)
            and (e.state is None or a.details.get("state") == e.state))


def score(scn: Scenario, alerts: list[Alert]) -> Score:
    hits, doubled, false = [], [], []
    matched: dict[int, int] = {}
    for a in alerts:
        if a.type.value not in scn.scored:
            continue
        idx = next((i for i, e in enumerate(scn.expected) if _fits(e, a)), None)
        if idx is None:
            false.append(a)
        elif idx in matched:
            doubled.append(a)
        else:
            matched[idx] = 1
            hits.append((scn.expected[idx], a))
    missed = [e for i, e in enumerate(scn.expected) if i not in matched]
    return Score(hits, missed, doubled, false)


# ---------------------------------------------------------------- the catalogue

LAWN = [[0.02, 0.62], [0.42, 0.64], [0.45, 0.98], [0.02, 0.98]]       # lower-left lawn, nobody walks there
LAWN_B = [[0.28, 0.76], [0.62, 0.80], [0.64, 0.99], [0.28, 0.99]]     # a smaller patch further right
FACADE = [[0.40, 0.0], [0.76, 0.0], [0.76, 0.19], [0.40, 0.19]]       # the brick building
UPPER_LEFT = [[0.0, 0.0], [0.30, 0.0], [0.30, 0.28], [0.0, 0.28]]     # left building and upper lawn
ALL_RULES = {  # every rule on, placed away from the real pedestrians' walkway
    "zones": [{"name": "lawn", "polygon": LAWN, "intrusion": {"min_seconds": 1.0}, "loitering": {"seconds": 6}}],
    "lines": [{"name": "hedge", "points": [[0.2, 0.66], [0.2, 0.97]]}],
    "falling_object": {"region": FACADE},
    "tamper": {"min_seconds": 2},
}
TREE_RULES = {
    "zones": [{"name": "garden", "polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 0.98], [0.1, 0.98]],
               "intrusion": {"min_seconds": 1.0}, "loitering": {"seconds": 5}}],
    "lines": [{"name": "mid", "points": [[0.5, 0.1], [0.5, 0.95]]}],
    "falling_object": {"region": [[0.1, 0.0], [0.9, 0.0], [0.9, 0.4], [0.1, 0.4]]},
    "tamper": {"min_seconds": 2},
}


def catalogue() -> list[Scenario]:
    """Every labelled scenario: at least two layouts per rule type, and the distractors."""
    return [
        # ---- intrusion
        Scenario("intrusion-lawn", {"zones": [{"name": "lawn", "polygon": LAWN, "intrusion": {"min_seconds": 1.0}}]},
                 [walker([(3.0, 0.0, 0.80), (9.0, 0.25, 0.86), (13.0, 0.27, 0.86)])],
                 [Expect("intrusion", 3.5, 6.0, zone="lawn")]),
        Scenario("intrusion-patch-small-walker",
                 {"zones": [{"name": "patch", "polygon": LAWN_B, "intrusion": {"min_seconds": 2.0}}]},
                 [walker([(2.5, 0.05, 0.70), (10.0, 0.45, 0.92), (14.0, 0.47, 0.93)], height=0.11,
                         colours=((200, 200, 60), (40, 40, 40))),
                  walker([(3.0, 0.0, 0.68), (9.0, 0.22, 0.70)], height=0.13)],  # a passer-by outside the zone
                 [Expect("intrusion", 7.0, 10.5, zone="patch")], start_s=20.0),
        Scenario("intrusion-close-to-lens",  # fills a fifth of the frame at once: an object, not a lighting change
                 {"zones": [{"name": "front", "polygon": [[0.0, 0.6], [0.7, 0.6], [0.7, 1.0], [0.0, 1.0]],
                             "intrusion": {"min_seconds": 1.0}}]},
                 [walker([(6.0, 0.3, 0.99), (9.2, 0.5, 0.99), (12.0, 0.52, 0.99)], height=1.0,
                         colours=((200, 200, 200), (220, 220, 220)))],
                 [Expect("intrusion", 6.8, 9.0, zone="front")], start_s=15.0),
        # ---- loitering
        Scenario("loitering-lawn-occluded", {"zones": [{"name": "lawn", "polygon": LAWN, "loitering": {"seconds": 6}}]},
                 [walker([(3.0, 0.0, 0.80), (5.0, 0.14, 0.82), (8.0, 0.17, 0.84), (11.0, 0.15, 0.83),
                          (15.0, 0.18, 0.84)], hidden=(6.0, 8.5))],  # behind something for 2.5 s
                 [Expect("loitering", 8.5, 11.5, zone="lawn")], duration_s=16.0),
        Scenario("loitering-patch-passerby",
                 {"zones": [{"name": "patch", "polygon": LAWN_B, "loitering": {"seconds": 5}}]},
                 [walker([(2.5, 0.25, 0.99), (5.0, 0.40, 0.88), (9.0, 0.44, 0.86), (14.0, 0.41, 0.90)], height=0.12,
                         hidden=(9.0, 10.4), colours=((60, 160, 60), (30, 30, 90))),
                  walker([(3.0, 0.62, 0.99), (6.0, 0.28, 0.82), (7.0, 0.2, 0.8)], height=0.14)],  # passes through in 3 s
                 [Expect("loitering", 7.0, 10.5, zone="patch")], start_s=25.0),
        # ---- line crossing
        Scenario("line-vertical", {"lines": [{"name": "hedge", "points": [[0.2, 0.66], [0.2, 0.97]]}]},
                 [walker([(3.0, 0.04, 0.80), (9.0, 0.40, 0.86)])],
                 [Expect("line_crossing", 4.5, 7.0, line="hedge")]),
        Scenario("line-jitter-on-the-line", {"lines": [{"name": "hedge", "points": [[0.25, 0.66], [0.25, 0.97]]}]},
                 [walker([(2.5, 0.05, 0.90), (5.0, 0.245, 0.90), (5.5, 0.258, 0.90), (6.0, 0.244, 0.90),
                          (6.5, 0.257, 0.90), (7.0, 0.246, 0.90), (7.5, 0.256, 0.90), (10.0, 0.40, 0.90)],
                         height=0.13)],
                 [Expect("line_crossing", 5.0, 9.5, line="hedge")], start_s=10.0),
        Scenario("line-from-side",
                 {"lines": [{"name": "path", "points": [[0.03, 0.80], [0.40, 0.80]], "from_side": [0.2, 0.7]}]},
                 [walker([(2.5, 0.10, 0.66), (5.5, 0.14, 0.95)], height=0.12),            # down: counts
                  walker([(7.0, 0.32, 0.97), (10.5, 0.30, 0.66)], height=0.14,           # up: wrong side
                         colours=((30, 160, 200), (50, 50, 50)))],
                 [Expect("line_crossing", 3.5, 6.0, line="path")], start_s=30.0),
        # ---- falling object
        Scenario("falling-facade-10fps", {"falling_object": {"region": FACADE}},
                 [falling(4.0, 0.55, 0.05, accel=0.6, y_end=0.6), rain(150, t0=0.0)],
                 [Expect("falling_object", 4.2, 6.0)], fps=10.0, duration_s=10.0),
        Scenario("falling-upper-left-5fps", {"falling_object": {"region": UPPER_LEFT}},
                 [falling(4.0, 0.15, 0.04, accel=0.45, vx=0.03, size=0.025, y_end=0.95),
                  bird(2.5, 7.5, (0.0, 0.12), (0.45, 0.16))],
                 [Expect("falling_object", 4.5, 7.0)], start_s=40.0, duration_s=10.0),
        Scenario("falling-small-5fps", {"falling_object": {"region": UPPER_LEFT}},
                 [falling(5.0, 0.06, 0.03, accel=0.5, size=0.014, y_end=0.9), leaf(3.0, 0.2, 0.05)],
                 [Expect("falling_object", 5.5, 7.5)], start_s=5.0, duration_s=10.0),
        # ---- tamper
        Scenario("covered-hand", {**ALL_RULES},
                 [cover(5.0, 10.0)],
                 [Expect("tamper.covered", 6.9, 8.5, state="raised"), Expect("tamper.covered", 10.0, 12.5, state="restored")]),
        Scenario("covered-most-brighter", {"tamper": {"min_seconds": 3}},
                 [cover(4.0, 11.0, level=140, share=0.93)],
                 [Expect("tamper.covered", 6.9, 8.5, state="raised"), Expect("tamper.covered", 11.0, 13.5, state="restored")],
                 start_s=30.0),
        Scenario("defocus-strong", {**ALL_RULES},
                 [blur(5.0, 11.0, 6.0)],
                 [Expect("tamper.defocus", 6.9, 8.5, state="raised"), Expect("tamper.defocus", 11.0, 13.5, state="restored")]),
        Scenario("defocus-mild", {"tamper": {"min_seconds": 2}},
                 [blur(4.0, 12.0, 3.0)],
                 [Expect("tamper.defocus", 5.9, 7.5, state="raised"), Expect("tamper.defocus", 12.0, 14.5, state="restored")],
                 start_s=45.0),
        Scenario("moved-pan", {**ALL_RULES},
                 [shift(5.0, None, 0.10, 0.0)],
                 [Expect("tamper.moved", 6.9, 8.5, state="raised")]),
        Scenario("moved-turned-away", {"tamper": {"min_seconds": 2}, "zones": ALL_RULES["zones"]},
                 [shift(5.0, None, 0.35, -0.25)],
                 [Expect("tamper.moved", 6.9, 8.5, state="raised")], start_s=25.0),
        Scenario("moved-tilt-and-back", {"tamper": {"min_seconds": 2}},
                 [shift(4.0, 10.0, -0.06, 0.07)],
                 [Expect("tamper.moved", 5.9, 7.5, state="raised"), Expect("tamper.moved", 10.0, 12.5, state="restored")],
                 start_s=50.0),
        # ---- motion: only for a camera with no rules at all (the real pedestrians of vtest)
        Scenario("motion-no-rules", {}, [], [Expect("motion", 2.0, 5.0)], duration_s=12.0),
        Scenario("motion-no-rules-dusk", {}, [brightness_ramp(0.0, 12.0, 1.0, 0.5)], [Expect("motion", 2.0, 5.0)],
                 start_s=60.0, duration_s=12.0),
        # ---- distractors: all rules on, nothing may fire
        Scenario("distractor-brightness-step-down", ALL_RULES, [brightness_step(6.0, 0.55)]),
        Scenario("distractor-brightness-step-up", ALL_RULES, [brightness_step(5.0, 1.5)], start_s=20.0),
        Scenario("distractor-brightness-ramp", ALL_RULES, [brightness_ramp(3.0, 12.0, 1.0, 0.4)], start_s=10.0),
        Scenario("distractor-rain", ALL_RULES, [rain(400)], start_s=30.0),
        Scenario("distractor-ir-switch", ALL_RULES, [ir_switch(6.0)], start_s=35.0),
        Scenario("distractor-noise", ALL_RULES, [noise(10.0)], start_s=5.0),
        Scenario("distractor-birds-leaves", ALL_RULES,
                 [bird(3.0, 8.0, (0.38, 0.06), (0.80, 0.10)), bird(8.0, 12.0, (0.78, 0.02), (0.42, 0.15), size=0.015),
                  leaf(3.5, 0.55, 0.02), leaf(6.0, 0.65, 0.04, sink=0.04, sway=0.05)], start_s=15.0),
        Scenario("distractor-foliage", TREE_RULES, [], footage="tree", duration_s=12.0),
        Scenario("distractor-foliage-no-rules", {}, [noise(4.0)], footage="tree", duration_s=12.0),
        Scenario("distractor-foliage-ramp", TREE_RULES, [brightness_ramp(3.0, 9.0, 1.0, 0.6)], footage="tree",
                 duration_s=12.0, fps=7.5),
    ]


# ---------------------------------------------------------------- varied layouts

PALETTE = ((40, 40, 190), (200, 200, 60), (60, 160, 60), (30, 30, 30), (230, 230, 230), (160, 60, 160))


def _two_colours(rng: np.random.Generator) -> tuple:
    """Clothes for a walker: top and trousers from the palette."""
    return PALETTE[rng.integers(6)], PALETTE[rng.integers(6)]


def _first_inside(keys: list[tuple[float, float, float]], inside: Callable[[float, float], bool]) -> float | None:
    t = keys[0][0]
    while t <= keys[-1][0]:
        p = _interp(keys, t)
        if p and inside(*p):
            return t
        t += 0.05
    return None


def varied(seed: int, per_type: int = 4) -> list[Scenario]:
    """Randomised layouts (zone and line placement, object size, speed, colour, footage segment;
    falling start, gravity scale, size and drift), so the detectors are not tuned to one layout.
    Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    out: list[Scenario] = []
    for i in range(per_type):
        # intrusion: a box-shaped zone somewhere on the lower-left lawn, a walker heading into it
        zx, zy = rng.uniform(0.05, 0.25), rng.uniform(0.68, 0.80)
        zw, zh = rng.uniform(0.12, 0.18), rng.uniform(0.12, 0.16)
        zone = [[zx, zy], [zx + zw, zy], [zx + zw, zy + zh], [zx, zy + zh]]
        gx, gy = zx + zw * rng.uniform(0.4, 0.7), zy + zh * rng.uniform(0.4, 0.8)
        t0, speed = rng.uniform(2.5, 4.0), rng.uniform(0.03, 0.06)
        sx = 0.0
        keys = [(t0, sx, gy + rng.uniform(-0.03, 0.03)), (t0 + (gx - sx) / speed, gx, gy)]
        keys.append((keys[-1][0] + 4.0, gx + 0.01, gy))
        box = (zx, zy, zx + zw, zy + zh)
        entry = _first_inside(keys, lambda x, y, b=box: b[0] <= x <= b[2] and b[1] <= y <= b[3])
        out.append(Scenario(f"varied-intrusion-{seed}-{i}",
                            {"zones": [{"name": "z", "polygon": zone, "intrusion": {"min_seconds": 1.0}}]},
                            [walker(keys, height=rng.uniform(0.10, 0.18), colours=_two_colours(rng))],
                            [Expect("intrusion", entry + 0.8, entry + 3.0, zone="z")],
                            start_s=float(rng.choice([0.0, 10.0, 20.0, 30.0])), duration_s=min(15.0, keys[-1][0] + 1)))
        # line crossing: a vertical line on the lawn, crossed left to right or right to left
        lx, ly = rng.uniform(0.12, 0.32), rng.uniform(0.76, 0.92)
        left_to_right = bool(rng.integers(2))
        xa, xb = (lx - 0.12, lx + 0.12) if left_to_right else (lx + 0.12, lx - 0.12)
        t0, speed = rng.uniform(2.5, 4.0), rng.uniform(0.03, 0.06)
        t1 = t0 + 0.24 / speed
        cross = t0 + 0.12 / speed
        out.append(Scenario(f"varied-line-{seed}-{i}",
                            {"lines": [{"name": "l", "points": [[lx, 0.66], [lx, 0.98]]}]},
                            [walker([(t0, max(0.0, xa), ly), (t1, xb, ly + rng.uniform(-0.03, 0.03))],
                                    height=rng.uniform(0.10, 0.18), colours=_two_colours(rng))],
                            [Expect("line_crossing", cross, cross + 2.0, line="l")],
                            start_s=float(rng.choice([0.0, 10.0, 20.0, 40.0])), duration_s=min(15.0, t1 + 1.5)))
        # falling object: let go somewhere in a facade region, gravity scale, size and drift vary
        rx = rng.uniform(0.0, 0.45)
        region = [[rx, 0.0], [rx + 0.3, 0.0], [rx + 0.3, 0.22], [rx, 0.22]]
        fps = float(rng.choice([5.0, 10.0]))
        t0, accel = rng.uniform(3.0, 5.0), rng.uniform(0.35, 0.9)
        fx, fy = rx + rng.uniform(0.05, 0.25), rng.uniform(0.02, 0.08)
        out.append(Scenario(f"varied-falling-{seed}-{i}", {"falling_object": {"region": region}},
                            [falling(t0, fx, fy, accel=accel, vx=rng.uniform(-0.04, 0.04),
                                     size=rng.uniform(0.015, 0.03), y_end=0.95)],
                            [Expect("falling_object", t0 + 0.4, t0 + 2.5)],
                            start_s=float(rng.choice([0.0, 20.0, 40.0])), duration_s=t0 + 4.0, fps=fps))
    return out
