"""A synthetic demo camera clip, generated on the spot so `make demo` needs no footage.

A fixed view of a paved path beside a lawn; every 12 s a figure walks in from the left,
stops on the lawn for a few seconds and walks out again. It plays in a loop as a live camera.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

W, H, FPS, SECONDS = 640, 360, 10, 12


def _background(rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = (70, 120, 80)                                   # lawn (BGR)
    cv2.rectangle(img, (0, 0), (W, int(H * 0.45)), (150, 150, 145), -1)   # building wall
    for x in range(20, W, 70):                                # windows
        cv2.rectangle(img, (x, 20), (x + 35, 70), (90, 80, 70), -1)
    path = np.array([[0, int(H * .5)], [W, int(H * .45)], [W, int(H * .58)], [0, int(H * .6)]], np.int32)
    cv2.fillPoly(img, [path], (120, 125, 130))               # paved path
    noise = rng.normal(0, 6, img.shape)                      # texture so the scene is not flat
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def _figure(img: np.ndarray, x: int, y_foot: int) -> None:
    cv2.ellipse(img, (x, y_foot - 30), (11, 30), 0, 0, 360, (40, 40, 60), -1)     # body
    cv2.circle(img, (x, y_foot - 68), 9, (60, 70, 90), -1)                       # head
    cv2.line(img, (x - 5, y_foot - 5), (x - 8, y_foot), (30, 30, 30), 4)
    cv2.line(img, (x + 5, y_foot - 5), (x + 8, y_foot), (30, 30, 30), 4)


def make_demo_clip(path: str | Path, seed: int = 7) -> Path:
    """Write the clip (MPEG-4 in an .avi, readable by any OpenCV build) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bg = _background(rng)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write the demo clip to {path}")
    n = FPS * SECONDS
    for i in range(n):
        t = i / FPS
        frame = bg.copy()
        # walk in along the path (t 1..4 s), step onto the lawn and stand (4..8 s), walk out (8..11 s)
        if 1 <= t < 4:
            x, y = int(-20 + (t - 1) * 80), int(H * .57)
        elif 4 <= t < 8:
            x, y = 220, int(H * .57 + min(t - 4, 1.5) * 70)
        elif 8 <= t < 11:
            x, y = int(220 - (t - 8) * 90), int(H * .57 + 105)
        else:
            x = None
        if x is not None:
            _figure(frame, x, y)
        frame = cv2.add(frame, rng.integers(0, 4, frame.shape, dtype=np.uint8))   # sensor noise
        writer.write(frame)
    writer.release()
    return path


DEMO_PROFILE = """\
# The demo camera: a generated clip looping at real speed as if live.
id: cam-demo-lawn
name: 演示摄像机 · 步道旁草坪
grid: G-03-07
location: {{lat: 36.7260, lon: 104.8411}}
source: {clip}
loop: true
detect: {{fps: 5, width: 640}}
privacy_masks:
  - [[0.00, 0.00], [0.20, 0.00], [0.20, 0.12], [0.00, 0.12]]
zones:
  - name: 草坪
    polygon: [[0.00, 0.62], [1.00, 0.60], [1.00, 1.00], [0.00, 1.00]]
    intrusion: {{min_seconds: 1.0, severity: major, cooldown_s: 5}}
tamper: {{min_seconds: 3}}
"""


def add_arguments(p) -> None:
    p.add_argument("--dir", required=True, help="folder for the clip (demo-lawn.avi) and its profile (cam-demo-lawn.yaml)")


def main(args) -> int:
    """`python -m edge demo-camera --dir D`: the demo camera's clip (made once) and profile."""
    folder = Path(args.dir)
    clip = folder / "demo-lawn.avi"
    if not clip.exists():
        make_demo_clip(clip)
    profile = folder / "cam-demo-lawn.yaml"
    profile.write_text(DEMO_PROFILE.format(clip=clip.resolve()), encoding="utf-8")
    print(profile)
    return 0
