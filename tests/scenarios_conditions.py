"""Labelled scenarios for the hard conditions of issue 16, on the real footage (vtest.avi,
tree.avi): night (IR grey, low gain, sensor noise), low contrast, crowds and opposing walkers,
lines walked along or turned back from, a short absence while loitering, falling-object
distractors, camera shake, cloud shadows, a slow drift of the view and spray paint on the lens.

Each entry is (condition, Scenario): the same `Scenario` / `Expect` / `run` / `score` as
tests/scenarios.py. `Expect.t_min` is the earliest moment the rule may fire (the event plus
the rule's own delay), so an alert's latency is its time minus `t_min`. Objects are drawn
before the whole-frame effects (a walker at night is as grey and noisy as the rest).
"""
from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from tests.scenarios import (
    FACADE,
    LAWN,
    Effect,
    Expect,
    Scenario,
    brightness_ramp,
    falling,
    foliage_loop,
    leaf,
    noise,
    walker,
)

NIGHT_RULES = {
    "zones": [{"name": "lawn", "polygon": LAWN, "intrusion": {"min_seconds": 1.0}}],
    "lines": [{"name": "hedge", "points": [[0.2, 0.66], [0.2, 0.97]]}],
    "tamper": {"min_seconds": 2},
}
SCENE_RULES = {  # zone, line and tamper: what shake, shadows and drift must not set off
    "zones": [{"name": "lawn", "polygon": LAWN, "intrusion": {"min_seconds": 1.0}, "loitering": {"seconds": 6}}],
    "lines": [{"name": "hedge", "points": [[0.2, 0.66], [0.2, 0.97]]}],
    "falling_object": {"region": FACADE},
    "tamper": {"min_seconds": 2},
}
FALL_RULES = {"falling_object": {"region": FACADE}}
LOW_CONTRAST = ((44, 112, 86), (34, 104, 80))   # torso, legs: close to the lawn (21, 90, 70)
WINDOW_DARK = (42, 56, 86)                      # the colour of the facade's window band


# ---------------------------------------------------------------- effects

def night(gain: float = 0.3, sigma: float = 5.0, lift: int = 6) -> Effect:
    """IR night: no colour, a low gain, a little lift, sensor noise (the same on all channels)."""
    def apply(img, t, rng):
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32) * gain + lift
        grey += rng.normal(0.0, sigma, grey.shape).astype(np.float32)
        return cv2.cvtColor(np.clip(grey, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    return apply


def headlights(t0: float, t1: float, y: float, x0: float = -0.3, x1: float = 1.3, radius: float = 0.22,
               boost: float = 2.5) -> Effect:
    """A car's headlights sweeping across the ground: a soft pool of light moving from x0 to x1."""
    def apply(img, t, rng):
        if not t0 <= t <= t1:
            return img
        h, w = img.shape[:2]
        cx = (x0 + (x1 - x0) * (t - t0) / (t1 - t0)) * w
        yy, xx = np.ogrid[:h, :w]
        d2 = ((xx - cx) / (radius * w)) ** 2 + ((yy - y * h) / (radius * 0.45 * h)) ** 2
        light = 1.0 + boost * np.exp(-d2 * 2.0).astype(np.float32)
        return np.clip(img.astype(np.float32) * light[..., None], 0, 255).astype(np.uint8)
    return apply


def shake(t0: float, t1: float, max_px: int = 3) -> Effect:
    """A camera shaking in the wind: the view jumps 1..max_px pixels (source frame) every frame."""
    def apply(img, t, rng):
        if not t0 <= t < t1:
            return img
        h, w = img.shape[:2]
        dx, dy = (int(rng.integers(1, max_px + 1)) * int(rng.choice([-1, 1])) for _ in range(2))
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    return apply


def drift(t0: float, t1: float, dx: float) -> Effect:
    """A PTZ camera moved slowly: the view shifts by up to dx of the width between t0 and t1."""
    def apply(img, t, rng):
        if t < t0:
            return img
        k = min(1.0, (t - t0) / (t1 - t0))
        h, w = img.shape[:2]
        m = np.float32([[1, 0, -k * dx * w], [0, 1, 0]])
        return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    return apply


@lru_cache(maxsize=4)
def _soft_disc(h: int, w: int, radius: float) -> np.ndarray:
    """A soft-edged disc of `radius` (of the width) centred in a (3h, 3w) canvas, 0..1."""
    yy, xx = np.ogrid[:3 * h, :3 * w]
    d = np.hypot(xx - 1.5 * w, (yy - 1.5 * h) * 1.4) / (radius * w)
    return np.clip((1.3 - d) / 0.6, 0.0, 1.0).astype(np.float32)


def cloud_shadow(t0: float, t1: float, start: tuple[float, float], end: tuple[float, float],
                 radius: float = 0.35, depth: float = 0.45) -> Effect:
    """A cloud's shadow drifting over the scene: a soft disc darkening by `depth` at its centre."""
    def apply(img, t, rng):
        if not t0 <= t <= t1:
            return img
        h, w = img.shape[:2]
        k = (t - t0) / (t1 - t0)
        cx, cy = start[0] + k * (end[0] - start[0]), start[1] + k * (end[1] - start[1])
        disc = _soft_disc(h, w, radius)
        ox, oy = int(1.5 * w - cx * w), int(1.5 * h - cy * h)
        shade = 1.0 - depth * disc[oy:oy + h, ox:ox + w]
        return (img.astype(np.float32) * shade[..., None]).astype(np.uint8)
    return apply


@lru_cache(maxsize=2)
def _paint_mask(h: int, w: int, share: float, seed: int) -> np.ndarray:
    """Blotches of spray paint covering `share` of the frame from the top-left, 0..1, soft-edged."""
    rng = np.random.default_rng(seed)
    field = np.zeros((h, w), np.float32)
    for _ in range(60):
        x, y = rng.uniform(0, 0.8) * w, rng.uniform(0, 0.85) * h
        cv2.circle(field, (int(x), int(y)), int(rng.uniform(0.08, 0.2) * w), float(rng.uniform(0.5, 1.0)), -1)
    field = cv2.GaussianBlur(field, (0, 0), 0.02 * w)
    level = float(np.quantile(field, 1.0 - share))
    return np.clip((field - level) / 0.05 + 0.5, 0.0, 1.0)


def spray(t0: float, share: float = 0.6, grow_s: float = 1.0, colour=(22, 24, 30), seed: int = 3) -> Effect:
    """Spray paint over `share` of the lens, sprayed on over `grow_s`: dark, slightly speckled."""
    def apply(img, t, rng):
        if t < t0:
            return img
        h, w = img.shape[:2]
        k = min(1.0, (t - t0) / grow_s)
        mask = _paint_mask(h, w, share * k, seed)[..., None] * 0.97
        paint = np.asarray(colour, np.float32) + rng.normal(0, 2.0, (h, w, 1)).astype(np.float32)
        return (img.astype(np.float32) * (1 - mask) + paint * mask).astype(np.uint8)
    return apply


def window_opening(t0: float, box: tuple[float, float, float, float], dur: float = 1.0, gain: float = 3.0,
                   top_hung: bool = False) -> Effect:
    """A window pane opening: its glass turns to reflect the sky and brightens over `dur`; a
    top-hung pane brightens from its top edge downwards (an edge moving down, faster and faster)."""
    def apply(img, t, rng):
        if t < t0:
            return img
        h, w = img.shape[:2]
        x0, y0, x1, y1 = (int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h))
        k = min(1.0, (t - t0) / dur)
        if top_hung:
            y1 = y0 + max(1, int((y1 - y0) * k * k))
            k = 1.0
        out = img.copy()
        patch = out[y0:y1, x0:x1].astype(np.float32) * (1.0 + (gain - 1.0) * k)
        out[y0:y1, x0:x1] = np.clip(patch, 0, 255).astype(np.uint8)
        return out
    return apply


def bird_dive(t0: float, x0: float, y0: float, accel: float = 0.6, vx: float = 0.1, dive_s: float = 0.7,
              size: float = 0.02) -> Effect:
    """A bird diving: it drops accelerating for `dive_s`, then pulls out and flies off level and up."""
    def pos(tau: float) -> tuple[float, float]:
        if tau <= dive_s:
            return x0 + vx * tau, y0 + 0.5 * accel * tau * tau
        xd, yd = x0 + vx * dive_s, y0 + 0.5 * accel * dive_s * dive_s
        u = tau - dive_s
        return xd + 2.5 * vx * u, yd + accel * dive_s * u * math.exp(-3 * u) - 0.04 * u

    def draw(img, t, rng):
        tau = t - t0
        if not 0 <= tau <= dive_s + 3.0:
            return img
        h, w = img.shape[:2]
        x, y = pos(tau)
        s = max(2, int(size * w / 2))
        flap = int(s * (0.4 + 0.6 * abs(math.sin(t * 11)))) if tau > dive_s else 1  # wings folded in the dive
        pts = np.array([[x * w - 2 * s, y * h - flap], [x * w, y * h], [x * w + 2 * s, y * h - flap],
                        [x * w, y * h + s * 0.6]], np.int32)
        cv2.fillPoly(img, [pts], (25, 25, 25))
        return img
    return draw


def foliage_patch(box: tuple[float, float, float, float], crop=(60, 50, 240, 130)) -> Effect:
    """Waving foliage (tree.avi, played at its own 15 fps) in front of a part of the scene."""
    loop = foliage_loop(30.0)

    def apply(img, t, rng):
        h, w = img.shape[:2]
        x0, y0, x1, y1 = (int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h))
        leaves = loop[int(t * 15) % len(loop)][crop[1]:crop[3], crop[0]:crop[2]]
        out = img.copy()
        out[y0:y1, x0:x1] = cv2.resize(leaves, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        return out
    return apply


# ---------------------------------------------------------------- the conditions

def conditions() -> list[tuple[str, Scenario]]:
    """(condition, scenario) for every condition of issue 16."""
    cross = [(3.0, 0.04, 0.80), (9.0, 0.40, 0.86)]                 # over the hedge line at ~4.7 s
    enter = [(3.0, 0.0, 0.80), (9.0, 0.25, 0.86), (13.0, 0.27, 0.86)]  # into the lawn at ~3.1 s
    return [
        # ---- night
        ("night", Scenario("night-intrusion-and-line", NIGHT_RULES,
                           [walker(enter), night(0.3, 5.0)],
                           [Expect("intrusion", 4.1, 6.5, zone="lawn"), Expect("line_crossing", 6.4, 9.0, line="hedge")])),
        ("night", Scenario("night-low-gain-line", {"lines": NIGHT_RULES["lines"]},
                           [walker(cross, height=0.14), night(0.25, 6.0)],
                           [Expect("line_crossing", 4.7, 7.5, line="hedge")], start_s=20.0)),
        ("night", Scenario("night-headlights-sweep", NIGHT_RULES,
                           [headlights(3.0, 5.5, 0.8), headlights(8.0, 9.5, 0.75, x0=1.3, x1=-0.3), night(0.35, 4.0)],
                           start_s=10.0)),
        # ---- low contrast
        ("low contrast", Scenario("low-contrast-person", {"zones": NIGHT_RULES["zones"]},
                                  [walker(enter, colours=LOW_CONTRAST)],
                                  [Expect("intrusion", 4.1, 6.5, zone="lawn")], start_s=30.0)),
        ("low contrast", Scenario("falling-at-dusk", FALL_RULES,
                                  [falling(4.0, 0.58, 0.03, accel=0.6, y_end=0.6), brightness_ramp(0.0, 4.0, 1.0, 0.35),
                                   noise(3.0)],
                                  [Expect("falling_object", 4.2, 6.0)], fps=10.0, duration_s=10.0)),
        ("low contrast", Scenario("dark-object-dark-facade", FALL_RULES,
                                  [falling(4.0, 0.52, 0.05, accel=0.6, size=0.0156, y_end=0.6, colour=WINDOW_DARK)],
                                  [Expect("falling_object", 4.2, 6.0)], fps=10.0, duration_s=10.0, start_s=20.0)),
        ("low contrast", Scenario("dark-object-dark-facade-5fps", FALL_RULES,
                                  [falling(4.0, 0.62, 0.05, accel=0.5, size=0.0156, y_end=0.7, colour=WINDOW_DARK)],
                                  [Expect("falling_object", 4.4, 7.0)], duration_s=10.0, start_s=5.0)),
        # ---- several people, opposing walkers, lines walked along
        ("crowd", Scenario("three-people-one-zone", {"zones": NIGHT_RULES["zones"]},
                           [walker(enter), walker([(4.0, 0.0, 0.92), (10.0, 0.3, 0.95)], height=0.14,
                                                  colours=((200, 200, 60), (40, 40, 40))),
                            walker([(5.5, 0.0, 0.72), (12.0, 0.35, 0.74)], height=0.12, colours=((60, 160, 60), (30, 30, 90)))],
                           [Expect("intrusion", 4.1, 6.5, zone="lawn")])),
        ("crowd", Scenario("opposing-walkers-from-side",
                           {"lines": [{"name": "hedge", "points": [[0.2, 0.66], [0.2, 0.97]], "from_side": [0.1, 0.8]}]},
                           [walker([(3.0, 0.04, 0.92), (9.0, 0.40, 0.94)], height=0.14),
                            walker([(3.0, 0.38, 0.74), (9.0, 0.02, 0.76)], height=0.12, colours=((30, 160, 200), (50, 50, 50)))],
                           [Expect("line_crossing", 4.7, 7.5, line="hedge")], start_s=10.0)),
        ("crowd", Scenario("walk-along-line",
                           {"lines": [{"name": "path", "points": [[0.03, 0.80], [0.40, 0.80]]}]},
                           [walker([(2.5, 0.0, 0.80), (5.0, 0.15, 0.803), (7.5, 0.30, 0.797), (10.0, 0.45, 0.80)],
                                   height=0.14)], start_s=30.0)),
        ("crowd", Scenario("stop-on-line-turn-back",
                           {"lines": [{"name": "path", "points": [[0.03, 0.80], [0.40, 0.80]]}]},
                           [walker([(2.5, 0.10, 0.66), (5.0, 0.16, 0.80), (7.5, 0.165, 0.802), (10.5, 0.12, 0.66)],
                                   height=0.13)], start_s=40.0)),
        # ---- loitering with a short absence (up to 5 s does not reset the dwell)
        ("loitering absence", Scenario(
            "loiter-step-out-and-back", {"zones": [{"name": "lawn", "polygon": LAWN, "loitering": {"seconds": 8}}]},
            [walker([(2.0, 0.0, 0.80), (4.0, 0.15, 0.82), (6.5, 0.18, 0.80), (7.5, 0.20, 0.55), (10.0, 0.22, 0.55),
                     (11.0, 0.22, 0.78), (17.0, 0.20, 0.80)], height=0.13)],
            [Expect("loitering", 10.2, 13.0, zone="lawn")], duration_s=17.0, start_s=5.0)),
        ("loitering absence", Scenario(
            "loiter-long-absence-resets", {"zones": [{"name": "lawn", "polygon": LAWN, "loitering": {"seconds": 8}}]},
            [walker([(2.0, 0.0, 0.80), (4.0, 0.15, 0.82), (6.5, 0.18, 0.80), (7.5, 0.20, 0.55), (13.5, 0.22, 0.55),
                     (14.5, 0.22, 0.78), (18.0, 0.20, 0.80)], height=0.13)],
            duration_s=18.0, start_s=5.0)),
        # ---- falling objects among distractors
        ("falling distractors", Scenario("bird-diving", FALL_RULES, [bird_dive(3.0, 0.45, 0.02)],
                                         fps=10.0, duration_s=9.0, start_s=10.0)),
        ("falling distractors", Scenario("leaf-drifting", FALL_RULES,
                                         [leaf(2.0, 0.5, 0.01, sink=0.12, sway=0.05), leaf(4.0, 0.66, 0.02, sink=0.09)],
                                         fps=10.0, duration_s=10.0, start_s=30.0)),
        ("falling distractors", Scenario("window-opening", FALL_RULES,
                                         [window_opening(3.0, (0.44, 0.065, 0.47, 0.14)),
                                          window_opening(6.0, (0.56, 0.065, 0.60, 0.14), dur=0.8, top_hung=True)],
                                         fps=10.0, duration_s=10.0, start_s=40.0)),
        ("falling distractors", Scenario("foliage-in-region", FALL_RULES, [foliage_patch((0.42, 0.0, 0.74, 0.18))],
                                         fps=10.0, duration_s=12.0, start_s=50.0)),
        ("falling distractors", Scenario("foliage-region-tree-7fps",
                                         {"falling_object": {"region": [[0.15, 0.0], [0.85, 0.0], [0.85, 0.7], [0.15, 0.7]]}},
                                         footage="tree", fps=7.5, duration_s=12.0)),
        ("falling distractors", Scenario("foliage-region-tree-5fps-noise",
                                         {"falling_object": {"region": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.8], [0.1, 0.8]]}},
                                         [noise(3.0)], footage="tree", fps=5.0, duration_s=12.0)),
        ("falling distractors", Scenario("foliage-in-region-5fps", FALL_RULES, [foliage_patch((0.40, 0.0, 0.76, 0.19))],
                                         duration_s=12.0, start_s=30.0)),
        ("falling distractors", Scenario("bird-diving-5fps", FALL_RULES, [bird_dive(3.0, 0.5, 0.02, accel=0.8, dive_s=0.9)],
                                         duration_s=9.0, start_s=20.0)),
        ("falling distractors", Scenario("fall-behind-foliage", FALL_RULES,
                                         [foliage_patch((0.42, 0.0, 0.60, 0.18)),
                                          falling(5.0, 0.66, 0.03, accel=0.6, size=0.02, y_end=0.6)],
                                         [Expect("falling_object", 5.2, 7.0)], fps=10.0, duration_s=10.0, start_s=50.0)),
        # ---- the camera and the sky
        ("camera shake", Scenario("shake-1-3px", SCENE_RULES, [shake(3.0, 11.0)], start_s=5.0)),
        ("camera shake", Scenario("shake-at-night", NIGHT_RULES, [shake(3.0, 11.0), night(0.3, 5.0)], start_s=30.0)),
        ("cloud shadow", Scenario("cloud-shadow-over-lawn", SCENE_RULES,
                                  [cloud_shadow(2.5, 12.0, (-0.4, 0.8), (1.3, 0.7))], start_s=20.0)),
        ("cloud shadow", Scenario("cloud-shadow-fast", SCENE_RULES,
                                  [cloud_shadow(3.0, 8.0, (-0.3, 0.9), (1.2, 0.6), radius=0.25, depth=0.55)],
                                  start_s=0.0)),
        ("slow drift", Scenario("drift-15pct-10s", SCENE_RULES, [drift(3.0, 13.0, 0.15)],
                                [Expect("tamper.moved", 6.0, 12.0, state="raised")], duration_s=16.0)),
        ("slow drift", Scenario("drift-15pct-10s-left", SCENE_RULES, [drift(2.5, 12.5, -0.15)],
                                [Expect("tamper.moved", 5.5, 11.5, state="raised")], duration_s=15.0, start_s=25.0)),
        ("spray paint", Scenario("spray-60pct", SCENE_RULES, [spray(4.0, 0.6)],
                                 [Expect("tamper.covered", 6.0, 9.0, state="raised")], start_s=10.0)),
    ]
