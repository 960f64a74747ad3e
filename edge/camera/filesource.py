"""Read a video file as `Frame`s at the detect fps, as fast as the decoder goes.

Frames that analysis skips are only `grab()`bed (demuxed and decoded, never converted to
BGR); `retrieve()` runs for the analysed ones only."""
from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2

from edge.camera.frames import Frame


class VideoOpenError(ValueError):
    pass


def source_fps(cap: cv2.VideoCapture) -> float:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return fps if fps and math.isfinite(fps) and 0 < fps <= 240 else 25.0


def iter_file_frames(path: str | Path, fps: float | None, start: datetime | None = None) -> Iterator[Frame]:
    """Frames of `path` at about `fps` (None: every frame). `Frame.index` is the 0-based index in
    the file, `pos_s` the position, `ts` = `start` (default: the file's mtime) + `pos_s`."""
    path = Path(path)
    if not path.is_file():
        raise VideoOpenError(f"{path}: no such file")
    if start is None:
        start = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoOpenError(f"{path}: not a video the decoder can open")
    try:
        src = source_fps(cap)
        period = 0.0 if not fps or fps >= src else 1.0 / fps
        next_pos = 0.0
        index = 0
        while cap.grab():
            pos = index / src
            if pos + 1e-6 >= next_pos:
                ok, image = cap.retrieve()
                if ok and image is not None:
                    yield Frame(index=index, image=image, ts=start + timedelta(seconds=pos), pos_s=pos)
                next_pos += period
                if next_pos + 1e-6 < pos:  # never fall behind after a hiccup
                    next_pos = pos + period
            index += 1
    finally:
        cap.release()


def frame_count(path: str | Path) -> int | None:
    cap = cv2.VideoCapture(str(path))
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        return n if n > 0 else None
    finally:
        cap.release()
