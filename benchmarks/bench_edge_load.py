"""An edge box's load: `python -m edge run` with 8 cameras at detect.fps 5 on 25 fps streams,
against the baseline of the same edge capture grabbing the same streams with nothing done to
their frames (benchmarks/edge_grab.py), both as processes of their own, their CPU and memory
read from /proc over the same window. Issue 16's target: the worker's CPU <= 1.05x grabbing.

- streams: vtest re-encoded at 25 fps (bench_detect.clip), played at real speed and looped,
  16:9 at 640x360 (a camera's sub-stream, what detection is meant to read), 1280x720 and 1920x1080
  (main streams);
- rules: all of them on each camera (bench_detect.ALL_RULES: two zones with intrusion and
  loitering, a line, a falling-object region, tamper), no clips (no gateway configured);
- the budget: what the target leaves per analysed frame (5% of grabbing a camera's stream over its
  5 analysed frames a second), beside what analysis costs in the run and what the detector costs
  alone (today's and before issue 16's, bench_detect's harness on the same clip);
- memory per camera: the resident set of 8 cameras less that of 1, over 7;
- where the CPU goes: each thread's CPU from /proc by its OS name (FFmpeg's decoders, capture,
  analysis, the rest), so the overhead over grabbing is told apart per stage.
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
HEIGHTS = tuple(int(h) for h in os.environ.get("GW_BENCH_HEIGHTS", "360,720,1080").split(","))
WARMUP_S, WINDOW_S = 5.0, 15.0
REPEATS = 2   # grab and run interleaved, each figure the median: a shared machine's load drifts
TARGET = 1.05
REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu_s(stat: Path) -> float:
    """utime + stime of a /proc stat file (a process's: all its threads, ended ones too)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _cpu_s(pid: int) -> float:
    return _stat_cpu_s(Path(f"/proc/{pid}/stat"))


STAGES = {"av:": "decode", "cap:": "capture", "det:": "analysis"}   # thread names: common/threads.py


def _stage_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of the process's living threads by stage (their OS names), the rest "other"."""
    out: dict[str, float] = dict.fromkeys([*STAGES.values(), "other"], 0.0)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm, cpu = (task / "comm").read_text().strip(), _stat_cpu_s(task / "stat")
        except OSError:
            continue   # (a thread that just ended)
        out[next((v for k, v in STAGES.items() if comm.startswith(k)), "other")] += cpu
    return out


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


def _measure(argv: list[str]) -> tuple[float, float, dict[str, float]]:
    """CPU (cores) over the window after warm-up, the resident set (MB) at its end, and the
    CPU (cores) by stage over the same window."""
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(WARMUP_S)
        assert proc.poll() is None, f"{argv[2]} exited: {proc.stderr.read().decode()[-2000:]}"
        s0, c0, t0 = _stage_cpu_s(proc.pid), _cpu_s(proc.pid), time.monotonic()
        time.sleep(WINDOW_S)
        s1, c1, t1 = _stage_cpu_s(proc.pid), _cpu_s(proc.pid), time.monotonic()
        window = t1 - t0
        return (c1 - c0) / window, _rss_mb(proc.pid), {k: (s1[k] - s0[k]) / window for k in s1}
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
    budget = Table(title=f"what the target leaves for analysis, ms per analysed frame ({TARGET - 1:.0%} of grabbing "
                         f"a camera's stream over its {DETECT_FPS} analysed frames a second), against what it costs")
    for col in ("stream", "budget", "edge run's analysis threads", "the detector alone", "before issue 16, alone"):
        budget.add_column(col, justify="right")
    stages = Table(title="edge run's CPU by thread (OS names, common/threads.py), cores per camera; in brackets: "
                         "against grabbing alone")
    for col in ("stream", *(f"{k}, run (+)" for k in [*STAGES.values(), "other"])):
        stages.add_column(col, justify="right")
    try:
        with tempfile.TemporaryDirectory(prefix="gw-bench-edge-") as tmp:
            work = Path(tmp)
            for height in HEIGHTS:
                source = clip(height)
                many, one = _profiles(work, source, CAMERAS), _profiles(work, source, 1)
                grab = [sys.executable, "-m", "benchmarks.edge_grab"]
                pairs = [(_measure(grab + many), _measure(_worker(work, many, broker.url))) for _ in range(REPEATS)]
                grab_cpu, run_cpu = (statistics.median(p[i][0] for p in pairs) for i in (0, 1))
                grab_rss, run_rss = (statistics.median(p[i][1] for p in pairs) for i in (0, 1))
                grab_rss1, run_rss1 = _measure(grab + one)[1], _measure(_worker(work, one, broker.url))[1]
                ratio = statistics.median(r[0] / g[0] for g, r in pairs)
                table.add_row(f"{height}p", f"{grab_cpu:.3f}", f"{run_cpu:.3f}", f"[bold]{ratio:.2f}",
                              f"<= {TARGET}", f"{(run_rss - run_rss1) / (CAMERAS - 1):.1f}",
                              f"{(grab_rss - grab_rss1) / (CAMERAS - 1):.1f}")
                by = {k: [(r[2][k] / CAMERAS, (r[2][k] - g[2][k]) / CAMERAS) for g, r in pairs] for k in pairs[0][0][2]}
                stages.add_row(f"{height}p", *(f"{statistics.median(v[0] for v in by[k]):.4f} "
                                               f"({statistics.median(v[1] for v in by[k]):+.4f})" for k in by))
                budget.add_row(f"{height}p", *_budget(height, grab_cpu, statistics.median(v[0] for v in by["analysis"])))
    finally:
        broker.stop()
    console.print(stages)
    console.print(table)
    console.print(budget)
    console.print("[dim]the detector alone: CameraPipeline.process on 10 decoded frames in a row (bench_detect's "
                  "target harness, one process, no other camera); before issue 16: the same for the detector at "
                  "benchmarks/detect_before.BEFORE. The budget is below what one pass of the detector costs "
                  "on its own at 360p, whichever detector: the target asks for another kind of analysis there.")


def _budget(height: int, grab_cores: float, analysis_cores_per_camera: float) -> list[str]:
    from benchmarks import detect_before
    from benchmarks.bench_detect import target

    source = clip(height)
    before, why = detect_before.measure(height)
    ms = 1000 / DETECT_FPS
    return [f"{ms * (TARGET - 1) * grab_cores / CAMERAS:.3f}", f"{ms * analysis_cores_per_camera:.3f}",
            f"{1000 * target(source)['detector_hot']:.3f}",
            f"{1000 * before['detector_hot']:.3f}" if before else f"- ({why})"]
