"""One camera's analysis: frame -> small grey work frame (privacy-masked) -> detector ->
`Alert`s with privacy-masked snapshots. Used by the edge worker and by `analyze`.

The pipeline owns the per-resolution state (work size, masks, detector): a stream that
changes resolution gets a fresh detector. It reads no clock: time comes with the frame.
"""
from __future__ import annotations

import base64
import math
from datetime import UTC, datetime

import cv2
import numpy as np

from alerts import Alert, new_alert_id
from camera_profiles.schema import CameraProfile
from edge.camera.frames import Frame, StreamEvent
from edge.camera.render import snapshot_jpeg
from edge.detect import Detector, Event
from edge.masks import polygon_mask

# The detector's working width (about). Measured (benchmarks/bench_detect.py): ~320 px keeps
# people of vtest 15+ px tall and small falling objects 3+ px; the profile's detect.width caps it.
WORK_WIDTH = 320


def work_step(width: int, detect_width: int) -> int:
    """Sampling step: the work frame is every step-th pixel of every step-th row, the step that
    brings the width nearest the target as a ratio (a frame 10% small is as near as one 11%
    big: 1440 px -> 288, not 360, whose 60% more pixels every per-pixel stage would pay)."""
    ratio = width / min(WORK_WIDTH, detect_width)
    low = max(1, math.floor(ratio))
    return low + 1 if ratio * ratio > low * (low + 1) else low


def sample_grey(image: np.ndarray, step: int, out: np.ndarray | None = None) -> np.ndarray:
    """The green channel (59% of luma) on a regular grid: the work frame, ~10x cheaper than a
    resize plus a colour conversion of a 1080p frame, and the same pixels every frame, so the
    background model learns their own noise. `out`: a buffer of the right shape to fill."""
    off = step // 2
    grid = image[off::step, off::step] if image.ndim == 2 else image[off::step, off::step, 1]
    if out is None:
        return np.ascontiguousarray(grid)
    np.copyto(out, grid)
    return out


class CameraPipeline:
    def __init__(self, profile: CameraProfile, edge_id: str, *, snapshots: bool = True):
        self.profile = profile
        self.edge_id = edge_id
        self.snapshots = snapshots
        self.detector: Detector | None = None
        self._src_shape: tuple[int, int] | None = None
        self._keep: tuple[slice, slice, np.ndarray] | None = None  # box around the privacy masks (work
                                                                   # size) and 255 outside them in it
        self._grey: np.ndarray | None = None  # the work frame, refilled every frame: a fresh array
                                              # per frame costs more than the copy (cold memory)
        self._step = 1
        self._learn_until: float | None = None
        self._last_pos: float | None = None
        self.frames = 0
        self.errors = 0               # bad frames refused, counted
        self.last_error: str | None = None

    def reset(self) -> None:
        """After a reconnect: relearn background and references before raising anything."""
        if self.detector is not None:
            self.detector.reset()
        self._learn_until = None

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if self._src_shape != (h, w):
            self._src_shape = (h, w)
            self._step = work_step(w, self.profile.detect.width)
            self._grey = sample_grey(image, self._step)
            wh, ww = self._grey.shape
            self.detector = Detector(self.profile, ww, wh)
            masks = self.profile.privacy_masks
            self._keep = None
            if masks:
                mask = polygon_mask(masks, ww, wh)
                x, y, bw, bh = cv2.boundingRect(mask)
                if bw:  # only the box around the masks is touched each frame
                    self._keep = (slice(y, y + bh), slice(x, x + bw), cv2.bitwise_not(mask[y:y + bh, x:x + bw]))
            self._learn_until = None
        grey = sample_grey(image, self._step, self._grey)
        if self._keep is not None:
            rows, cols, keep = self._keep
            roi = grey[rows, cols]
            cv2.bitwise_and(roi, keep, dst=roi)  # nothing under a privacy mask is analysed
        return grey

    def process(self, frame: Frame) -> list[Alert]:
        """Analyse one frame; `frame.fresh` (and the profile's warm-up) only trains the models."""
        image = frame.image
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) \
                or min(image.shape[:2]) < 8 or (image.ndim == 3 and image.shape[2] != 3):
            self.errors += 1
            self.last_error = f"frame {frame.index}: not a BGR/grey uint8 image " \
                              f"({getattr(image, 'shape', None)}, {getattr(image, 'dtype', None)})"
            return []
        self.frames += 1
        if self._last_pos is not None and frame.pos_s < self._last_pos:
            self._src_shape = None  # time ran back (a looping file, a new stream): a fresh detector
        self._last_pos = frame.pos_s
        if self._learn_until is None:
            self._learn_until = frame.pos_s + self.profile.detect.warmup_s
        learn = frame.fresh or frame.pos_s < self._learn_until
        try:
            events = self._detect(image, frame.pos_s, learn)
            return [self._alert(e, frame) for e in events]
        except Exception as e:  # noqa: BLE001 - one bad frame must not stop the camera
            self.errors += 1
            self.last_error = f"frame {frame.index}: {type(e).__name__}: {e}"
            return []

    @property
    def moving(self) -> bool:
        """The detector follows something seen in its last frame: the scene's event goes on."""
        return self.detector is not None and self.detector.moving

    def _detect(self, image: np.ndarray, pos_s: float, learn_only: bool) -> list[Event]:
        grey = self._prepare(image)
        det = self.detector
        return det.step(grey, pos_s, learn_only=learn_only, image=image if det.wants_image else None)

    def _alert(self, e: Event, frame: Frame) -> Alert:
        snapshot = None
        if self.snapshots:
            jpeg = snapshot_jpeg(frame.image, self.profile, e.bbox, e.track)
            snapshot = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
        details = {"pos_s": round(frame.pos_s, 3), "rule": e.type, **e.details}
        if e.track is not None:
            details["track"] = e.track
        return self._make(e.type, e.severity, frame.ts, frame=frame.index, zone=e.zone, line=e.line,
                          bbox=e.bbox, score=e.score, details=details, snapshot=snapshot)

    def stream_alert(self, event: StreamEvent) -> Alert:
        """`stream.lost` / `stream.restored` from the capture layer, as an Alert."""
        kind = "stream.lost" if event.kind == "lost" else "stream.restored"
        severity = "major" if event.kind == "lost" else "info"
        return self._make(kind, severity, event.ts, details={"rule": "stream", **event.details})

    def _make(self, type_: str, severity: str, ts: datetime, **fields) -> Alert:
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        p = self.profile
        return Alert(id=new_alert_id(int(ts.timestamp() * 1000)), edge_id=self.edge_id,
                     source={"kind": "camera", "id": p.id}, camera_id=p.id, type=type_, severity=severity,
                     ts=ts, location=p.location, grid_hint=p.grid, **fields)
