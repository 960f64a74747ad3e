"""Event clips: a ring buffer of a camera's recent frames, and the recorder that turns alerts
into short H.264 MP4 clips and JPEG snapshots with the privacy masks burned in.

Threading: `push`, `on_alert` and `poll` run in the camera's detection thread and only do
cheap work (a resize, a deque append, a queue put). Masking, drawing, JPEG and the ffmpeg
pipe run in one encoder thread per recorder, so building a clip never stalls detection.
Time comes in with the frames: a clip ends when a frame later than its end time arrives.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from alerts import Alert, new_alert_id
from alerts.media import file_sha256
from camera_profiles.schema import CameraProfile
from common.times import iso
from edge.camera.encoder import Encoder, write_atomic
from edge.camera.frames import Frame
from edge.camera.render import BOX, TRACK, snapshot_jpeg
from edge.masks import apply_privacy_masks

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # x, y, w, h normalised to the frame
MaskFn = Callable[[np.ndarray, list], np.ndarray]

NO_CLIP_TYPES = {"stream.lost", "stream.restored"}  # the last frame before a loss shows nothing useful
MAX_QUEUED_FRAMES = 600  # encoder backlog bound: ~550 MB at 640x480; beyond it frames are dropped, counted


@dataclass(frozen=True, slots=True)
class Overlay:
    """What an alert draws on the clip from its frame on: its box and its track so far."""
    from_index: int
    bbox: Box | None
    track: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class BufferedFrame:
    index: int
    ts: datetime
    image: np.ndarray          # BGR uint8 at clip size, not masked yet (masking happens off the hot path)
    boxes: tuple[Box, ...] = ()


@dataclass(frozen=True)
class FinishedClip:
    """A clip or snapshot written to disk, ready for upload (`media_ref` is what went into the alert)."""

    media_id: str
    kind: Literal["clip", "snapshot"]
    camera_id: str
    path: Path
    sha256: str
    size: int
    content_type: str
    frames: int                 # 1 for a snapshot
    first_frame: int            # source frame indices covered
    last_frame: int
    alert_frame_offset: int     # position of the first alert's frame inside the clip
    start_ts: datetime
    end_ts: datetime
    alert_ids: tuple[str, ...]
    media_ref: dict[str, Any]


@dataclass
class _ActiveClip:
    media_id: str
    start_ts: datetime
    end_ts: datetime
    cap_ts: datetime
    alert_ids: list[str]
    first_frame: int
    alert_frame_offset: int
    overlays: tuple[Overlay, ...] = ()
    last_frame: int = -1
    last_ts: datetime | None = None


def clip_size(width: int, height: int, clip_width: int) -> tuple[int, int]:
    """Clip frame size for a stream: at most `clip_width` wide, aspect kept, both even (yuv420p)."""
    w = min(clip_width, width)
    h = round(height * w / width)
    return w - w % 2, h - h % 2


def _boxes(tracks: Iterable[Any] | None) -> tuple[Box, ...]:
    """Accepts track objects with `.bbox`, dicts with "bbox", or bare [x, y, w, h] sequences."""
    out: list[Box] = []
    for t in tracks or ():
        b = getattr(t, "bbox", None)
        if b is None and isinstance(t, dict):
            b = t.get("bbox")
        if b is None:
            b = t
        try:
            x, y, w, h = (float(v) for v in b)
        except (TypeError, ValueError):
            continue  # not drawable; a clip without one rectangle is still a clip
        out.append((x, y, w, h))
    return tuple(out)


class ClipRecorder:
    """Per-camera ring buffer + clip/snapshot recorder.

    One ongoing event makes one clip, as Frigate's events do: an alert that arrives while a clip
    is still recording extends it and gets the same clip reference, and so does anything that
    still moves in view (`keep_alive`), so a scene that stays busy is one clip (up to `max_s`),
    not one per attached alert.
    """

    def __init__(self, profile: CameraProfile, out_dir: str | os.PathLike, *,
                 pre_s: float | None = None, post_s: float | None = None, fps: float | None = None,
                 clip_width: int = 640, max_s: float = 120.0, jpeg_quality: int = 85,
                 crf: int = 26, snapshots: bool = True, mask_fn: MaskFn | None = None,
                 on_finished: Callable[[FinishedClip], None] | None = None, by_ts: bool = False):
        self.profile = profile
        self.camera_id = profile.id
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.pre_s = profile.clips.pre_s if pre_s is None else pre_s
        self.post_s = profile.clips.post_s if post_s is None else post_s
        self.fps = profile.detect.fps if fps is None else fps
        self.clips_enabled = profile.clips.enabled
        self.snapshots = snapshots
        self.clip_width = clip_width
        self.max_s = max(max_s, self.pre_s + self.post_s)
        self.jpeg_quality = jpeg_quality
        self.crf = crf
        self.mask_fn = mask_fn or apply_privacy_masks
        self.by_ts = by_ts  # fed by a record stream: an alert's frame index counts another stream's frames
        self.on_finished = on_finished  # called in the encoder thread (e.g. MediaUploader.enqueue_finished)
        self.n_pre = round(self.pre_s * self.fps)  # frames kept before the alert frame
        # one frame of slack so an alert on an earlier frame of the same push still finds its frame
        self._ring: deque[BufferedFrame] = deque(maxlen=self.n_pre + 2)
        self._size: tuple[int, int] | None = None
        self._active: _ActiveClip | None = None
        self._half_period = timedelta(seconds=0.5 / self.fps)
        self.dropped_frames = 0  # the encoder fell too far behind: frames left out of a clip
        self.bad_frames = 0
        self.errors = 0
        self._jobs: queue.Queue = queue.Queue(maxsize=MAX_QUEUED_FRAMES)
        self._done: queue.Queue[FinishedClip] = queue.Queue()
        self._worker = threading.Thread(target=self._encode_loop, name=f"clips-{self.camera_id}", daemon=True)
        self._worker.start()

    # ---- detection thread -------------------------------------------------------------------

    def push(self, frame: Frame, tracks: Iterable[Any] | None = None) -> None:
        """Keep this frame (downscaled) for future clips, and feed the clip being recorded.
        A frame that is not a BGR or grey uint8 image is refused and counted (`bad_frames`)."""
        img = frame.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim not in (2, 3) \
                or min(img.shape[:2]) < 8 or (img.ndim == 3 and img.shape[2] != 3):
            self.bad_frames += 1
            return
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if self._size is None:
            self._size = clip_size(img.shape[1], img.shape[0], self.clip_width)
        if (img.shape[1], img.shape[0]) != self._size:
            # bilinear: ~6x cheaper than INTER_AREA at this mild downscale (benchmarks/bench_clips.py)
            img = cv2.resize(img, self._size, interpolation=cv2.INTER_LINEAR)
        elif img is frame.image:
            img = img.copy()  # the caller may reuse its buffer
        bf = BufferedFrame(frame.index, frame.ts, img, _boxes(tracks))
        self._ring.append(bf)
        clip = self._active
        if clip is None:
            return
        if frame.ts > clip.end_ts + self._half_period:
            self._finish_active()
        elif frame.index > clip.last_frame:
            self._send_frame(clip, bf)

    def on_alert(self, alert: Alert) -> dict[str, Any]:
        """Start (or extend) the clip for this alert and queue its snapshot; returns the media
        reference to put into `alert.details["media"]` before the alert is published."""
        if alert.type.value in NO_CLIP_TYPES or not self._ring:
            return {}
        at = self._frame_for(alert)
        overlay = _overlay(alert, at.index)
        ref: dict[str, Any] = {}
        if self.clips_enabled:
            ref["clip"] = self._clip_for(alert, at, overlay)
        if self.snapshots:
            snap_id = new_alert_id(int(alert.ts.timestamp() * 1000))
            ref["snapshot"] = self._ref(snap_id, "snapshot", "image/jpeg")
            self._put(("snapshot", snap_id, at, overlay, alert.id), force=True)
        return ref

    def keep_alive(self, ts: datetime) -> None:
        """Something still moves at `ts` (the detector's live tracks): the clip being recorded goes
        on until `post_s` after it, within its cap. Costs nothing when no clip is recording."""
        clip = self._active
        if clip is not None:
            clip.end_ts = min(max(clip.end_ts, ts + timedelta(seconds=self.post_s)), clip.cap_ts)

    def finish(self) -> None:
        """The frames stopped (the stream was lost, a file ended): the clip being recorded ends
        with what it has instead of waiting for a frame past its end."""
        if self._active is not None:
            self._finish_active()

    def poll(self) -> list[FinishedClip]:
        """Clips and snapshots finished since the last call (hand them to the uploader); empty when
        `on_finished` takes them instead."""
        out: list[FinishedClip] = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def close(self, timeout: float = 60.0) -> list[FinishedClip]:
        """Finish the clip being recorded with what it has, stop the encoder; returns what finished."""
        self.finish()
        self._jobs.put(None)
        self._worker.join(timeout)
        return self.poll()

    @property
    def recording(self) -> bool:
        return self._active is not None

    # ---- helpers (detection thread) ---------------------------------------------------------

    def _ref(self, media_id: str, kind: str, content_type: str) -> dict[str, Any]:
        return {"id": media_id, "url": f"/api/media/{media_id}", "kind": kind,
                "content_type": content_type, "status": "pending", "camera_id": self.camera_id}

    def _frame_for(self, alert: Alert) -> BufferedFrame:
        if self.by_ts:
            return min(self._ring, key=lambda bf: abs((bf.ts - alert.ts).total_seconds()))
        if alert.frame is not None:
            for bf in reversed(self._ring):
                if bf.index == alert.frame:
                    return bf
        return self._ring[-1]

    def _clip_for(self, alert: Alert, at: BufferedFrame, overlay: Overlay) -> dict[str, Any]:
        clip = self._active
        if clip is not None:  # same ongoing event: extend the clip, share its id
            clip.end_ts = min(max(clip.end_ts, alert.ts + timedelta(seconds=self.post_s)), clip.cap_ts)
            clip.alert_ids.append(alert.id)
            clip.overlays += (overlay,)
            ref = self._ref(clip.media_id, "clip", "video/mp4")
            ref.update(start=iso(clip.start_ts), pre_s=self.pre_s, post_s=self.post_s)
            return ref
        frames = list(self._ring)
        pos = next(i for i, bf in enumerate(frames) if bf is at)
        pre = [bf for bf in frames[max(0, pos - self.n_pre):pos]
               if bf.ts >= at.ts - timedelta(seconds=self.pre_s) - self._half_period]
        first = pre[0] if pre else at
        media_id = new_alert_id(int(first.ts.timestamp() * 1000))
        clip = _ActiveClip(media_id=media_id, start_ts=first.ts,
                           end_ts=alert.ts + timedelta(seconds=self.post_s),
                           cap_ts=first.ts + timedelta(seconds=self.max_s),
                           alert_ids=[alert.id], first_frame=first.index, alert_frame_offset=len(pre),
                           overlays=(overlay,))
        self._active = clip
        h, w = at.image.shape[:2]
        self._put(("open", media_id, w, h, first.ts), force=True)
        # the frames after `at` that are already buffered belong to the clip too
        for bf in pre + frames[pos:]:
            self._send_frame(clip, bf)
        ref = self._ref(media_id, "clip", "video/mp4")
        ref.update(start=iso(clip.start_ts), pre_s=self.pre_s, post_s=self.post_s)
        return ref

    def _send_frame(self, clip: _ActiveClip, bf: BufferedFrame) -> None:
        if self._put(("frame", clip.media_id, bf, clip.overlays)):
            clip.last_frame = bf.index
            clip.last_ts = bf.ts

    def _finish_active(self) -> None:
        clip, self._active = self._active, None
        assert clip is not None
        self._put(("close", clip), force=True)

    def _put(self, job: tuple, force: bool = False) -> bool:
        try:
            if force:
                self._jobs.put(job, timeout=30)  # an open/close must not be lost; frames may be
            else:
                self._jobs.put_nowait(job)
            return True
        except queue.Full:
            self.dropped_frames += 1
            return False

    # ---- encoder thread ---------------------------------------------------------------------

    def _encode_loop(self) -> None:
        encoders: dict[str, Encoder] = {}
        while True:
            job = self._jobs.get()
            if job is None:
                for enc in encoders.values():
                    enc.abort()
                return
            try:
                self._handle(job, encoders)
            except Exception as e:  # one broken clip must not take the recorder down
                self.errors += 1
                log.error("camera %s: clip job %s failed: %s", self.camera_id, job[0], e)

    def _handle(self, job: tuple, encoders: dict[str, "Encoder"]) -> None:
        kind = job[0]
        if kind == "open":
            _, media_id, w, h, start_ts = job
            encoders[media_id] = Encoder(self.out_dir / f"{media_id}.mp4", w, h, self.fps, self.crf, start_ts)
        elif kind == "frame":
            _, media_id, bf, overlays = job
            enc = encoders.get(media_id)
            if enc is not None:
                enc.write(self._render(bf, [o for o in overlays if o.from_index <= bf.index]), bf.ts)
        elif kind == "close":
            clip: _ActiveClip = job[1]
            enc = encoders.pop(clip.media_id, None)
            if enc is None:
                return
            path = enc.finish()
            ref = self._ref(clip.media_id, "clip", "video/mp4")
            self._deliver(self._finished(clip.media_id, "clip", path, "video/mp4", ref, frames=enc.written,
                                          first=clip.first_frame, last=clip.last_frame,
                                          offset=clip.alert_frame_offset, start=clip.start_ts,
                                          end=clip.last_ts or clip.start_ts, alert_ids=tuple(clip.alert_ids)))
        elif kind == "snapshot":
            _, media_id, bf, overlay, alert_id = job
            jpg = snapshot_jpeg(bf.image, self.profile, list(overlay.bbox) if overlay.bbox else None,
                                [list(p) for p in overlay.track] or None, quality=self.jpeg_quality)
            path = self.out_dir / f"{media_id}.jpg"
            write_atomic(path, jpg)
            ref = self._ref(media_id, "snapshot", "image/jpeg")
            self._deliver(self._finished(media_id, "snapshot", path, "image/jpeg", ref, frames=1,
                                          first=bf.index, last=bf.index, offset=0, start=bf.ts, end=bf.ts,
                                          alert_ids=(alert_id,)))

    def _deliver(self, fc: FinishedClip) -> None:
        if self.on_finished is None:
            self._done.put(fc)
        else:
            self.on_finished(fc)

    def _render(self, bf: BufferedFrame, overlays: list[Overlay]) -> np.ndarray:
        """Draw first, mask last: nothing filmed (or drawn) under a privacy mask leaves the edge."""
        img = bf.image
        if bf.boxes or overlays:
            img = img.copy()  # the ring's frame may still go into another clip
            h, w = img.shape[:2]
            thick = max(1, w // 320)
            for x, y, bw, bh in bf.boxes:
                cv2.rectangle(img, (round(x * w), round(y * h)), (round((x + bw) * w), round((y + bh) * h)),
                              TRACK, thick)
            for o in overlays:
                if len(o.track) > 1:
                    pts = np.round(np.array(o.track, np.float64) * (w, h)).astype(np.int32)
                    cv2.polylines(img, [pts], False, TRACK, thick, cv2.LINE_AA)
                if o.bbox and o.from_index == bf.index:  # the box marks the alert frame itself
                    x, y, bw, bh = o.bbox
                    cv2.rectangle(img, (round(x * w), round(y * h)), (round((x + bw) * w), round((y + bh) * h)),
                                  BOX, thick + 1)
        return self.mask_fn(img, self.profile.privacy_masks)  # returns a copy

    def _finished(self, media_id: str, kind: str, path: Path, content_type: str, ref: dict, *, frames: int,
                  first: int, last: int, offset: int, start: datetime, end: datetime,
                  alert_ids: tuple[str, ...]) -> FinishedClip:
        sha, size = file_sha256(path)
        ref.update(sha256=sha, size=size, status="ready", alert_ids=list(alert_ids), frames=frames,
                   start=iso(start), end=iso(end))
        return FinishedClip(media_id=media_id, kind=kind, camera_id=self.camera_id, path=path, sha256=sha,
                            size=size, content_type=content_type, frames=frames, first_frame=first,
                            last_frame=last, alert_frame_offset=offset, start_ts=start, end_ts=end,
                            alert_ids=alert_ids, media_ref=ref)


def _overlay(alert: Alert, index: int) -> Overlay:
    track = alert.details.get("track") if isinstance(alert.details, dict) else None
    points: tuple[tuple[float, float], ...] = ()
    if isinstance(track, list):
        try:
            points = tuple((float(p[0]), float(p[1])) for p in track)
        except (TypeError, ValueError, IndexError):
            points = ()  # a malformed track only costs the drawing
    return Overlay(index, tuple(alert.bbox) if alert.bbox else None, points)
