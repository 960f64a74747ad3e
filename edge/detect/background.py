"""Background model: running mean and variance per pixel, on a small grey frame.

Each frame is first divided by its global gain against the background (the median
pixel ratio), so clouds, lights and auto-exposure steps do not light up the whole
frame. A pixel is foreground when it departs from the mean by more than k standard
deviations (waving foliage and noisy pixels learn a wide band) and by a floor.
When most of the frame changes at once (lights switched on one side, day/night IR
switch, the camera knocked), the model relearns from the current frame instead of
reporting one huge object.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BackgroundSettings:
    k_sigma: float = 3.0          # foreground beyond this many standard deviations...
    min_diff: float = 14.0        # ...and beyond this many grey levels (sensor noise floor)
    learn_s: float = 4.0          # time constant of the mean for background pixels
    learn_fg_s: float = 90.0      # much slower under objects: a person standing still stays foreground
    var_learn_s: float = 6.0
    init_sigma: float = 6.0
    warmup_learn_s: float = 1.0   # time constant while warming up after a (re)connect
    relearn_fraction: float = 0.45  # this much foreground at once is a global change, not objects


class BackgroundModel:
    def __init__(self, shape: tuple[int, int], settings: BackgroundSettings = BackgroundSettings()):
        self.s = settings
        self.shape = shape
        self.mean: np.ndarray | None = None
        self.prev: np.ndarray | None = None  # the last frame, gain-normalised
        self.var = np.full(shape, settings.init_sigma**2, np.float32)
        self.last_t: float | None = None
        self.gain = 1.0
        self.relearned = False    # the last frame caused a relearn (callers pause rules)
        self.fg_fraction = 0.0
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._bg_mask = np.full(shape, 255, np.uint8)  # last frame's background pixels
        self._keep: np.ndarray | None = None            # inverse of the motion mask, cached
        self._keep_src: np.ndarray | None = None

    def reset(self) -> None:
        self.mean = None
        self.var[:] = self.s.init_sigma**2
        self.last_t = None

    def apply(self, grey: np.ndarray, t: float, ignore: np.ndarray | None = None, warmup: bool = False) -> np.ndarray:
        """Foreground mask (uint8 0/255) of `grey` (uint8) at time `t` (seconds); updates the model.
        `ignore`: uint8 mask of pixels never reported (motion masks); `warmup`: learn fast.
        Written with cv2 array primitives: several times faster than the numpy equivalents."""
        f = grey.astype(np.float32)
        self.relearned = False
        if self.mean is None:
            return self._restart(f, t)
        dt = max(1e-3, t - self.last_t) if self.last_t is not None else 0.2
        self.last_t = t

        # global gain over what was background last frame: objects do not bias it
        ref = float(cv2.mean(self.mean, self._bg_mask)[0])
        self.gain = float(cv2.mean(f, self._bg_mask)[0]) / ref if ref > 4 else 1.0
        if not 0.05 < self.gain < 20:
            self.gain = 1.0
        if abs(self.gain - 1.0) > 0.01:
            f *= 1.0 / self.gain

        diff = cv2.absdiff(f, self.mean)
        band2 = cv2.max(cv2.multiply(self.var, self.s.k_sigma**2), self.s.min_diff**2)
        fg = cv2.compare(cv2.multiply(diff, diff), band2, cv2.CMP_GT)
        if ignore is not None:
            if self._keep is None or self._keep_src is not ignore:
                self._keep_src, self._keep = ignore, cv2.bitwise_not(ignore)
            fg = cv2.bitwise_and(fg, self._keep)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._kernel)  # drops noise, rain streaks, specks
        self.fg_fraction = cv2.countNonZero(fg) / fg.size

        if self.fg_fraction > self.s.relearn_fraction:
            self._restart(f, t)
            self.relearned = True
            return self._bg_mask * 0

        bg = cv2.bitwise_not(fg)
        cv2.accumulateWeighted(f, self.mean, min(1.0, dt / (self.s.warmup_learn_s if warmup else self.s.learn_s)), bg)
        cv2.accumulateWeighted(f, self.mean, min(1.0, dt / self.s.learn_fg_s), fg)
        # The variance learns from frame-to-frame change, everywhere: waving foliage widens its
        # own band even while flagged, a person standing still does not (no change), and the
        # cap keeps one passing object from blinding a pixel.
        step = cv2.absdiff(f, self.prev)
        step2 = cv2.min(cv2.multiply(step, step, scale=0.5), 40.0**2 * 0.5)
        cv2.accumulateWeighted(step2, self.var, min(1.0, dt / (self.s.warmup_learn_s if warmup else self.s.var_learn_s)))
        self.prev = f
        self._bg_mask = bg
        return fg

    def _restart(self, f: np.ndarray, t: float) -> np.ndarray:
        self.mean = f.copy()
        self.prev = f
        self.last_t = t
        self.fg_fraction = 0.0
        self._bg_mask = np.full(self.shape, 255, np.uint8)
        return np.zeros(self.shape, np.uint8)
