"""`python -m benchmarks.edge_grab PROFILE.yaml...`: the baseline of bench_edge_load, the
edge's own capture (`CameraStream`: every frame grabbed, retrieved at detect.fps) of each
camera with nothing done to its frames, until SIGTERM. Run as its own process so that its
CPU and memory are read from /proc the same way as `python -m edge run`'s."""
from __future__ import annotations

import signal
import sys
import threading

from camera_profiles import load_profile
from edge.camera.capture import CameraStream, decode_threads


def _drain(stream: CameraStream, stop: threading.Event) -> None:
    while not stop.is_set():
        stream.get(timeout=0.5)


def main(paths: list[str]) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    each = decode_threads(len(paths))   # as edge run shares the cores
    streams = [CameraStream(load_profile(p), threads=each) for p in paths]
    threads = []
    for s in streams:
        s.start()
        threads.append(threading.Thread(target=_drain, args=(s, stop), daemon=True))
        threads[-1].start()
    stop.wait()
    for s in streams:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
