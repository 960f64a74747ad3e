"""Labelled scenarios for the second stage (`objects:` filters, edge/detect/classify.py): the real
pedestrians of vtest.avi (on the walkway, the couple stepping onto the lawn at ~54 s, the woman
crossing the hedge line at ~70 s) and drawn vehicles and animals on the lawn. Each entry is
(truth, Scenario): what the object really is, and what the filtered rules must raise."""
from __future__ import annotations

import math

import cv2

from tests.scenarios import LAWN, Effect, Expect, Scenario, _interp

ALL_KINDS = ["person", "vehicle", "animal"]
WALKWAY = [[0.3, 0.3], [1.0, 0.3], [1.0, 0.8], [0.3, 0.5]]


def car(keys: list[tuple[float, float, float]], length: float = 0.2, colour=(160, 40, 40)) -> Effect:
    """A car seen from the side whose front bottom corner follows `keys` [(t, x, y)]."""
    def draw(img, t, rng):
        p = _interp(keys, t)
        if p is None:
            return img
        h, w = img.shape[:2]
        x, y, ln = p[0] * w, p[1] * h, length * w
        body_h, cab_h = 0.3 * ln, 0.22 * ln
        cv2.rectangle(img, (int(x - ln), int(y - body_h)), (int(x), int(y - 0.12 * ln)), colour, -1)
        cv2.rectangle(img, (int(x - 0.75 * ln), int(y - body_h - cab_h)), (int(x - 0.2 * ln), int(y - body_h)), colour, -1)
        cv2.rectangle(img, (int(x - 0.7 * ln), int(y - body_h - cab_h * 0.85)), (int(x - 0.25 * ln), int(y - body_h)),
                      (60, 50, 40), -1)
        for wx in (x - 0.8 * ln, x - 0.2 * ln):
            cv2.circle(img, (int(wx), int(y - 0.1 * ln)), int(0.1 * ln), (20, 20, 20), -1)
        return img
    return draw


def dog(keys: list[tuple[float, float, float]], size: float = 0.07, colour=(35, 35, 40)) -> Effect:
    """A dog trotting, its feet following `keys`; `size` its length as a share of the width."""
    def draw(img, t, rng):
        p = _interp(keys, t)
        if p is None:
            return img
        h, w = img.shape[:2]
        x, y, ln = p[0] * w, p[1] * h, size * w
        body_y = y - 0.45 * ln
        cv2.ellipse(img, (int(x), int(body_y)), (int(ln / 2), int(0.18 * ln)), 0, 0, 360, colour, -1)
        cv2.circle(img, (int(x + 0.55 * ln), int(body_y - 0.2 * ln)), int(0.14 * ln), colour, -1)
        swing = math.sin(t * 12) * 0.12 * ln
        for lx, s in ((x - 0.35 * ln, 1), (x - 0.2 * ln, -1), (x + 0.2 * ln, 1), (x + 0.35 * ln, -1)):
            cv2.line(img, (int(lx), int(body_y)), (int(lx + s * swing), int(y)), colour, max(2, int(0.06 * ln)))
        cv2.line(img, (int(x - 0.5 * ln), int(body_y)), (int(x - 0.75 * ln), int(body_y - 0.25 * ln)), colour, 2)
        return img
    return draw


def _zone(name: str, polygon, objects: list[str], min_s: float = 1.0) -> dict:
    return {"name": name, "polygon": polygon, "intrusion": {"min_seconds": min_s}, "objects": objects}


def object_scenarios() -> list[tuple[str, Scenario]]:
    across = [(2.5, 0.0, 0.88), (9.0, 0.42, 0.90), (12.0, 0.5, 0.90)]
    trot = [(3.0, 0.0, 0.80), (8.0, 0.25, 0.84), (12.0, 0.30, 0.86)]
    return [
        # real people
        ("person", Scenario("obj-people-on-walkway", {"zones": [_zone("walk", WALKWAY, ["person"])]}, [],
                            [Expect("intrusion", 2.0, 8.0, zone="walk")], duration_s=10.0)),
        ("person", Scenario("obj-couple-onto-lawn", {"zones": [_zone("lawn", LAWN, ["person"])]}, [],
                            [Expect("intrusion", 7.0, 12.0, zone="lawn")], start_s=45.0)),
        ("person", Scenario("obj-woman-over-hedge",
                            {"lines": [{"name": "hedge", "points": [[0.2, 0.66], [0.2, 0.97]], "objects": ["person"]}]}, [],
                            [Expect("line_crossing", 10.0, 14.0, line="hedge")], start_s=58.0)),
        # a car and a dog on the lawn: not people
        ("vehicle", Scenario("obj-car-lawn-person-zone", {"zones": [_zone("lawn", LAWN, ["person"])]},
                             [car(across)], start_s=10.0)),
        ("vehicle", Scenario("obj-car-lawn-vehicle-zone", {"zones": [_zone("lawn", LAWN, ["vehicle"])]},
                             [car(across)], [Expect("intrusion", 3.5, 8.0, zone="lawn")], start_s=10.0)),
        ("animal", Scenario("obj-dog-lawn-person-zone", {"zones": [_zone("lawn", LAWN, ["person"])]},
                            [dog(trot)], start_s=20.0)),
        ("animal", Scenario("obj-dog-lawn-animal-zone", {"zones": [_zone("lawn", LAWN, ["animal"])]},
                            [dog(trot)], [Expect("intrusion", 4.0, 8.5, zone="lawn")], start_s=20.0)),
        ("animal", Scenario("obj-dog-over-line-person-line",
                            {"lines": [{"name": "hedge", "points": [[0.2, 0.66], [0.2, 0.97]], "objects": ["person"]}]},
                            [dog(trot)], start_s=20.0)),
    ]
