"""Detection cost against decode cost, and detection quality on the labelled scenarios.

Baseline: decoding the same H.264 clip (vtest re-encoded by Debian's ffmpeg at 1280x720 and
1920x1080, 16:9 as cameras stream, and at 1440x1080, vtest's own 4:3 and the clip of the figures
before 2026-12-07; 25 fps, cached under /tmp/gridwatch-bench) with OpenCV, measured in the same run. Figures are
CPU time (all threads of this process), so they mean the same on a busier machine.
- analysis / decode: CPU of `CameraPipeline.process` (all rules on) per analysed frame, over
  the CPU of decoding one frame (grab + retrieve). Target: <= 0.15 at 1920x1080 for the analysis
  itself ("analysis only": batches of decoded frames, no alert snapshots), with its decode
  baseline timed in the same pass (so a load change hits both), the median of 5 passes;
  printed next to the target with a verdict, and next to the same figure of the detector before
  issue 16 (benchmarks/detect_before.py: from git, timed by this harness in this run), since the
  ratio moves with the machine class.
- streams per core: 1080p 25 fps streams one core sustains, decode included (every frame
  grabbed, 5 fps retrieved and analysed), against Debian's `motion` 4.5.1 measured here at
  about 0.43 core per stream.
- work-frame preparation: what the choices cost (resize methods vs the grid sample used).
- scenario scores: recall and false alarms per alert type over tests/scenarios.py, and per
  condition of issue 16 over tests/scenarios_conditions.py (benchmarks/detect_conditions.py:
  recall, false alarms, latency and CPU per frame, with the figures from before beside).
"""
from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
from rich.console import Console
from rich.table import Table

from camera_profiles.schema import CameraProfile
from edge.camera import pipeline as pipeline_mod
from edge.camera.frames import Frame
from edge.camera.pipeline import CameraPipeline

VTEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "vtest.avi"
CACHE = Path("/tmp/gridwatch-bench")
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
FPS, DETECT_FPS, SECONDS = 25, 5, 20
MOTION_CORE_PER_STREAM = 0.43  # Debian motion 4.5.1, 1080p 25 fps, measured on this machine class
TARGET = 0.15    # analysis (all rules, no snapshots) / decode at 1080p: the target
REPEATS = 5      # passes for the target figure (median) and the decode-alone baseline (best)

ALL_RULES = {
    "id": "bench", "source": str(VTEST), "detect": {"fps": DETECT_FPS},
    "privacy_masks": [[[0.0, 0.0], [0.25, 0.0], [0.25, 0.08], [0.0, 0.08]]],
    "zones": [{"name": "lawn", "polygon": [[0.02, 0.62], [0.42, 0.64], [0.45, 0.98], [0.02, 0.98]],
               "intrusion": {"min_seconds": 1.0}, "loitering": {"seconds": 20}},
              {"name": "walk", "polygon": [[0.3, 0.3], [1.0, 0.3], [1.0, 0.8], [0.3, 0.5]],
               "intrusion": {"min_seconds": 1.0}}],
    "lines": [{"name": "gate", "points": [[0.70, 0.30], [0.70, 0.75]]}],
    "falling_object": {"region": [[0.40, 0.0], [0.76, 0.0], [0.76, 0.19], [0.40, 0.19]]},
    "tamper": {"min_seconds": 3},
}


def clip(height: int, width: int | None = None) -> Path:
    """vtest as a camera-like H.264 stream (made once with Debian's ffmpeg, cached): 16:9 as
    cameras stream it (640x360 sub-stream, 1280x720, 1920x1080; vtest's 4:3 view stretched) unless
    `width` says otherwise (1440x1080: vtest's own shape, the clip of the figures before 2026-12-07)."""
    width = width or height * 16 // 9
    path = CACHE / f"vtest{width}x{height}.mp4"
    if not path.exists():
        ffmpeg = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-i", str(VTEST), "-vf",
                        f"scale={width}:{height},setsar=1,fps={FPS}", "-t", str(SECONDS), "-c:v", "libx264",
                        "-preset", "veryfast", "-g", "50", "-bf", "0", "-pix_fmt", "yuv420p", str(tmp)],
                       check=True, timeout=300)
        tmp.rename(path)
    return path


def _open(path: Path) -> cv2.VideoCapture:
    """One decoder thread: the CPU of decode and of analysis can then be told apart, and a
    core's worth of work is what one core does."""
    return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])


def measure(path: Path) -> dict[str, float]:
    """CPU seconds per frame to grab (demux + decode) and to retrieve (convert to BGR), and per
    analysed frame (every 5th, as at detect fps 5) to analyse with all rules on: interleaved
    with decode as in the edge worker, in batches with snapshots, and in batches without (the
    target figure, REPEATS paired passes). The decode-alone baseline is the best of REPEATS
    passes: on a shared machine other processes only ever add (cache and memory contention)."""
    out: dict[str, float] = {}
    for _ in range(REPEATS):
        cap = _open(path)
        grab = retrieve = 0.0
        n = 0
        while True:
            a = time.process_time()
            if not cap.grab():
                break
            b = time.process_time()
            cap.retrieve()
            grab += b - a
            retrieve += time.process_time() - b
            n += 1
        cap.release()
        if grab + retrieve < out.get("grab", 1e9) + out.get("retrieve", 1e9):
            out["grab"], out["retrieve"] = grab / n, retrieve / n
    out["analysis"], out["alerts"], _ = _analyse(path, batch=1)
    out["analysis_hot"], _, _ = _analyse(path, batch=10)
    out.update(target(path))
    return out


def target(path: Path) -> dict:
    """The target figure: REPEATS paired passes (analysis and decode timed in the same pass), the
    median; also what benchmarks/detect_before.py runs with the detector before issue 16."""
    passes = sorted((a / d, a, d) for a, _, d in (_analyse(path, batch=10, snapshots=False) for _ in range(REPEATS)))
    ratio, hot, dec = passes[len(passes) // 2]
    return {"target_ratio": ratio, "detector_hot": hot, "paired_decode": dec, "target_ratios": [p[0] for p in passes]}


def _analyse(path: Path, batch: int, snapshots: bool = True) -> tuple[float, Counter, float]:
    """CPU per analysed frame (every 5th, as at detect fps 5), all rules on; the alerts; and the
    CPU of decoding one frame (grab + retrieve) measured in the same pass, so that a ratio of
    the two compares like with like on a machine whose load changes from second to second.
    batch=1: decode and analyse interleaved, as in the edge worker (the decoder's memory traffic
    evicts the detector's state between frames); batch=10: analyse 10 decoded frames in a row
    (what the detector itself costs, but for the first frame after each decoder burst)."""
    pipe = CameraPipeline(CameraProfile.model_validate(ALL_RULES), "bench", snapshots=snapshots)
    cap = _open(path)
    step = FPS // DETECT_FPS
    busy, analysed, index, alerts = 0.0, 0, 0, Counter()
    grab = retrieve = 0.0
    more = True
    while more:
        frames = []
        while len(frames) < batch:
            a = time.process_time()
            if not cap.grab():
                more = False
                break
            b = time.process_time()
            grab += b - a
            if index % step == 0:
                image = cap.retrieve()[1]
                retrieve += time.process_time() - b
                frames.append(Frame(index, image, T0 + timedelta(seconds=index / FPS), index / FPS))
            index += 1
        a = time.process_time()
        for frame in frames:
            for alert in pipe.process(frame):
                alerts[alert.type.value] += 1
        busy += time.process_time() - a
        analysed += len(frames)
    cap.release()
    return busy / analysed, alerts, grab / index + retrieve / analysed


def prep_costs(path: Path) -> dict[str, float]:
    """CPU per frame of ways to make the ~320 px grey work frame from one decoded frame."""
    cap = _open(path)
    img = cap.read()[1]
    cap.release()
    h, w = img.shape[:2]
    size = (320, round(h * 320 / w))
    step = pipeline_mod.work_step(w, 640)
    def grey(im):
        return cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)

    ways = {
        "resize INTER_AREA + grey": lambda: grey(cv2.resize(img, size, interpolation=cv2.INTER_AREA)),
        "resize INTER_LINEAR + grey": lambda: grey(cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)),
        "grey + resize INTER_LINEAR": lambda: cv2.resize(grey(img), size, interpolation=cv2.INTER_LINEAR),
        "grid sample, green (used)": lambda: pipeline_mod.sample_grey(img, step),
    }
    out = {}
    for name, fn in ways.items():
        k = 50
        a = time.process_time()
        for _ in range(k):
            fn()
        out[name] = (time.process_time() - a) / k
    return out


def work_width_costs(path: Path, dec: float) -> dict[int, float]:
    """Analysis / decode at other work widths (for the record of why ~320)."""
    out = {}
    saved = pipeline_mod.WORK_WIDTH
    try:
        for width in (160, 320, 640):
            pipeline_mod.WORK_WIDTH = width
            prof = CameraProfile.model_validate({**ALL_RULES, "detect": {"fps": DETECT_FPS, "width": 1920}})
            pipe = CameraPipeline(prof, "bench")
            frames = []
            cap = _open(path)
            for i in range(200):
                ok = cap.grab()
                if not ok:
                    break
                if i % 5 == 0:
                    frames.append(Frame(i, cap.retrieve()[1], T0 + timedelta(seconds=i / FPS), i / FPS))
            cap.release()
            a = time.process_time()
            for f in frames:
                pipe.process(f)
            out[width] = (time.process_time() - a) / len(frames) / dec
    finally:
        pipeline_mod.WORK_WIDTH = saved
    return out


def scenario_scores(title: str, scenarios: list) -> Table:
    """Recall and false alarms per alert type (and per analysis fps) over labelled scenarios."""
    from tests import scenarios as S

    expected, hits, false = Counter(), Counter(), Counter()
    for scn in scenarios:
        alerts = S.run(scn)
        score = S.score(scn, alerts)
        for e in scn.expected:
            expected[e.type, scn.fps] += 1
        for e, _ in score.hits:
            hits[e.type, scn.fps] += 1
        for al in score.false + score.doubled:
            false[al.type.value, scn.fps] += 1
    table = Table(title=title)
    for col in ("alert type", "fps", "expected", "found", "recall", "false/doubled"):
        table.add_column(col, justify="right" if col != "alert type" else "left")
    for kind, fps in sorted(set(expected) | set(false)):
        n = expected[kind, fps]
        table.add_row(kind, f"{fps:g}", str(n), str(hits[kind, fps]), f"{hits[kind, fps] / n:.2f}" if n else "-",
                      str(false[kind, fps]))
    return table


def run(console: Console) -> None:
    speed = Table(title=f"analysis (all rules) vs H.264 decode of the same frame, {FPS} fps clips, CPU ms per frame")
    for col in ("clip", "decode", "analysis only", "analysis / decode", "target", "met", f"{REPEATS} passes",
                "vs decode alone", "+ snapshots", "interleaved", "alerts"):
        speed.add_column(col, justify="right" if col != "clip" else "left")
    per_stream = per_stream_decode_only = dec1080 = ratio1080 = 0.0
    for width, height in ((1280, 720), (1440, 1080), (1920, 1080)):
        m = measure(clip(height, width))
        dec = m["grab"] + m["retrieve"]
        ratio = m["target_ratio"]
        main = width == 1920   # the target's figure: a 1080p camera's frame
        met = ("[green]yes" if ratio <= TARGET else "[red]NO") if main else ""
        speed.add_row(f"{width}x{height}", f"{1000 * m['paired_decode']:.2f}", f"{1000 * m['detector_hot']:.3f}",
                      f"[bold]{ratio:.3f}", f"<= {TARGET}" if main else "", met,
                      f"{min(m['target_ratios']):.3f}-{max(m['target_ratios']):.3f}", f"{m['detector_hot'] / dec:.3f}",
                      f"{m['analysis_hot'] / dec:.3f}", f"{m['analysis'] / dec:.3f}", str(sum(m["alerts"].values())))
        if main:
            dec1080, ratio1080 = dec, ratio
            # one stream for one second: every frame grabbed, DETECT_FPS of them retrieved and analysed
            per_stream_decode_only = FPS * m["grab"] + DETECT_FPS * m["retrieve"]
            per_stream = per_stream_decode_only + DETECT_FPS * m["analysis"]
    console.print(speed)
    console.print("[dim]analysis only / decode: CPU of CameraPipeline.process per analysed frame (10 decoded frames "
                  "in a row, all rules on, no snapshots) over the CPU of decoding a frame (grab + retrieve), both "
                  f"timed in the same pass; the median of {REPEATS} passes (their range next to it). vs decode alone: "
                  f"the same analysis over the best of {REPEATS} decode-only passes. + snapshots: with the alerts' "
                  "JPEGs; interleaved: decode and analysis alternating as in the edge worker (the decoder evicts the "
                  "detector's state from the caches between frames). The last three over decode alone.")
    verdict = "[bold green]target met" if ratio1080 <= TARGET else "[bold red]target NOT met"
    console.print(f"1920x1080 analysis / decode = [bold]{ratio1080:.3f}[/bold], target <= {TARGET}: {verdict}")
    from benchmarks import detect_before

    before, why = detect_before.measure(1080)
    if before is None:
        console.print(f"[dim]the detector before issue 16: not measured, {why}")
    else:
        b = before["target_ratio"]
        kept = "[bold green]kept" if ratio1080 <= b else "[bold red]NOT kept"
        console.print(f"the detector before issue 16 ({detect_before.BEFORE}), same harness and clip, this run: "
                      f"1920x1080 analysis / decode = [bold]{b:.3f}[/bold] ({1000 * before['detector_hot']:.3f} of "
                      f"{1000 * before['paired_decode']:.2f} ms); today's / before's = [bold]{ratio1080 / b:.2f}"
                      f"[/bold]: {kept} (the issue's \"today 0.14\" was this detector on 1440x1080 on the machine of "
                      "2026-11-21: the ratio follows the clip and the machine)")

    cores = Table(title=f"1080p {FPS} fps streams per core (decode included, analysis at {DETECT_FPS} fps)")
    for col in ("", "core/stream", "streams/core", "vs motion"):
        cores.add_column(col, justify="right" if col else "left")
    cores.add_row(f"decode only (grab all, retrieve {DETECT_FPS} fps)", f"{per_stream_decode_only:.3f}",
                  f"{1 / per_stream_decode_only:.1f}", "")
    cores.add_row("gridwatch (decode + all rules)", f"{per_stream:.3f}", f"{1 / per_stream:.1f}",
                  f"{per_stream / MOTION_CORE_PER_STREAM:.2f}")
    cores.add_row("motion 4.5.1 (reference measured here)", f"{MOTION_CORE_PER_STREAM:.2f}",
                  f"{1 / MOTION_CORE_PER_STREAM:.1f}", "1.00")
    console.print(cores)

    prep = Table(title="making the ~320 px grey work frame from a 1080p frame")
    prep.add_column("method")
    prep.add_column("ms", justify="right")
    prep.add_column("/ decode", justify="right")
    for name, cost in prep_costs(clip(1080)).items():
        prep.add_row(name, f"{1000 * cost:.3f}", f"{cost / dec1080:.3f}")
    console.print(prep)

    widths = Table(title="analysis / decode alone at 1080p by work width (first 40 analysed frames, set-up "
                         "included: to compare widths, not the target figure)")
    widths.add_column("work width", justify="right")
    widths.add_column("analysis / decode", justify="right")
    for width, ratio in work_width_costs(clip(1080), dec1080).items():
        widths.add_row(f"{width}{' (used)' if width == pipeline_mod.WORK_WIDTH else ''}", f"{ratio:.3f}")
    console.print(widths)

    from tests import scenarios as S

    a = time.perf_counter()
    catalogue = S.catalogue()
    console.print(scenario_scores(f"labelled scenarios on real footage ({len(catalogue)}, incl. "
                                  f"{sum(1 for x in catalogue if not x.expected)} distractor-only)", catalogue))
    varied = [x for seed in (101, 102, 103) for x in S.varied(seed, per_type=8)]
    console.print(scenario_scores(f"varied layouts ({len(varied)}: random zones, lines, sizes, speeds, "
                                  "falls)", varied))
    from benchmarks import detect_conditions, detect_objects

    console.print(detect_conditions.table())
    console.print(detect_objects.table())
    console.print(f"[dim]scenarios took {time.perf_counter() - a:.1f} s")
