"""CPU cost of event clips per camera, as a fraction of decoding that camera's stream.

Baseline: decoding vtest.avi (768x576, 10 fps) with OpenCV, measured in the same run.
- ring buffer: `ClipRecorder.push` for every frame (downscale to 640 px + keep), no event;
- clip encoding: everything a 15 s clip costs (masking in the encoder thread + ffmpeg/libx264),
  per clip frame, CPU of this process and of its ffmpeg children;
- the JPEG alternative for the ring buffer (smaller, but costs an encode per frame and a decode per clip frame).
"""
from __future__ import annotations

import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from alerts import Alert, AlertSource, AlertType, new_alert_id
from camera_profiles.schema import CameraProfile
from edge.camera.clips import ClipRecorder
from edge.camera.frames import Frame

VTEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "vtest.avi"
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
N = 300  # frames: 30 s of the camera


def _cpu() -> float:
    """CPU seconds of this process (all threads) plus finished children (ffmpeg)."""
    self_, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + kids.ru_utime + kids.ru_stime


def _profile() -> CameraProfile:
    return CameraProfile.model_validate({
        "id": "bench", "source": str(VTEST), "detect": {"fps": 10},
        "privacy_masks": [[[0.0, 0.0], [0.25, 0.0], [0.25, 0.08], [0.0, 0.08]],
                          [[0.55, 0.55], [0.85, 0.55], [0.85, 0.85], [0.55, 0.85]]]})


def _decode() -> tuple[list[Frame], float]:
    cap = cv2.VideoCapture(str(VTEST))
    frames = []
    c0 = _cpu()
    for i in range(N):
        ok, img = cap.read()
        if not ok:
            break
        frames.append(Frame(i, img, T0 + timedelta(seconds=i / 10), i / 10))
    cost = (_cpu() - c0) / len(frames)
    cap.release()
    return frames, cost


def _alert(f: Frame) -> Alert:
    return Alert(id=new_alert_id(), edge_id="bench", source=AlertSource(kind="camera", id="bench"),
                 camera_id="bench", type=AlertType.intrusion, ts=f.ts, frame=f.index, bbox=[0.4, 0.5, 0.1, 0.3])


def run(console: Console) -> None:
    if not VTEST.exists():
        console.print(f"[red]missing footage {VTEST}")
        return
    frames, decode = _decode()
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # ring buffer only (no event): the steady cost every camera pays
        rec = ClipRecorder(_profile(), tmp, pre_s=5, post_s=10, fps=10)
        c0, w0 = _cpu(), time.perf_counter()
        for f in frames:
            rec.push(f)
        push = (_cpu() - c0) / len(frames)
        push_wall = (time.perf_counter() - w0) / len(frames)
        ring_bytes = sum(bf.image.nbytes for bf in rec._ring)
        rec.close()
        rows.append(("ring buffer push (per frame)", push, f"{push_wall * 1e3:.2f} ms wall in the detection thread"))

        # a 15 s clip: 5 s before, 10 s after; cost per clip frame, detection thread + encoder + ffmpeg
        rec = ClipRecorder(_profile(), tmp, pre_s=5, post_s=10, fps=10)
        for f in frames[:60]:
            rec.push(f)
        c0 = _cpu()
        rec.on_alert(_alert(frames[59]))
        for f in frames[60:220]:
            rec.push(f)
        done = rec.close()
        clip = next(c for c in done if c.kind == "clip")
        encode = (_cpu() - c0 - 160 * push) / clip.frames
        rows.append((f"clip encoding (per clip frame, {clip.frames} frames, {clip.size / 1e6:.2f} MB)", encode,
                     "masking + libx264 veryfast, off the detection thread"))

        # JPEG ring buffer instead of raw arrays
        small = [cv2.resize(f.image, (640, 480), interpolation=cv2.INTER_AREA) for f in frames[:100]]
        c0 = _cpu()
        jpgs = [cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 90])[1] for im in small]
        jpeg_enc = (_cpu() - c0) / len(small)
        c0 = _cpu()
        for j in jpgs:
            cv2.imdecode(j, cv2.IMREAD_COLOR)
        jpeg_dec = (_cpu() - c0) / len(jpgs)
        jpeg_ratio = np.mean([j.nbytes for j in jpgs]) / small[0].nbytes
        rows.append(("JPEG-compressing each ring frame (alternative)", jpeg_enc,
                     f"frames {1 / jpeg_ratio:.0f}x smaller; +{jpeg_dec * 1e3:.2f} ms to decode per clip frame"))

    table = Table(title=f"Event clips, CPU per frame vs decoding the stream ({decode * 1e3:.2f} ms/frame, 768x576)")
    table.add_column("work")
    table.add_column("CPU ms", justify="right")
    table.add_column("x decode", justify="right")
    table.add_column("note")
    table.add_row("decode (baseline)", f"{decode * 1e3:.2f}", "1.00", "OpenCV, vtest.avi")
    for name, cost, note in rows:
        table.add_row(name, f"{cost * 1e3:.2f}", f"{cost / decode:.2f}", note)
    console.print(table)
    per_cam = ring_bytes / 1e6
    console.print(f"ring buffer memory per camera at 5 s x 10 fps, 640 px: {per_cam:.1f} MB "
                  f"(JPEG: {per_cam * jpeg_ratio:.1f} MB)")
    busy = 0.1  # a camera with an event clip running 10 % of the time
    console.print(f"a camera with clips recording {busy:.0%} of the time costs "
                  f"{(push + busy * encode) / decode:.2f}x its decode CPU for clips")
