"""Capture under faults, against the real RTSP server: backoff between attempts, no false
motion or tampering after reconnects, and no thread or file-descriptor leak over 100 cycles."""
from __future__ import annotations

import os
import random
import threading
import time

import pytest

from camera_profiles.loader import profile_from_dict
from common.backoff import Backoff
from edge.camera.capture import CameraStream
from edge.camera.frames import Frame, StreamEvent
from edge.camera.pipeline import CameraPipeline
from tests.support.rtsp_server import TcpProxy
from tests.support.services import free_port


def profile(url, **extra):
    return profile_from_dict({"id": "cam-faults", "source": url, "detect": {"fps": 5, "warmup_s": 1.0}, **extra})


def wait_event(stream, kind, within):
    deadline = time.monotonic() + within
    frames = []
    while time.monotonic() < deadline:
        item = stream.get(timeout=0.5)
        if isinstance(item, Frame):
            frames.append(item)
        elif isinstance(item, StreamEvent) and item.kind == kind:
            return item, frames
    raise AssertionError(f"no {kind} within {within} s; status {stream.status}")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))  # FFmpeg's decoder threads are not Python threads


def test_retries_are_spaced_by_capped_exponential_backoff():
    port = free_port()  # nothing listens: every attempt fails at once, so the gaps are the backoff
    s = CameraStream(profile(f"rtsp://127.0.0.1:{port}/cam"), backoff=Backoff(0.25, 2.0, jitter=0.2,
                                                                              rng=random.Random(5)))
    seen: list[tuple[int, float]] = []
    s.start()
    try:
        deadline = time.monotonic() + 20
        while len(seen) < 7 and time.monotonic() < deadline:
            n = s.status["attempts"]
            if n and (not seen or n != seen[-1][0]):   # (0: the thread has not tried yet)
                seen.append((n, time.monotonic()))
            time.sleep(0.01)
    finally:
        s.stop()
    assert [n for n, _ in seen] == list(range(1, len(seen) + 1)) and len(seen) == 7, seen
    gaps = [b - a for (_, a), (_, b) in zip(seen, seen[1:])]
    # expected bases 0.25, 0.5, 1, 2, 2, 2 (minus up to 20% jitter)
    assert gaps[1] > gaps[0] and gaps[2] > gaps[1], gaps
    assert all(g < 2.0 + 1.0 for g in gaps), "capped"
    assert min(gaps[3:]) > 2.0 * 0.8 - 0.05, gaps


def test_no_false_motion_or_tamper_after_network_cuts(camera):
    """Reconnect frames (grey or half-decoded, a jump in the scene) must not raise anything."""
    proxy = TcpProxy(camera.port)
    prof = profile(f"rtsp://127.0.0.1:{proxy.port}/cam",
                   tamper={"covered": True, "defocus": True, "moved": True, "min_seconds": 0.0})
    pipeline = CameraPipeline(prof, "edge-test", snapshots=False)
    s = CameraStream(prof, backoff=Backoff(0.1, 0.5), open_timeout_s=3, read_timeout_s=3)
    alerts = []
    s.start()
    try:
        frames = []
        deadline = time.monotonic() + 15
        while len(frames) < 15 and time.monotonic() < deadline:  # settle: 3 s of frames
            item = s.get(timeout=0.5)
            if isinstance(item, Frame):
                alerts += pipeline.process(item)
                frames.append(item)
        for _ in range(3):
            proxy.cut()
            wait_event(s, "lost", 10)
            wait_event(s, "restored", 20)
            pipeline.reset()  # as the edge worker does on 'restored'
            after = []
            while len(after) < 8:
                item = s.get(timeout=10)
                assert isinstance(item, Frame), item
                after.append(item)
                alerts += pipeline.process(item)
            assert after[0].fresh, "the first frames after a reconnect only train the background"
    finally:
        s.stop()
        proxy.close()
    assert [a.type.value for a in alerts if a.type.value.startswith(("tamper", "motion"))] == []


@pytest.fixture
def quick_open(monkeypatch):
    """FFmpeg probes a new stream for up to 5 s by default; our test camera sends its
    parameters every second, so 1 s of probing is plenty and 100 cycles take minutes less."""
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp|analyzeduration;1000000")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_thread_or_fd_leak_over_100_reconnect_cycles(camera, quick_open):
    proxy = TcpProxy(camera.port)
    s = CameraStream(profile(f"rtsp://127.0.0.1:{proxy.port}/cam"), backoff=Backoff(0.05, 0.2),
                     open_timeout_s=3, read_timeout_s=3)
    s.start()
    try:
        first = s.get(timeout=15)
        while not isinstance(first, Frame):
            first = s.get(timeout=15)
        time.sleep(1.0)
        fds0, tasks0, py0 = open_fds(), native_threads(), threading.active_count()
        for _ in range(100):
            proxy.cut()
            wait_event(s, "lost", 10)
            wait_event(s, "restored", 20)
        time.sleep(1.0)
        fds1, tasks1, py1 = open_fds(), native_threads(), threading.active_count()
        assert s.reconnects == 100
    finally:
        s.stop()
        proxy.close()
    # the proxy's own pipe threads come and go: allow a little slack, but not one per cycle
    assert fds1 - fds0 <= 6, (fds0, fds1)
    assert tasks1 - tasks0 <= 6, (tasks0, tasks1)
    assert py1 - py0 <= 4, (py0, py1)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_start_stop_100_times_leaves_nothing_behind(camera, quick_open):
    fds0, tasks0 = open_fds(), native_threads()
    for _ in range(100):
        s = CameraStream(profile(camera.url))
        s.start()
        s.get(timeout=5)
        s.stop()
    time.sleep(0.5)
    assert open_fds() - fds0 <= 4 and native_threads() - tasks0 <= 4
