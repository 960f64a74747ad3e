"""`falling_object`: a small object starting inside the `falling_object` region and
moving down with increasing speed, as gravity does.

The track's centre is fitted with y(t) = y0 + v t + a t^2 / 2 and x(t) = x0 + u t
(a thrown object keeps its horizontal speed). It counts only when the fit is tight,
the acceleration is clearly downward, and the path is mostly vertical: a bird gliding
across has no acceleration, a leaf sways (x does not fit a line) and sinks slowly,
rain falls at constant speed and is too thin to survive the foreground opening.
The start point is the fitted trajectory extrapolated back to where it was at rest, and it
must lie in (or next to) the region: specks hopping down a shaken view's edges fit a parabola
too, but one that started nowhere near the facade.
"""
from __future__ import annotations

import cv2
import numpy as np

from camera_profiles.schema import FallingObject
from edge.detect.events import Event, Scale
from edge.detect.tracker import Observation, Track

MIN_POINTS = 5           # observations needed for a fit (1 s at 5 fps)
MIN_ACCEL = 0.15         # frame heights / s^2 (gravity when the frame spans up to ~65 m of height)
MIN_DROP = 0.04          # frame heights fallen over the fit
MAX_SIZE = 0.12          # larger than this (fraction of the frame side) is not a "small object"
MAX_SWAY = 0.15          # RMS of the x fit residual, relative to the drop
MAX_Y_RESIDUAL = 0.12    # RMS of the y fit residual, relative to the drop
MAX_BACK_S = 3.0         # the start point is extrapolated at most this far back
SIZE_SPREAD = 3.0        # a falling thing keeps its size within this factor (one frame, partly hidden
                         # by rain or a window frame, may be smaller); foliage flicker grows and shrinks
MIN_SEEN = 0.7           # seen in this share of frames since it appeared (at 5 fps a fall over the busy
                         # walkway is often hidden 2 frames in 8; foliage flicker is seen far less)
MIN_AREA_PX = 9          # median blob area: a 3x3 object at least (foliage glints are specks)
START_MARGIN = 0.06      # the start point lies in the region or this share of the width next to it
MAX_FADE_S = 0.6         # a fall that faded out this long and came back is still one fall


class FallingRule:
    def __init__(self, cfg: FallingObject, mask: np.ndarray, scale: Scale):
        self.cfg, self.mask, self.scale = cfg, mask, scale
        r = max(1, round(START_MARGIN * scale.w))
        self.near = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1)))  # (separable: fast)
        self.done: set[int] = set()
        self.ready_t = -1e18

    def reset(self) -> None:
        self.done.clear()

    def _in_region(self, x: float, y: float, mask: np.ndarray | None = None) -> bool:
        m = self.mask if mask is None else mask
        h, w = m.shape
        return bool(m[min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1)])

    def update(self, tracks: list[Track], ended: list[Track], t: float,
               alive_tracks: list[Track] | None = None) -> list[Event]:
        """`tracks`: the tracks to check; `alive_tracks`: all live ones (default `tracks`)."""
        pool = tracks if alive_tracks is None else alive_tracks
        alive = {tr.id for tr in pool}
        self.done &= alive
        out = []
        for tr in tracks:
            if tr.missed or tr.id in self.done:
                continue
            obs, hits, frames = tr.history, tr.hits, tr.frames
            if hits < 2 * MIN_POINTS:
                before = self._faded_before(tr, pool, ended)
                if before is not None:  # one fall seen as two tracks: fit them as one
                    # (its frames while faded are the gap, which MAX_FADE_S bounds)
                    obs = before.history + tr.history
                    hits, frames = before.hits + hits, before.frames - before.missed + frames
            if hits < MIN_POINTS or hits < MIN_SEEN * frames:
                continue
            fit = self.fit(tr, obs)
            if fit is None:
                continue
            self.done.add(tr.id)
            if t < self.ready_t:
                continue
            self.ready_t = t + self.cfg.cooldown_s
            score, start, accel = fit
            out.append(Event("falling_object", self.cfg.severity.value, t, bbox=self.scale.box(tr.last),
                             score=round(score, 3), track=self.scale.path(tr),
                             details={"rule": "falling_object", "track_id": tr.id,
                                      "start_point": self.scale.point(*start),
                                      "accel_fh_s2": round(accel, 3)}))
        return out

    def _faded_before(self, tr: Track, pool: list[Track], ended: list[Track]) -> Track | None:
        """The track this one continues: at dusk or past a dark facade a falling thing fades out
        for a few frames and comes back lower as a new track. That one was small, going down,
        last seen just before this one began, above it and in line with it."""
        first = tr.history[0]
        for other in (*pool, *ended):
            if other is tr or len(other.history) < 3:
                continue
            last = other.history[-1]
            if not 0 < first.t - last.t <= MAX_FADE_S or first.blob.cy <= last.blob.cy:
                continue
            if abs(first.blob.cx - last.blob.cx) > max(last.blob.w, first.blob.w, 2.0) * 1.5:
                continue
            if last.blob.w > MAX_SIZE * self.scale.w or last.blob.h > MAX_SIZE * self.scale.h:
                continue
            a, b, c = (o.blob.cy for o in other.history[-3:])
            if a < b < c:  # it was falling already, not a speck trembling in place (a shaken view)
                return other
        return None

    def fit(self, tr: Track, history: list[Observation] | None = None) -> tuple[float, tuple[float, float], float] | None:
        """(score, start point in work px, acceleration in frame heights/s^2), or None if not a fall.
        `history`: the observations to fit (default the track's own)."""
        s = self.scale
        history = tr.history if history is None else history
        first = history[max(0, len(history) - MIN_POINTS * 4)].blob
        if first.w > MAX_SIZE * s.w or first.h > MAX_SIZE * s.h or not self._in_region(first.cx, first.cy):
            return None  # the cheap tests first: this runs for every track, every frame
        if history[-1].blob.cy - first.cy < MIN_DROP * s.h:
            return None
        obs = history[-MIN_POINTS * 4:]
        obs = _until_merged(obs)
        if len(obs) < MIN_POINTS:
            return None
        if max(b.blob.w for b in obs) > MAX_SIZE * s.w or max(b.blob.h for b in obs) > MAX_SIZE * s.h:
            return None
        if np.median([o.blob.area for o in obs]) < MIN_AREA_PX:
            return None
        for side in (sorted(o.blob.w for o in obs)[1:], sorted(o.blob.h for o in obs)[1:]):
            if side[-1] > SIZE_SPREAD * side[0]:
                return None
        ts = np.array([o.t for o in obs]) - obs[0].t
        xs = np.array([o.blob.centre[0] for o in obs]) / s.h  # both axes in frame heights
        ys = np.array([o.blob.centre[1] for o in obs]) / s.h
        drop = ys[-1] - ys[0]
        if drop < MIN_DROP or ts[-1] <= 0:
            return None
        cy = np.polyfit(ts, ys, 2)
        accel = 2 * cy[0]
        if accel < MIN_ACCEL:
            return None
        y_res = float(np.sqrt(np.mean((np.polyval(cy, ts) - ys) ** 2)))
        cx = np.polyfit(ts, xs, 1)
        x_res = float(np.sqrt(np.mean((np.polyval(cx, ts) - xs) ** 2)))
        if y_res > MAX_Y_RESIDUAL * drop or x_res > MAX_SWAY * drop:
            return None
        if abs(xs[-1] - xs[0]) > 1.5 * drop:
            return None  # mostly sideways: a bird or a ball, not a fall
        steps = np.diff(ys)
        if np.count_nonzero(steps > 0) < 0.8 * len(steps):
            return None
        # back to rest: where the vertical speed was zero
        t0 = -cy[1] / accel
        t0 = min(0.0, max(t0, -MAX_BACK_S))
        start = (float(np.polyval(cx, t0)) * s.h, float(np.polyval(cy, t0)) * s.h)
        if not self._in_region(*start, mask=self.near):
            return None
        score = 1.0 - min(0.5, y_res / drop + x_res / drop) if drop > 0 else 0.5
        score = min(1.0, score * min(1.0, accel / (2 * MIN_ACCEL)) + 0.1)
        return min(1.0, max(0.0, score)), start, float(accel)


def _until_merged(obs: list[Observation]) -> list[Observation]:
    """The observations before the object merged with something bigger (it fell in front of a
    passer-by): from there on its box is the other thing's."""
    w0 = float(np.median([o.blob.w for o in obs[:MIN_POINTS - 1]]))
    h0 = float(np.median([o.blob.h for o in obs[:MIN_POINTS - 1]]))
    for i, o in enumerate(obs):
        if i >= MIN_POINTS - 1 and (o.blob.w > SIZE_SPREAD * w0 or o.blob.h > SIZE_SPREAD * h0):
            return obs[:i]
    return obs
