"""What an analysed frame costs by how the analysis is scheduled, no decoder running: why the
edge's analysis threads pay about twice the detector's cost in a tight loop.

8 cameras' pipelines (all rules, bench_detect.ALL_RULES) on 360p frames decoded beforehand,
each camera at 5 fps; CPU per analysed frame (the analysing thread's own CPU time):
- tight loop: one pipeline, frame after frame (the detector's cost with warm caches; baseline);
- 8 threads, spread: one thread per camera waking every 200 ms at its own phase (the edge today);
- 8 threads, one tick: the same threads woken on a common 200 ms tick (aligned capture);
- ... one at a time: the same with a lock around each analysis (no GIL passed to and fro inside it);
- one thread, in turn: every 200 ms the 8 cameras' frames analysed back to back in one thread.
Three runs here (over the tight loop): spread 1.7-2.0, one tick 2.5-3.3, one at a time 1.4-1.6,
in turn 1.3-1.7: a thread that wakes five times a second finds the core's caches cold, with or
without decoders beside it, and threads woken together pass the GIL to and fro. The lock, tried
in `edge run` (bench_edge_load, 360p, two A/B pairs), changed nothing there beyond the noise.
The second table has the decoders running: 8 live captures (`CameraStream`, the 360p clip looped
at real speed) and their analysis by a thread per camera (the edge) or by one thread taking each
camera's newest frame in turn every 200 ms (here: 0.95-0.98 against 0.74-0.79 ms, two runs). One
analysis thread for all cameras is what is left to try (a deeper change: one camera's slow frame
would then delay the others).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import cv2
from rich.console import Console
from rich.table import Table

from benchmarks.bench_detect import ALL_RULES, T0, clip
from camera_profiles.schema import CameraProfile
from edge.camera.capture import CameraStream
from edge.camera.frames import Frame
from edge.camera.pipeline import CameraPipeline

CAMERAS, PERIOD_S, SECONDS, WARM = 8, 0.2, 10.0, 10   # WARM: first frames per camera not counted


def _frames(height: int = 360, n: int = 80) -> list:
    cap, out, i = cv2.VideoCapture(str(clip(height))), [], 0
    while len(out) < n:
        ok, img = cap.read()
        if not ok:
            break
        if i % 5 == 0:
            out.append(img)
        i += 1
    cap.release()
    return out


class _Camera:
    def __init__(self, frames: list, phase: int):
        self.pipe = CameraPipeline(CameraProfile.model_validate(ALL_RULES), "bench", snapshots=False)
        self.frames, self.k, self.busy, self.n, self.seen = frames, phase, 0.0, 0, 0

    def step(self, frame: Frame | None = None) -> None:
        """Analyse `frame`, or the next of the frames decoded beforehand."""
        if frame is None:
            k = self.k
            self.k += 1
            frame = Frame(k, self.frames[k % len(self.frames)], T0 + timedelta(seconds=k * PERIOD_S), k * PERIOD_S)
        a = time.thread_time()
        self.pipe.process(frame)
        self.seen += 1
        if self.seen > WARM:
            self.busy += time.thread_time() - a
            self.n += 1


def _tight(frames: list) -> float:
    cam = _Camera(frames, 0)
    for _ in range(WARM + 150):
        cam.step()
    return cam.busy / cam.n


def _threads(frames: list, wait: Callable[[int], None], lock: threading.Lock | None = None) -> float:
    cams = [_Camera(frames, 3 * c) for c in range(CAMERAS)]
    end = time.monotonic() + SECONDS

    def loop(c: int) -> None:
        while time.monotonic() < end:
            wait(c)
            if lock is None:
                cams[c].step()
            else:
                with lock:
                    cams[c].step()

    threads = [threading.Thread(target=loop, args=(c,)) for c in range(CAMERAS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(c.busy for c in cams) / sum(c.n for c in cams)


def _spread(c: int) -> None:
    time.sleep(PERIOD_S)   # (the threads started apart keep their phases)


def _tick(c: int) -> None:
    now = time.monotonic()
    time.sleep((int(now / PERIOD_S) + 1) * PERIOD_S - now + 1e-3)


def _in_turn(frames: list) -> float:
    cams = [_Camera(frames, 3 * c) for c in range(CAMERAS)]
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        time.sleep(PERIOD_S)
        for cam in cams:
            cam.step()
    return sum(c.busy for c in cams) / sum(c.n for c in cams)


def _live(per_camera: bool) -> float:
    """8 live captures of the 360p clip; their frames analysed by a thread per camera, or by one
    thread taking each camera's newest frame in turn every PERIOD_S."""
    streams = [CameraStream(CameraProfile.model_validate({**ALL_RULES, "id": f"sched-{c}", "source": str(clip(360)),
                                                          "loop": True})) for c in range(CAMERAS)]
    cams = [_Camera([], 0) for _ in streams]
    for st in streams:
        st.start()
    end = time.monotonic() + SECONDS + 3

    def own(c: int) -> None:
        while time.monotonic() < end:
            item = streams[c].get(timeout=0.5)
            if isinstance(item, Frame):
                cams[c].step(item)

    try:
        if per_camera:
            threads = [threading.Thread(target=own, args=(c,)) for c in range(CAMERAS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            while time.monotonic() < end:
                time.sleep(PERIOD_S)
                for st, cam in zip(streams, cams):
                    item = st.get(timeout=0)
                    if isinstance(item, Frame):
                        cam.step(item)
    finally:
        for st in streams:
            st.stop()
    return sum(c.busy for c in cams) / max(1, sum(c.n for c in cams))


def run(console: Console) -> None:
    frames = _frames()
    tight = _tight(frames)
    rows = [("tight loop (baseline)", tight), ("8 threads, spread (the edge)", _threads(frames, _spread)),
            ("8 threads, one tick", _threads(frames, _tick)),
            ("8 threads, one tick, one at a time", _threads(frames, _tick, threading.Lock())),
            ("8 threads, spread, one at a time", _threads(frames, _spread, threading.Lock())),
            ("one thread, in turn", _in_turn(frames))]
    table = Table(title=f"{CAMERAS} cameras at 5 fps, 360p, all rules, frames decoded beforehand: CPU per analysed frame")
    for col in ("schedule", "ms", "/ tight loop"):
        table.add_column(col, justify="right")
    for name, cost in rows:
        table.add_row(name, f"{1000 * cost:.3f}", f"{cost / tight:.2f}")
    console.print(table)
    live = Table(title=f"the same with {CAMERAS} live captures decoding beside the analysis: CPU per analysed frame")
    for col in ("schedule", "ms", "/ tight loop"):
        live.add_column(col, justify="right")
    for name, per_camera in (("a thread per camera (the edge)", True), ("one thread, in turn", False)):
        cost = _live(per_camera)
        live.add_row(name, f"{1000 * cost:.3f}", f"{cost / tight:.2f}")
    console.print(live)
