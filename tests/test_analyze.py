"""`python -m edge analyze` end to end on a real recorded file, plus the file source and the
pipeline's public API."""
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from alerts import parse_alert
from edge.camera.filesource import VideoOpenError, iter_file_frames
from edge.camera.frames import Frame, StreamEvent
from edge.camera.pipeline import CameraPipeline
from tests import scenarios as S

ROOT = Path(__file__).resolve().parents[1]
START = "2026-11-21T08:00:00Z"


@pytest.fixture(scope="module")
def walker_clip(tmp_path_factory):
    """A 14 s, 10 fps clip of vtest with a walker entering the lawn at ~3.2 s (written with the
    real encoder, so analyze reads it back through the real decoder)."""
    scn = S.Scenario("clip", {}, [S.walker([(3.0, 0.0, 0.80), (9.0, 0.25, 0.86), (13.0, 0.27, 0.86)])],
                     duration_s=14.0, fps=10.0)
    path = tmp_path_factory.mktemp("clip") / "walker.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (768, 576))
    for f in S.frames(scn):
        out.write(f.image)
    out.release()
    return path


def _profile(tmp_path: Path, source: Path, **extra) -> Path:
    prof = {"id": "cam-clip", "grid": "G-01", "location": {"lat": 36.72, "lon": 104.84}, "source": str(source),
            "detect": {"fps": 5},
            "privacy_masks": [[[0.0, 0.0], [0.25, 0.0], [0.25, 0.08], [0.0, 0.08]]],
            "zones": [{"name": "lawn", "polygon": S.LAWN, "intrusion": {"min_seconds": 1.0, "severity": "critical"}}],
            **extra}
    p = tmp_path / "cam.yaml"
    p.write_text(yaml.safe_dump(prof))
    return p


def _analyze(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", "analyze", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_analyze_writes_one_alert_per_event_with_frame_and_time(tmp_path, walker_clip):
    out = tmp_path / "alerts.jsonl"
    r = _analyze("--profile", str(_profile(tmp_path, walker_clip)), "--source", str(walker_clip),
                 "--jsonl", str(out), "--start", START, "--edge-id", "edge-t")
    assert r.returncode == 0, r.stderr
    alerts = [parse_alert(line) for line in out.read_text().splitlines()]
    assert [a.type.value for a in alerts] == ["intrusion"]
    a = alerts[0]
    assert a.edge_id == "edge-t" and a.camera_id == "cam-clip" and a.grid_hint == "G-01"
    assert a.severity.value == "critical" and a.zone == "lawn" and a.location.lat == 36.72
    assert a.frame % 2 == 0 and a.details["pos_s"] == pytest.approx(a.frame / 10.0)  # 10 fps file, analysed at 5
    assert 3.5 <= a.details["pos_s"] <= 6.0
    assert a.ts == datetime(2026, 11, 21, 8, tzinfo=UTC) + timedelta(seconds=a.details["pos_s"])
    assert a.snapshot.startswith("data:image/jpeg;base64,")
    # the summary: alerts per type and the speed
    assert "intrusion" in r.stdout and "analysis per analysed frame" in r.stdout, r.stdout
    assert "140 / 70" in r.stdout, r.stdout


def test_analyze_defaults_start_to_the_file_mtime_and_can_skip_snapshots(tmp_path, walker_clip):
    out = tmp_path / "alerts.jsonl"
    r = _analyze("--profile", str(_profile(tmp_path, walker_clip)), "--jsonl", str(out), "--no-snapshots")
    assert r.returncode == 0, r.stderr
    (a,) = [parse_alert(line) for line in out.read_text().splitlines()]
    mtime = datetime.fromtimestamp(walker_clip.stat().st_mtime, UTC)
    assert abs((a.ts - mtime).total_seconds() - a.details["pos_s"]) < 0.01
    assert a.snapshot is None


def test_analyze_takes_a_profile_without_source_when_given_one(tmp_path, walker_clip):
    prof = _profile(tmp_path, walker_clip)
    data = yaml.safe_load(prof.read_text())
    del data["source"]
    prof.write_text(yaml.safe_dump(data))
    out = tmp_path / "alerts.jsonl"
    r = _analyze("--profile", str(prof), "--source", str(walker_clip), "--jsonl", str(out), "--no-snapshots")
    assert r.returncode == 0, r.stderr
    assert [parse_alert(line).type.value for line in out.read_text().splitlines()] == ["intrusion"]
    r = _analyze("--profile", str(prof))   # and without --source it says which field is missing
    assert r.returncode == 2 and "source" in r.stderr and "Field required" in r.stderr, r.stderr


def test_analyze_refuses_bad_input_with_a_reason(tmp_path, walker_clip):
    prof = _profile(tmp_path, walker_clip)
    out = tmp_path / "never.jsonl"
    r = _analyze("--profile", str(prof), "--source", str(tmp_path / "missing.mp4"), "--jsonl", str(out))
    assert r.returncode == 2 and "no such file" in r.stderr and not out.exists()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    r = _analyze("--profile", str(prof), "--source", str(junk))
    assert r.returncode == 2 and "junk.mp4" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nsource: /tmp/x.mp4\nzones: [{name: a, polygon: [[0, 0], [2, 0], [1, 1]]}]\n")
    r = _analyze("--profile", str(bad))
    assert r.returncode == 2 and "outside the frame" in r.stderr
    r = _analyze("--profile", str(prof), "--start", "yesterday")
    assert r.returncode == 2 and "--start" in r.stderr


def test_iter_file_frames_subsamples_with_positions_and_times(vtest_path):
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    frames = []
    for f in iter_file_frames(vtest_path, 2.5, start):
        frames.append(f)
        if len(frames) == 6:
            break
    assert [f.index for f in frames] == [0, 4, 8, 12, 16, 20]  # 10 fps file at 2.5 fps
    assert [f.pos_s for f in frames] == pytest.approx([0, 0.4, 0.8, 1.2, 1.6, 2.0])
    assert frames[3].ts == start + timedelta(seconds=1.2)
    assert frames[0].image.shape == (576, 768, 3) and not frames[0].fresh
    every = [f.index for _, f in zip(range(5), iter_file_frames(vtest_path, None, start))]
    assert every == [0, 1, 2, 3, 4]
    with pytest.raises(VideoOpenError):
        next(iter_file_frames("/nonexistent.mp4", 5))


def test_pipeline_stream_alerts_and_bad_frames():
    prof = S.make_profile(S.Scenario("api", {"grid": "G-9"}))
    pipe = CameraPipeline(prof, "edge-x", snapshots=False)
    ts = datetime(2026, 11, 21, 9, tzinfo=UTC)
    lost = pipe.stream_alert(StreamEvent("lost", ts, {"reason": "timeout"}))
    back = pipe.stream_alert(StreamEvent("restored", ts + timedelta(seconds=42), {"outage_s": 42.0}))
    assert lost.type.value == "stream.lost" and lost.severity.value == "major" and lost.details["reason"] == "timeout"
    assert back.type.value == "stream.restored" and back.details["outage_s"] == 42.0 and back.grid_hint == "G-9"
    assert lost.id != back.id and lost.ts == ts
    # bad frames are refused, counted, and change nothing
    for junk in (np.zeros((4, 4, 3), np.uint8), np.zeros((100, 100, 3), np.float32), np.zeros((100, 100, 4), np.uint8)):
        assert pipe.process(Frame(0, junk, ts, 0.0)) == []
    assert pipe.errors == 3 and "frame 0" in pipe.last_error and pipe.frames == 0


def test_pipeline_fresh_frames_and_reset_only_learn(vtest_path):
    """After reset() (a reconnect) the walker already in the zone raises nothing until the warm-up
    is over, and the intrusion is still raised once afterwards."""
    scn = S.Scenario("fresh", {"zones": [{"name": "lawn", "polygon": S.LAWN, "intrusion": {"min_seconds": 1.0}}]},
                     [S.walker([(3.0, 0.0, 0.80), (9.0, 0.25, 0.86), (13.0, 0.27, 0.86)])])
    pipe = CameraPipeline(S.make_profile(scn), "e", snapshots=False)
    got = []
    for f in S.frames(scn):
        if f.pos_s == 4.0:
            pipe.reset()
        fresh = 4.0 <= f.pos_s < 5.0
        got += [(a.type.value, a.details["pos_s"]) for a in
                pipe.process(Frame(f.index, f.image, f.ts, f.pos_s, fresh=fresh))]
    assert len(got) == 1 and got[0][0] == "intrusion" and got[0][1] >= 6.0  # warm-up 2 s after the reset


def test_pipeline_starts_afresh_when_time_runs_back(vtest_path):
    """A looping demo file restarts at pos_s 0: the pipeline relearns and raises the event again."""
    scn = S.Scenario("loop", {"zones": [{"name": "lawn", "polygon": S.LAWN, "intrusion": {"min_seconds": 1.0}}]},
                     [S.walker([(3.0, 0.0, 0.80), (9.0, 0.25, 0.86), (13.0, 0.27, 0.86)])])
    pipe = CameraPipeline(S.make_profile(scn), "e", snapshots=False)
    frames = list(S.frames(scn))
    got = [pipe.process(f) for f in frames + frames]
    kinds = [a.type.value for alerts in got for a in alerts]
    assert kinds == ["intrusion", "intrusion"] and pipe.errors == 0
