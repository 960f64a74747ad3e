"""An edge box's load: `python -m edge run` with 8 cameras at detect.fps 5 on 25 fps streams,
against the baseline of the same edge capture grabbing the same streams with nothing done to
their frames (benchmarks/edge_grab.py), both as processes of their own, their CPU and memory
read from /proc over the same window. Issue 16's target: the worker's CPU <= 1.05x grabbing.

- streams: vtest re-encoded at 25 fps (bench_detect.clip), played at real speed and looped,
  at 360p (a camera's sub-stream, what detection is meant to read), 720p and 1080p (main streams);
- rules: all of them on each camera (bench_detect.ALL_RULES: two zones with intrusion and
  loitering, a line, a falling-object region, tamper), no clips (no gateway configured);
- memory per camera: the resident set of 8 cameras less that of 1, over 7.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from benchmarks.bench_detect import ALL_RULES, DETECT_FPS, FPS, clip

CAMERAS = 8
HEIGHTS = (360, 720, 1080)
WARMUP_S, WINDOW_S = 5.0, 15.0
REPEATS = 2   # grab and run interleaved, each figure the median: a shared machine's load drifts
TARGET = 1.05
REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime + stime of every thread


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _profiles(work: Path, source: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        path = work / f"cam-{i}.yaml"
        path.write_text(yaml.safe_dump({**ALL_RULES, "id": f"cam-{i}", "source": str(source), "loop": True}))
        paths.append(str(path))
    return paths


def _measure(argv: list[str]) -> tuple[float, float]:
    """CPU (cores) over the window after warm-up, and the resident set (MB) at its end."""
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(WARMUP_S)
        assert proc.poll() is None, f"{argv[2]} exited: {proc.stderr.read().decode()[-2000:]}"
        c0, t0 = _cpu_s(proc.pid), time.monotonic()
        time.sleep(WINDOW_S)
        c1, t1 = _cpu_s(proc.pid), time.monotonic()
        return (c1 - c0) / (t1 - t0), _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=90)


def _worker(work: Path, profiles: list[str], broker_url: str) -> list[str]:
    config = work / f"edge-{len(profiles)}.yaml"
    config.write_text(yaml.safe_dump({
        "edge_id": f"bench-{uuid.uuid4().hex[:6]}", "spool": str(work / f"spool-{len(profiles)}.db"),
        "mqtt": {"url": broker_url, "prefix": f"bench{uuid.uuid4().hex[:6]}"}, "cameras": profiles}))
    return [sys.executable, "-m", "edge", "run", "--config", str(config), "--log-level", "WARNING"]


def run(console: Console) -> None:
    from tests.support.services import MosquittoBroker

    broker = MosquittoBroker().start()
    table = Table(title=f"{CAMERAS} cameras at detect.fps {DETECT_FPS} on {FPS} fps streams, all rules: "
                        f"edge worker / its capture alone (CPU over {WINDOW_S:.0f} s, median of {REPEATS})")
    for col in ("stream", "grab only, cores", "edge run, cores", "ratio", "target", "MB per camera (run)",
                "MB per camera (grab)"):
        table.add_column(col, justify="right")
    try:
        with tempfile.TemporaryDirectory(prefix="gw-bench-edge-") as tmp:
            work = Path(tmp)
            for height in HEIGHTS:
                source = clip(height)
                many, one = _profiles(work, source, CAMERAS), _profiles(work, source, 1)
                grab = [sys.executable, "-m", "benchmarks.edge_grab"]
                pairs = [(_measure(grab + many), _measure(_worker(work, many, broker.url))) for _ in range(REPEATS)]
                (grab_cpu, grab_rss), (run_cpu, run_rss) = (tuple(map(statistics.median, zip(*side))) for side in zip(*pairs))
                _, grab_rss1 = _measure(grab + one)
                _, run_rss1 = _measure(_worker(work, one, broker.url))
                ratio = statistics.median(r[0] / g[0] for g, r in pairs)
                table.add_row(f"{height}p", f"{grab_cpu:.3f}", f"{run_cpu:.3f}", f"[bold]{ratio:.2f}",
                              f"<= {TARGET}", f"{(run_rss - run_rss1) / (CAMERAS - 1):.1f}",
                              f"{(grab_rss - grab_rss1) / (CAMERAS - 1):.1f}")
    finally:
        broker.stop()
    console.print(table)
