"""Camera tamper: `tamper.covered`, `tamper.defocus`, `tamper.moved`.

Each compares gain-invariant features of the view with a reference learned while the
view is normal, so a global lighting change (which scales every pixel) is no tamper:
- covered: the contrast relative to brightness (std/mean) collapses, or the view is flat, or
  a large part of it is (spray paint, a sticker, a hand over part of the lens): a place
  (5x5 neighbourhood of the 1/4 view) with texture in the reference whose local contrast fell
  below a third of it and is flat in grey levels too (CELL_FLAT: paint is, the lawn that a
  turned view brings in is not) counts as covered; COVER_SHARE of the textured places is
  `tamper.covered` (details.covered_share says how much);
- defocus: the share of fine detail (Laplacian variance over image variance) collapses;
- moved: the view no longer lines up with the reference: the reference's centre, matched
  by normalised cross-correlation, is found shifted, or nowhere alike at all (people
  walking by change a small share of the correlation; a turned camera changes it all).
While the view is found shifted by a pixel of the 1/4 view or more (but not yet `moved`), the
rules pause (`active`): a slow drift would otherwise look like objects arriving everywhere;
a 1-3 px shake stays under that pixel. The reference is taken only from a view that holds still from one check to the next: the
first frames after a (re)connect can be grey or half-decoded, and a reference learned from
one of them would call the real view "moved". A condition must hold for `min_seconds` to
raise its alert; when the view comes back
for as long, the same type is raised once more with `details.state = "restored"`.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from camera_profiles.schema import Tamper
from edge.detect.events import Event, Scale

REF_LEARN_S = 30.0       # the reference follows slow changes of a normal view
SHRINK = 4               # the view is compared at 1/4 of the work size (integer: INTER_AREA's fast path)...
CHECK_EVERY_S = 1.0      # ...this often: tamper is a matter of seconds, not frames
COVERED_CV = 0.35        # contrast below this share of the reference's...
FLAT_STD = 4.0           # ...or a flat view (grey levels)
DEFOCUS_SHARP = 0.3      # fine detail below this share of the reference's
MOVED_SHIFT = 0.04       # shift larger than this fraction of the width
MOVING_SHIFT = 0.01      # shifted by a pixel of the 1/4 view or more: the view is moving, rules pause
MOVED_MATCH = 0.5        # or a best correlation this weak: the view is another one
MARGIN = 0.15            # the reference's centre (without this margin) is searched for
CELL_TEXTURE = 0.15      # a place has texture when its local std is this share of the view's
CELL_COVERED = 0.3       # a textured place whose local std fell below this share of the reference's is covered
CELL_FLAT = 1.2          # ...and its local std is under this many grey levels (of the 1/4 view)
COVER_SHARE = 0.25       # this share of the textured places covered: the lens is covered (a 60% spray:
                         # 0.29-0.32; people, noise, blur, IR switch, a ramp, a turned view: <= 0.02)
RESTORE_S = 1.0          # the normal view must be back this long before "restored"


@dataclass
class _Cond:
    kind: str
    since: float | None = None     # condition holding since
    clear_since: float | None = None
    raised_t: float | None = None  # alert raised at (active)


class TamperRule:
    def __init__(self, cfg: Tamper, scale: Scale):
        self.cfg = cfg
        self.scale = scale
        self.cw, self.ch = max(8, scale.w // SHRINK), max(8, scale.h // SHRINK)
        self.mx, self.my = round(self.cw * MARGIN), round(self.ch * MARGIN)
        self.conds = {k: _Cond(k) for k in ("covered", "defocus", "moved") if getattr(cfg, k)}
        self._lap: np.ndarray | None = None  # Laplacian buffer, reused
        self.reset()

    def reset(self) -> None:
        self.ref_img: np.ndarray | None = None
        self.ref_steady = False  # the reference lined up with the next check's view
        self.ref_cv = self.ref_sharp = 0.0
        self.last_t: float | None = None
        self.active = False
        self._last = (0.0, 0.0, 0.0)  # contrast, std, sharpness at the last check
        self.covered_share = 0.0
        for c in self.conds.values():
            c.since = c.clear_since = c.raised_t = None

    def features(self, grey: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """(the view at 1/SHRINK size, normalised to zero mean and unit contrast; its contrast
        std/mean; its std; the share of fine detail). Few cv2 calls on purpose: on a frame that
        follows a decoder burst each call costs ~10-20 us more than the pixels it touches."""
        small = cv2.resize(grey, (self.cw, self.ch), interpolation=cv2.INTER_AREA)
        mean, std = cv2.meanStdDev(small)
        m, s = float(mean[0, 0]), float(std[0, 0])
        if self._lap is None or self._lap.shape != grey.shape:
            self._lap = np.empty(grey.shape, np.int16)
        lap = cv2.Laplacian(grey, cv2.CV_16S, dst=self._lap, ksize=1)  # fine detail at the work size
        lap_std = float(cv2.meanStdDev(lap)[1][0, 0])
        grey_std = float(cv2.meanStdDev(grey)[1][0, 0])
        sharp = lap_std**2 / max(grey_std**2, 1.0)
        k = 1.0 / max(s, 1.0)
        norm = cv2.addWeighted(small, k, small, 0.0, -m * k, dtype=cv2.CV_32F)  # (small - m) / s
        return norm, s / max(m, 1.0), s, sharp

    def update(self, grey: np.ndarray, t: float, learn_only: bool) -> list[Event]:
        if self.last_t is not None and t - self.last_t < CHECK_EVERY_S - 1e-6 and t >= self.last_t:
            return []  # between checks `active` keeps its last value
        img, cv, std, sharp = self.features(grey)
        self._last = (cv, std, sharp)
        dt = CHECK_EVERY_S if self.last_t is None else max(1e-3, t - self.last_t)
        self.last_t = t
        if not self.ref_steady:
            if self.ref_img is not None:
                shift, response = self._match(img, self.ref_img)
                self.ref_steady = shift <= MOVED_SHIFT and response >= MOVED_MATCH
            if not self.ref_steady:
                self.ref_img, self.ref_cv, self.ref_sharp = img, cv, sharp
            return []
        assert self.ref_img is not None
        self.covered_share = self._covered_share(img, self.ref_img, std)
        covered = cv < COVERED_CV * self.ref_cv or std < FLAT_STD or self.covered_share >= COVER_SHARE
        defocus = not covered and sharp < DEFOCUS_SHARP * self.ref_sharp
        moved, shift, response = False, 0.0, 1.0
        if not covered and "moved" in self.conds:
            shift, response = self._match(img, self.ref_img)
            moved = shift > MOVED_SHIFT or response < MOVED_MATCH
        now = {"covered": covered, "defocus": defocus, "moved": moved}
        # a view on the move (a PTZ camera turned slowly) pauses the rules before it has moved far
        # enough to be `moved`: every edge in it travels and would look like an object arriving
        self.active = covered or moved or (not covered and shift >= MOVING_SHIFT)
        if learn_only or not any(now.values()):
            if not any(c.since is not None or c.raised_t is not None for c in self.conds.values()):
                a = min(1.0, dt / REF_LEARN_S) if not learn_only else 0.5
                cv2.accumulateWeighted(img, self.ref_img, a)
                self.ref_cv += a * (cv - self.ref_cv)
                self.ref_sharp += a * (sharp - self.ref_sharp)
        if learn_only:
            return []
        out = []
        for kind, c in self.conds.items():
            if now[kind]:
                c.clear_since = None
                if c.since is None:
                    c.since = t
                if c.raised_t is None and t - c.since >= self.cfg.min_seconds:
                    c.raised_t = t
                    out.append(self._event(kind, t, "raised", {"shift": round(shift, 4),
                                                               "response": round(response, 3)}))
            else:
                c.since = None
                if c.raised_t is not None:
                    if c.clear_since is None:
                        c.clear_since = t
                    if t - c.clear_since >= RESTORE_S:
                        out.append(self._event(kind, t, "restored", {"duration_s": round(t - c.raised_t, 2)}))
                        c.raised_t = c.clear_since = None
        return out

    def _covered_share(self, img: np.ndarray, ref: np.ndarray, std: float) -> float:
        """Share of the reference's textured places whose local contrast collapsed in `img` and
        that are flat now in grey levels too (paint is; the lawn of a turned view is not)."""
        cur, was = _local_std(img), _local_std(ref)
        textured = was >= CELL_TEXTURE
        n = int(np.count_nonzero(textured))
        if not n:
            return 0.0
        flat = CELL_FLAT / max(std, 1.0)  # (img is the view over its std: grey levels -> img units)
        lost = textured & (cur < CELL_COVERED * was) & (cur < flat)
        return float(np.count_nonzero(lost)) / n

    def _match(self, img: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
        """(shift as a share of the width, best correlation) of the reference's centre in img."""
        template = ref[self.my:self.ch - self.my, self.mx:self.cw - self.mx]
        scores = cv2.matchTemplate(img, template, cv2.TM_CCOEFF_NORMED)
        _, response, _, (bx, by) = cv2.minMaxLoc(scores)
        return ((bx - self.mx) ** 2 + (by - self.my) ** 2) ** 0.5 / self.cw, float(response)

    @property
    def last_features(self) -> dict[str, float]:
        """The features of the last check (for the alert's details: built only when one is raised)."""
        cv, std, sharp = self._last
        return {"contrast": round(cv, 4), "std": round(std, 2), "sharpness": round(sharp, 4),
                "covered_share": round(self.covered_share, 3)}

    def _event(self, kind: str, t: float, state: str, extra: dict[str, float]) -> Event:
        severity = self.cfg.severity.value if state == "raised" else "info"
        return Event(f"tamper.{kind}", severity, t, bbox=[0.0, 0.0, 1.0, 1.0], score=1.0 if state == "raised" else 0.5,
                     details={"rule": f"tamper.{kind}", "state": state, **self.last_features, **extra,
                              "reference": {"contrast": round(self.ref_cv, 4), "sharpness": round(self.ref_sharp, 4)}})


def _local_std(img: np.ndarray) -> np.ndarray:
    """Standard deviation over each pixel's 5x5 neighbourhood (float32 in, float32 out)."""
    m = cv2.blur(img, (5, 5))
    return np.asarray(np.sqrt(np.maximum(cv2.blur(img * img, (5, 5)) - m * m, 0.0)), np.float32)
