"""CameraStream against real footage and a real RTSP server on loopback."""
from __future__ import annotations

import random
import subprocess
import time

import pytest

from camera_profiles.loader import profile_from_dict
from common.backoff import Backoff
from edge.camera.capture import CameraStream
from edge.camera.frames import Frame, StreamEvent
from edge.camera.rtsp import redact
from tests.support.rtsp_server import RtspCamera
from tests.support.services import free_port
from tests.support.waiting import next_item


def profile(source, **extra):
    return profile_from_dict({"id": "cam-test", "source": source,
                              "detect": {"fps": 5, "width": 320, "warmup_s": 1.0}, **extra})


def fast_backoff():
    return Backoff(initial_s=0.2, max_s=1.0, jitter=0.2, rng=random.Random(1))


@pytest.fixture
def short_clip(tmp_path, vtest_path):
    """Two seconds of the real footage, to see a file end and loop."""
    out = tmp_path / "short.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(vtest_path), "-t", "2", "-an",
                    "-c:v", "libx264", "-preset", "ultrafast", str(out)], check=True, timeout=60)
    return out


# ---- backoff ---------------------------------------------------------------------------
def test_backoff_grows_caps_and_jitters():
    b = Backoff(initial_s=0.5, max_s=8, factor=2, jitter=0.25, rng=random.Random(7))
    delays = [b.next() for _ in range(10)]
    bases = [0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8]
    for d, base in zip(delays, bases):
        assert base * 0.75 <= d <= base
    assert len(set(delays[4:])) > 1, "jitter spreads retries of cameras that dropped together"
    b.reset()
    assert b.next() <= 0.5


def test_backoff_rejects_nonsense():
    with pytest.raises(ValueError):
        Backoff(initial_s=0)
    with pytest.raises(ValueError):
        Backoff(initial_s=5, max_s=1)


def test_redact_hides_password():
    assert redact("rtsp://admin:s3cr%40t@10.0.0.1:554/x") == "rtsp://admin:***@10.0.0.1:554/x"
    assert redact("/var/footage/a.mp4") == "/var/footage/a.mp4"


# ---- files -----------------------------------------------------------------------------
def test_file_plays_at_real_speed_with_detect_rate_and_warmup(vtest_path):
    s = CameraStream(profile(str(vtest_path)))
    s.start()
    try:
        started = time.monotonic()
        frames = [next_item(s, Frame, 5) for _ in range(12)]
        elapsed = time.monotonic() - started
    finally:
        s.stop()
    idx = [f.index for f in frames]
    assert idx == sorted(idx) and idx[0] == 0
    # vtest is 10 fps; detect.fps 5 -> every second frame
    assert all(b - a == 2 for a, b in zip(idx, idx[1:])), idx
    assert all(abs(f.pos_s - f.index / 10) < 1e-6 for f in frames)
    assert frames[0].image.shape == (576, 768, 3)
    # warm-up of 1 s after connecting: the first frames only train the background
    assert [f.fresh for f in frames] == [f.pos_s < 1.0 for f in frames]
    assert frames[0].fresh and not frames[-1].fresh
    # 12 frames at 5 fps span 2.2 s of video: real speed, not as fast as possible
    assert elapsed > 1.5
    assert (frames[-1].ts - frames[0].ts).total_seconds() == pytest.approx(frames[-1].pos_s - frames[0].pos_s)


def test_capture_threads_carry_the_camera_in_their_os_name(vtest_path):
    # `top -H` and the edge_load bench tell the CPU per camera and stage by these names
    from pathlib import Path

    def names() -> set[str]:
        return {(t / "comm").read_text().strip() for t in Path("/proc/self/task").iterdir()}

    s = CameraStream(profile(str(vtest_path)))
    s.start()
    try:
        next_item(s, Frame, 5)
        assert "cap:cam-test" in names()
    finally:
        s.stop()


def _decoder_threads() -> int:
    from pathlib import Path

    return sum(1 for t in Path("/proc/self/task").iterdir() if (t / "comm").read_text().startswith("av:"))


@pytest.mark.parametrize("source", ["file", "rtsp"])
def test_decoder_threads_as_asked(source, short_clip, request):
    # one thread a stream decodes in the capture thread itself (FFmpeg starts no av: threads);
    # more are FFmpeg's frame threads, for the file and the network path alike
    url = str(short_clip) if source == "file" else request.getfixturevalue("camera").url
    before = _decoder_threads()
    seen = {}
    for threads in (1, 2):
        s = CameraStream(profile(url, loop=True), threads=threads)
        s.start()
        try:
            next_item(s, Frame, 15)
            next_item(s, Frame, 5)
            seen[threads] = _decoder_threads() - before
        finally:
            s.stop()
    assert seen[1] == 0 and seen[2] >= 1, seen


def test_decode_threads_share_the_cores(monkeypatch, tmp_path):
    from edge.camera.capture import decode_threads
    from edge.config import ConfigError, load_edge_config

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert [decode_threads(n) for n in (1, 2, 3, 4, 8, 0)] == [4, 2, 1, 1, 1, 4]
    bad = tmp_path / "edge.yaml"
    bad.write_text("edge_id: e1\ndecode_threads: 0\n")
    with pytest.raises(ConfigError, match="decode_threads"):
        load_edge_config(bad)
    bad.write_text("edge_id: e1\ndecode_threads: 2\n")
    assert load_edge_config(bad)[0].decode_threads == 2


def test_slow_consumer_gets_newest_frame_not_a_queue(vtest_path):
    s = CameraStream(profile(str(vtest_path)))
    s.start()
    try:
        first = next_item(s, Frame, 5)
        time.sleep(1.5)  # analysis busy: frames arrive meanwhile
        newest = next_item(s, Frame, 5)
        then = next_item(s, Frame, 5)
    finally:
        s.stop()
    assert newest.index - first.index >= 10, "older frames were dropped, the newest was handed over"
    assert then.index - newest.index == 2
    assert s.frames_dropped >= 5 and s.status["dropped"] == s.frames_dropped


def test_file_loops_forever_when_asked(short_clip):
    s = CameraStream(profile(str(short_clip), loop=True))
    s.start()
    try:
        frames = [next_item(s, Frame, 5) for _ in range(16)]  # 3.2 s of a 2 s clip
    finally:
        s.stop()
    idx = [f.index for f in frames]
    assert idx == sorted(set(idx)) and idx[-1] > 20, "the index keeps counting through the loop"
    assert not any(isinstance(f, StreamEvent) for f in frames)
    # the jump at the loop point is treated like a reconnect: warm-up again, no false motion
    after_loop = [f for f in frames if f.pos_s >= 2.0]
    assert after_loop and after_loop[0].fresh


def test_file_without_loop_ends_and_says_so(short_clip):
    statuses = []
    s = CameraStream(profile(str(short_clip)), on_status=statuses.append)
    s.start()
    try:
        deadline = time.monotonic() + 10
        while s.status["state"] != "stopped" and time.monotonic() < deadline:
            s.get(timeout=0.2)
    finally:
        s.stop()
    assert statuses[-1]["state"] == "stopped" and statuses[-1]["error"] == "end of file"


def test_missing_file_is_reported_and_retried(tmp_path):
    s = CameraStream(profile(str(tmp_path / "nope.mp4")), backoff=fast_backoff())
    s.start()
    try:
        lost = next_item(s, "lost", 5)
        time.sleep(1.0)
        st = s.status
    finally:
        s.stop()
    assert "file not found" in lost.details["reason"]
    assert st["state"] == "lost" and st["attempts"] >= 2


def test_disabled_camera_does_nothing(vtest_path):
    statuses = []
    s = CameraStream(profile(str(vtest_path), enabled=False), on_status=statuses.append)
    s.start()
    assert s.get(timeout=0.3) is None
    s.stop()
    s.stop()
    assert statuses == [s.status | {"ts": statuses[0]["ts"]}] and statuses[0]["state"] == "disabled"


# ---- RTSP ------------------------------------------------------------------------------
def test_rtsp_streams_newest_frames(camera):
    statuses = []
    s = CameraStream(profile(camera.url), on_status=statuses.append)
    s.start()
    try:
        frames = [next_item(s, Frame, 15) for _ in range(8)]
        st = s.status
    finally:
        s.stop()
        s.stop()  # idempotent
    assert frames[0].image.shape == (288, 384, 3)
    assert frames[0].fresh and not frames[-1].fresh
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert st["state"] == "streaming" and st["error"] is None and st["last_frame_ts"].endswith("Z")
    states = [x["state"] for x in statuses]
    # a server that has only just opened its port may drop the very first session: then a retry
    assert states[0] == "connecting" and "streaming" in states, states


def test_rtsp_killed_then_restarted(camera):
    s = CameraStream(profile(camera.url), backoff=fast_backoff(), open_timeout_s=3, read_timeout_s=3)
    s.start()
    try:
        next_item(s, Frame, 15)
        camera.kill()
        killed = time.monotonic()
        lost = next_item(s, "lost", 10)
        assert time.monotonic() - killed < 10
        assert s.status["state"] == "lost"
        time.sleep(1.5)
        camera.start()
        restored = next_item(s, "restored", 20)
        after = [next_item(s, Frame, 10) for _ in range(8)]
    finally:
        s.stop()
    assert lost.details["reason"] and "127.0.0.1" in lost.details["url"]
    # (as on a first connect, a server that has only just opened its port may drop the first session
    # again on a busy machine: then one more reconnect, never a stream left lost)
    assert restored.details["outage_s"] >= 1.5 and s.status["reconnects"] in (1, 2)
    assert restored.details["attempts"] >= 2, "reconnect attempts were made while the camera was down"
    # the first frames after reconnecting are never analysed for motion or tampering
    assert after[0].fresh
    assert not after[-1].fresh


def test_rtsp_stall_sigstop_is_lost_within_10s_and_recovers(camera):
    s = CameraStream(profile(camera.url), backoff=fast_backoff())  # default 5 s timeouts
    s.start()
    try:
        next_item(s, Frame, 15)
        camera.stall()
        stalled = time.monotonic()
        lost = next_item(s, "lost", 10)
        assert time.monotonic() - stalled < 10
        camera.resume()
        restored = next_item(s, "restored", 25)
        frame = next_item(s, Frame, 10)
    finally:
        camera.resume()
        s.stop()
    assert lost.details["reason"]
    assert restored.details["outage_s"] > 0
    assert frame.fresh


def test_unreachable_camera_backs_off_and_costs_nothing():
    port = free_port()  # nothing listens there
    s = CameraStream(profile(f"rtsp://127.0.0.1:{port}/cam"),
                     backoff=Backoff(initial_s=0.5, max_s=4, jitter=0.0))
    s.start()
    try:
        lost = next_item(s, "lost", 5)
        time.sleep(3.2)
        st = s.status
        assert s.get(timeout=0.2) is None, "one outage, one 'lost': no event per retry"
    finally:
        s.stop()
    assert "cannot reach 127.0.0.1" in lost.details["reason"] and "refused" in lost.details["reason"].lower()
    # attempts at 0, 0.5, 1.5, 3.5 s: backoff, not a busy loop
    assert 3 <= st["attempts"] <= 4, st
    assert st["state"] == "lost"


@pytest.mark.parametrize("digest", [False, True], ids=["basic", "digest"])
def test_wrong_password_is_clear_and_other_cameras_keep_streaming(vtest_path, digest):
    with RtspCamera(vtest_path, user="admin", password="right", digest=digest) as locked, \
            RtspCamera(vtest_path) as open_cam:
        bad_url = locked.url.replace(":right@", ":wrong@")
        bad = CameraStream(profile(bad_url), backoff=fast_backoff())
        no_path = CameraStream(profile(locked.url.replace("/cam", "/nope")), backoff=fast_backoff())
        good = CameraStream(profile(open_cam.url))
        for s in (bad, no_path, good):
            s.start()
        try:
            lost = next_item(bad, "lost", 15)
            missing = next_item(no_path, "lost", 15)
            frames = [next_item(good, Frame, 15) for _ in range(5)]
            ok = CameraStream(profile(locked.url))
            ok.start()
            try:
                authed = next_item(ok, Frame, 15)
            finally:
                ok.stop()
        finally:
            for s in (bad, no_path, good):
                s.stop()
    assert "wrong user name or password" in lost.details["reason"]
    assert ":wrong@" not in lost.details["reason"] and "admin:***@" in lost.details["reason"]
    assert "no stream at this path" in missing.details["reason"]
    assert len(frames) == 5 and authed.image.size > 0
