"""The detection engine: one small grey frame in, the events it completes out.

Pure: no I/O, no clock, no logging. Time is the frame's `pos_s`. The caller (the
pipeline) downscales, converts to grey and applies privacy masks before calling. A profile
with an `objects:` filter on a zone or line also gets the full frame with each step
(`wants_image`), for the classifier to look at an object when a rule is about to fire.
"""
from __future__ import annotations

import numpy as np

from camera_profiles.schema import CameraProfile
from edge.detect.background import BackgroundModel
from edge.detect.blobs import extract_blobs
from edge.detect.classify import RETRY_S, ObjectClassifier
from edge.detect.events import Event, Scale
from edge.detect.falling import FallingRule
from edge.detect.lines import LineRule
from edge.detect.tamper import TamperRule
from edge.detect.tracker import Track, Tracker, TrackerSettings
from edge.detect.zones import MIN_HITS, NIGHT_AREA, MotionRule, ZoneRules
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
        wants = any(z.objects for z in profile.zones) or any(ln.objects for ln in profile.lines)
        self.classifier = ObjectClassifier() if wants else None
        self._image: np.ndarray | None = None  # the full frame, during a step only
        self._keep: np.ndarray | None = None   # its privacy masks, inverted (per frame size)
        self._labels: dict[int, tuple[float, str]] = {}  # track id -> (asked at, label)
        label = self.label if wants else None
        self.zones = [ZoneRules(z, polygon_mask([z.polygon], width, height), self.scale, label) for z in profile.zones]
        self.lines = [LineRule(ln, self.scale, label) for ln in profile.lines]
        self.falling = (FallingRule(profile.falling_object, polygon_mask([profile.falling_object.region], width, height),
                                    self.scale) if profile.falling_object else None)
        self.tamper = TamperRule(profile.tamper, self.scale) if profile.tamper else None
        no_rules = not (profile.zones or profile.lines or profile.falling_object or profile.tamper)
        self.motion = MotionRule(self.scale) if no_rules else None
        self.settle_until = -1e18
        self.moving = False   # last frame: a track the rules would look at (keeps an event clip going)
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

    @property
    def wants_image(self) -> bool:
        """The pipeline passes the full frame to `step` (an `objects:` filter is configured)."""
        return self.classifier is not None

    def label(self, tr: Track, t: float) -> str:
        """The kind of object a track is (the second stage), asked at most every RETRY_S."""
        cached = self._labels.get(tr.id)
        if cached is not None and t - cached[0] < RETRY_S:
            return cached[1]
        kind = "unknown"
        img = self._image
        if img is not None and self.classifier is not None:
            h, w = img.shape[:2]
            if self.profile.privacy_masks and (self._keep is None or self._keep.shape != (h, w)):
                self._keep = 255 - polygon_mask(self.profile.privacy_masks, w, h)
            sx, sy = w / self.width, h / self.height
            b = tr.last
            kind = self.classifier.label(img, (b.x * sx, b.y * sy, b.w * sx, b.h * sy),
                                         self._keep if self.profile.privacy_masks else None)[0]
        if len(self._labels) > 64:
            alive = {x.id for x in self.tracker.tracks}
            self._labels = {k: v for k, v in self._labels.items() if k in alive}
        self._labels[tr.id] = (t, kind)
        return kind

    def step(self, grey: np.ndarray, t: float, learn_only: bool = False, image: np.ndarray | None = None) -> list[Event]:
        """Analyse one grey work frame (uint8, height x width) taken at `t` seconds; `image`: the
        full frame (BGR), only for a profile that `wants_image`."""
        self._image = image
        try:
            return self._step(grey, t, learn_only)
        finally:
            self._image = None

    def _step(self, grey: np.ndarray, t: float, learn_only: bool) -> list[Event]:
        events: list[Event] = []
        self.moving = False
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
        self.moving = bool(seen)
        area = NIGHT_AREA if self.bg.night else 1.0   # in night mode smaller objects count
        for z in self.zones:
            events.extend(z.update(seen, ended, t, area=area))
        for ln in self.lines:
            events.extend(ln.update(seen, t, tracks, area=area))
        if self.falling:
            events.extend(self.falling.update(seen, ended, t, tracks))
        if self.motion:
            events.extend(self.motion.update(seen, t, tracks))
        return events
