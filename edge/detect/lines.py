"""`line_crossing`: a track's ground point passing from one side of a segment to the other.

A side counts only once the point is clearly on it for two observations in a row, so a track
jittering on the line never counts twice. "Clearly" is a margin that grows with the object:
a fifth of its height (feet swing, the box's bottom edge hops by a few pixels as legs move), so
a person walking along the line or stopping on it and turning back crosses nothing."""
from __future__ import annotations

import math
from dataclasses import dataclass

from camera_profiles.schema import Line
from edge.detect.events import Event, Scale
from edge.detect.tracker import Track
from edge.detect.zones import Labeller, object_ok, trusted

MARGIN_PX = 1.5   # closer than this to the line names no side...
MARGIN_H = 0.2    # ...nor closer than this share of the object's height
CONFIRM = 2       # observations on the new side before a crossing counts
MIN_AREA = 0.0005  # smallest object, as a fraction of the frame (as a zone's default min_area)


@dataclass
class _Side:
    side: int
    pending: int = 0
    pending_n: int = 0
    crossed_at: tuple[float, float] | None = None  # where the segment between sides met the line


class LineRule:
    def __init__(self, line: Line, scale: Scale, label: Labeller | None = None):
        self.line = line
        self.label = label
        self.scale = scale
        (x1, y1), (x2, y2) = line.points
        self.p1 = (float(x1) * scale.w, float(y1) * scale.h)
        self.p2 = (float(x2) * scale.w, float(y2) * scale.h)
        self.dx, self.dy = self.p2[0] - self.p1[0], self.p2[1] - self.p1[1]
        self.length = math.hypot(self.dx, self.dy)
        self.from_sign = 0
        if line.from_side is not None:
            self.from_sign = self._side(line.from_side[0] * scale.w, line.from_side[1] * scale.h, 0.0)
        self.min_area = MIN_AREA * scale.w * scale.h
        self.state: dict[int, _Side] = {}
        self.ready_t = -1e18

    def reset(self) -> None:
        self.state.clear()

    def _signed(self, x: float, y: float) -> float:
        return (self.dx * (y - self.p1[1]) - self.dy * (x - self.p1[0])) / self.length

    def _side(self, x: float, y: float, margin: float = MARGIN_PX) -> int:
        d = self._signed(x, y)
        return 0 if abs(d) < margin else (1 if d > 0 else -1)

    def _along(self, x: float, y: float) -> float:
        """Position of the foot of the perpendicular along the segment, 0..1 inside it."""
        return ((x - self.p1[0]) * self.dx + (y - self.p1[1]) * self.dy) / self.length**2

    def update(self, tracks: list[Track], t: float, alive_tracks: list[Track] | None = None,
               area: float = 1.0) -> list[Event]:
        """`tracks`: the tracks to check (the engine passes those seen this frame); `alive_tracks`:
        all live ones (default `tracks`), whose state is kept; `area`: the factor on the smallest object."""
        alive = {tr.id for tr in (tracks if alive_tracks is None else alive_tracks)}
        for tid in [k for k in self.state if k not in alive]:
            del self.state[tid]
        out = []
        min_area = self.min_area * area
        for tr in tracks:
            if tr.missed or not (tr.arrived and tr.recent_min_area >= min_area and trusted(tr, min_area)):
                continue  # (the first two: the cheap part of trusted())
            gx, gy = tr.last.ground
            s = self._side(gx, gy, max(MARGIN_PX, MARGIN_H * tr.last.h))
            st = self.state.get(tr.id)
            if s == 0:
                continue
            if st is None:
                self.state[tr.id] = _Side(s)
                continue
            if s == st.side:
                st.pending_n = 0
                continue
            if st.pending != s:
                st.pending, st.pending_n = s, 0
                st.crossed_at = self._crossing_point(tr)
            st.pending_n += 1
            if st.pending_n < CONFIRM:
                continue
            origin, st.side, st.pending_n = st.side, s, 0
            if st.crossed_at is None:
                continue  # passed beside the segment, not through it
            if self.from_sign and origin != self.from_sign:
                continue
            if t < self.ready_t:
                continue
            ok, kind = object_ok(self.line.objects, self.label, tr, t)
            if not ok:
                continue  # a crossing, but not by a kind of object this line is for
            self.ready_t = t + self.line.cooldown_s
            details = {"rule": "line.crossing", "track_id": tr.id, "direction": "positive" if s > 0 else "negative",
                       "at": self.scale.point(*st.crossed_at)}
            if kind is not None:
                details["object"] = kind
            out.append(Event("line_crossing", self.line.severity.value, t, bbox=self.scale.box(tr.last),
                             score=round(min(1.0, 0.5 + 0.05 * tr.hits), 3), line=self.line.name,
                             track=self.scale.path(tr), details=details))
        return out

    def _crossing_point(self, tr: Track) -> tuple[float, float] | None:
        """Where the track last went through the line (the last step whose ends lie on either
        side of it, looked for over the recent steps: the margin can hold the point back a few
        observations), if within the segment."""
        hist = tr.history
        bx, by = hist[-1].blob.ground
        db = self._signed(bx, by)
        for i in range(len(hist) - 2, max(-1, len(hist) - 12), -1):
            ax, ay = hist[i].blob.ground
            da = self._signed(ax, ay)
            if da == 0.0 or (da > 0) != (db > 0):
                k = da / (da - db) if da != db else 0.0
                x, y = ax + k * (bx - ax), ay + k * (by - ay)
                u = self._along(x, y)
                return (x, y) if -0.03 <= u <= 1.03 else None
            bx, by, db = ax, ay, da
        return None
