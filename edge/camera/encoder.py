"""The clip encoder: Debian's ffmpeg (libx264) fed raw frames on stdin, off the detection thread."""
from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np

MAX_GAP_S = 2.0  # longest stretch of a clip filled by repeating the last frame


class Encoder:
    """ffmpeg fed raw BGR frames on stdin at a constant rate; writes `<path>.part` and renames it
    when complete. Frames are placed by their time, so the clip plays in real time even when the
    camera delivered fewer frames (a frame is repeated) or more (one is left out); a gap longer
    than MAX_GAP_S (the stream was lost) is cut short rather than shown as a frozen picture."""

    def __init__(self, path: Path, width: int, height: int, fps: float, crf: int, start_ts: datetime):
        self.path = path
        self.fps, self.start_ts = fps, start_ts
        self.next_slot = 0
        self.written = 0
        self.last: memoryview | None = None
        self.part = path.with_suffix(path.suffix + ".part")
        self.proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
             "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "pipe:0",
             "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-threads", "1",
             "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(self.part)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.broken = False

    def write(self, image: np.ndarray, ts: datetime) -> None:
        if self.broken:
            return  # ffmpeg already died; `finish` reports why, once
        slot = round((ts - self.start_ts).total_seconds() * self.fps)
        if slot < self.next_slot:
            return  # more frames than the clip's rate: this one falls between two
        hold = min(slot - self.next_slot, round(MAX_GAP_S * self.fps)) if self.last is not None else 0
        self.next_slot = slot + 1
        data = np.ascontiguousarray(image).data
        try:
            for frame in [self.last] * hold + [data]:  # until this frame's time, the last one stays up
                self.proc.stdin.write(frame)
                self.written += 1
        except (BrokenPipeError, ValueError):
            self.broken = True
        self.last = data

    def finish(self, timeout: float = 120.0) -> Path:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            self.broken = True
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise RuntimeError(f"ffmpeg took more than {timeout}s for {self.path.name}") from None
        err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
        if rc != 0:
            self.part.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg exited with {rc} for {self.path.name}: {err[-300:]}")
        os.replace(self.part, self.path)
        return self.path

    def abort(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.part.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
