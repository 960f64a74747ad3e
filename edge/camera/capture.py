"""Camera capture: one thread per camera that never hangs and always hands over the newest frame.

The thread reads (grabs) every frame so the decoder stays in step with the camera, but
decodes into pixels only the frames analysis will see: at most `profile.detect.fps` a second.
Only the newest such frame is kept; an older one that was not taken yet is dropped, never
queued, so analysis latency cannot build up. Every open and read has a timeout, so a stalled
or dead camera is noticed within seconds; reconnects use capped exponential backoff with
jitter and sleep on an Event, so a dead camera costs almost no CPU and `stop()` is prompt.

Sources: an RTSP/HTTP URL, a file (read at real speed, `loop: true` replays it forever, so a
file can stand in for a live camera) or an ONVIF device (asked for its stream URI at every
connect, so a camera that changed its URI or credentials after a reboot is followed).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import cv2

from camera_profiles import CameraProfile
from camera_profiles.schema import OnvifRef, OnvifSource
from common.backoff import Backoff
from common.threads import name_this_thread
from common.times import iso, utcnow
from edge.camera.frames import Frame, StreamEvent
from edge.camera.rtsp import DEFAULT_PORTS, CaptureError, explain_rtsp_failure, is_file_source, redact

log = logging.getLogger("gridwatch.edge.capture")

# RTSP over TCP: no lost UDP packets (grey smears) and it passes NAT and firewalls.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")


def decode_threads(streams: int) -> int:
    """FFmpeg decoder threads for each of `streams` streams on this machine: its cores shared
    among them, at least one. Frame threads beyond that buy no speed when the cores are busy with
    other streams anyway, and each costs synchronisation and a frame buffer (measured, 8 cameras
    on 2 cores, one thread each against FFmpeg's two: 12% less capture CPU at 640x360, 7% at
    1920x1080, 70 MB less memory)."""
    return max(1, (os.cpu_count() or 1) // max(1, streams))


class _SharedStream(Exception):
    """The record stream resolved to the detect stream itself: nothing to open twice."""


class CameraStream:
    """Frames and stream events of one camera; see the module docstring. `source` (default the
    profile's, the detect stream) and `role` ("detect" | "record") let a second stream of the
    same camera feed its clips. `threads`: FFmpeg decoder threads (None: OpenCV's default, one
    a core; `edge run` sets `decode_threads` of its streams)."""

    STALL_GRACE_S = 2.0  # a read silent for read_timeout_s + this is reported lost even if OpenCV still waits

    def __init__(self, profile: CameraProfile, *, on_status: Callable[[dict], None] | None = None,
                 open_timeout_s: float = 5.0, read_timeout_s: float = 5.0, backoff: Backoff | None = None,
                 source: str | OnvifRef | None = None, role: str = "detect", threads: int | None = None):
        self.profile = profile
        self._threads = [cv2.CAP_PROP_N_THREADS, threads] if threads else []
        self.source = profile.source if source is None else source
        self.role = role
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._on_status = on_status
        self._backoff = backoff or Backoff()
        self._cond = threading.Condition()
        self._events: deque[StreamEvent] = deque()
        self._frame: Frame | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # state, guarded by _cond
        self._state = "connecting" if profile.enabled else "disabled"
        self._error: str | None = None
        self._device: dict[str, Any] | None = None
        self._attempts = 0                      # connect attempts since the last frame
        self._last_frame_ts: datetime | None = None
        self._last_frame_mono: float | None = None
        self._lost_since: float | None = None   # monotonic start of the current outage
        self._fps = 0.0
        self._url: str | None = None            # redacted
        self.frames_read = 0                    # every frame grabbed from the source
        self.frames_decoded = 0                 # frames retrieved (decoded to BGR): detect.fps, not the source's
        self.frames_delivered = 0               # frames handed to get()
        self.frames_dropped = 0                 # decoded frames replaced before anyone took them
        self.reconnects = 0

    # ---- public API -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        if not self.profile.enabled:
            self._publish_status()
            return
        self._stop.clear()
        self._publish_status()
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.profile.id}-{self.role}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and release the capture; safe to call twice."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            # A read blocked inside FFmpeg returns by its own timeout at the latest.
            t.join(self.open_timeout_s + self.read_timeout_s + 5.0)
            if t.is_alive():
                log.error("camera %s: capture thread did not end in time", self.profile.id)

    def get(self, timeout: float) -> Frame | StreamEvent | None:
        """Next stream event, else the newest frame, else None after `timeout` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            self._check_stall()
            with self._cond:
                if self._events:
                    return self._events.popleft()
                if self._frame is not None:
                    frame, self._frame = self._frame, None
                    self.frames_delivered += 1
                    return frame
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return None
                self._cond.wait(min(left, 0.5))

    @property
    def state(self) -> str:
        """The stream's state alone ("streaming", "lost", "shared"...): one read, no status dict."""
        return self._state

    @property
    def status(self) -> dict:
        self._check_stall()
        with self._cond:
            return self._status_locked()

    # ---- status and events ------------------------------------------------------------
    def _status_locked(self) -> dict:
        return {
            "state": self._state,
            "fps": round(self._fps, 2),
            "last_frame_ts": iso(self._last_frame_ts),
            "error": self._error,
            "device": self._device,
            "attempts": self._attempts,
            "source": self._url,
            "reconnects": self.reconnects,
            "role": self.role,
            "dropped": self.frames_dropped,  # frames replaced by a newer one before analysis took them
            "ts": iso(utcnow()),
        }

    def _publish_status(self) -> None:
        if self._on_status is None:
            return
        with self._cond:
            status = self._status_locked()
        try:
            self._on_status(status)
        except Exception:  # a failing publisher must not take capture down
            log.exception("camera %s: status callback failed", self.profile.id)

    def _check_stall(self) -> None:
        """Report a stall even while OpenCV is still blocked in a read."""
        silent_s = self.read_timeout_s + self.STALL_GRACE_S
        with self._cond:
            stalled = (self._state == "streaming" and self._last_frame_mono is not None
                       and time.monotonic() - self._last_frame_mono > silent_s)
            if stalled:
                self._mark_lost_locked(f"no frame for {silent_s:.0f} s (stream stalled)", since=self._last_frame_mono)
        if stalled:
            log.warning("camera %s: stream stalled", self.profile.id)
            self._publish_status()

    def _mark_lost_locked(self, reason: str, since: float | None = None) -> bool:
        """Enter (or stay in) an outage; True when this starts a new one."""
        self._error = reason
        if self._lost_since is not None:
            return False
        self._state, self._fps = "lost", 0.0
        self._lost_since = since if since is not None else time.monotonic()
        self._frame = None  # older than the outage: useless now
        self._events.append(StreamEvent("lost", utcnow(), {
            "reason": reason, "attempts": self._attempts, "url": self._url}))
        self._cond.notify_all()
        return True

    def _fail(self, reason: str) -> None:
        with self._cond:
            new = self._mark_lost_locked(reason)
        if new:
            log.warning("camera %s: stream lost: %s", self.profile.id, reason)
        self._publish_status()

    # ---- the capture thread -----------------------------------------------------------
    def _run(self) -> None:
        name_this_thread(f"{'rec' if self.role == 'record' else 'cap'}:{self.profile.id}")
        t0 = time.monotonic()
        index = 0  # counts every frame of the source over all (re)connects
        while not self._stop.is_set():
            with self._cond:
                self._attempts += 1
            try:
                cap, live = self._open()
            except _SharedStream:
                with self._cond:
                    self._state, self._error = "shared", None
                self._publish_status()
                break
            except CaptureError as e:
                self._fail(str(e))
                self._sleep_backoff()
                continue
            except Exception as e:  # noqa: BLE001 - a bug in a resolver must not kill the thread
                log.exception("camera %s: unexpected error while connecting", self.profile.id)
                self._fail(f"internal error while connecting: {e}")
                self._sleep_backoff()
                continue
            try:
                index, reason = self._read_loop(cap, live, index, t0)
            finally:
                cap.release()
            if self._stop.is_set():
                break
            if reason is None:  # a file that ended and does not loop
                with self._cond:
                    self._state, self._error = "stopped", "end of file"
                self._publish_status()
                break
            if reason == "loop":
                continue
            self._fail(reason)
            self._sleep_backoff()

    def _sleep_backoff(self) -> None:
        self._stop.wait(self._backoff.next())

    def _open(self) -> tuple[cv2.VideoCapture, bool]:
        source = self.source
        if not isinstance(source, str):
            url = self._resolve_onvif(source.onvif)
        else:
            url = source
        with self._cond:
            self._url = redact(url)
        if is_file_source(url):
            if not os.path.isfile(url):
                raise CaptureError(f"file not found: {url}")
            cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, self._threads)
            if not cap.isOpened():
                cap.release()
                raise CaptureError(f"cannot decode video file {url}")
            return cap, False
        self._probe_tcp(url)
        ms = int(self.open_timeout_s * 1000)
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000), *self._threads,
        ])
        if not cap.isOpened():
            cap.release()
            why = explain_rtsp_failure(url, self.open_timeout_s) if url.lower().startswith("rtsp") else None
            raise CaptureError(f"cannot open stream {redact(url)}: " + (
                why or f"no answer in {self.open_timeout_s:.0f} s, wrong path or credentials, or no video track"))
        return cap, True

    def _probe_tcp(self, url: str) -> None:
        """Say plainly when the camera is unreachable, instead of FFmpeg's silence."""
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
        if not parts.hostname or port is None:
            return
        try:
            with socket.create_connection((parts.hostname, port), timeout=self.open_timeout_s):
                pass
        except OSError as e:
            raise CaptureError(f"cannot reach {parts.hostname}:{port}: {e.strerror or e}") from None

    def _resolve_onvif(self, onvif: OnvifSource) -> str:
        from edge.onvif.client import OnvifError, resolve_media

        detect = self.profile.onvif if self.role == "record" else None
        try:
            media = resolve_media(onvif, timeout_s=self.open_timeout_s, detect=detect)
        except OnvifError as e:
            raise CaptureError(str(e)) from None
        if media.shared:
            raise _SharedStream()
        with self._cond:
            self._device = media.device
        return media.stream_uri

    def _read_loop(self, cap: cv2.VideoCapture, live: bool, index: int, t0: float) -> tuple[int, str | None]:
        """Read until failure or stop. Returns the next index and why reading ended:
        a reason (failure), "loop" (a looping file reached its end) or None (a file ended)."""
        interval = 1.0 / self.profile.detect.fps
        warmup_s = self.profile.detect.warmup_s
        src_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        if not live and not 1.0 <= src_fps <= 240.0:
            src_fps = 25.0  # files without a usable rate: assume PAL
        # files play at real speed from where the previous loop ended
        file_start_pos = index / src_fps if not live and src_fps else 0.0
        wall_start = time.monotonic() - file_start_pos
        utc_start = utcnow() - timedelta(seconds=file_start_pos)
        next_due = 0.0
        warm_until: float | None = None
        rate_n, rate_t = 0, None  # measured source frame rate
        while not self._stop.is_set():
            asked = time.monotonic()
            if not cap.grab():
                if not live:
                    return index, ("loop" if self.profile.loop and index > 0 else None)
                return index, f"no frame within {self.read_timeout_s:.0f} s or the stream ended"
            now = time.monotonic()
            if live and now - asked >= self.read_timeout_s * 0.9:
                # FFmpeg's read timed out, yet OpenCV hands over a frame flushed from the
                # decoder and would wait again: a stalled camera, reconnect now.
                return index, f"no frame within {self.read_timeout_s:.0f} s (stream stalled)"
            if live:
                pos_s, ts = now - t0, utcnow()
            else:
                pos_s = index / src_fps
                ts = utc_start + timedelta(seconds=pos_s)
                delay = wall_start + pos_s - now
                if delay > 0 and self._stop.wait(delay):
                    break
            index += 1
            self.frames_read += 1
            if rate_t is None:
                rate_t = now
            else:
                rate_n += 1
                if now - rate_t >= 2.0:
                    self._fps, rate_n, rate_t = rate_n / (now - rate_t), 0, now
            restored = self._frame_arrived(ts, now)
            if warm_until is None or restored:
                warm_until = pos_s + warmup_s  # first frames after a (re)connect or outage
            if pos_s + 1e-6 < next_due:
                continue
            next_due = max(next_due + interval, pos_s)
            ok, image = cap.retrieve()
            self.frames_decoded += 1
            if not ok or image is None:
                continue
            frame = Frame(index=index - 1, image=image, ts=ts, pos_s=pos_s, fresh=pos_s < warm_until)
            with self._cond:
                if self._frame is not None:
                    self.frames_dropped += 1
                self._frame = frame
                self._cond.notify_all()
        return index, "stopped"

    def _frame_arrived(self, ts: datetime, now: float) -> bool:
        """Bookkeeping for a frame; True when it ends an outage (then 'restored' is queued)."""
        publish = False
        with self._cond:
            self._last_frame_ts, self._last_frame_mono = ts, now
            if self._state == "streaming":
                return False
            restored = self._lost_since is not None
            if restored:
                outage = now - self._lost_since
                self._events.append(StreamEvent("restored", utcnow(), {
                    "outage_s": round(outage, 3), "attempts": self._attempts, "url": self._url}))
                self.reconnects += 1
                self._cond.notify_all()
            self._state, self._error, self._lost_since, self._attempts = "streaming", None, None, 0
            self._backoff.reset()
            publish = True
        if publish:
            if restored:
                log.info("camera %s: stream restored after %.1f s", self.profile.id, outage)
            self._publish_status()
        return restored
