"""Background model: running mean and noise level per pixel, on a small grey frame.

Each frame is first divided by its global gain against the background (measured over
last frame's background pixels), so clouds, lights and auto-exposure steps do not light
up the whole frame. A pixel is foreground when it departs from the mean by more than k
times its noise level (waving foliage and noisy pixels learn a wide band) and by a floor.
When much of the frame changes at once (lights switched on one side, day/night IR
switch, the camera knocked), the model relearns from the current frame instead of
reporting one huge object.

The noise level is learnt from frame-to-frame change (mean absolute step: 1.13 sigma for
Gaussian noise), not from the distance to the mean: foliage widens its own band even while
flagged, while a person standing still (no change) does not blind the pixels under them.

Night mode (noise-aware thresholds): once a second the sensor noise is probed (the median
frame-to-frame step on a 1-in-16 grid of the raw frame, two frames in a row, raw and as 2x2
means: white sensor noise halves in the mean, the texture of a shaking view does not) and the
scene's brightness read off the background. A noisy view (IR at night, sigma >= 3 in two
probes in a row) is smoothed 3x3 before the comparison (noise /3: the model relearns and then
learns the lower noise by itself), and in a dark view the grey-level floor follows the
brightness (a person at gain 0.3 differs from the lawn by a third of the grey levels they
would by day), down to `min_diff_dark`. A day view pays only the probe, on two frames a second.

Speed: the per-frame comparison runs on uint8 images (16 pixels per SIMD instruction, a
quarter of the memory traffic); only the slow-moving state (mean, noise) is float32 and
is fed by cv2.accumulateWeighted straight from uint8. Every array is allocated once: fresh
230 KB arrays per frame each cost an mmap and page faults. cv2.min/max with a scalar, not
np.minimum/maximum: 8 us against 40-55 us on a 320x180 uint8 frame here.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAD_TO_SIGMA = 0.886  # sigma = sqrt(pi)/2 * E|x_t - x_t-1| for Gaussian noise
MEDIAN_TO_SIGMA = 1.05  # sigma = median|x_t - x_t-1| / (0.674 sqrt 2)
WHITE_RATIO = 0.7       # a 2x2 mean leaves 1/2 of white noise's step, most of moving texture's


@dataclass(frozen=True)
class BackgroundSettings:
    k_sigma: float = 3.5          # foreground beyond this many standard deviations...
    min_diff: float = 14.0        # ...and beyond this many grey levels (sensor noise floor)
    learn_s: float = 4.0          # time constant of the mean for background pixels
    learn_fg_s: float = 90.0      # much slower under objects: a person standing still stays foreground
    noise_learn_s: float = 6.0
    init_sigma: float = 6.0
    max_step: int = 40            # one frame's change counts at most this much towards the noise
    warmup_learn_s: float = 1.0   # time constant while warming up after a (re)connect
    relearn_fraction: float = 0.45  # this much foreground at once is a global change, not objects...
    night_sigma: float = 3.0      # raw noise above this: night mode (smoothed input)...
    day_sigma: float = 2.0        # ...until it drops below this
    bright_level: float = 100.0   # the floor is min_diff at this background level and above...
    min_diff_dark: float = 5.0    # ...and falls with the level, down to this
    probe_every_s: float = 1.0
    relearn_jump: float = 0.08      # ...and so is this much more than last frame, in one frame and spread
                                    # over many places (IR switch, a light on one side); one big object
                                    # close to the lens is an object


class BackgroundModel:
    def __init__(self, shape: tuple[int, int], settings: BackgroundSettings = BackgroundSettings()):
        self.s = settings
        self.shape = shape
        self.mean = np.zeros(shape, np.float32)
        self.noise = np.zeros(shape, np.float32)         # mean absolute frame-to-frame step
        self._mean8 = np.zeros(shape, np.uint8)
        self._band8 = np.zeros(shape, np.uint8)          # foreground threshold per pixel
        self._g = np.zeros(shape, np.uint8)              # this frame, gain-normalised
        self._prev = np.zeros(shape, np.uint8)           # the last one
        self._tmp = np.zeros(shape, np.uint8)
        self._fg = np.zeros(shape, np.uint8)             # returned: valid until the next call
        self._bg_mask = np.full(shape, 255, np.uint8)    # last frame's background pixels
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._keep: np.ndarray | None = None             # inverse of the motion mask, cached
        self._keep_src: np.ndarray | None = None
        self.started = False
        self.last_t: float | None = None
        self.gain = 1.0
        self.relearned = False    # the last frame caused a relearn (callers pause rules)
        self.fg_fraction = 0.0
        self.night = False        # noisy view: input smoothed
        self.raw_sigma = 0.0      # last probed sensor noise (grey levels)
        self.min_diff = settings.min_diff  # the floor in use (falls in a dark view)
        self._probe: np.ndarray | None = None  # _probe_rows of the probe's first frame
        self._probe_t = -1e18
        self._votes = 0
        self.reset()

    def reset(self) -> None:
        self.started = False
        self.noise[:] = self.s.init_sigma / MAD_TO_SIGMA
        self.min_diff = self.s.min_diff
        self._probe = None
        self._probe_t = -1e18
        self._votes = 0
        self._update_band()
        self.last_t = None

    @property
    def sigma(self) -> np.ndarray:
        """Noise level per pixel, in grey levels (a new array)."""
        return self.noise * MAD_TO_SIGMA

    def apply(self, grey: np.ndarray, t: float, ignore: np.ndarray | None = None, warmup: bool = False) -> np.ndarray:
        """Foreground mask (uint8 0/255, valid until the next call) of `grey` (uint8) at time `t`
        (seconds); updates the model. `ignore`: uint8 mask of pixels never reported (motion
        masks); `warmup`: learn fast."""
        self.relearned = False
        self._probe_noise(grey, t)
        if self.night:
            grey = cv2.blur(grey, (3, 3))
        if not self.started:
            np.copyto(self._g, grey)
            self.relearned = self.last_t is not None  # (a mode switch, not the first frame)
            return self._restart(t)
        dt = max(1e-3, t - self.last_t) if self.last_t is not None else 0.2
        self.last_t = t

        # global gain over what was background last frame, so objects do not bias it; on a
        # 1-in-16 grid (a masked cv2.mean over the whole frame costs 5x more)
        grid = np.ascontiguousarray(self._bg_mask[::4, ::4])
        ref = float(cv2.mean(np.ascontiguousarray(self._mean8[::4, ::4]), grid)[0])
        self.gain = float(cv2.mean(np.ascontiguousarray(grey[::4, ::4]), grid)[0]) / ref if ref > 4 else 1.0
        if not 0.05 < self.gain < 20:
            self.gain = 1.0
        g = self._g
        if abs(self.gain - 1.0) > 0.01:
            cv2.convertScaleAbs(grey, dst=g, alpha=1.0 / self.gain)
        else:
            np.copyto(g, grey)

        raw = cv2.absdiff(g, self._mean8, dst=self._tmp)
        cv2.compare(raw, self._band8, cv2.CMP_GT, dst=raw)
        if ignore is not None:
            if self._keep is None or self._keep_src is not ignore:
                self._keep_src, self._keep = ignore, cv2.bitwise_not(ignore)
            cv2.bitwise_and(raw, self._keep, dst=raw)
        fg = cv2.morphologyEx(raw, cv2.MORPH_OPEN, self._kernel, dst=self._fg)  # drops noise, rain streaks, specks
        previous = self.fg_fraction
        self.fg_fraction = cv2.countNonZero(fg) / fg.size

        jump = self.fg_fraction - previous
        if self.fg_fraction > self.s.relearn_fraction or (
                jump > self.s.relearn_jump and self.fg_fraction > 3 * previous and not _one_object(fg)):
            self._restart(t)
            self.relearned = True
            return self._fg

        fast = self.s.warmup_learn_s if warmup else None
        bg = cv2.bitwise_not(fg, dst=self._bg_mask)
        cv2.accumulateWeighted(g, self.mean, min(1.0, dt / (fast or self.s.learn_s)), bg)
        cv2.accumulateWeighted(g, self.mean, min(1.0, dt / self.s.learn_fg_s), fg)
        cv2.convertScaleAbs(self.mean, dst=self._mean8)
        step = cv2.absdiff(g, self._prev, dst=self._tmp)
        # one passing object cannot blind a pixel (the stubs lack cv2.min/max's scalar form)
        cv2.min(step, self.s.max_step, dst=step)  # type: ignore[call-overload]
        cv2.accumulateWeighted(step, self.noise, min(1.0, dt / (fast or self.s.noise_learn_s)))
        self._update_band()
        self._g, self._prev = self._prev, self._g  # this frame is the next one's previous
        return fg

    def _probe_noise(self, grey: np.ndarray, t: float) -> None:
        """Once a second: the sensor noise (two frames in a row on a 1-in-16 grid, raw and as
        2x2 means) -> night mode; the background's brightness -> the grey-level floor. Sensor
        noise is white: a 2x2 mean halves it; a shaking or drifting view moves texture, which
        the mean keeps (no night mode for that)."""
        if self._probe is not None:
            now, then = _probe_rows(grey), self._probe
            raw = _median(np.abs(_grid(now) - then[:, 0, 0::4])) * MEDIAN_TO_SIGMA
            if raw >= self.s.day_sigma:  # (a clean day view needs no second median)
                smooth = _median(np.abs(_sums(now) - _sums(then))) * MEDIAN_TO_SIGMA / 4
                raw = raw if smooth < WHITE_RATIO * raw else 0.0
            self.raw_sigma = raw
            self._probe = None
            night = self.raw_sigma >= (self.s.day_sigma if self.night else self.s.night_sigma)
            self._votes = self._votes + 1 if night != self.night else 0
            if self._votes >= 2:  # two probes in a row: one shaken second is no night
                self.night, self._votes = night, 0
                self.started = False  # smoothed and raw frames differ at every edge: relearn
            if self.started:
                level = float(cv2.mean(np.ascontiguousarray(self._mean8[::4, ::4]))[0])
                self.min_diff = min(self.s.min_diff, max(self.s.min_diff_dark, self.s.min_diff * level / self.s.bright_level))
        elif t - self._probe_t >= self.s.probe_every_s or t < self._probe_t:
            self._probe_t = t
            self._probe = np.array(_probe_rows(grey))   # (the frame buffer is refilled by the next frame)

    def _update_band(self) -> None:
        cv2.convertScaleAbs(self.noise, dst=self._band8, alpha=self.s.k_sigma * MAD_TO_SIGMA)
        cv2.max(self._band8, int(round(self.min_diff)), dst=self._band8)  # type: ignore[call-overload]

    def _restart(self, t: float) -> np.ndarray:
        """Learn the current frame (in self._g) as the background."""
        self.mean[:] = self._g
        np.copyto(self._mean8, self._g)
        np.copyto(self._prev, self._g)
        self.started = True
        self.last_t = t
        self.fg_fraction = 0.0
        self._bg_mask[:] = 255
        self._fg[:] = 0
        return self._fg


def _probe_rows(grey: np.ndarray) -> np.ndarray:
    """Rows 0 and 1 of every 4 (a view, to a multiple of 4 each way): the probe's 1-in-16 grid
    and its 2x2 neighbours are all in it, so the first frame of a probe keeps one small copy."""
    h, w = grey.shape[0] // 4 * 4, grey.shape[1] // 4 * 4
    return grey[:h, :w].reshape(h // 4, 4, w)[:, :2]


def _grid(rows: np.ndarray) -> np.ndarray:
    """The 1-in-16 grid (int16: differences of two frames go negative)."""
    return rows[:, 0, 0::4].astype(np.int16)


def _sums(rows: np.ndarray) -> np.ndarray:
    """The grid as the sum of 2x2 neighbours (white noise's step halves in the mean of four)."""
    return np.asarray(_grid(rows) + rows[:, 1, 0::4] + rows[:, 0, 1::4] + rows[:, 1, 1::4])


def _median(x: np.ndarray) -> float:
    """np.median of a small integer array by np.partition: the same value, without np.median's
    overhead (90 us a call on a cold cache after a 1080p frame, against ~10 us)."""
    flat = x.ravel()
    k = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, k)[k])
    part = np.partition(flat, (k - 1, k))
    return (float(part[k - 1]) + float(part[k])) / 2


def _one_object(fg: np.ndarray) -> bool:
    """Most of the foreground is one blob (someone right in front of the camera), not a
    scattered change of the whole scene."""
    joined = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, _JOIN)  # legs, torso and head are one body
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    largest = max((cv2.contourArea(c) for c in contours), default=0.0)
    return largest >= 0.5 * cv2.countNonZero(fg)


_JOIN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
