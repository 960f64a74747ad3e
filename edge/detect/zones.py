"""Zone rules: `intrusion` (ground point inside for min_seconds) and `loitering`
(inside for `seconds`, surviving brief occlusion and short absences).

The dwell rule: a dwell starts when an object's ground point enters the zone and ends only
when the object has been out of it (seen outside, or lost outside) for more than ABSENCE_S
(5 s). Stepping out for a few seconds and coming back does not reset it: the clock keeps
running from the first entry, and loitering is raised once the object is inside again with
that much time behind it. An absence of more than 5 s starts a new dwell (and a new episode)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from camera_profiles.schema import Zone
from edge.detect.events import Event, Scale
from edge.detect.tracker import Track

ABSENCE_S = 5.0           # out of the zone up to this long (stepping out, jitter over the edge): same dwell
REJOIN_S = 4.0            # a track lost inside the zone and a new one appearing near it...
REJOIN_DIST = 0.08        # ...within this time and distance (fraction of width) is the same dwell
MIN_HITS = 3              # a track must be seen this often before any rule trusts it

Labeller = Callable[[Track, float], str]  # the engine's second stage: (track, t) -> "person", ...


def object_ok(objects: Sequence[str] | None, label: Labeller | None, tr: Track, t: float) -> tuple[bool, str | None]:
    """(may the rule fire, the object's label): without an `objects` filter always, unlabelled."""
    if not objects or label is None:
        return True, None
    kind = label(tr, t)
    return kind in objects, kind


@dataclass
class _Dwell:
    entered_t: float
    outside_since: float | None = None
    intruded: bool = False
    loitered: bool = False


NIGHT_AREA = 0.5  # in night mode only a walker's brightest parts (head, lit clothing) stand out of the
                  # smoothed noise: the smallest object counted shrinks by this (a track must still be
                  # steady and solid, and go into the zone or through the line)


def trusted(tr: Track, min_area: float) -> bool:
    """An object worth a rule: seen often, steadily, at its size, and it came from somewhere
    (ghosts, foliage and flicker stay put, come and go, or hop between specks and clumps)."""
    return tr.hits >= MIN_HITS and tr.steady and tr.arrived and tr.solid(min_area)


class ZoneRules:
    def __init__(self, zone: Zone, mask: np.ndarray, scale: Scale, label: Labeller | None = None):
        self.zone = zone
        self.label = label
        self.mask = mask
        self.scale = scale
        self.min_area = zone.min_area * scale.w * scale.h
        self.dwell: dict[int, _Dwell] = {}
        self.lost: list[tuple[float, float, float, _Dwell]] = []  # (t, x, y, dwell) of tracks lost inside
        self.intrusion_ready_t = -1e18
        self.loiter_ready_t = -1e18

    def reset(self) -> None:
        self.dwell.clear()
        self.lost.clear()

    def inside(self, x: float, y: float) -> bool:
        h, w = self.mask.shape
        return bool(self.mask[min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1)])

    def update(self, tracks: list[Track], ended: list[Track], t: float, area: float = 1.0) -> list[Event]:
        """`area`: the factor on the zone's smallest object (the engine's night mode)."""
        out: list[Event] = []
        for tr in ended:
            d = self.dwell.pop(tr.id, None)
            if d is not None and d.outside_since is None:
                self.lost.append((t, *tr.last.ground, d))
        self.lost = [x for x in self.lost if t - x[0] <= REJOIN_S]
        min_area = self.min_area * area
        for tr in tracks:
            if tr.missed or not tr.solid(min_area):
                continue  # occluded: inertia keeps its dwell as it was
            d = self.dwell.get(tr.id)
            if d is None and not (tr.arrived and tr.hits >= MIN_HITS and tr.steady):  # = not trusted (it is solid)
                # an object lost inside the zone and found again near there already arrived
                if not (tr.hits >= MIN_HITS and tr.steady):
                    continue
                gx, gy = tr.last.ground
                if not self.inside(gx, gy):
                    continue
                d = self._rejoin(gx, gy)
                if d is None:
                    continue
                self.dwell[tr.id] = d
            gx, gy = tr.last.ground
            if self.inside(gx, gy):
                if d is None:
                    d = self.dwell[tr.id] = self._rejoin(gx, gy) or _Dwell(entered_t=t)
                d.outside_since = None
                out.extend(self._check(tr, d, t))
            elif d is not None:
                if d.outside_since is None:
                    d.outside_since = t
                elif t - d.outside_since > ABSENCE_S:
                    del self.dwell[tr.id]
        return out

    def _rejoin(self, x: float, y: float) -> _Dwell | None:
        for i, (_, lx, ly, d) in enumerate(self.lost):
            if ((x - lx) ** 2 + (y - ly) ** 2) ** 0.5 <= REJOIN_DIST * self.scale.w:
                del self.lost[i]
                return d
        return None

    def _check(self, tr: Track, d: _Dwell, t: float) -> list[Event]:
        out: list[Event] = []
        z = self.zone
        stay = t - d.entered_t
        due_i = z.intrusion and not d.intruded and stay >= z.intrusion.min_seconds
        due_l = z.loitering and not d.loitered and stay >= z.loitering.seconds
        if not (due_i or due_l):
            return out
        ok, kind = object_ok(z.objects, self.label, tr, t)
        if not ok:
            return out  # not a kind this zone is for (asked again later: it may turn round)
        if z.intrusion and due_i:
            d.intruded = True
            if t >= self.intrusion_ready_t:
                self.intrusion_ready_t = t + z.intrusion.cooldown_s
                out.append(self._event("intrusion", z.intrusion.severity.value, tr, t, stay, kind))
        if z.loitering and due_l:
            d.loitered = True
            if t >= self.loiter_ready_t:
                self.loiter_ready_t = t + z.loitering.cooldown_s
                out.append(self._event("loitering", z.loitering.severity.value, tr, t, stay, kind))
        return out

    def _event(self, kind: str, severity: str, tr: Track, t: float, stay: float, obj: str | None) -> Event:
        score = min(1.0, 0.5 + 0.05 * tr.hits)
        details = {"rule": f"zone.{kind}", "track_id": tr.id, "dwell_s": round(stay, 2)}
        if obj is not None:
            details["object"] = obj
        return Event(kind, severity, t, bbox=self.scale.box(tr.last), score=round(score, 3),
                     zone=self.zone.name, track=self.scale.path(tr), details=details)


MOTION_MIN_S = 1.0
MOTION_COOLDOWN_S = 60.0
MOTION_MIN_AREA = 0.0005


class MotionRule:
    """`motion`, only for a camera whose profile configures no rule at all (no zone, line,
    falling-object region or tamper check):
    a real moving object (trusted track) seen for a second, at most one alert a minute, severity
    info. A camera with rules raises only what its rules ask for."""

    def __init__(self, scale: Scale):
        self.scale = scale
        self.min_area = MOTION_MIN_AREA * scale.w * scale.h
        self.ready_t = -1e18
        self.done: set[int] = set()

    def reset(self) -> None:
        self.done.clear()

    def update(self, tracks: list[Track], t: float, alive_tracks: list[Track] | None = None) -> list[Event]:
        self.done &= {tr.id for tr in (tracks if alive_tracks is None else alive_tracks)}
        for tr in tracks:
            if tr.missed or tr.id in self.done or not trusted(tr, self.min_area) or t - tr.born_t < MOTION_MIN_S:
                continue
            self.done.add(tr.id)
            if t >= self.ready_t:
                self.ready_t = t + MOTION_COOLDOWN_S
                return [Event("motion", "info", t, bbox=self.scale.box(tr.last), score=round(min(1.0, 0.5 + 0.05 * tr.hits), 3),
                              track=self.scale.path(tr), details={"rule": "motion", "track_id": tr.id})]
        return []
