"""Background model: running mean and variance per pixel, on a small grey frame.

Each frame is first divided by its global gain against the background (measured over
last frame's background pixels), so clouds, lights and auto-exposure steps do not light up the whole
frame. A pixel is foreground when it departs from the mean by more than k standard
deviations (waving foliage and noisy pixels learn a wide band) and by a floor.
When most of the frame changes at once (lights switched on one side, day/night IR
switch, the camera knocked), the model relearns from the current frame instead of
reporting one huge object.

Speed: every array is allocated once and every step writes into it (cv2 `dst=`, numpy
`out=`). Fresh 230 KB arrays per frame each cost an mmap and page faults, which on a busy
edge box took longer than the arithmetic.
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
        f32 = lambda: np.zeros(shape, np.float32)  # noqa: E731
        self.mean = f32()
        self.var = np.full(shape, settings.init_sigma**2, np.float32)
        self._f, self._prev = f32(), f32()       # this frame and the last, gain-normalised
        self._diff, self._band2, self._step = f32(), f32(), f32()
        self._raw = np.zeros(shape, np.uint8)    # foreground before the opening
        self._fg = np.zeros(shape, np.uint8)     # returned: valid until the next call
        self._bg_mask = np.full(shape, 255, np.uint8)  # last frame's background pixels
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._keep: np.ndarray | None = None     # inverse of the motion mask, cached
        self._keep_src: np.ndarray | None = None
        self.started = False
        self.last_t: float | None = None
        self.gain = 1.0
        self.relearned = False    # the last frame caused a relearn (callers pause rules)
        self.fg_fraction = 0.0

    def reset(self) -> None:
        self.started = False
        self.var[:] = self.s.init_sigma**2
        self.last_t = None

    def apply(self, grey: np.ndarray, t: float, ignore: np.ndarray | None = None, warmup: bool = False) -> np.ndarray:
        """Foreground mask (uint8 0/255, valid until the next call) of `grey` (uint8) at time `t`
        (seconds); updates the model. `ignore`: uint8 mask of pixels never reported (motion
        masks); `warmup`: learn fast."""
        f = self._f
        np.copyto(f, grey)
        self.relearned = False
        if not self.started:
            return self._restart(t)
        dt = max(1e-3, t - self.last_t) if self.last_t is not None else 0.2
        self.last_t = t

        # global gain over what was background last frame, so objects do not bias it; on a
        # 1-in-16 grid (a masked cv2.mean over the whole frame costs 5x more)
        grid = np.ascontiguousarray(self._bg_mask[::4, ::4])
        ref = float(cv2.mean(np.ascontiguousarray(self.mean[::4, ::4]), grid)[0])
        self.gain = float(cv2.mean(np.ascontiguousarray(f[::4, ::4]), grid)[0]) / ref if ref > 4 else 1.0
        if not 0.05 < self.gain < 20:
            self.gain = 1.0
        if abs(self.gain - 1.0) > 0.01:
            f *= 1.0 / self.gain

        diff, band2 = self._diff, self._band2
        cv2.absdiff(f, self.mean, dst=diff)
        cv2.multiply(diff, diff, dst=diff)
        np.multiply(self.var, self.s.k_sigma**2, out=band2)  # numpy for scalars: cv2's is 5x slower
        np.maximum(band2, self.s.min_diff**2, out=band2)
        cv2.compare(diff, band2, cv2.CMP_GT, dst=self._raw)
        if ignore is not None:
            if self._keep is None or self._keep_src is not ignore:
                self._keep_src, self._keep = ignore, cv2.bitwise_not(ignore)
            cv2.bitwise_and(self._raw, self._keep, dst=self._raw)
        fg = self._fg
        cv2.morphologyEx(self._raw, cv2.MORPH_OPEN, self._kernel, dst=fg)  # drops noise, rain streaks, specks
        self.fg_fraction = cv2.countNonZero(fg) / fg.size

        if self.fg_fraction > self.s.relearn_fraction:
            self._restart(t)
            self.relearned = True
            return self._fg

        bg = cv2.bitwise_not(fg, dst=self._bg_mask)
        cv2.accumulateWeighted(f, self.mean, min(1.0, dt / (self.s.warmup_learn_s if warmup else self.s.learn_s)), bg)
        cv2.accumulateWeighted(f, self.mean, min(1.0, dt / self.s.learn_fg_s), fg)
        # The variance learns from frame-to-frame change, everywhere: waving foliage widens its
        # own band even while flagged, a person standing still does not (no change), and the
        # cap keeps one passing object from blinding a pixel.
        step = self._step
        cv2.absdiff(f, self._prev, dst=step)
        np.minimum(step, 40.0, out=step)
        cv2.multiply(step, step, dst=step, scale=0.5)
        cv2.accumulateWeighted(step, self.var, min(1.0, dt / (self.s.warmup_learn_s if warmup else self.s.var_learn_s)))
        self._f, self._prev = self._prev, self._f  # this frame is the next one's previous
        return fg

    def _restart(self, t: float) -> np.ndarray:
        """Learn the current frame (in self._f) as the background."""
        np.copyto(self.mean, self._f)
        np.copyto(self._prev, self._f)
        self.started = True
        self.last_t = t
        self.fg_fraction = 0.0
        self._bg_mask[:] = 255
        self._fg[:] = 0
        return self._fg
