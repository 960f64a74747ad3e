"""The detection engine: one small grey frame in, the events it completes out.

Pure: no I/O, no clock, no logging. Time is the frame's `pos_s`. The caller (the
pipeline) downscales, converts to grey and applies privacy masks before calling.
"""
from __future__ import annotations

import numpy as np

from camera_profiles.schema import CameraProfile
from edge.detect.background import BackgroundModel
from edge.detect.blobs import extract_blobs
from edge.detect.events import Event, Scale
from edge.detect.falling import FallingRule
from edge.detect.lines import LineRule
from edge.detect.tamper import TamperRule
from edge.detect.tracker import Tracker, TrackerSettings
from edge.detect.zones import MIN_HITS, MotionRule, ZoneRules
from edge.masks import polygon_mask

SETTLE_S = 1.0      # after a global relearn, rules wait this long for the new background
MIN_TRAVEL = 0.02   # an object must have travelled this share of the width to count as arrived


class Detector:
    def __init__(self, profile: CameraProfile, width: int, height: int):
        self.profile = profile
        self.width, self.height = width, height
        self.scale = Scale(width, height)
        self.bg = BackgroundModel((height, width))
        self.tracker = Tracker(TrackerSettings(min_travel_px=max(4.0, MIN_TRAVEL * width)))
        self.ignore = polygon_mask(profile.motion_masks, width, height) if profile.motion_masks else None
        self.zones = [ZoneRules(z, polygon_mask([z.polygon], width, height), self.scale) for z in profile.zones]
        self.lines = [LineRule(ln, self.scale) for ln in profile.lines]
        self.falling = (FallingRule(profile.falling_object, polygon_mask([profile.falling_object.region], width, height),
                                    self.scale) if profile.falling_object else None)
        self.tamper = TamperRule(profile.tamper, self.scale) if profile.tamper else None
        no_rules = not (profile.zones or profile.lines or profile.falling_object or profile.tamper)
        self.motion = MotionRule(self.scale) if no_rules else None
        self.settle_until = -1e18
        self.min_blob = 3

    def reset(self) -> None:
        """After a reconnect: relearn background and references, forget tracks."""
        self.bg.reset()
        self.tracker.reset()
        for z in self.zones:
            z.reset()
        for ln in self.lines:
            ln.reset()
        if self.falling:
            self.falling.reset()
        if self.motion:
            self.motion.reset()
        if self.tamper:
            self.tamper.reset()

    def step(self, grey: np.ndarray, t: float, learn_only: bool = False) -> list[Event]:
        """Analyse one grey work frame (uint8, height x width) taken at `t` seconds."""
        events: list[Event] = []
        if self.tamper:
            events.extend(self.tamper.update(grey, t, learn_only))
            if self.tamper.active:
                # a covered or turned view is one tamper event, not a flood of objects
                self.bg.reset()
                self.tracker.reset()
                self.settle_until = t + SETTLE_S
                return events
        fg = self.bg.apply(grey, t, self.ignore, warmup=learn_only)
        if self.bg.relearned:
            self.tracker.reset()
            self.settle_until = t + SETTLE_S
        blobs = extract_blobs(fg, self.min_blob)
        tracks = self.tracker.update(blobs, t)
        if learn_only or t < self.settle_until:
            return events
        ended = self.tracker.ended
        # every rule skips tracks not seen this frame or seen fewer than MIN_HITS times: once here
        seen = [tr for tr in tracks if not tr.missed and tr.hits >= MIN_HITS]
        for z in self.zones:
            events.extend(z.update(seen, ended, t))
        for ln in self.lines:
            events.extend(ln.update(seen, t, tracks))
        if self.falling:
            events.extend(self.falling.update(seen, ended, t, tracks))
        if self.motion:
            events.extend(self.motion.update(seen, t, tracks))
        return events
